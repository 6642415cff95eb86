//! Ports: the traits the domain needs the outside world to implement.
//! Store ports speak domain types and [`Error`]; every tenant-scoped method
//! takes a non-optional [`OrganizationId`] and must never reach another
//! organization's rows. Object-safe, for `Arc<dyn Port>`.

use async_trait::async_trait;
use serde_json::Value as Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Result, ValidationError};
use crate::ids::{
    ApplicationId, AuthorizationCodeId, OrganizationId, RefreshTokenFamilyId, SessionId, SigningKeyId, UserId,
};
use crate::model::{
    Application, AuditEvent, AuthorizationCode, CodeRedemption, Consent, LoginAttempts, Organization, RefreshRotation,
    RefreshToken, RefreshTokenFamily, Revocation, Session, SigningAlgorithm, SigningKey, User,
};
use crate::values::{ClientId, Email, Password, PasswordHash, SecretDigest, Slug};

/// Keyset pagination: items with an id greater than `after`, in id order
/// (ids are UUIDv7, so that is creation order), at most `limit` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    after: Option<Uuid>,
    limit: u32,
}

impl PageRequest {
    pub const MAX_LIMIT: u32 = 200;

    pub fn new(after: Option<Uuid>, limit: u32) -> Result<Self, ValidationError> {
        if limit == 0 || limit > Self::MAX_LIMIT {
            return Err(ValidationError::new("limit", "must be 1 to 200"));
        }
        Ok(Self { after, limit })
    }

    /// The first page of at most `limit` (clamped to 1..=MAX_LIMIT) items.
    pub fn first(limit: u32) -> Self {
        Self { after: None, limit: limit.clamp(1, Self::MAX_LIMIT) }
    }

    pub fn after(&self) -> Option<Uuid> {
        self.after
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }
}

/// Filters for listing users; every given filter must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserQuery {
    /// Normalised-email prefix (matched case-insensitively, as emails are stored lower-case).
    pub email_prefix: Option<String>,
    /// A top-level profile attribute equal to a scalar JSON value (string, number or bool).
    pub profile_attribute: Option<(String, Json)>,
}

/// Filters for listing audit events; every given filter must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub event_type: Option<String>,
    /// Inclusive lower bound on `occurred_at`.
    pub from: Option<OffsetDateTime>,
    /// Exclusive upper bound on `occurred_at`.
    pub until: Option<OffsetDateTime>,
}

/// The tenants. Not tenant-scoped itself.
#[async_trait]
pub trait OrganizationRepository: Send + Sync {
    /// `Conflict("organization_slug")` when the slug is taken.
    async fn create(&self, organization: &Organization) -> Result<()>;
    async fn get(&self, id: OrganizationId) -> Result<Organization>;
    async fn find_by_slug(&self, slug: &Slug) -> Result<Option<Organization>>;
    /// Writes name, settings and `updated_at` (the slug is permanent).
    async fn update(&self, organization: &Organization) -> Result<()>;
    /// [`update`](Self::update) in one conditional statement that only writes
    /// while the stored `updated_at` still equals `expected_updated_at`:
    /// `PreconditionFailed` otherwise (`NotFound` when the row is gone).
    async fn update_if_unchanged(&self, organization: &Organization, expected_updated_at: OffsetDateTime)
        -> Result<()>;
    /// Deletes the organization with everything it owns.
    async fn delete(&self, id: OrganizationId) -> Result<()>;
    async fn list(&self, page: &PageRequest) -> Result<Vec<Organization>>;
}

#[async_trait]
pub trait UserRepository: Send + Sync {
    /// `Conflict("user_email")` when the email is taken in this organization;
    /// `NotFound("organization")` when the organization does not exist.
    async fn create(&self, user: &User) -> Result<()>;
    async fn get(&self, organization: OrganizationId, id: UserId) -> Result<User>;
    async fn find_by_email(&self, organization: OrganizationId, email: &Email) -> Result<Option<User>>;
    /// Writes every mutable field of the user identified by (organization, id).
    async fn update(&self, user: &User) -> Result<()>;
    /// [`update`](Self::update) only while the stored `updated_at` still equals
    /// `expected_updated_at` (one conditional statement): `PreconditionFailed` otherwise.
    async fn update_if_unchanged(&self, user: &User, expected_updated_at: OffsetDateTime) -> Result<()>;
    /// Deletes the user with their sessions, codes and refresh tokens.
    async fn delete(&self, organization: OrganizationId, id: UserId) -> Result<()>;
    async fn list(&self, organization: OrganizationId, query: &UserQuery, page: &PageRequest) -> Result<Vec<User>>;
}

#[async_trait]
pub trait ApplicationRepository: Send + Sync {
    /// `Conflict("application_client_id")` when the client_id is taken in this organization.
    async fn create(&self, application: &Application) -> Result<()>;
    async fn get(&self, organization: OrganizationId, id: ApplicationId) -> Result<Application>;
    async fn find_by_client_id(
        &self,
        organization: OrganizationId,
        client_id: &ClientId,
    ) -> Result<Option<Application>>;
    /// Writes every mutable field (not the client_id) of (organization, id).
    async fn update(&self, application: &Application) -> Result<()>;
    /// [`update`](Self::update) only while the stored `updated_at` still equals
    /// `expected_updated_at` (one conditional statement): `PreconditionFailed` otherwise.
    async fn update_if_unchanged(&self, application: &Application, expected_updated_at: OffsetDateTime) -> Result<()>;
    /// Deletes the application with its codes and refresh tokens.
    async fn delete(&self, organization: OrganizationId, id: ApplicationId) -> Result<()>;
    async fn list(&self, organization: OrganizationId, page: &PageRequest) -> Result<Vec<Application>>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create(&self, session: &Session) -> Result<()>;
    /// The session whose cookie digests to `token_digest`, unless it expired by `now`.
    async fn find_by_token_digest(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<Session>>;
    async fn get(&self, organization: OrganizationId, id: SessionId) -> Result<Session>;
    /// The user's unexpired sessions, oldest first.
    async fn list_for_user(
        &self,
        organization: OrganizationId,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<Session>>;
    async fn delete(&self, organization: OrganizationId, id: SessionId) -> Result<()>;
    /// Deletes every session of the user; returns how many.
    async fn delete_for_user(&self, organization: OrganizationId, user: UserId) -> Result<u64>;
    /// Housekeeping across all organizations: deletes sessions expired by `now`.
    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64>;
    /// Records activity on the session (its idle timeout restarts from
    /// `last_seen_at`). `NotFound("session")` when it is gone.
    async fn touch(&self, organization: OrganizationId, id: SessionId, last_seen_at: OffsetDateTime) -> Result<()>;
}

#[async_trait]
pub trait AuthorizationCodeStore: Send + Sync {
    async fn create(&self, code: &AuthorizationCode) -> Result<()>;
    /// Atomically redeems the code: of any number of concurrent callers exactly
    /// one gets `Redeemed`, the others `Replayed`. Unknown or expired codes are
    /// `InvalidGrant`.
    async fn redeem(
        &self,
        organization: OrganizationId,
        code_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<CodeRedemption>;
    /// Housekeeping across all organizations.
    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64>;
    /// Remembers the `jti` (valid until `expires_at`) of the access token
    /// minted from the code, so a replay of the code can revoke it.
    /// `NotFound("authorization_code")` when the code is gone.
    async fn record_access_token(
        &self,
        organization: OrganizationId,
        code: AuthorizationCodeId,
        jti: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()>;
    /// The `jti` and expiry recorded by `record_access_token`, if any.
    async fn issued_access_token(
        &self,
        organization: OrganizationId,
        code: AuthorizationCodeId,
    ) -> Result<Option<(String, OffsetDateTime)>>;
}

#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    /// Starts a family with its first token.
    async fn create_family(&self, family: &RefreshTokenFamily, first: &RefreshToken) -> Result<()>;
    /// The token and its family, whatever their state (the caller judges expiry).
    async fn find(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
    ) -> Result<Option<(RefreshToken, RefreshTokenFamily)>>;
    /// Atomically exchanges the presented token for `successor`. If it was
    /// current: `Rotated`. If it had been rotated already: the family is revoked
    /// and `ReuseDetected`. Unknown, expired or revoked: `InvalidGrant`.
    /// Of concurrent callers with one token, exactly one gets `Rotated`.
    async fn rotate(
        &self,
        organization: OrganizationId,
        presented: &SecretDigest,
        successor: &SecretDigest,
        successor_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<RefreshRotation>;
    async fn revoke_family(
        &self,
        organization: OrganizationId,
        family: RefreshTokenFamilyId,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// Revokes the families issued from a code (on code replay); returns how many.
    async fn revoke_for_code(
        &self,
        organization: OrganizationId,
        code: AuthorizationCodeId,
        now: OffsetDateTime,
    ) -> Result<u64>;
    async fn revoke_for_session(
        &self,
        organization: OrganizationId,
        session: SessionId,
        now: OffsetDateTime,
    ) -> Result<u64>;
    async fn revoke_for_user(&self, organization: OrganizationId, user: UserId, now: OffsetDateTime) -> Result<u64>;
    /// Revokes the user's families at one application (consent revoked); returns how many.
    async fn revoke_for_user_application(
        &self,
        organization: OrganizationId,
        user: UserId,
        application: ApplicationId,
        now: OffsetDateTime,
    ) -> Result<u64>;
    /// Housekeeping: deletes families (and their tokens) expired by `now`.
    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64>;
}

#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Idempotent: revoking a revoked jti again succeeds.
    async fn revoke(&self, revocation: &Revocation) -> Result<()>;
    async fn is_revoked(&self, organization: OrganizationId, jti: &str) -> Result<bool>;
    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64>;
}

/// Remembered consents (user × application → scopes).
#[async_trait]
pub trait ConsentStore: Send + Sync {
    async fn find(
        &self,
        organization: OrganizationId,
        user: UserId,
        application: ApplicationId,
    ) -> Result<Option<Consent>>;
    /// Remembers the consent, replacing an earlier one for the same user and
    /// application. `NotFound("user")` / `NotFound("application")` when either
    /// is missing in this organization.
    async fn save(&self, consent: &Consent) -> Result<()>;
    /// Forgets the consent; `Ok(false)` when there was none.
    async fn delete(&self, organization: OrganizationId, user: UserId, application: ApplicationId) -> Result<bool>;
    /// The user's consents, in application id order.
    async fn list_for_user(&self, organization: OrganizationId, user: UserId) -> Result<Vec<Consent>>;
}

/// The `jti` values of client assertions (RFC 7523 `private_key_jwt`) seen
/// so far, shared by every instance so an assertion is accepted only once.
#[async_trait]
pub trait ClientAssertionStore: Send + Sync {
    /// Records `jti` for the client until `expires_at`. `Ok(true)` the first
    /// time; `Ok(false)` when the same (organization, client, jti) is
    /// recorded and unexpired by `now` (a replay). Of concurrent callers with
    /// one jti, exactly one gets `Ok(true)`.
    async fn record_jti(
        &self,
        organization: OrganizationId,
        client_id: &ClientId,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// Housekeeping across all organizations.
    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64>;
}

#[async_trait]
pub trait SigningKeyRepository: Send + Sync {
    async fn create(&self, key: &SigningKey) -> Result<()>;
    /// Every key of the organization still published, newest first.
    async fn list(&self, organization: OrganizationId) -> Result<Vec<SigningKey>>;
    /// The newest active key for the algorithm.
    async fn find_active(
        &self,
        organization: OrganizationId,
        algorithm: SigningAlgorithm,
    ) -> Result<Option<SigningKey>>;
    /// Makes a pending key the signing key (`Pending` → `Active`); a no-op
    /// for an already active key (instances may race to do it).
    /// `NotFound("signing_key")` for a missing, foreign or retired key.
    async fn activate(&self, organization: OrganizationId, id: SigningKeyId) -> Result<()>;
    /// Stops the key signing (whether pending or active); it stays published until `expires_at`.
    async fn retire(
        &self,
        organization: OrganizationId,
        id: SigningKeyId,
        retired_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()>;
    /// Housekeeping: deletes retired keys whose `expires_at` has passed.
    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64>;
}

#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Writes a batch of events, all or none.
    async fn append(&self, events: &[AuditEvent]) -> Result<()>;
    async fn list(
        &self,
        organization: OrganizationId,
        query: &AuditQuery,
        page: &PageRequest,
    ) -> Result<Vec<AuditEvent>>;
}

/// Roles per organization and their assignment to users and applications
/// (see [`crate::roles`]). Assignments never cross organizations.
#[async_trait]
pub trait RoleRepository: Send + Sync {
    /// `Conflict("role_name")` when the name is taken in this organization;
    /// `NotFound("organization")` when the organization does not exist.
    async fn create(&self, role: &crate::roles::Role) -> Result<()>;
    async fn get(&self, organization: OrganizationId, id: crate::roles::RoleId) -> Result<crate::roles::Role>;
    async fn find_by_name(
        &self,
        organization: OrganizationId,
        name: &crate::roles::RoleName,
    ) -> Result<Option<crate::roles::Role>>;
    /// Writes name, description, permissions and `updated_at`; `Conflict("role_name")`.
    async fn update(&self, role: &crate::roles::Role) -> Result<()>;
    /// Deletes the role with its assignments.
    async fn delete(&self, organization: OrganizationId, id: crate::roles::RoleId) -> Result<()>;
    async fn list(&self, organization: OrganizationId, page: &PageRequest) -> Result<Vec<crate::roles::Role>>;
    /// Idempotent. `NotFound("user")` / `NotFound("role")` when either is
    /// missing in this organization.
    async fn assign_to_user(
        &self,
        organization: OrganizationId,
        user: UserId,
        role: crate::roles::RoleId,
    ) -> Result<()>;
    /// `Ok(false)` when the user did not hold the role.
    async fn unassign_from_user(
        &self,
        organization: OrganizationId,
        user: UserId,
        role: crate::roles::RoleId,
    ) -> Result<bool>;
    /// The user's roles, in name order.
    async fn roles_of_user(&self, organization: OrganizationId, user: UserId) -> Result<Vec<crate::roles::Role>>;
    /// Idempotent. `NotFound("application")` / `NotFound("role")`.
    async fn assign_to_application(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        role: crate::roles::RoleId,
    ) -> Result<()>;
    async fn unassign_from_application(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        role: crate::roles::RoleId,
    ) -> Result<bool>;
    /// The application's roles, in name order.
    async fn roles_of_application(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
    ) -> Result<Vec<crate::roles::Role>>;
}

/// Client-secret rotation with a grace period: the replaced secret's digest
/// stays valid until a given instant.
#[async_trait]
pub trait ClientSecretStore: Send + Sync {
    /// Atomically makes `new_digest` the application's secret digest and sets
    /// `updated_at`; the replaced digest stays valid until
    /// `previous_valid_until` (`None`: it stops at once). `NotFound("application")`
    /// for a missing, foreign or public application.
    async fn rotate(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        new_digest: &SecretDigest,
        previous_valid_until: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// The replaced secret's digest while it is still valid (`now` before its end).
    async fn find_previous(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        now: OffsetDateTime,
    ) -> Result<Option<SecretDigest>>;
}

/// Failed-login counters, per key (an account or a source address), shared
/// by every instance so brute-force defence holds behind a load balancer.
/// Keys are opaque to the store (the domain uses `account:{email}` and
/// `ip:{address}`), at most 300 bytes.
#[async_trait]
pub trait LoginAttemptStore: Send + Sync {
    async fn find(&self, organization: OrganizationId, key: &str) -> Result<Option<LoginAttempts>>;
    /// Atomically counts one failure of `key` at `now` and returns the new
    /// state. The count restarts at 1 when the current window started before
    /// `window_start` or an earlier lock has ended by `now`. When the count
    /// reaches `lock_threshold` and the key is not locked at `now`,
    /// `locked_until` becomes `lock_until`; a running lock is never extended.
    /// Of concurrent callers, each failure is counted exactly once.
    async fn record_failure(
        &self,
        organization: OrganizationId,
        key: &str,
        now: OffsetDateTime,
        window_start: OffsetDateTime,
        lock_threshold: u32,
        lock_until: OffsetDateTime,
    ) -> Result<LoginAttempts>;
    /// Forgets the key's failures and lock; `Ok(false)` when there were none.
    async fn clear(&self, organization: OrganizationId, key: &str) -> Result<bool>;
    /// Housekeeping across all organizations: deletes counters whose last
    /// failure was before `before` and whose lock (if any) ended by then.
    async fn delete_stale(&self, before: OffsetDateTime) -> Result<u64>;
}

/// Second-factor credentials ([`crate::mfa`]): at most one TOTP credential
/// per user, and the user's recovery codes (digests, each usable once).
/// Deleting the user or organization deletes them.
#[async_trait]
pub trait MfaStore: Send + Sync {
    /// Stores a new, unconfirmed TOTP credential, replacing the user's
    /// unconfirmed one if any. `Conflict("mfa_totp")` when the user has a
    /// confirmed one; `NotFound("user")` when the user does not exist.
    async fn put_totp(&self, credential: &crate::mfa::TotpCredential) -> Result<()>;
    async fn find_totp(&self, organization: OrganizationId, user: UserId)
        -> Result<Option<crate::mfa::TotpCredential>>;
    /// Confirms an unconfirmed credential, recording `step` as used.
    /// `Ok(false)` when there is no such unconfirmed credential.
    async fn confirm_totp(
        &self,
        organization: OrganizationId,
        id: Uuid,
        step: i64,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// Atomically records `step` as the last used step of a confirmed
    /// credential, only if it is later than the recorded one; `Ok(false)`
    /// otherwise (a replay, or no such confirmed credential).
    async fn use_totp_step(&self, organization: OrganizationId, id: Uuid, step: i64) -> Result<bool>;
    /// Replaces every recovery code of the user. `NotFound("user")` when the
    /// user does not exist.
    async fn replace_recovery_codes(
        &self,
        organization: OrganizationId,
        user: UserId,
        digests: &[SecretDigest],
        now: OffsetDateTime,
    ) -> Result<()>;
    /// Atomically marks an unused code used; `Ok(false)` when the user has no
    /// such unused code. Of concurrent callers, at most one gets `true`.
    async fn use_recovery_code(
        &self,
        organization: OrganizationId,
        user: UserId,
        digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// The number of unused recovery codes of the user.
    async fn count_recovery_codes(&self, organization: OrganizationId, user: UserId) -> Result<u32>;
    /// Deletes the user's TOTP credential and recovery codes; `Ok(false)` when
    /// there was nothing.
    async fn delete_for_user(&self, organization: OrganizationId, user: UserId) -> Result<bool>;
}

/// WebAuthn passkeys ([`crate::mfa::passkeys`]): credentials per user,
/// unique by credential ID within an organization, and ceremonies in flight
/// (single use, expiring). Deleting the user or organization deletes them.
#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// `Conflict("passkey_credential")` when the credential ID is registered
    /// in the organization already; `NotFound("user")` without such a user.
    async fn create_credential(&self, credential: &crate::mfa::passkeys::PasskeyCredential) -> Result<()>;
    /// The user's passkeys, oldest first.
    async fn list_credentials(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Vec<crate::mfa::passkeys::PasskeyCredential>>;
    /// The passkey with this credential ID in the organization.
    async fn find_credential(
        &self,
        organization: OrganizationId,
        credential_id: &[u8],
    ) -> Result<Option<crate::mfa::passkeys::PasskeyCredential>>;
    /// Records a use: the updated record, counter and backup state, and
    /// `last_used_at` — as a compare-and-swap on the counter: only when the
    /// stored `sign_count` is below the new one, or the new one is 0 (an
    /// authenticator without a counter). `Ok(false)` when there is no such
    /// passkey or the counter did not advance (a concurrent assertion with
    /// the same or a later counter got there first: a possible clone).
    async fn record_use(
        &self,
        organization: OrganizationId,
        id: Uuid,
        passkey: &serde_json::Value,
        sign_count: u32,
        backup_state: bool,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// `Ok(false)` when the user has no such passkey.
    async fn rename_credential(
        &self,
        organization: OrganizationId,
        user: UserId,
        id: Uuid,
        name: &crate::mfa::passkeys::PasskeyName,
    ) -> Result<bool>;
    /// `Ok(false)` when the user has no such passkey.
    async fn delete_credential(&self, organization: OrganizationId, user: UserId, id: Uuid) -> Result<bool>;
    /// `NotFound("organization")` when the organization does not exist.
    async fn put_ceremony(&self, ceremony: &crate::mfa::passkeys::PasskeyCeremony) -> Result<()>;
    /// Removes and returns the ceremony with this handle digest if it has
    /// not expired by `now` (an expired one is removed too). Of concurrent
    /// callers, at most one gets it.
    async fn take_ceremony(
        &self,
        organization: OrganizationId,
        handle_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<crate::mfa::passkeys::PasskeyCeremony>>;
    /// Housekeeping across all organizations: deletes ceremonies expired by `now`.
    async fn delete_expired_ceremonies(&self, now: OffsetDateTime) -> Result<u64>;
}

/// Upstream identity providers, linked identities and logins in flight
/// ([`crate::federation`]). Deleting the organization deletes them all;
/// deleting a provider deletes its links and logins; deleting a user deletes
/// the user's links.
#[async_trait]
pub trait FederationStore: Send + Sync {
    /// `Conflict("identity_provider_name")` for a name taken in the
    /// organization; `NotFound("organization")`.
    async fn create_provider(&self, provider: &crate::federation::IdentityProvider) -> Result<()>;
    /// Writes every field but the id, organization and `created_at`.
    /// `NotFound("identity_provider")`; `Conflict("identity_provider_name")`.
    async fn update_provider(&self, provider: &crate::federation::IdentityProvider) -> Result<()>;
    async fn find_provider(
        &self,
        organization: OrganizationId,
        id: Uuid,
    ) -> Result<Option<crate::federation::IdentityProvider>>;
    /// Every provider of the organization, in id (creation) order.
    async fn list_providers(&self, organization: OrganizationId) -> Result<Vec<crate::federation::IdentityProvider>>;
    /// `Ok(false)` when there was no such provider.
    async fn delete_provider(&self, organization: OrganizationId, id: Uuid) -> Result<bool>;
    /// `Conflict("federated_identity")` when (provider, subject) is already
    /// linked; `NotFound("identity_provider")` or `NotFound("user")`.
    async fn link_identity(&self, identity: &crate::federation::FederatedIdentity) -> Result<()>;
    async fn find_identity(
        &self,
        organization: OrganizationId,
        provider: Uuid,
        subject: &str,
    ) -> Result<Option<crate::federation::FederatedIdentity>>;
    /// The user's links, oldest first.
    async fn identities_of_user(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Vec<crate::federation::FederatedIdentity>>;
    /// Removes the link (provider, subject) if it belongs to `user`;
    /// `Ok(false)` when there was no such link of this user.
    async fn delete_identity(
        &self,
        organization: OrganizationId,
        user: UserId,
        provider: Uuid,
        subject: &str,
    ) -> Result<bool>;
    /// `NotFound("identity_provider")` or `NotFound("user")`.
    async fn put_pending_link(&self, link: &crate::federation::PendingLink) -> Result<()>;
    /// Removes and returns the pending link with this token digest if it has
    /// not expired by `now` (an expired one is removed too). Of concurrent
    /// callers, at most one gets it.
    async fn take_pending_link(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<crate::federation::PendingLink>>;
    /// `NotFound("identity_provider")` when the provider does not exist.
    async fn put_login(&self, login: &crate::federation::FederationLogin) -> Result<()>;
    /// Removes and returns the login with this state digest if it has not
    /// expired by `now` (an expired one is removed too). Of concurrent
    /// callers, at most one gets it.
    async fn take_login(
        &self,
        organization: OrganizationId,
        state_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<crate::federation::FederationLogin>>;
    /// Removes the link (provider, subject) of `user` unless it is the
    /// user's only link, as one atomic step: of two concurrent removals of a
    /// user's last two links, one is refused.
    async fn delete_identity_unless_last(
        &self,
        organization: OrganizationId,
        user: UserId,
        provider: Uuid,
        subject: &str,
    ) -> Result<crate::federation::IdentityDeletion>;
    /// Whether any local user is linked to the provider.
    async fn provider_has_identities(&self, organization: OrganizationId, provider: Uuid) -> Result<bool>;
    /// Deletes the pending links of every organization that expired by
    /// `now` (housekeeping); how many.
    async fn delete_expired_pending_links(&self, now: OffsetDateTime) -> Result<u64>;
    /// Deletes the upstream logins of every organization that expired by
    /// `now` (housekeeping); how many.
    async fn delete_expired_logins(&self, now: OffsetDateTime) -> Result<u64>;
}

/// Seals upstream client secrets at rest (adapter: `zenoauth-crypto`, with
/// the key-encryption key).
pub trait FederationCrypto: Send + Sync {
    /// Seals a client secret, bound to (organization, provider id).
    fn seal_client_secret(&self, organization: OrganizationId, provider: Uuid, secret: &str) -> Result<Vec<u8>>;
    /// Opens what [`Self::seal_client_secret`] made for the same pair.
    fn open_client_secret(&self, organization: OrganizationId, provider: Uuid, sealed: &[u8]) -> Result<String>;
}

/// The key material of second factors, kept out of the pure domain
/// (adapter: `zenoauth-crypto`, with `totp-rs` and the key-encryption key).
pub trait MfaCrypto: Send + Sync {
    /// A fresh 160-bit TOTP shared secret (RFC 4226 §4 recommends 160 bits).
    fn new_totp_secret(&self) -> Vec<u8>;
    /// Whether `code` is the 6-digit HMAC-SHA1 code of `secret` for time
    /// step `step` (RFC 6238, 30-second steps), compared in constant time.
    fn totp_matches(&self, secret: &[u8], step: i64, code: &str) -> bool;
    /// The secret in unpadded base32, for manual entry.
    fn base32(&self, secret: &[u8]) -> String;
    /// The `otpauth://totp/...` URI an authenticator app scans.
    fn provisioning_uri(&self, secret: &[u8], issuer: &str, account: &str) -> String;
    /// Seals a TOTP secret for storage, bound to (organization, credential id).
    fn seal_totp_secret(&self, organization: OrganizationId, credential: Uuid, secret: &[u8]) -> Result<Vec<u8>>;
    /// Opens what [`Self::seal_totp_secret`] made for the same pair.
    fn open_totp_secret(&self, organization: OrganizationId, credential: Uuid, sealed: &[u8]) -> Result<Vec<u8>>;
    /// A new recovery code (80 random bits, base32, in dash-separated groups).
    fn new_recovery_code(&self) -> String;
}

/// Where use cases emit audit events. `record` never blocks and never
/// fails the operation that emits: the implementation (the server's batched
/// writer) owns buffering, retries, and accounting for what it could not
/// write. It may fill in the request's correlation id, IP and user agent.
pub trait AuditSink: Send + Sync {
    fn record(&self, event: AuditEvent);
}

/// Tells every instance sharing the database that cached entries changed
/// (PostgreSQL: LISTEN/NOTIFY). Messages are short opaque strings (the
/// caching decorator's `<kind>:<organization>:<key>`), delivered at most once
/// to every subscriber, the sender's own included.
#[async_trait]
pub trait InvalidationBus: Send + Sync {
    async fn publish(&self, message: &str) -> Result<()>;
    /// Starts listening: messages published after this returns are delivered.
    async fn subscribe(&self) -> Result<Box<dyn InvalidationSubscription>>;
}

/// One listening connection of an [`InvalidationBus`].
#[async_trait]
pub trait InvalidationSubscription: Send {
    /// The next message. `Err` when the connection was lost: messages may
    /// have been missed, so the caller forgets what it cached and subscribes again.
    async fn next(&mut self) -> Result<String>;
}

/// The durable mail outbox (see [`crate::email`]). Not tenant-scoped for
/// the sender: one worker drains every organization's messages.
#[async_trait]
pub trait MailOutbox: Send + Sync {
    /// `NotFound("organization")` when the organization does not exist.
    async fn enqueue(&self, message: &crate::email::OutboxMessage) -> Result<()>;
    async fn find(&self, id: Uuid) -> Result<Option<crate::email::OutboxMessage>>;
    /// Atomically claims up to `limit` pending messages due by `now` whose
    /// lease (if any) ended by `now`, leasing them to `claim` until
    /// `lease_until`; oldest due first. Of concurrent claimers, each message
    /// goes to exactly one.
    async fn claim_due(
        &self,
        now: OffsetDateTime,
        claim: Uuid,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<crate::email::OutboxMessage>>;
    /// The message was sent: deletes it, if `claim` still holds its lease.
    /// `Ok(false)` when the lease was lost (another sender claimed it).
    async fn complete(&self, id: Uuid, claim: Uuid) -> Result<bool>;
    /// The attempt failed: counts it, records `error`, releases the lease,
    /// and schedules the next attempt at `next_attempt_at` (`None`: gives
    /// up, the message becomes `Failed`). `Ok(false)` when the lease was lost.
    async fn fail(&self, id: Uuid, claim: Uuid, error: &str, next_attempt_at: Option<OffsetDateTime>) -> Result<bool>;
}

/// The single-use account links (see [`crate::email`]), by token digest.
#[async_trait]
pub trait AccountTokenStore: Send + Sync {
    /// `NotFound("user")` when the user does not exist in the organization.
    async fn create(&self, token: &crate::email::AccountToken) -> Result<()>;
    /// The token unless it expired by `now` (or was consumed).
    async fn find(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<crate::email::AccountToken>>;
    /// Atomically uses the token up (deletes it) if it exists for `purpose`
    /// and has not expired by `now`; of concurrent callers exactly one gets it.
    async fn consume(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
        purpose: crate::email::AccountTokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<crate::email::AccountToken>>;
    /// Housekeeping across all organizations.
    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64>;
}

/// Every store port, as one bundle the server builds once from configuration.
#[derive(Clone)]
pub struct Stores {
    pub organizations: std::sync::Arc<dyn OrganizationRepository>,
    pub users: std::sync::Arc<dyn UserRepository>,
    pub applications: std::sync::Arc<dyn ApplicationRepository>,
    pub sessions: std::sync::Arc<dyn SessionStore>,
    pub authorization_codes: std::sync::Arc<dyn AuthorizationCodeStore>,
    pub refresh_tokens: std::sync::Arc<dyn RefreshTokenStore>,
    pub revocations: std::sync::Arc<dyn RevocationStore>,
    pub consents: std::sync::Arc<dyn ConsentStore>,
    pub client_assertions: std::sync::Arc<dyn ClientAssertionStore>,
    pub signing_keys: std::sync::Arc<dyn SigningKeyRepository>,
    pub audit: std::sync::Arc<dyn AuditLog>,
    pub roles: std::sync::Arc<dyn RoleRepository>,
    pub client_secrets: std::sync::Arc<dyn ClientSecretStore>,
    pub login_attempts: std::sync::Arc<dyn LoginAttemptStore>,
    pub mail_outbox: std::sync::Arc<dyn MailOutbox>,
    pub account_tokens: std::sync::Arc<dyn AccountTokenStore>,
    pub mfa: std::sync::Arc<dyn MfaStore>,
    pub passkeys: std::sync::Arc<dyn PasskeyStore>,
    pub federation: std::sync::Arc<dyn FederationStore>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

/// The wall clock, injected so expiry, rotation and lockout are testable.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// Cryptographically secure randomness (the OS RNG in production).
pub trait RandomSource: Send + Sync {
    fn fill(&self, bytes: &mut [u8]);
}

/// Hashes human passwords (Argon2id). Hashing is slow on purpose; adapters
/// run it off the async runtime and bound how many run at once.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: &Password) -> Result<PasswordHash>;
    /// `Ok(false)` for a wrong password; `Err` only when hashing itself failed.
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool>;
    /// Whether the hash was made with other parameters than the current ones.
    fn needs_rehash(&self, hash: &PasswordHash) -> bool;
    /// Costs what one real `verify` costs and never succeeds: for logins of
    /// unknown users, so timing does not reveal which accounts exist.
    async fn verify_dummy(&self, password: &Password) -> Result<()>;
}

/// Makes signing keys and signs compact JWS with them.
pub trait TokenSigner: Send + Sync {
    /// A new key pair; the private half comes back encrypted at rest.
    fn generate(
        &self,
        id: SigningKeyId,
        organization: OrganizationId,
        algorithm: SigningAlgorithm,
        now: OffsetDateTime,
    ) -> Result<SigningKey>;
    /// A compact JWS of `claims` with header `{alg, kid, typ}`.
    fn sign(&self, key: &SigningKey, typ: &str, claims: &Json) -> Result<String>;
}

/// Checks compact JWS against published keys.
pub trait TokenVerifier: Send + Sync {
    /// The verified claims. `Unauthorized` when malformed, signed by no key in
    /// `keys`, signed with an algorithm other than the key's, or when the
    /// header's `typ` is not `expected_typ` (e.g. `at+jwt`, RFC 9068 §4), so
    /// one kind of token cannot be passed off as another. Claims such as `exp`
    /// are the caller's to judge.
    fn verify(&self, keys: &[SigningKey], token: &str, expected_typ: &str) -> Result<Json>;
}

/// The kinds of opaque secret the OAuth use cases issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Session,
    AuthorizationCode,
    RefreshToken,
}

/// A freshly issued secret: the plaintext to hand out once, and the digest to
/// store. `Debug` never shows the plaintext.
#[derive(Clone, PartialEq, Eq)]
pub struct NewSecret {
    pub plaintext: String,
    pub digest: SecretDigest,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecret").field("digest", &self.digest).finish_non_exhaustive()
    }
}

/// The secret and hash primitives the OAuth use cases need, kept out of the
/// pure domain (adapter: `zenoauth-crypto`).
pub trait OAuthCrypto: Send + Sync {
    /// A new prefixed secret of 256 random bits, with its SHA-256 digest.
    fn issue_secret(&self, kind: SecretKind) -> NewSecret;
    /// The SHA-256 digest of a presented secret, to look it up by.
    fn digest_secret(&self, presented: &str) -> SecretDigest;
    /// RFC 7636 §4.6 for S256, in constant time; false for a malformed verifier.
    fn verify_pkce_s256(&self, verifier: &str, challenge: &crate::model::CodeChallenge) -> bool;
    /// OIDC Core §3.1.3.6 `at_hash`: base64url of the left half of the hash
    /// of `token`, with the hash function of the JWS algorithm.
    fn left_half_hash(&self, algorithm: SigningAlgorithm, token: &str) -> String;
    /// The claims of a compact JWS signed by one of the keys of `jwks` (a JWK
    /// set a client registered), the key chosen by `kid` (or the only key)
    /// and the header's `alg` required to match it. `Unauthorized` otherwise.
    fn verify_with_jwks(&self, jwks: &Json, token: &str) -> Result<Json>;
}
