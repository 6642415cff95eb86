//! Linking an upstream identity to an existing local account, and removing
//! links (issue 6).
//!
//! When a first federated login asserts the email of an existing local user
//! and may not be linked automatically (the provider does not link by
//! verified email, or the upstream did not verify the email), the user may
//! prove ownership of the local account with its password: a
//! [`PendingLink`] is kept server-side (single use, [`PENDING_LINK_LIFETIME`]),
//! the password is checked by the very same [`OpenIdProvider::login`] as the
//! login form (uniform failure, dummy verification, lockout counting,
//! admission control of the hasher), and only then is the link made. When the
//! organization still asks for a second factor, the link waits for it
//! ([`LINK_AFTER_SECOND_FACTOR`], completed in [`crate::mfa`]).
//!
//! Saying "an account with this email exists" here does not enumerate
//! accounts the way a login form would: only someone who controls an
//! upstream identity asserting that email reaches this page (Keycloak's
//! "account already exists, link it" flow makes the same choice).

use serde_json::{json, Value as Json};
use time::Duration;
use uuid::Uuid;

use super::settings::password_login_enabled;
use super::{Issuer, LoginError, LoginSuccess, OpenIdProvider, UpstreamIdentity, FEDERATION_LINKED};
use crate::error::{Error, Result};
use crate::federation::{FederatedIdentity, IdentityDeletion, IdentityProvider, PendingLink, LINK_AFTER_SECOND_FACTOR};
use crate::ids::{IdGenerator, OrganizationId, UserId};
use crate::model::User;
use crate::ports::{AuditSink, Clock, Stores};
use crate::values::{Email, SecretDigest};

/// Audit event of a link removed by its user or an administrator.
pub const FEDERATION_UNLINKED: &str = "federation.identity_unlinked";
/// How long a user has to prove ownership after coming back from the upstream.
pub const PENDING_LINK_LIFETIME: Duration = Duration::minutes(10);
/// The `method` of a link made after a password proof.
pub const LINK_METHOD_PASSWORD: &str = "password_proof";

/// A proven link: the session the password login started (possibly still
/// owing a second factor, in which case the link is made when it is passed),
/// and where to continue.
#[derive(Debug)]
pub struct LinkProof {
    pub success: LoginSuccess,
    pub provider: IdentityProvider,
    pub continuation: String,
    /// `false` while the session still owes a second factor.
    pub linked: bool,
}

/// Why a password proof did not link.
#[derive(Debug)]
pub enum LinkProofError {
    /// Unknown, used or expired pending link (or its provider or user is gone).
    Invalid,
    /// The password login failed (uniformly, as the login form's). The
    /// pending link was stored again under the retry token's digest, with
    /// its original expiry; `delay` is the brute-force defence's wait.
    Failed {
        delay: Duration,
        user: Box<User>,
        provider: Box<IdentityProvider>,
        continuation: String,
    },
    Internal(Error),
}

impl From<Error> for LinkProofError {
    fn from(error: Error) -> Self {
        Self::Internal(error)
    }
}

/// Why a link was not removed.
#[derive(Debug)]
pub enum UnlinkError {
    /// No such link of this user.
    NotFound,
    /// This is the user's last way to sign in (no usable password, no
    /// passkey, no other link): removing it would lock them out.
    LastSignInMethod,
    Internal(Error),
}

/// Who removes a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlinker {
    /// The user themself: their last way to sign in is kept.
    User,
    /// An administrator (their audit actor): may remove the last way in.
    Administrator(String),
}

impl From<Error> for UnlinkError {
    fn from(error: Error) -> Self {
        Self::Internal(error)
    }
}

/// The ports [`make_proven_link`] uses, from whichever service calls it.
pub(crate) struct LinkPorts<'a> {
    pub(crate) stores: &'a Stores,
    pub(crate) clock: &'a dyn Clock,
    pub(crate) ids: &'a IdGenerator,
    pub(crate) audit: &'a dyn AuditSink,
}

/// An upstream identity whose link to a local account was proven by that
/// account's password.
pub(crate) struct ProvenLink<'a> {
    pub(crate) provider_id: Uuid,
    pub(crate) subject: &'a str,
    /// The upstream claims, input of the provider's claim mapping.
    pub(crate) claims: &'a Json,
}

/// Makes a proven link, the same way right after the password proof and
/// after the second factor it waited for ([`crate::mfa`]): the provider must
/// still exist and be enabled; the link is made (one already made to this
/// user counts as made, e.g. a double submit); it is audited
/// `federation.identity_linked` (method `password_proof`); the provider's
/// claim mapping is applied. `Ok(None)`, linking nothing, when the provider
/// is gone or disabled, the user is gone, or the identity is linked to
/// someone else.
pub(crate) async fn make_proven_link(
    ports: &LinkPorts<'_>,
    organization: OrganizationId,
    user: UserId,
    link: &ProvenLink<'_>,
    after_second_factor: bool,
) -> Result<Option<IdentityProvider>> {
    let federation = ports.stores.federation.as_ref();
    let provider = match federation.find_provider(organization, link.provider_id).await? {
        Some(provider) if provider.enabled => provider,
        _ => return Ok(None),
    };
    let identity = FederatedIdentity {
        organization_id: organization,
        provider_id: provider.id,
        subject: link.subject.to_owned(),
        user_id: user,
        created_at: ports.clock.now(),
    };
    match federation.link_identity(&identity).await {
        Ok(()) => {}
        Err(Error::Conflict(_))
            if federation
                .find_identity(organization, provider.id, link.subject)
                .await?
                .is_some_and(|existing| existing.user_id == user) => {}
        Err(Error::Conflict(_) | Error::NotFound(_)) => return Ok(None),
        Err(error) => return Err(error),
    }
    let mut data = json!({"provider": provider.name, "provider_id": provider.id.to_string(),
                          "subject": link.subject, "method": LINK_METHOD_PASSWORD});
    if let (true, Some(object)) = (after_second_factor, data.as_object_mut()) {
        object.insert("after_second_factor".to_owned(), json!(true));
    }
    let event = crate::security::audit::audit_event(
        ports.ids.next(),
        organization,
        ports.clock.now(),
        FEDERATION_LINKED,
        Some(user.to_string()),
        Some(user.to_string()),
        data,
    );
    ports.audit.record(event);
    let account = match ports.stores.users.get(organization, user).await {
        Ok(account) => account,
        Err(Error::NotFound(_)) => return Ok(None),
        Err(error) => return Err(error),
    };
    super::federated::apply_claim_mapping(ports.stores, ports.clock, &provider, link.claims, account).await?;
    Ok(Some(provider))
}

impl OpenIdProvider {
    /// After a federated login refused with `AccountExists`: keeps a pending
    /// link (found by `token_digest`) from the upstream identity to the local
    /// user with the asserted email, and returns that user, whose password
    /// may prove ownership. `None` when no proof is possible (no such user,
    /// or password login is off in the organization).
    pub async fn offer_password_link(
        &self,
        issuer: &Issuer,
        provider: &IdentityProvider,
        upstream: &UpstreamIdentity,
        continuation: &str,
        token_digest: SecretDigest,
    ) -> Result<Option<User>> {
        let organization = issuer.organization.id;
        if !password_login_enabled(&issuer.organization) {
            return Ok(None);
        }
        let Some(email) = upstream.email.as_deref().and_then(|email| Email::parse(email).ok()) else {
            return Ok(None);
        };
        let Some(user) = self.stores.users.find_by_email(organization, &email).await? else { return Ok(None) };
        let now = self.clock.now();
        let pending = PendingLink {
            token_digest,
            organization_id: organization,
            provider_id: provider.id,
            subject: upstream.subject.clone(),
            user_id: user.id,
            claims: upstream.claims.clone(),
            continuation: continuation.to_owned(),
            created_at: now,
            expires_at: now + PENDING_LINK_LIFETIME,
        };
        self.stores.federation.put_pending_link(&pending).await?;
        Ok(Some(user))
    }

    /// Proves ownership of the pending link's account with `password`
    /// through the ordinary password login, then links the upstream identity
    /// (audited `federation.identity_linked`, method `password_proof`) and
    /// applies the provider's claim mapping. The pending link is used up; a
    /// failed password stores it again under `retry_digest` (same expiry).
    pub async fn link_by_password(
        &self,
        issuer: &Issuer,
        token_digest: &SecretDigest,
        password: &str,
        metadata: Json,
        retry_digest: SecretDigest,
    ) -> Result<LinkProof, LinkProofError> {
        let organization = issuer.organization.id;
        let now = self.clock.now();
        let federation = self.stores.federation.as_ref();
        let Some(pending) = federation.take_pending_link(organization, token_digest, now).await? else {
            return Err(LinkProofError::Invalid);
        };
        let provider = match federation.find_provider(organization, pending.provider_id).await? {
            Some(provider) if provider.enabled => provider,
            _ => return Err(LinkProofError::Invalid),
        };
        let user = match self.stores.users.get(organization, pending.user_id).await {
            Ok(user) => user,
            Err(Error::NotFound(_)) => return Err(LinkProofError::Invalid),
            Err(error) => return Err(error.into()),
        };
        if !password_login_enabled(&issuer.organization) {
            return Err(LinkProofError::Invalid);
        }
        // The second factor, when owed, is asked before the link exists: the
        // session carries the link to make once it is passed.
        let mut metadata = if metadata.is_object() { metadata } else { json!({}) };
        let owes_second_factor = self.owes_second_factor(issuer, &user).await?;
        if let (true, Some(object)) = (owes_second_factor, metadata.as_object_mut()) {
            object.insert(
                LINK_AFTER_SECOND_FACTOR.to_owned(),
                json!({"provider_id": provider.id.to_string(), "subject": pending.subject, "claims": pending.claims}),
            );
        }
        let success = match self.login(issuer, user.email.as_str(), password, metadata).await {
            Ok(success) => success,
            Err(LoginError::InvalidCredentials { delay }) => {
                let continuation = pending.continuation.clone();
                let retry = PendingLink { token_digest: retry_digest, ..pending };
                federation.put_pending_link(&retry).await?;
                let (user, provider) = (Box::new(user), Box::new(provider));
                return Err(LinkProofError::Failed { delay, user, provider, continuation });
            }
            Err(LoginError::Internal(error)) => {
                // E.g. the password hasher is saturated: the user may try
                // again under the retry token (best effort).
                let retry = PendingLink { token_digest: retry_digest, ..pending };
                let _ = federation.put_pending_link(&retry).await;
                return Err(error.into());
            }
        };
        if success.session.user_id != user.id {
            // The email moved to another user in between: link nothing.
            self.end_session_now(issuer, &success.session).await?;
            return Err(LinkProofError::Invalid);
        }
        if crate::mfa::Pending::of(&success.session).is_some() {
            // The link is made once the second factor is passed, from the
            // session's metadata (crate::mfa). Should the policy have changed
            // between the check above and the login, the metadata lacks it and
            // the user signs in unlinked: never a link on the password alone.
            return Ok(LinkProof { success, provider, continuation: pending.continuation, linked: false });
        }
        let ports = LinkPorts { stores: &self.stores, clock: self.clock.as_ref(), ids: &self.ids, audit: &*self.audit };
        let link = ProvenLink { provider_id: provider.id, subject: &pending.subject, claims: &pending.claims };
        let provider = match make_proven_link(&ports, organization, user.id, &link, false).await {
            Ok(Some(provider)) => provider,
            // The provider was disabled or removed meanwhile, or the identity
            // linked to someone else: no link, no session.
            Ok(None) => {
                self.end_session_now(issuer, &success.session).await?;
                return Err(LinkProofError::Invalid);
            }
            Err(error) => {
                self.end_session_now(issuer, &success.session).await?;
                return Err(error.into());
            }
        };
        Ok(LinkProof { success, provider, continuation: pending.continuation, linked: true })
    }

    /// Whether a password login of `user` would still owe a second factor.
    async fn owes_second_factor(&self, issuer: &Issuer, user: &User) -> Result<bool> {
        let policy = crate::mfa::MfaPolicy::from_organization(&issuer.organization).unwrap_or_default();
        let has_factor = match policy {
            crate::mfa::MfaPolicy::Off => false,
            // TOTP or a passkey (the same rule as `start_session`).
            _ => crate::mfa::passkeys::has_factor(&self.stores, issuer.organization.id, user.id).await?,
        };
        Ok(crate::mfa::pending_after_password(policy, has_factor).is_some())
    }

    /// Removes the link (provider, subject) of `user`. A user removing their
    /// own link may not remove their last way to sign in: their password
    /// counts only while the organization allows password login, any passkey
    /// counts; otherwise another link must remain, which the store checks
    /// atomically with the removal (two concurrent removals of the last two
    /// links cannot both succeed). An administrator may remove the last one.
    /// Audited `federation.identity_unlinked` with the link as it was.
    pub async fn unlink_identity(
        &self,
        user: &User,
        provider: Uuid,
        subject: &str,
        by: Unlinker,
    ) -> Result<FederatedIdentity, UnlinkError> {
        let organization = user.organization_id;
        let federation = self.stores.federation.as_ref();
        let Some(link) =
            federation.find_identity(organization, provider, subject).await?.filter(|link| link.user_id == user.id)
        else {
            return Err(UnlinkError::NotFound);
        };
        let keep_last = match &by {
            Unlinker::Administrator(_) => false,
            Unlinker::User => !self.has_other_way_in(user).await?,
        };
        if keep_last {
            match federation.delete_identity_unless_last(organization, user.id, provider, subject).await? {
                IdentityDeletion::Deleted => {}
                IdentityDeletion::NotFound => return Err(UnlinkError::NotFound),
                IdentityDeletion::Last => return Err(UnlinkError::LastSignInMethod),
            }
        } else if !federation.delete_identity(organization, user.id, provider, subject).await? {
            return Err(UnlinkError::NotFound);
        }
        let provider_name = federation.find_provider(organization, provider).await?.map(|provider| provider.name);
        let actor = match by {
            Unlinker::Administrator(actor) => actor,
            Unlinker::User => user.id.to_string(),
        };
        self.emit(
            organization,
            FEDERATION_UNLINKED,
            Some(actor),
            Some(user.id.to_string()),
            json!({"provider": provider_name, "provider_id": provider.to_string(), "subject": subject,
                   "before": {"provider_id": link.provider_id.to_string(), "subject": link.subject,
                              "user_id": link.user_id.to_string(),
                              "created_at": link.created_at.unix_timestamp()}}),
        );
        Ok(link)
    }

    /// Whether `user` can sign in other than through a linked identity: a
    /// password while the organization allows password login, or a passkey.
    async fn has_other_way_in(&self, user: &User) -> Result<bool> {
        if user.password_hash.is_some() {
            let organization = self.stores.organizations.get(user.organization_id).await?;
            if password_login_enabled(&organization) {
                return Ok(true);
            }
        }
        Ok(!self.stores.passkeys.list_credentials(user.organization_id, user.id).await?.is_empty())
    }
}
