//! The port implementations: each a thin handle on the shared [`MemoryDatabase`].

use async_trait::async_trait;
use time::OffsetDateTime;
use zenoauth_domain::ids::{
    ApplicationId, AuthorizationCodeId, OrganizationId, RefreshTokenFamilyId, SessionId, SigningKeyId, UserId,
};
use zenoauth_domain::model::{
    Application, AuditEvent, AuthorizationCode, CodeRedemption, Consent, Organization, RefreshRotation, RefreshToken,
    RefreshTokenFamily, Revocation, Session, SigningAlgorithm, SigningKey, User,
};
use zenoauth_domain::ports::{
    ApplicationRepository, AuditLog, AuditQuery, AuthorizationCodeStore, ClientAssertionStore, ConsentStore,
    OrganizationRepository, PageRequest, RefreshTokenStore, RevocationStore, SessionStore, SigningKeyRepository,
    UserQuery, UserRepository,
};
use zenoauth_domain::roles::{Role, RoleId, RoleName};
use zenoauth_domain::values::{ClientId, Email, SecretDigest, Slug};
use zenoauth_domain::Result;

use crate::MemoryDatabase;

macro_rules! adapter {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name {
            database: MemoryDatabase,
        }

        impl $name {
            pub fn new(database: MemoryDatabase) -> Self {
                Self { database }
            }
        }
    };
}

adapter!(
    /// [`OrganizationRepository`] in memory.
    MemoryOrganizationRepository
);
adapter!(
    /// [`UserRepository`] in memory.
    MemoryUserRepository
);
adapter!(
    /// [`ApplicationRepository`] in memory.
    MemoryApplicationRepository
);
adapter!(
    /// [`SessionStore`] in memory.
    MemorySessionStore
);
adapter!(
    /// [`AuthorizationCodeStore`] in memory.
    MemoryAuthorizationCodeStore
);
adapter!(
    /// [`RefreshTokenStore`] in memory.
    MemoryRefreshTokenStore
);
adapter!(
    /// [`RevocationStore`] in memory.
    MemoryRevocationStore
);
adapter!(
    /// [`SigningKeyRepository`] in memory.
    MemorySigningKeyRepository
);
adapter!(
    /// [`AuditLog`] in memory.
    MemoryAuditLog
);

#[async_trait]
impl OrganizationRepository for MemoryOrganizationRepository {
    async fn create(&self, organization: &Organization) -> Result<()> {
        self.database.call(|state| state.organization_create(organization)).await
    }

    async fn get(&self, id: OrganizationId) -> Result<Organization> {
        self.database.call(|state| state.organization_get(id)).await
    }

    async fn find_by_slug(&self, slug: &Slug) -> Result<Option<Organization>> {
        self.database.call(|state| Ok(state.organization_find_by_slug(slug))).await
    }

    async fn update(&self, organization: &Organization) -> Result<()> {
        self.database.call(|state| state.organization_update(organization, None)).await
    }

    async fn update_if_unchanged(
        &self,
        organization: &Organization,
        expected_updated_at: OffsetDateTime,
    ) -> Result<()> {
        self.database.call(|state| state.organization_update(organization, Some(expected_updated_at))).await
    }

    async fn delete(&self, id: OrganizationId) -> Result<()> {
        self.database.call(|state| state.organization_delete(id)).await
    }

    async fn list(&self, page: &PageRequest) -> Result<Vec<Organization>> {
        self.database.call(|state| Ok(state.organization_list(page))).await
    }
}

#[async_trait]
impl UserRepository for MemoryUserRepository {
    async fn create(&self, user: &User) -> Result<()> {
        self.database.call(|state| state.user_create(user)).await
    }

    async fn get(&self, organization: OrganizationId, id: UserId) -> Result<User> {
        self.database.call(|state| state.user_get(organization, id)).await
    }

    async fn find_by_email(&self, organization: OrganizationId, email: &Email) -> Result<Option<User>> {
        self.database.call(|state| Ok(state.user_find_by_email(organization, email))).await
    }

    async fn update(&self, user: &User) -> Result<()> {
        self.database.call(|state| state.user_update(user, None)).await
    }

    async fn update_if_unchanged(&self, user: &User, expected_updated_at: OffsetDateTime) -> Result<()> {
        self.database.call(|state| state.user_update(user, Some(expected_updated_at))).await
    }

    async fn delete(&self, organization: OrganizationId, id: UserId) -> Result<()> {
        self.database.call(|state| state.user_delete(organization, id)).await
    }

    async fn list(&self, organization: OrganizationId, query: &UserQuery, page: &PageRequest) -> Result<Vec<User>> {
        self.database.call(|state| Ok(state.user_list(organization, query, page))).await
    }
}

#[async_trait]
impl ApplicationRepository for MemoryApplicationRepository {
    async fn create(&self, application: &Application) -> Result<()> {
        self.database.call(|state| state.application_create(application)).await
    }

    async fn get(&self, organization: OrganizationId, id: ApplicationId) -> Result<Application> {
        self.database.call(|state| state.application_get(organization, id)).await
    }

    async fn find_by_client_id(
        &self,
        organization: OrganizationId,
        client_id: &ClientId,
    ) -> Result<Option<Application>> {
        self.database.call(|state| Ok(state.application_find_by_client_id(organization, client_id))).await
    }

    async fn update(&self, application: &Application) -> Result<()> {
        self.database.call(|state| state.application_update(application, None)).await
    }

    async fn update_if_unchanged(&self, application: &Application, expected_updated_at: OffsetDateTime) -> Result<()> {
        self.database.call(|state| state.application_update(application, Some(expected_updated_at))).await
    }

    async fn delete(&self, organization: OrganizationId, id: ApplicationId) -> Result<()> {
        self.database.call(|state| state.application_delete(organization, id)).await
    }

    async fn list(&self, organization: OrganizationId, page: &PageRequest) -> Result<Vec<Application>> {
        self.database.call(|state| Ok(state.application_list(organization, page))).await
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn create(&self, session: &Session) -> Result<()> {
        self.database.call(|state| state.session_create(session)).await
    }

    async fn find_by_token_digest(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<Session>> {
        self.database.call(|state| Ok(state.session_find_by_token_digest(organization, token_digest, now))).await
    }

    async fn get(&self, organization: OrganizationId, id: SessionId) -> Result<Session> {
        self.database.call(|state| state.session_get(organization, id)).await
    }

    async fn list_for_user(
        &self,
        organization: OrganizationId,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<Session>> {
        self.database.call(|state| Ok(state.session_list_for_user(organization, user, now))).await
    }

    async fn delete(&self, organization: OrganizationId, id: SessionId) -> Result<()> {
        self.database.call(|state| state.session_delete(organization, id)).await
    }

    async fn delete_for_user(&self, organization: OrganizationId, user: UserId) -> Result<u64> {
        self.database.call(|state| Ok(state.session_delete_for_user(organization, user))).await
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        self.database.call(|state| Ok(state.session_delete_expired(now))).await
    }

    async fn touch(&self, organization: OrganizationId, id: SessionId, last_seen_at: OffsetDateTime) -> Result<()> {
        self.database.call(|state| state.session_touch(organization, id, last_seen_at)).await
    }
}

#[async_trait]
impl AuthorizationCodeStore for MemoryAuthorizationCodeStore {
    async fn create(&self, code: &AuthorizationCode) -> Result<()> {
        self.database.call(|state| state.code_create(code)).await
    }

    async fn redeem(
        &self,
        organization: OrganizationId,
        code_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<CodeRedemption> {
        self.database.call(|state| state.code_redeem(organization, code_digest, now)).await
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        self.database.call(|state| Ok(state.code_delete_expired(now))).await
    }

    async fn record_access_token(
        &self,
        organization: OrganizationId,
        code: AuthorizationCodeId,
        jti: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        self.database.call(|state| state.code_record_access_token(organization, code, jti, expires_at)).await
    }

    async fn issued_access_token(
        &self,
        organization: OrganizationId,
        code: AuthorizationCodeId,
    ) -> Result<Option<(String, OffsetDateTime)>> {
        self.database.call(|state| Ok(state.code_issued_access_token(organization, code))).await
    }
}

#[async_trait]
impl RefreshTokenStore for MemoryRefreshTokenStore {
    async fn create_family(&self, family: &RefreshTokenFamily, first: &RefreshToken) -> Result<()> {
        self.database.call(|state| state.refresh_create_family(family, first)).await
    }

    async fn find(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
    ) -> Result<Option<(RefreshToken, RefreshTokenFamily)>> {
        self.database.call(|state| Ok(state.refresh_find(organization, token_digest))).await
    }

    async fn rotate(
        &self,
        organization: OrganizationId,
        presented: &SecretDigest,
        successor: &SecretDigest,
        successor_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<RefreshRotation> {
        self.database
            .call(|state| state.refresh_rotate(organization, presented, successor, successor_expires_at, now))
            .await
    }

    async fn revoke_family(
        &self,
        organization: OrganizationId,
        family: RefreshTokenFamilyId,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.database.call(|state| state.refresh_revoke_family(organization, family, now)).await
    }

    async fn revoke_for_code(
        &self,
        organization: OrganizationId,
        code: AuthorizationCodeId,
        now: OffsetDateTime,
    ) -> Result<u64> {
        self.database
            .call(|state| Ok(state.refresh_revoke_where(organization, now, |f| f.authorization_code_id == Some(code))))
            .await
    }

    async fn revoke_for_session(
        &self,
        organization: OrganizationId,
        session: SessionId,
        now: OffsetDateTime,
    ) -> Result<u64> {
        self.database
            .call(|state| Ok(state.refresh_revoke_where(organization, now, |f| f.session_id == Some(session))))
            .await
    }

    async fn revoke_for_user(&self, organization: OrganizationId, user: UserId, now: OffsetDateTime) -> Result<u64> {
        self.database.call(|state| Ok(state.refresh_revoke_where(organization, now, |f| f.user_id == Some(user)))).await
    }

    async fn revoke_for_user_application(
        &self,
        organization: OrganizationId,
        user: UserId,
        application: ApplicationId,
        now: OffsetDateTime,
    ) -> Result<u64> {
        self.database
            .call(|state| {
                Ok(state.refresh_revoke_where(organization, now, |f| {
                    f.user_id == Some(user) && f.application_id == application
                }))
            })
            .await
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        self.database.call(|state| Ok(state.refresh_delete_expired(now))).await
    }
}

#[async_trait]
impl RevocationStore for MemoryRevocationStore {
    async fn revoke(&self, revocation: &Revocation) -> Result<()> {
        self.database.call(|state| state.revocation_revoke(revocation)).await
    }

    async fn is_revoked(&self, organization: OrganizationId, jti: &str) -> Result<bool> {
        self.database.call(|state| Ok(state.revocation_is_revoked(organization, jti))).await
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        self.database.call(|state| Ok(state.revocation_delete_expired(now))).await
    }
}

#[async_trait]
impl SigningKeyRepository for MemorySigningKeyRepository {
    async fn create(&self, key: &SigningKey) -> Result<()> {
        self.database.call(|state| state.signing_key_create(key)).await
    }

    async fn list(&self, organization: OrganizationId) -> Result<Vec<SigningKey>> {
        self.database.call(|state| Ok(state.signing_key_list(organization))).await
    }

    async fn find_active(
        &self,
        organization: OrganizationId,
        algorithm: SigningAlgorithm,
    ) -> Result<Option<SigningKey>> {
        self.database.call(|state| Ok(state.signing_key_find_active(organization, algorithm))).await
    }

    async fn activate(&self, organization: OrganizationId, id: SigningKeyId) -> Result<()> {
        self.database.call(|state| state.signing_key_activate(organization, id)).await
    }

    async fn retire(
        &self,
        organization: OrganizationId,
        id: SigningKeyId,
        retired_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        self.database.call(|state| state.signing_key_retire(organization, id, retired_at, expires_at)).await
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        self.database.call(|state| Ok(state.signing_key_delete_expired(now))).await
    }
}

#[async_trait]
impl AuditLog for MemoryAuditLog {
    async fn append(&self, events: &[AuditEvent]) -> Result<()> {
        self.database.call(|state| state.audit_append(events)).await
    }

    async fn list(
        &self,
        organization: OrganizationId,
        query: &AuditQuery,
        page: &PageRequest,
    ) -> Result<Vec<AuditEvent>> {
        self.database.call(|state| Ok(state.audit_list(organization, query, page))).await
    }
}

adapter!(
    /// [`ConsentStore`] in memory.
    MemoryConsentStore
);
adapter!(
    /// [`ClientAssertionStore`] in memory.
    MemoryClientAssertionStore
);

#[async_trait]
impl ConsentStore for MemoryConsentStore {
    async fn find(
        &self,
        organization: OrganizationId,
        user: UserId,
        application: ApplicationId,
    ) -> Result<Option<Consent>> {
        self.database.call(|state| Ok(state.consent_find(organization, user, application))).await
    }

    async fn save(&self, consent: &Consent) -> Result<()> {
        self.database.call(|state| state.consent_save(consent)).await
    }

    async fn delete(&self, organization: OrganizationId, user: UserId, application: ApplicationId) -> Result<bool> {
        self.database.call(|state| Ok(state.consent_delete(organization, user, application))).await
    }

    async fn list_for_user(&self, organization: OrganizationId, user: UserId) -> Result<Vec<Consent>> {
        self.database.call(|state| Ok(state.consent_list_for_user(organization, user))).await
    }
}

#[async_trait]
impl ClientAssertionStore for MemoryClientAssertionStore {
    async fn record_jti(
        &self,
        organization: OrganizationId,
        client_id: &ClientId,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool> {
        self.database.call(|state| state.client_assertion_record(organization, client_id, jti, expires_at, now)).await
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        self.database.call(|state| Ok(state.client_assertion_delete_expired(now))).await
    }
}

adapter!(
    /// [`RoleRepository`] in memory.
    MemoryRoleRepository
);
adapter!(
    /// [`ClientSecretStore`] in memory.
    MemoryClientSecretStore
);

#[async_trait]
impl zenoauth_domain::ports::RoleRepository for MemoryRoleRepository {
    async fn create(&self, role: &Role) -> Result<()> {
        self.database.call(|state| state.role_create(role)).await
    }

    async fn get(&self, organization: OrganizationId, id: RoleId) -> Result<Role> {
        self.database.call(|state| state.role_get(organization, id)).await
    }

    async fn find_by_name(&self, organization: OrganizationId, name: &RoleName) -> Result<Option<Role>> {
        self.database.call(|state| Ok(state.role_find_by_name(organization, name))).await
    }

    async fn update(&self, role: &Role) -> Result<()> {
        self.database.call(|state| state.role_update(role)).await
    }

    async fn delete(&self, organization: OrganizationId, id: RoleId) -> Result<()> {
        self.database.call(|state| state.role_delete(organization, id)).await
    }

    async fn list(&self, organization: OrganizationId, page: &PageRequest) -> Result<Vec<Role>> {
        self.database.call(|state| Ok(state.role_list(organization, page))).await
    }

    async fn assign_to_user(&self, organization: OrganizationId, user: UserId, role: RoleId) -> Result<()> {
        self.database.call(|state| state.role_assign_to_user(organization, user, role)).await
    }

    async fn unassign_from_user(&self, organization: OrganizationId, user: UserId, role: RoleId) -> Result<bool> {
        self.database.call(|state| Ok(state.role_unassign_from_user(organization, user, role))).await
    }

    async fn roles_of_user(&self, organization: OrganizationId, user: UserId) -> Result<Vec<Role>> {
        self.database.call(|state| Ok(state.roles_of_user(organization, user))).await
    }

    async fn assign_to_application(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        role: RoleId,
    ) -> Result<()> {
        self.database.call(|state| state.role_assign_to_application(organization, application, role)).await
    }

    async fn unassign_from_application(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        role: RoleId,
    ) -> Result<bool> {
        self.database.call(|state| Ok(state.role_unassign_from_application(organization, application, role))).await
    }

    async fn roles_of_application(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
    ) -> Result<Vec<Role>> {
        self.database.call(|state| Ok(state.roles_of_application(organization, application))).await
    }
}

#[async_trait]
impl zenoauth_domain::ports::ClientSecretStore for MemoryClientSecretStore {
    async fn rotate(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        new_digest: &SecretDigest,
        previous_valid_until: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.database
            .call(|state| state.client_secret_rotate(organization, application, new_digest, previous_valid_until, now))
            .await
    }

    async fn find_previous(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        now: OffsetDateTime,
    ) -> Result<Option<SecretDigest>> {
        self.database.call(|state| Ok(state.client_secret_find_previous(organization, application, now))).await
    }
}
