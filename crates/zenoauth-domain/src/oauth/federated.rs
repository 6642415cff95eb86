//! Login through an upstream identity provider ([`crate::federation`]): the
//! upstream identity (already verified by the caller: signature, issuer,
//! audience, expiry, nonce) is resolved to exactly one local user — an
//! existing link, a link by verified email when the organization allows it,
//! or a user created just in time — the provider's claim mapping is applied,
//! and a session starts under ZenoAuth's own policy (MFA as for a password
//! login). A failed resolution leaves no user behind.

use serde_json::{json, Value as Json};

use super::{Issuer, LoginSuccess, OpenIdProvider};
use crate::error::{Error, Result};
use crate::federation::{FederatedIdentity, IdentityProvider};
use crate::model::User;
use crate::roles::RoleName;
use crate::security::lockout::{LockoutPolicy, LoginThrottle};
use crate::values::Email;

/// Audit event of a login through an upstream provider that was refused.
pub const FEDERATION_LOGIN_FAILED: &str = "federation.login_failed";
/// Audit event of a new link from an upstream identity to a local user.
pub const FEDERATION_LINKED: &str = "federation.identity_linked";

/// A verified upstream identity.
#[derive(Debug, Clone, Default)]
pub struct UpstreamIdentity {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    /// Every claim of the upstream ID token, for the claim mapping.
    pub claims: Json,
    /// The `amr` of the upstream ID token (never from userinfo; empty for
    /// OAuth 2.0 providers), for the provider's `trust_upstream_amr`.
    pub amr: Vec<String>,
}

/// Why a federated login was refused; each has its own clear message.
#[derive(Debug)]
pub enum FederatedLoginError {
    /// Unknown upstream identity and the provider does not create users.
    ProvisioningDisabled,
    /// A local account has this email, but it may not be linked
    /// automatically (email not verified upstream, or linking not allowed).
    AccountExists,
    /// The upstream gave no usable email to create a user with.
    MissingEmail,
    /// The linked local user is deactivated.
    Inactive,
    /// The local account is locked by brute-force defence (too many failed
    /// sign-ins): the lock holds for every way of signing in.
    Locked,
    Internal(Error),
}

impl FederatedLoginError {
    /// The reason recorded in the audit event.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::ProvisioningDisabled => "provisioning_disabled",
            Self::AccountExists => "account_exists",
            Self::MissingEmail => "missing_email",
            Self::Inactive => "inactive",
            Self::Locked => "locked",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<Error> for FederatedLoginError {
    fn from(error: Error) -> Self {
        Self::Internal(error)
    }
}

impl OpenIdProvider {
    /// Resolves `upstream` to a local user, applies the claim mapping and
    /// starts a session. Emits `login.succeeded` (with the provider named) or
    /// [`FEDERATION_LOGIN_FAILED`].
    pub async fn federated_login(
        &self,
        issuer: &Issuer,
        provider: &IdentityProvider,
        upstream: &UpstreamIdentity,
        metadata: Json,
    ) -> Result<LoginSuccess, FederatedLoginError> {
        let organization = issuer.organization.id;
        let resolved = match self.resolve_user(issuer, provider, upstream).await {
            Ok(user) => self.refuse_if_locked(issuer, user).await,
            Err(error) => Err(error),
        };
        let user = match resolved {
            Ok(user) => user,
            Err(error) => {
                self.emit(
                    organization,
                    FEDERATION_LOGIN_FAILED,
                    None,
                    None,
                    json!({"provider": provider.name, "provider_id": provider.id.to_string(),
                           "subject": upstream.subject, "reason": error.reason()}),
                );
                return Err(error);
            }
        };
        let user = self.apply_mapping(provider, upstream, user).await?;
        let session = self.start_federated_session(issuer, provider, upstream, &user, metadata).await?;
        Ok(session)
    }

    /// The account lockout of password logins holds for federated ones too
    /// (Keycloak's brute-force detection does the same): a locked account
    /// waits out its lock or an administrator's unlock, whatever the
    /// upstream says. Address locks are not checked: they stop password
    /// spraying, and a federated login guesses no password.
    async fn refuse_if_locked(&self, issuer: &Issuer, user: User) -> Result<User, FederatedLoginError> {
        let policy = LockoutPolicy::from_organization(&issuer.organization).unwrap_or_default();
        let throttle = LoginThrottle::new(issuer.organization.id, policy, user.email.as_str(), None);
        if throttle.is_locked(self.stores.login_attempts.as_ref(), self.clock.now()).await? {
            return Err(FederatedLoginError::Locked);
        }
        Ok(user)
    }

    /// Audits a federated login that failed before a user was resolved
    /// (upstream error, state mismatch, bad token, unreachable provider).
    pub fn record_federation_failure(&self, issuer: &Issuer, provider: Option<&IdentityProvider>, reason: &str) {
        self.emit(
            issuer.organization.id,
            FEDERATION_LOGIN_FAILED,
            None,
            None,
            json!({"provider": provider.map(|provider| provider.name.clone()),
                   "provider_id": provider.map(|provider| provider.id.to_string()), "reason": reason}),
        );
    }

    async fn resolve_user(
        &self,
        issuer: &Issuer,
        provider: &IdentityProvider,
        upstream: &UpstreamIdentity,
    ) -> Result<User, FederatedLoginError> {
        let organization = issuer.organization.id;
        let federation = self.stores.federation.as_ref();
        if let Some(link) = federation.find_identity(organization, provider.id, &upstream.subject).await? {
            let user = self.stores.users.get(organization, link.user_id).await?;
            return if user.is_active { Ok(user) } else { Err(FederatedLoginError::Inactive) };
        }
        let email = upstream.email.as_deref().and_then(|email| Email::parse(email).ok());
        let existing = match &email {
            Some(email) => self.stores.users.find_by_email(organization, email).await?,
            None => None,
        };
        let now = self.clock.now();
        let link = |user: &User| FederatedIdentity {
            organization_id: organization,
            provider_id: provider.id,
            subject: upstream.subject.clone(),
            user_id: user.id,
            created_at: now,
        };
        let user = match existing {
            Some(user) if provider.link_by_verified_email && upstream.email_verified => {
                if !user.is_active {
                    return Err(FederatedLoginError::Inactive);
                }
                federation.link_identity(&link(&user)).await?;
                user
            }
            Some(_) => return Err(FederatedLoginError::AccountExists),
            None if !provider.jit_provisioning => return Err(FederatedLoginError::ProvisioningDisabled),
            None => {
                let email = email.ok_or(FederatedLoginError::MissingEmail)?;
                let user = User {
                    id: self.ids.next(),
                    organization_id: organization,
                    email,
                    email_verified: upstream.email_verified,
                    password_hash: None,
                    profile: json!({}),
                    is_active: true,
                    created_at: now,
                    updated_at: now,
                };
                self.stores.users.create(&user).await?;
                // Never a half-created user: without its link, the user goes.
                if let Err(error) = federation.link_identity(&link(&user)).await {
                    let _ = self.stores.users.delete(organization, user.id).await;
                    return Err(error.into());
                }
                user
            }
        };
        self.emit(
            organization,
            FEDERATION_LINKED,
            None,
            Some(user.id.to_string()),
            json!({"provider": provider.name, "provider_id": provider.id.to_string(), "subject": upstream.subject}),
        );
        Ok(user)
    }

    /// Profile attributes from mapped claims; the roles the mapping manages
    /// granted exactly when a mapped upstream group says so.
    pub(super) async fn apply_mapping(
        &self,
        provider: &IdentityProvider,
        upstream: &UpstreamIdentity,
        user: User,
    ) -> Result<User> {
        apply_claim_mapping(&self.stores, self.clock.as_ref(), provider, &upstream.claims, user).await
    }

    async fn start_federated_session(
        &self,
        issuer: &Issuer,
        provider: &IdentityProvider,
        upstream: &UpstreamIdentity,
        user: &User,
        metadata: Json,
    ) -> Result<LoginSuccess> {
        let mut metadata = if metadata.is_object() { metadata } else { json!({}) };
        if let Some(object) = metadata.as_object_mut() {
            object.insert("identity_provider".to_owned(), json!(provider.id.to_string()));
        }
        let mut audit = json!({"provider": provider.name, "provider_id": provider.id.to_string()});
        // A multi-factor upstream login counts as ZenoAuth's second factor
        // only when the organization trusts this provider's `amr`.
        let trusted_mfa = provider.trust_upstream_amr && crate::federation::amr_is_multi_factor(&upstream.amr);
        let amr: &[&str] = if trusted_mfa { &["fed", "mfa"] } else { &["fed"] };
        if let Some(object) = audit.as_object_mut() {
            object.insert("upstream_amr".to_owned(), json!(upstream.amr));
            object.insert("upstream_mfa_trusted".to_owned(), json!(trusted_mfa));
        }
        self.start_session(issuer, user, metadata, amr, audit).await
    }
}

/// Profile attributes from mapped claims; the roles the mapping manages
/// granted exactly when a mapped upstream group says so.
pub(crate) async fn apply_claim_mapping(
    stores: &crate::ports::Stores,
    clock: &dyn crate::ports::Clock,
    provider: &IdentityProvider,
    claims: &Json,
    user: User,
) -> Result<User> {
    let organization = user.organization_id;
    let mapping = &provider.claim_mapping;
    let attributes = mapping.attributes_of(claims);
    let user = if attributes.is_empty() {
        user
    } else {
        let mut updated = user.clone();
        let mut profile = updated.profile.as_object().cloned().unwrap_or_default();
        let mut changed = false;
        for (name, value) in attributes {
            if profile.get(&name) != Some(&value) {
                profile.insert(name, value);
                changed = true;
            }
        }
        if changed {
            updated.profile = Json::Object(profile);
            updated.updated_at = crate::users::next_version(user.updated_at, clock.now());
            stores.users.update_if_unchanged(&updated, user.updated_at).await?;
            updated
        } else {
            user
        }
    };
    let wanted = mapping.roles_of(claims);
    let held = stores.roles.roles_of_user(organization, user.id).await?;
    for name in mapping.roles.values() {
        let Ok(role_name) = RoleName::parse(name) else { continue };
        let Some(role) = stores.roles.find_by_name(organization, &role_name).await? else { continue };
        let holds = held.iter().any(|held| held.id == role.id);
        match (wanted.contains(name), holds) {
            (true, false) => stores.roles.assign_to_user(organization, user.id, role.id).await?,
            (false, true) => {
                stores.roles.unassign_from_user(organization, user.id, role.id).await?;
            }
            _ => {}
        }
    }
    Ok(user)
}
