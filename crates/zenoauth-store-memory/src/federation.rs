//! [`FederationStore`] in memory.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::federation::{
    FederatedIdentity, FederationLogin, IdentityDeletion, IdentityProvider, PendingLink,
};
use zenoauth_domain::ids::{OrganizationId, UserId};
use zenoauth_domain::ports::FederationStore;
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::Result;

use crate::MemoryDatabase;

/// [`FederationStore`] in memory.
#[derive(Debug, Clone)]
pub struct MemoryFederationStore {
    database: MemoryDatabase,
}

impl MemoryFederationStore {
    pub fn new(database: MemoryDatabase) -> Self {
        Self { database }
    }
}

#[async_trait]
impl FederationStore for MemoryFederationStore {
    async fn create_provider(&self, provider: &IdentityProvider) -> Result<()> {
        self.database.call(|state| state.federation_create_provider(provider)).await
    }

    async fn update_provider(&self, provider: &IdentityProvider) -> Result<()> {
        self.database.call(|state| state.federation_update_provider(provider)).await
    }

    async fn find_provider(&self, organization: OrganizationId, id: Uuid) -> Result<Option<IdentityProvider>> {
        self.database.call(|state| Ok(state.federation_find_provider(organization, id))).await
    }

    async fn list_providers(&self, organization: OrganizationId) -> Result<Vec<IdentityProvider>> {
        self.database.call(|state| Ok(state.federation_list_providers(organization))).await
    }

    async fn delete_provider(&self, organization: OrganizationId, id: Uuid) -> Result<bool> {
        self.database.call(|state| Ok(state.federation_delete_provider(organization, id))).await
    }

    async fn link_identity(&self, identity: &FederatedIdentity) -> Result<()> {
        self.database.call(|state| state.federation_link(identity)).await
    }

    async fn find_identity(
        &self,
        organization: OrganizationId,
        provider: Uuid,
        subject: &str,
    ) -> Result<Option<FederatedIdentity>> {
        self.database.call(|state| Ok(state.federation_find_identity(organization, provider, subject))).await
    }

    async fn identities_of_user(&self, organization: OrganizationId, user: UserId) -> Result<Vec<FederatedIdentity>> {
        self.database.call(|state| Ok(state.federation_identities_of_user(organization, user))).await
    }

    async fn delete_identity(
        &self,
        organization: OrganizationId,
        user: UserId,
        provider: Uuid,
        subject: &str,
    ) -> Result<bool> {
        self.database.call(|state| Ok(state.federation_delete_identity(organization, user, provider, subject))).await
    }

    async fn put_pending_link(&self, link: &PendingLink) -> Result<()> {
        self.database.call(|state| state.federation_put_pending_link(link)).await
    }

    async fn take_pending_link(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<PendingLink>> {
        self.database.call(|state| Ok(state.federation_take_pending_link(organization, token_digest, now))).await
    }

    async fn put_login(&self, login: &FederationLogin) -> Result<()> {
        self.database.call(|state| state.federation_put_login(login)).await
    }

    async fn take_login(
        &self,
        organization: OrganizationId,
        state_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<FederationLogin>> {
        self.database.call(|state| Ok(state.federation_take_login(organization, state_digest, now))).await
    }

    async fn delete_identity_unless_last(
        &self,
        organization: OrganizationId,
        user: UserId,
        provider: Uuid,
        subject: &str,
    ) -> Result<IdentityDeletion> {
        self.database
            .call(|state| Ok(state.federation_delete_identity_unless_last(organization, user, provider, subject)))
            .await
    }

    async fn provider_has_identities(&self, organization: OrganizationId, provider: Uuid) -> Result<bool> {
        self.database.call(|state| Ok(state.federation_provider_has_identities(organization, provider))).await
    }

    async fn delete_expired_pending_links(&self, now: OffsetDateTime) -> Result<u64> {
        self.database.call(|state| Ok(state.federation_delete_expired_pending_links(now))).await
    }

    async fn delete_expired_logins(&self, now: OffsetDateTime) -> Result<u64> {
        self.database.call(|state| Ok(state.federation_delete_expired_logins(now))).await
    }
}
