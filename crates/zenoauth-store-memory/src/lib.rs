//! Every ZenoAuth store port in memory, for tests and for running without a
//! database: the same semantics as the SQL adapters (uniqueness rules,
//! `NotFound` for missing parents, cascading deletes, atomic code redemption
//! and refresh rotation, all under one lock), checked by the same conformance
//! suite. [`Faults`] make calls fail or slow on demand, for reliability tests.

mod adapters;
mod email;
mod faults;
mod federation;
mod login_attempts;
mod mfa;
mod passkeys;
mod state;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use zenoauth_domain::ports::Stores;
use zenoauth_domain::Result;

pub use adapters::{
    MemoryApplicationRepository, MemoryAuditLog, MemoryAuthorizationCodeStore, MemoryClientAssertionStore,
    MemoryConsentStore, MemoryOrganizationRepository, MemoryRefreshTokenStore, MemoryRevocationStore,
    MemorySessionStore, MemorySigningKeyRepository, MemoryUserRepository,
};
pub use adapters::{MemoryClientSecretStore, MemoryRoleRepository};
pub use email::{MemoryAccountTokenStore, MemoryMailOutbox};
pub use faults::{Faults, InjectedFault};
pub use federation::MemoryFederationStore;
pub use login_attempts::MemoryLoginAttemptStore;
pub use mfa::MemoryMfaStore;
pub use passkeys::MemoryPasskeyStore;

use state::State;

/// One in-memory database. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct MemoryDatabase {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    faults: Faults,
}

impl MemoryDatabase {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every store port over this database.
    pub fn stores(&self) -> Stores {
        Stores {
            organizations: Arc::new(MemoryOrganizationRepository::new(self.clone())),
            users: Arc::new(MemoryUserRepository::new(self.clone())),
            applications: Arc::new(MemoryApplicationRepository::new(self.clone())),
            sessions: Arc::new(MemorySessionStore::new(self.clone())),
            authorization_codes: Arc::new(MemoryAuthorizationCodeStore::new(self.clone())),
            refresh_tokens: Arc::new(MemoryRefreshTokenStore::new(self.clone())),
            revocations: Arc::new(MemoryRevocationStore::new(self.clone())),
            consents: Arc::new(MemoryConsentStore::new(self.clone())),
            client_assertions: Arc::new(MemoryClientAssertionStore::new(self.clone())),
            signing_keys: Arc::new(MemorySigningKeyRepository::new(self.clone())),
            audit: Arc::new(MemoryAuditLog::new(self.clone())),
            roles: Arc::new(MemoryRoleRepository::new(self.clone())),
            client_secrets: Arc::new(MemoryClientSecretStore::new(self.clone())),
            login_attempts: Arc::new(MemoryLoginAttemptStore::new(self.clone())),
            mail_outbox: Arc::new(MemoryMailOutbox::new(self.clone())),
            account_tokens: Arc::new(MemoryAccountTokenStore::new(self.clone())),
            mfa: Arc::new(MemoryMfaStore::new(self.clone())),
            passkeys: Arc::new(MemoryPasskeyStore::new(self.clone())),
            federation: Arc::new(MemoryFederationStore::new(self.clone())),
        }
    }

    /// The fault switches every store call of this database obeys.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Runs one store operation: faults first, then `operation` under the lock.
    async fn call<T>(&self, operation: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        self.inner.faults.before_call().await?;
        operation(&mut self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic under the lock cannot leave a half-done write: every
        // operation checks before it writes. So the data stays usable.
        self.inner.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
