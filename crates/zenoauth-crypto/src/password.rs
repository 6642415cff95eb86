//! Argon2id password hashing, off the async runtime, with the lanes of one
//! hash computed in parallel and the number of hashes at once bounded.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash as PhcHash;
use argon2::password_hash::{self, PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use tokio::sync::Semaphore;
use zenoauth_domain::ports::{PasswordHasher, RandomSource};
use zenoauth_domain::values::{Password, PasswordHash};
use zenoauth_domain::{Error, Result};

/// Salt length in bytes (128 bits, as RFC 9106 recommends).
const SALT_BYTES: usize = 16;
/// Hash output length in bytes.
const OUTPUT_BYTES: usize = 32;

/// Argon2id cost parameters. The default is m = 64 MiB, t = 3, p = 4
/// (RFC 9106's second recommended option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory per hash, in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self { memory_kib: 65536, iterations: 3, parallelism: 4 }
    }
}

impl Argon2Params {
    fn to_argon2(self) -> Result<Params, Argon2ParamsError> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, Some(OUTPUT_BYTES))
            .map_err(|error| Argon2ParamsError(error.to_string()))
    }
}

/// The Argon2 parameters were out of range (e.g. memory below 8 KiB per lane).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Argon2 parameters: {0}")]
pub struct Argon2ParamsError(String);

/// The [`PasswordHasher`] port with Argon2id and PHC strings.
///
/// Hashing is CPU- and memory-heavy on purpose, so every hash and verify runs
/// in `spawn_blocking`, and at most `max_concurrent` of them run at once (a
/// semaphore). Peak memory is therefore bounded by
/// `max_concurrent × memory_kib`, however many logins arrive.
///
/// Within one hash the `parallelism` lanes are computed in parallel on
/// rayon's global pool (one thread per CPU), so a lone hash uses every core
/// (on 2 cores at m = 64 MiB, t = 3, p = 4: ≈ 72 ms instead of ≈ 120 ms).
/// Concurrent hashes queue their lanes on that same fixed pool, so permits ×
/// lanes never means more threads than CPUs; the permits bound memory. The
/// default stays one permit per CPU: measured on 2 cores, one permit (=
/// CPUs / lanes) gave 4–14 % less throughput under a flood than two (the
/// pool idles at each hash's synchronisation points) to save one hash's
/// memory.
/// docs/benchmarks.md has the figures.
///
/// A stored hash that is not a valid PHC string, or names an algorithm other
/// than Argon2, makes `verify` return `Err(Unavailable)`, not `Ok(false)`: it
/// is corrupt or foreign data the operator must see, not a wrong password.
pub struct Argon2Hasher {
    params: Argon2Params,
    argon2_params: Params,
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    random: Arc<dyn RandomSource>,
    /// Argon2 computations finished (hash, verify and dummy verify alike).
    computed: Arc<AtomicU64>,
    /// A PHC string with the current parameters and random salt and output:
    /// verifying against it costs what a real verify costs and never succeeds.
    dummy_hash: PasswordHash,
}

impl Argon2Hasher {
    /// A hasher with the given parameters, at most the available parallelism
    /// of hashes at once.
    pub fn new(params: Argon2Params, random: Arc<dyn RandomSource>) -> Result<Self, Argon2ParamsError> {
        let argon2_params = params.to_argon2()?;
        let mut salt = [0u8; SALT_BYTES];
        let mut output = [0u8; OUTPUT_BYTES];
        random.fill(&mut salt);
        random.fill(&mut output);
        let dummy = format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            params.memory_kib,
            params.iterations,
            params.parallelism,
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(output)
        );
        let dummy_hash = PasswordHash::parse(&dummy).map_err(|error| Argon2ParamsError(error.to_string()))?;
        let max_concurrent = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Ok(Self {
            params,
            argon2_params,
            permits: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            random,
            computed: Arc::new(AtomicU64::new(0)),
            dummy_hash,
        })
    }

    /// Sets how many hashes may run at once.
    pub fn with_max_concurrent(mut self, max_concurrent: NonZeroUsize) -> Self {
        self.max_concurrent = max_concurrent.get();
        self.permits = Arc::new(Semaphore::new(self.max_concurrent));
        self
    }

    pub fn params(&self) -> Argon2Params {
        self.params
    }

    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// How many Argon2 computations (hash, verify, dummy verify) have
    /// finished since start: every login attempt that reaches the hasher
    /// costs exactly one, whether or not the account exists.
    pub fn computed(&self) -> u64 {
        self.computed.load(Ordering::Relaxed)
    }

    /// Burns the time (and memory) of one real verify and always fails: call
    /// it when the user does not exist, so the response time does not reveal
    /// which accounts exist.
    pub async fn verify_dummy(&self, password: &Password) -> Result<()> {
        self.verify_phc(password, &self.dummy_hash).await.map(|_| ())
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.argon2_params.clone())
    }

    async fn verify_phc(&self, password: &Password, hash: &PasswordHash) -> Result<bool> {
        let argon2 = self.argon2();
        let password = password.clone();
        let hash = hash.clone();
        self.run_blocking(move || {
            let parsed = PhcHash::new(hash.as_str()).map_err(|error| Error::unavailable(PhcError(error.into())))?;
            if Algorithm::try_from(parsed.algorithm.as_str()).is_err() {
                return Err(Error::unavailable(PhcError(password_hash::Error::Algorithm)));
            }
            if parsed.salt.is_none() || parsed.hash.is_none() {
                // argon2 would answer "wrong password" for these; they are corrupt.
                return Err(Error::unavailable(PhcError(password_hash::Error::EncodingInvalid)));
            }
            match argon2.verify_password(password.expose().as_bytes(), &parsed) {
                Ok(()) => Ok(true),
                Err(password_hash::Error::PasswordInvalid) => Ok(false),
                Err(error) => Err(Error::unavailable(PhcError(error))),
            }
        })
        .await
    }

    /// Runs `work` on the blocking pool once a permit is free.
    async fn run_blocking<T: Send + 'static>(&self, work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
        let permit = Arc::clone(&self.permits).acquire_owned().await.map_err(Error::unavailable)?;
        let computed = Arc::clone(&self.computed);
        tokio::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            computed.fetch_add(1, Ordering::Relaxed);
            result
        })
        .await
        .map_err(Error::unavailable)?
    }
}

impl fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Argon2Hasher")
            .field("params", &self.params)
            .field("max_concurrent", &self.max_concurrent)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash> {
        let mut salt_bytes = [0u8; SALT_BYTES];
        self.random.fill(&mut salt_bytes);
        let argon2 = self.argon2();
        let password = password.clone();
        let phc = self
            .run_blocking(move || {
                argon2
                    .hash_password_with_salt(password.expose().as_bytes(), &salt_bytes)
                    .map(|hash| hash.to_string())
                    .map_err(|error| Error::unavailable(PhcError(error)))
            })
            .await?;
        PasswordHash::parse(&phc).map_err(Error::from)
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool> {
        self.verify_phc(password, hash).await
    }

    async fn verify_dummy(&self, password: &Password) -> Result<()> {
        Argon2Hasher::verify_dummy(self, password).await
    }

    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        let Ok(parsed) = PhcHash::new(hash.as_str()) else {
            return true;
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return true;
        };
        parsed.algorithm != Algorithm::Argon2id.ident()
            || parsed.version != Some(Version::V0x13.into())
            || params.m_cost() != self.params.memory_kib
            || params.t_cost() != self.params.iterations
            || params.p_cost() != self.params.parallelism
            || params.output_len() != Some(OUTPUT_BYTES)
            || parsed.salt.is_none_or(|salt| salt.len() < SALT_BYTES)
    }
}

/// Carries a `password_hash::Error` (which has no source chain of its own)
/// into `Error::Unavailable` with a prefix saying where it came from.
#[derive(Debug, thiserror::Error)]
#[error("password hash: {0}")]
struct PhcError(password_hash::Error);

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use zenoauth_domain::testing::SeededRandom;

    const FAST: Argon2Params = Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 };

    fn hasher(params: Argon2Params) -> Argon2Hasher {
        Argon2Hasher::new(params, Arc::new(SeededRandom::new(9))).unwrap()
    }

    #[tokio::test]
    async fn a_waiting_hash_does_not_start_until_a_permit_is_free() {
        let hasher = hasher(FAST).with_max_concurrent(NonZeroUsize::new(1).unwrap());
        let held = Arc::clone(&hasher.permits).acquire_owned().await.unwrap();
        let password = Password::parse("pw").unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(200), hasher.hash(&password)).await;
        assert!(waiting.is_err(), "hash ran without a permit");
        drop(held);
        let hash = tokio::time::timeout(Duration::from_secs(10), hasher.hash(&password)).await.unwrap().unwrap();
        assert!(hasher.verify(&password, &hash).await.unwrap());
        assert_eq!(hasher.permits.available_permits(), 1, "permits are returned");
    }

    #[tokio::test]
    async fn a_closed_pool_is_unavailable() {
        let hasher = hasher(FAST);
        hasher.permits.close();
        let result = hasher.hash(&Password::parse("pw").unwrap()).await;
        assert!(matches!(result, Err(Error::Unavailable(_))));
    }

    #[tokio::test]
    async fn dummy_hash_uses_the_current_parameters() {
        let hasher = hasher(FAST);
        assert!(hasher.dummy_hash.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(!hasher.needs_rehash(&hasher.dummy_hash));
        let parsed = PhcHash::new(hasher.dummy_hash.as_str()).unwrap();
        assert_eq!(parsed.hash.unwrap().len(), OUTPUT_BYTES);
    }

    #[test]
    fn default_permits_are_one_per_cpu() {
        let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(hasher(Argon2Params::default()).max_concurrent(), cpus);
    }

    #[test]
    fn invalid_parameters_are_refused() {
        let error = Argon2Hasher::new(
            Argon2Params { memory_kib: 1, iterations: 1, parallelism: 1 },
            Arc::new(SeededRandom::new(1)),
        )
        .unwrap_err();
        assert!(error.to_string().starts_with("invalid Argon2 parameters"), "{error}");
        assert!(Argon2Hasher::new(Argon2Params { iterations: 0, ..FAST }, Arc::new(SeededRandom::new(1))).is_err());
    }
}
