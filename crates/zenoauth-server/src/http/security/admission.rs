//! Admission control for password hashing. The Argon2 adapter already
//! bounds how many hashes *run* at once (memory); this bounds how many may
//! *wait* for one. Past that, a login is turned away at once with
//! [`HasherBusy`] (the login page answers 503 with `Retry-After`) instead
//! of queueing — a flood then costs a refusal, not memory and minutes of
//! latency for everyone.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zenoauth_crypto::Argon2Hasher;
use zenoauth_domain::ports::PasswordHasher;
use zenoauth_domain::values::{Password, PasswordHash};
use zenoauth_domain::{Error, Result};

use super::metrics::SecurityMetrics;

/// The password-hashing queue is full; try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the password-hashing queue is full")]
pub struct HasherBusy;

impl HasherBusy {
    /// Whether `error` is (or wraps) this refusal.
    pub fn is(error: &Error) -> bool {
        matches!(error, Error::Unavailable(source) if source.is::<HasherBusy>())
    }
}

/// The hasher with a bounded queue in front of it.
pub struct AdmittedHasher {
    inner: Arc<Argon2Hasher>,
    /// Permits = hashes that may be running or waiting at once.
    admitted: Arc<Semaphore>,
    capacity: usize,
    metrics: Arc<SecurityMetrics>,
}

impl std::fmt::Debug for AdmittedHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdmittedHasher").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

impl AdmittedHasher {
    /// Admits the hasher's own concurrency plus `max_queued` waiting.
    pub fn new(inner: Arc<Argon2Hasher>, max_queued: usize, metrics: Arc<SecurityMetrics>) -> Self {
        let capacity = inner.max_concurrent().saturating_add(max_queued);
        Self { inner, admitted: Arc::new(Semaphore::new(capacity)), capacity, metrics }
    }

    /// Hashes that may be running or waiting at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Hashes running or waiting now.
    pub fn in_flight(&self) -> usize {
        self.capacity - self.admitted.available_permits()
    }

    fn admit(&self) -> Result<OwnedSemaphorePermit> {
        Arc::clone(&self.admitted).try_acquire_owned().map_err(|_| {
            self.metrics.logins_refused_busy.inc();
            Error::unavailable(HasherBusy)
        })
    }
}

#[async_trait]
impl PasswordHasher for AdmittedHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash> {
        let _permit = self.admit()?;
        self.inner.hash(password).await
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool> {
        let _permit = self.admit()?;
        self.inner.verify(password, hash).await
    }

    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        self.inner.needs_rehash(hash)
    }

    async fn verify_dummy(&self, password: &Password) -> Result<()> {
        let _permit = self.admit()?;
        PasswordHasher::verify_dummy(self.inner.as_ref(), password).await
    }
}
