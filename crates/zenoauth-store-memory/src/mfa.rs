//! [`MfaStore`] in memory.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::ids::{OrganizationId, UserId};
use zenoauth_domain::mfa::TotpCredential;
use zenoauth_domain::ports::MfaStore;
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::Result;

use crate::MemoryDatabase;

/// [`MfaStore`] in memory.
#[derive(Debug, Clone)]
pub struct MemoryMfaStore {
    database: MemoryDatabase,
}

impl MemoryMfaStore {
    pub fn new(database: MemoryDatabase) -> Self {
        Self { database }
    }
}

#[async_trait]
impl MfaStore for MemoryMfaStore {
    async fn put_totp(&self, credential: &TotpCredential) -> Result<()> {
        self.database.call(|state| state.mfa_put_totp(credential)).await
    }

    async fn find_totp(&self, organization: OrganizationId, user: UserId) -> Result<Option<TotpCredential>> {
        self.database.call(|state| Ok(state.mfa_find_totp(organization, user))).await
    }

    async fn confirm_totp(
        &self,
        organization: OrganizationId,
        id: Uuid,
        step: i64,
        now: OffsetDateTime,
    ) -> Result<bool> {
        self.database.call(|state| Ok(state.mfa_confirm_totp(organization, id, step, now))).await
    }

    async fn use_totp_step(&self, organization: OrganizationId, id: Uuid, step: i64) -> Result<bool> {
        self.database.call(|state| Ok(state.mfa_use_totp_step(organization, id, step))).await
    }

    async fn replace_recovery_codes(
        &self,
        organization: OrganizationId,
        user: UserId,
        digests: &[SecretDigest],
        _now: OffsetDateTime,
    ) -> Result<()> {
        self.database.call(|state| state.mfa_replace_recovery_codes(organization, user, digests)).await
    }

    async fn use_recovery_code(
        &self,
        organization: OrganizationId,
        user: UserId,
        digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<bool> {
        self.database.call(|state| Ok(state.mfa_use_recovery_code(organization, user, digest, now))).await
    }

    async fn count_recovery_codes(&self, organization: OrganizationId, user: UserId) -> Result<u32> {
        self.database.call(|state| Ok(state.mfa_count_recovery_codes(organization, user))).await
    }

    async fn delete_for_user(&self, organization: OrganizationId, user: UserId) -> Result<bool> {
        self.database.call(|state| Ok(state.mfa_delete_for_user(organization, user))).await
    }
}
