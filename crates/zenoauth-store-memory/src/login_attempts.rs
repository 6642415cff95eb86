//! [`LoginAttemptStore`] in memory.

use async_trait::async_trait;
use time::OffsetDateTime;
use zenoauth_domain::ids::OrganizationId;
use zenoauth_domain::model::LoginAttempts;
use zenoauth_domain::ports::LoginAttemptStore;
use zenoauth_domain::Result;

use crate::MemoryDatabase;

/// [`LoginAttemptStore`] in memory.
#[derive(Debug, Clone)]
pub struct MemoryLoginAttemptStore {
    database: MemoryDatabase,
}

impl MemoryLoginAttemptStore {
    pub fn new(database: MemoryDatabase) -> Self {
        Self { database }
    }
}

#[async_trait]
impl LoginAttemptStore for MemoryLoginAttemptStore {
    async fn find(&self, organization: OrganizationId, key: &str) -> Result<Option<LoginAttempts>> {
        self.database.call(|state| Ok(state.login_attempt_find(organization, key))).await
    }

    async fn record_failure(
        &self,
        organization: OrganizationId,
        key: &str,
        now: OffsetDateTime,
        window_start: OffsetDateTime,
        lock_threshold: u32,
        lock_until: OffsetDateTime,
    ) -> Result<LoginAttempts> {
        self.database
            .call(|state| {
                state.login_attempt_record_failure(organization, key, now, window_start, lock_threshold, lock_until)
            })
            .await
    }

    async fn clear(&self, organization: OrganizationId, key: &str) -> Result<bool> {
        self.database.call(|state| Ok(state.login_attempt_clear(organization, key))).await
    }

    async fn delete_stale(&self, before: OffsetDateTime) -> Result<u64> {
        self.database.call(|state| Ok(state.login_attempt_delete_stale(before))).await
    }
}
