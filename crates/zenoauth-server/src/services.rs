//! The adapters every command and handler shares, built once from
//! configuration: clock, randomness, password hasher, JWS signer.

use std::num::NonZeroUsize;
use std::sync::Arc;

use zenoauth_crypto::{Argon2Hasher, Argon2Params, CryptoFederation, CryptoMfa, JwsSigner, KeyEncryptionKey, OsRandom};
use zenoauth_domain::ports::{Clock, RandomSource};

use crate::clock::SystemClock;
use crate::config::{Config, ConfigError};
use crate::keys::load_key_encryption_key;

/// The non-store ports, as concrete adapters (cheap to clone).
#[derive(Clone)]
pub struct Services {
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn RandomSource>,
    pub hasher: Arc<Argon2Hasher>,
    pub signer: Arc<JwsSigner>,
    /// TOTP and sealed second-factor secrets (same key-encryption key).
    pub mfa_crypto: Arc<CryptoMfa>,
    /// Upstream client secrets sealed at rest (same key-encryption key).
    pub federation_crypto: Arc<CryptoFederation>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").field("hasher", &self.hasher).finish_non_exhaustive()
    }
}

impl Services {
    pub fn new(
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
        hasher: Arc<Argon2Hasher>,
        signer: Arc<JwsSigner>,
        mfa_crypto: Arc<CryptoMfa>,
        federation_crypto: Arc<CryptoFederation>,
    ) -> Self {
        Self { clock, random, hasher, signer, mfa_crypto, federation_crypto }
    }

    /// Production wiring: the wall clock, the OS RNG, Argon2id with the
    /// configured parameters and concurrency, and the configured
    /// key-encryption key.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let random: Arc<dyn RandomSource> = Arc::new(OsRandom::new());
        let kek = load_key_encryption_key(&config.keys.source, random.as_ref())?;
        let params = Argon2Params {
            memory_kib: config.passwords.argon2_memory_kib,
            iterations: config.passwords.argon2_iterations,
            parallelism: config.passwords.argon2_parallelism,
        };
        let hasher = Argon2Hasher::new(params, random.clone()).map_err(|error| ConfigError::Invalid {
            key: crate::config::PASSWORDS_MEMORY.key,
            env: crate::config::PASSWORDS_MEMORY.primary_env(),
            reason: error.to_string(),
        })?;
        let hasher = match NonZeroUsize::new(config.passwords.max_concurrent_hashes) {
            Some(permits) => hasher.with_max_concurrent(permits),
            None => hasher,
        };
        Ok(Self::with_key(Arc::new(SystemClock), random, Arc::new(hasher), kek))
    }

    /// Wiring around a given clock, randomness, hasher and key-encryption key.
    pub fn with_key(
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
        hasher: Arc<Argon2Hasher>,
        kek: KeyEncryptionKey,
    ) -> Self {
        let mfa_crypto = Arc::new(CryptoMfa::new(kek.clone(), random.clone()));
        let federation_crypto = Arc::new(CryptoFederation::new(kek.clone(), random.clone()));
        let signer = Arc::new(JwsSigner::new(kek, random.clone()));
        Self::new(clock, random, hasher, signer, mfa_crypto, federation_crypto)
    }
}
