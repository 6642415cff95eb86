//! One decorator per cached port: reads on the hot paths go through the
//! caches, every write goes to the inner store first and then announces what
//! it changed. Methods that neither read a cache nor change a cached entry
//! pass straight through.

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;
use zenoauth_domain::ids::{ApplicationId, OrganizationId, SessionId, SigningKeyId, UserId};
use zenoauth_domain::model::{Application, Organization, Revocation, Session, SigningAlgorithm, SigningKey};
use zenoauth_domain::ports::{
    ApplicationRepository, ClientSecretStore, OrganizationRepository, PageRequest, RevocationStore, RoleRepository,
    SessionStore, SigningKeyRepository, UserQuery, UserRepository,
};
use zenoauth_domain::roles::{Role, RoleId, RoleName};
use zenoauth_domain::values::{ClientId, Email, SecretDigest, Slug};
use zenoauth_domain::Result;

use crate::caches::{session_key, CacheName, Caches, RoleHolder};
use crate::message::{Invalidation, Kind};

pub(crate) struct CachedOrganizations {
    pub(crate) inner: Arc<dyn OrganizationRepository>,
    pub(crate) caches: Arc<Caches>,
}

#[async_trait]
impl OrganizationRepository for CachedOrganizations {
    async fn create(&self, organization: &Organization) -> Result<()> {
        // Absent slugs are never cached: nothing to evict.
        self.inner.create(organization).await
    }

    async fn get(&self, id: OrganizationId) -> Result<Organization> {
        self.inner.get(id).await
    }

    async fn find_by_slug(&self, slug: &Slug) -> Result<Option<Organization>> {
        let caches = &self.caches;
        caches
            .read_through(
                CacheName::Organizations,
                &caches.organizations,
                slug.as_str().to_owned(),
                self.inner.find_by_slug(slug),
            )
            .await
    }

    async fn update(&self, organization: &Organization) -> Result<()> {
        let outcome = self.inner.update(organization).await;
        let invalidation = Invalidation::key(Kind::Organization, organization.id, organization.slug.as_str());
        self.caches.announce(&[invalidation]).await;
        outcome
    }

    async fn update_if_unchanged(
        &self,
        organization: &Organization,
        expected_updated_at: OffsetDateTime,
    ) -> Result<()> {
        // Announces even on `PreconditionFailed`: harmless, and a lost reply may hide a commit.
        let outcome = self.inner.update_if_unchanged(organization, expected_updated_at).await;
        let invalidation = Invalidation::key(Kind::Organization, organization.id, organization.slug.as_str());
        self.caches.announce(&[invalidation]).await;
        outcome
    }

    async fn delete(&self, id: OrganizationId) -> Result<()> {
        // Writes announce even when they fail: a lost reply may hide a commit.
        let outcome = self.inner.delete(id).await;
        self.caches.announce(&[Invalidation::all_in(Kind::Organization, id)]).await;
        outcome
    }

    async fn list(&self, page: &PageRequest) -> Result<Vec<Organization>> {
        self.inner.list(page).await
    }
}

pub(crate) struct CachedUsers {
    pub(crate) inner: Arc<dyn UserRepository>,
    pub(crate) caches: Arc<Caches>,
}

#[async_trait]
impl UserRepository for CachedUsers {
    async fn create(&self, user: &zenoauth_domain::model::User) -> Result<()> {
        self.inner.create(user).await
    }

    async fn get(&self, organization: OrganizationId, id: UserId) -> Result<zenoauth_domain::model::User> {
        self.inner.get(organization, id).await
    }

    async fn find_by_email(
        &self,
        organization: OrganizationId,
        email: &Email,
    ) -> Result<Option<zenoauth_domain::model::User>> {
        self.inner.find_by_email(organization, email).await
    }

    async fn update(&self, user: &zenoauth_domain::model::User) -> Result<()> {
        self.inner.update(user).await
    }

    async fn update_if_unchanged(
        &self,
        user: &zenoauth_domain::model::User,
        expected_updated_at: OffsetDateTime,
    ) -> Result<()> {
        // Users are not cached (as in `update`): nothing to evict.
        self.inner.update_if_unchanged(user, expected_updated_at).await
    }

    async fn delete(&self, organization: OrganizationId, id: UserId) -> Result<()> {
        let outcome = self.inner.delete(organization, id).await;
        // The user's sessions and role assignments went with them.
        self.caches
            .announce(&[
                Invalidation::all_in(Kind::Session, organization),
                Invalidation::all_in(Kind::Roles, organization),
            ])
            .await;
        outcome
    }

    async fn list(
        &self,
        organization: OrganizationId,
        query: &UserQuery,
        page: &PageRequest,
    ) -> Result<Vec<zenoauth_domain::model::User>> {
        self.inner.list(organization, query, page).await
    }
}

pub(crate) struct CachedApplications {
    pub(crate) inner: Arc<dyn ApplicationRepository>,
    pub(crate) caches: Arc<Caches>,
}

#[async_trait]
impl ApplicationRepository for CachedApplications {
    async fn create(&self, application: &Application) -> Result<()> {
        self.inner.create(application).await
    }

    async fn get(&self, organization: OrganizationId, id: ApplicationId) -> Result<Application> {
        self.inner.get(organization, id).await
    }

    async fn find_by_client_id(
        &self,
        organization: OrganizationId,
        client_id: &ClientId,
    ) -> Result<Option<Application>> {
        let caches = &self.caches;
        caches
            .read_through(
                CacheName::Applications,
                &caches.applications,
                (organization, client_id.as_str().to_owned()),
                self.inner.find_by_client_id(organization, client_id),
            )
            .await
    }

    async fn update(&self, application: &Application) -> Result<()> {
        let outcome = self.inner.update(application).await;
        let invalidation =
            Invalidation::key(Kind::Application, application.organization_id, application.client_id.as_str());
        self.caches.announce(&[invalidation]).await;
        outcome
    }

    async fn update_if_unchanged(&self, application: &Application, expected_updated_at: OffsetDateTime) -> Result<()> {
        let outcome = self.inner.update_if_unchanged(application, expected_updated_at).await;
        let invalidation =
            Invalidation::key(Kind::Application, application.organization_id, application.client_id.as_str());
        self.caches.announce(&[invalidation]).await;
        outcome
    }

    async fn delete(&self, organization: OrganizationId, id: ApplicationId) -> Result<()> {
        let outcome = self.inner.delete(organization, id).await;
        // By id: the client_id is not known here.
        self.caches
            .announce(&[
                Invalidation::all_in(Kind::Application, organization),
                Invalidation::all_in(Kind::Roles, organization),
            ])
            .await;
        outcome
    }

    async fn list(&self, organization: OrganizationId, page: &PageRequest) -> Result<Vec<Application>> {
        self.inner.list(organization, page).await
    }
}

pub(crate) struct CachedClientSecrets {
    pub(crate) inner: Arc<dyn ClientSecretStore>,
    pub(crate) caches: Arc<Caches>,
}

#[async_trait]
impl ClientSecretStore for CachedClientSecrets {
    async fn rotate(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        new_digest: &SecretDigest,
        previous_valid_until: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let outcome = self.inner.rotate(organization, application, new_digest, previous_valid_until, now).await;
        // The application's secret digest changed; it is cached by client_id, unknown here.
        self.caches.announce(&[Invalidation::all_in(Kind::Application, organization)]).await;
        outcome
    }

    async fn find_previous(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        now: OffsetDateTime,
    ) -> Result<Option<SecretDigest>> {
        self.inner.find_previous(organization, application, now).await
    }
}

pub(crate) struct CachedSessions {
    pub(crate) inner: Arc<dyn SessionStore>,
    pub(crate) caches: Arc<Caches>,
}

#[async_trait]
impl SessionStore for CachedSessions {
    async fn create(&self, session: &Session) -> Result<()> {
        self.inner.create(session).await
    }

    async fn find_by_token_digest(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<Session>> {
        let caches = &self.caches;
        let session = caches
            .read_through(
                CacheName::Sessions,
                &caches.sessions,
                (organization, *token_digest),
                self.inner.find_by_token_digest(organization, token_digest, now),
            )
            .await?;
        // A cached session still expires on time.
        Ok(session.filter(|session| session.expires_at > now))
    }

    async fn get(&self, organization: OrganizationId, id: SessionId) -> Result<Session> {
        self.inner.get(organization, id).await
    }

    async fn list_for_user(
        &self,
        organization: OrganizationId,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<Session>> {
        self.inner.list_for_user(organization, user, now).await
    }

    async fn delete(&self, organization: OrganizationId, id: SessionId) -> Result<()> {
        let outcome = self.inner.delete(organization, id).await;
        self.caches.announce(&[Invalidation::key(Kind::Session, organization, session_key(id))]).await;
        outcome
    }

    async fn delete_for_user(&self, organization: OrganizationId, user: UserId) -> Result<u64> {
        let outcome = self.inner.delete_for_user(organization, user).await;
        self.caches.announce(&[Invalidation::all_in(Kind::Session, organization)]).await;
        outcome
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        // Cached sessions are checked against `now` on every read.
        self.inner.delete_expired(now).await
    }

    /// The cached copy carries `last_seen_at`, so it is dropped everywhere
    /// (the domain touches a session at most about once a minute).
    async fn touch(&self, organization: OrganizationId, id: SessionId, last_seen_at: OffsetDateTime) -> Result<()> {
        let outcome = self.inner.touch(organization, id, last_seen_at).await;
        self.caches.announce(&[Invalidation::key(Kind::Session, organization, session_key(id))]).await;
        outcome
    }
}

pub(crate) struct CachedRevocations {
    pub(crate) inner: Arc<dyn RevocationStore>,
    pub(crate) caches: Arc<Caches>,
}

#[async_trait]
impl RevocationStore for CachedRevocations {
    async fn revoke(&self, revocation: &Revocation) -> Result<()> {
        let outcome = self.inner.revoke(revocation).await;
        let invalidation = Invalidation::key(Kind::Revocation, revocation.organization_id, revocation.jti.as_str());
        self.caches.announce(&[invalidation]).await;
        outcome
    }

    /// Both answers are cached: `false` only until a revocation of the jti
    /// is announced (or the TTL passes), `true` for good.
    async fn is_revoked(&self, organization: OrganizationId, jti: &str) -> Result<bool> {
        let caches = &self.caches;
        let inner = &self.inner;
        let revoked = caches
            .read_through(CacheName::Revocations, &caches.revocations, (organization, jti.to_owned()), async move {
                inner.is_revoked(organization, jti).await.map(Some)
            })
            .await?;
        Ok(revoked.unwrap_or(false))
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        // A cached `true` for an expired revocation is harmless: its token is expired too.
        self.inner.delete_expired(now).await
    }
}

pub(crate) struct CachedSigningKeys {
    pub(crate) inner: Arc<dyn SigningKeyRepository>,
    pub(crate) caches: Arc<Caches>,
}

impl CachedSigningKeys {
    async fn announce(&self, organization: OrganizationId) {
        self.caches.announce(&[Invalidation::all_in(Kind::SigningKeys, organization)]).await;
    }
}

#[async_trait]
impl SigningKeyRepository for CachedSigningKeys {
    async fn create(&self, key: &SigningKey) -> Result<()> {
        let outcome = self.inner.create(key).await;
        self.announce(key.organization_id).await;
        outcome
    }

    async fn list(&self, organization: OrganizationId) -> Result<Vec<SigningKey>> {
        let caches = &self.caches;
        let inner = &self.inner;
        let keys = caches
            .read_through(CacheName::SigningKeyLists, &caches.signing_key_lists, organization, async move {
                inner.list(organization).await.map(|keys| Some(Arc::new(keys)))
            })
            .await?;
        Ok(keys.map(|keys| keys.as_ref().clone()).unwrap_or_default())
    }

    async fn find_active(
        &self,
        organization: OrganizationId,
        algorithm: SigningAlgorithm,
    ) -> Result<Option<SigningKey>> {
        let caches = &self.caches;
        caches
            .read_through(
                CacheName::ActiveSigningKeys,
                &caches.active_signing_keys,
                (organization, algorithm),
                self.inner.find_active(organization, algorithm),
            )
            .await
    }

    async fn activate(&self, organization: OrganizationId, id: SigningKeyId) -> Result<()> {
        let outcome = self.inner.activate(organization, id).await;
        self.announce(organization).await;
        outcome
    }

    async fn retire(
        &self,
        organization: OrganizationId,
        id: SigningKeyId,
        retired_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        let outcome = self.inner.retire(organization, id, retired_at, expires_at).await;
        self.announce(organization).await;
        outcome
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        let deleted = self.inner.delete_expired(now).await?;
        if deleted > 0 {
            self.caches.announce(&[Invalidation::everywhere(Kind::SigningKeys)]).await;
        }
        Ok(deleted)
    }
}

pub(crate) struct CachedRoles {
    pub(crate) inner: Arc<dyn RoleRepository>,
    pub(crate) caches: Arc<Caches>,
}

impl CachedRoles {
    async fn announce<T>(&self, organization: OrganizationId, outcome: Result<T>) -> Result<T> {
        self.caches.announce(&[Invalidation::all_in(Kind::Roles, organization)]).await;
        outcome
    }

    async fn holder_roles(&self, organization: OrganizationId, holder: RoleHolder) -> Result<Vec<Role>> {
        let caches = &self.caches;
        let inner = &self.inner;
        let roles = caches
            .read_through(CacheName::Roles, &caches.roles, (organization, holder), async move {
                let roles = match holder {
                    RoleHolder::User(user) => inner.roles_of_user(organization, user).await?,
                    RoleHolder::Application(application) => {
                        inner.roles_of_application(organization, application).await?
                    }
                };
                Ok(Some(Arc::new(roles)))
            })
            .await?;
        Ok(roles.map(|roles| roles.as_ref().clone()).unwrap_or_default())
    }
}

#[async_trait]
impl RoleRepository for CachedRoles {
    async fn create(&self, role: &Role) -> Result<()> {
        // A new role is held by nobody yet.
        self.inner.create(role).await
    }

    async fn get(&self, organization: OrganizationId, id: RoleId) -> Result<Role> {
        self.inner.get(organization, id).await
    }

    async fn find_by_name(&self, organization: OrganizationId, name: &RoleName) -> Result<Option<Role>> {
        self.inner.find_by_name(organization, name).await
    }

    async fn update(&self, role: &Role) -> Result<()> {
        let outcome = self.inner.update(role).await;
        self.announce(role.organization_id, outcome).await
    }

    async fn delete(&self, organization: OrganizationId, id: RoleId) -> Result<()> {
        let outcome = self.inner.delete(organization, id).await;
        self.announce(organization, outcome).await
    }

    async fn list(&self, organization: OrganizationId, page: &PageRequest) -> Result<Vec<Role>> {
        self.inner.list(organization, page).await
    }

    async fn assign_to_user(&self, organization: OrganizationId, user: UserId, role: RoleId) -> Result<()> {
        let outcome = self.inner.assign_to_user(organization, user, role).await;
        self.announce(organization, outcome).await
    }

    async fn unassign_from_user(&self, organization: OrganizationId, user: UserId, role: RoleId) -> Result<bool> {
        let outcome = self.inner.unassign_from_user(organization, user, role).await;
        self.announce(organization, outcome).await
    }

    async fn roles_of_user(&self, organization: OrganizationId, user: UserId) -> Result<Vec<Role>> {
        self.holder_roles(organization, RoleHolder::User(user)).await
    }

    async fn assign_to_application(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        role: RoleId,
    ) -> Result<()> {
        let outcome = self.inner.assign_to_application(organization, application, role).await;
        self.announce(organization, outcome).await
    }

    async fn unassign_from_application(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        role: RoleId,
    ) -> Result<bool> {
        let outcome = self.inner.unassign_from_application(organization, application, role).await;
        self.announce(organization, outcome).await
    }

    async fn roles_of_application(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
    ) -> Result<Vec<Role>> {
        self.holder_roles(organization, RoleHolder::Application(application)).await
    }
}
