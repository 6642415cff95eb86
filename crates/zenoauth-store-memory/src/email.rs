//! [`MailOutbox`] and [`AccountTokenStore`] in memory.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::email::{AccountToken, AccountTokenPurpose, OutboxMessage};
use zenoauth_domain::ids::OrganizationId;
use zenoauth_domain::ports::{AccountTokenStore, MailOutbox};
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::Result;

use crate::MemoryDatabase;

/// [`MailOutbox`] in memory.
#[derive(Debug, Clone)]
pub struct MemoryMailOutbox {
    database: MemoryDatabase,
}

impl MemoryMailOutbox {
    pub fn new(database: MemoryDatabase) -> Self {
        Self { database }
    }
}

#[async_trait]
impl MailOutbox for MemoryMailOutbox {
    async fn enqueue(&self, message: &OutboxMessage) -> Result<()> {
        self.database.call(|state| state.outbox_enqueue(message)).await
    }

    async fn find(&self, id: Uuid) -> Result<Option<OutboxMessage>> {
        self.database.call(|state| Ok(state.outbox_find(id))).await
    }

    async fn claim_due(
        &self,
        now: OffsetDateTime,
        claim: Uuid,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        self.database.call(|state| Ok(state.outbox_claim_due(now, claim, lease_until, limit))).await
    }

    async fn complete(&self, id: Uuid, claim: Uuid) -> Result<bool> {
        self.database.call(|state| Ok(state.outbox_complete(id, claim))).await
    }

    async fn fail(&self, id: Uuid, claim: Uuid, error: &str, next_attempt_at: Option<OffsetDateTime>) -> Result<bool> {
        self.database.call(|state| Ok(state.outbox_fail(id, claim, error, next_attempt_at))).await
    }
}

/// [`AccountTokenStore`] in memory.
#[derive(Debug, Clone)]
pub struct MemoryAccountTokenStore {
    database: MemoryDatabase,
}

impl MemoryAccountTokenStore {
    pub fn new(database: MemoryDatabase) -> Self {
        Self { database }
    }
}

#[async_trait]
impl AccountTokenStore for MemoryAccountTokenStore {
    async fn create(&self, token: &AccountToken) -> Result<()> {
        self.database.call(|state| state.account_token_create(token)).await
    }

    async fn find(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<AccountToken>> {
        self.database.call(|state| Ok(state.account_token_find(organization, token_digest, now))).await
    }

    async fn consume(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
        purpose: AccountTokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<AccountToken>> {
        self.database.call(|state| Ok(state.account_token_consume(organization, token_digest, purpose, now))).await
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        self.database.call(|state| Ok(state.account_token_delete_expired(now))).await
    }
}
