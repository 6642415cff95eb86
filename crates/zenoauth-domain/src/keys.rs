//! Use case: the signing keys of an organization. Every organization signs
//! with its own keys, one active key per algorithm, made on first need.

use std::sync::Arc;

use crate::error::Result;
use crate::ids::{IdGenerator, OrganizationId};
use crate::model::{SigningAlgorithm, SigningKey};
use crate::ports::{Clock, RandomSource, SigningKeyRepository, TokenSigner};

/// Finds (or makes) the key to sign with, and lists the keys to publish.
#[derive(Clone)]
pub struct KeyRing {
    keys: Arc<dyn SigningKeyRepository>,
    signer: Arc<dyn TokenSigner>,
    clock: Arc<dyn Clock>,
    ids: IdGenerator,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").finish_non_exhaustive()
    }
}

impl KeyRing {
    pub fn new(
        keys: Arc<dyn SigningKeyRepository>,
        signer: Arc<dyn TokenSigner>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
    ) -> Self {
        let ids = IdGenerator::new(clock.clone(), random);
        Self { keys, signer, clock, ids }
    }

    /// The organization's active key for `algorithm`, made now if it has none.
    /// Two instances racing here may both make one; the newest then signs and
    /// both are published, which verifiers handle by `kid`.
    pub async fn signing_key(&self, organization: OrganizationId, algorithm: SigningAlgorithm) -> Result<SigningKey> {
        if let Some(key) = self.keys.find_active(organization, algorithm).await? {
            return Ok(key);
        }
        let key = self.signer.generate(self.ids.next(), organization, algorithm, self.clock.now())?;
        self.keys.create(&key).await?;
        Ok(key)
    }

    /// Every key verifiers should know: active and retired-but-unexpired,
    /// newest first (the JWKS document).
    pub async fn published_keys(&self, organization: OrganizationId) -> Result<Vec<SigningKey>> {
        let now = self.clock.now();
        let keys = self.keys.list(organization).await?;
        Ok(keys.into_iter().filter(|key| key.expires_at.is_none_or(|expires_at| expires_at > now)).collect())
    }
}
