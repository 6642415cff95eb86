//! [`PasskeyStore`] in memory.

use async_trait::async_trait;
use serde_json::Value as Json;
use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::ids::{OrganizationId, UserId};
use zenoauth_domain::mfa::passkeys::{PasskeyCeremony, PasskeyCredential, PasskeyName};
use zenoauth_domain::ports::PasskeyStore;
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::Result;

use crate::MemoryDatabase;

/// [`PasskeyStore`] in memory.
#[derive(Debug, Clone)]
pub struct MemoryPasskeyStore {
    database: MemoryDatabase,
}

impl MemoryPasskeyStore {
    pub fn new(database: MemoryDatabase) -> Self {
        Self { database }
    }
}

#[async_trait]
impl PasskeyStore for MemoryPasskeyStore {
    async fn create_credential(&self, credential: &PasskeyCredential) -> Result<()> {
        self.database.call(|state| state.passkey_create(credential)).await
    }

    async fn list_credentials(&self, organization: OrganizationId, user: UserId) -> Result<Vec<PasskeyCredential>> {
        self.database.call(|state| Ok(state.passkey_list(organization, user))).await
    }

    async fn find_credential(
        &self,
        organization: OrganizationId,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyCredential>> {
        self.database.call(|state| Ok(state.passkey_find(organization, credential_id))).await
    }

    async fn record_use(
        &self,
        organization: OrganizationId,
        id: Uuid,
        passkey: &Json,
        sign_count: u32,
        backup_state: bool,
        now: OffsetDateTime,
    ) -> Result<bool> {
        self.database
            .call(|state| Ok(state.passkey_record_use(organization, id, passkey, sign_count, backup_state, now)))
            .await
    }

    async fn rename_credential(
        &self,
        organization: OrganizationId,
        user: UserId,
        id: Uuid,
        name: &PasskeyName,
    ) -> Result<bool> {
        self.database.call(|state| Ok(state.passkey_rename(organization, user, id, name))).await
    }

    async fn delete_credential(&self, organization: OrganizationId, user: UserId, id: Uuid) -> Result<bool> {
        self.database.call(|state| Ok(state.passkey_delete(organization, user, id))).await
    }

    async fn put_ceremony(&self, ceremony: &PasskeyCeremony) -> Result<()> {
        self.database.call(|state| state.passkey_put_ceremony(ceremony)).await
    }

    async fn take_ceremony(
        &self,
        organization: OrganizationId,
        handle_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<PasskeyCeremony>> {
        self.database.call(|state| Ok(state.passkey_take_ceremony(organization, handle_digest, now))).await
    }

    async fn delete_expired_ceremonies(&self, now: OffsetDateTime) -> Result<u64> {
        self.database.call(|state| Ok(state.passkey_delete_expired_ceremonies(now))).await
    }
}
