//! [`AccountLinks`]: issuing and redeeming the single-use links of the
//! email flows, and the password change they lead to.

use std::sync::Arc;

use serde_json::json;
use time::Duration;

use super::{AccountToken, AccountTokenPurpose};
use crate::error::{Error, ValidationError};
use crate::ids::IdGenerator;
use crate::model::{Organization, User};
use crate::ports::{AuditSink, Clock, OAuthCrypto, PasswordHasher, RandomSource, Stores};
use crate::security::audit::audit_event;
use crate::security::password_policy::PasswordPolicy;
use crate::users::change_user;
use crate::values::{Password, SecretDigest};

/// Prefix of link tokens, so a leaked one is recognisable.
const TOKEN_PREFIX: &str = "zal_";

/// Why a link could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Unknown, used, expired, for another purpose, or made stale by a
    /// password or email change, or its user is inactive: all look alike.
    #[error("the link is not valid")]
    Invalid,
    /// The new password breaks the organization's policy (the link stays usable).
    #[error(transparent)]
    Policy(ValidationError),
    #[error(transparent)]
    Internal(#[from] Error),
}

/// What a completed password change did.
#[derive(Debug, Clone, PartialEq)]
pub struct PasswordChange {
    pub user: User,
    /// Sessions ended (every session of the user).
    pub sessions_ended: u64,
}

/// The ports besides the stores.
#[derive(Clone)]
pub struct AccountLinksPorts {
    pub hasher: Arc<dyn PasswordHasher>,
    pub crypto: Arc<dyn OAuthCrypto>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn RandomSource>,
    pub audit: Arc<dyn AuditSink>,
}

impl std::fmt::Debug for AccountLinksPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountLinksPorts").finish_non_exhaustive()
    }
}

/// Issues, checks and redeems account links.
#[derive(Debug, Clone)]
pub struct AccountLinks {
    stores: Stores,
    ports: AccountLinksPorts,
}

impl AccountLinks {
    pub fn new(stores: Stores, ports: AccountLinksPorts) -> Self {
        Self { stores, ports }
    }

    fn stamp(&self, user: &User) -> Option<SecretDigest> {
        user.password_hash.as_ref().map(|hash| self.ports.crypto.digest_secret(hash.as_str()))
    }

    fn audit(&self, user: &User, event_type: &str, data: serde_json::Value) {
        let ids = IdGenerator::new(self.ports.clock.clone(), self.ports.random.clone());
        self.ports.audit.record(audit_event(
            ids.next(),
            user.organization_id,
            self.ports.clock.now(),
            event_type,
            Some(user.id.to_string()),
            Some(user.id.to_string()),
            data,
        ));
    }

    /// Issues a link token for `user`, valid for `lifetime`; returns the
    /// plaintext to put in the mail (only its digest is stored).
    pub async fn issue(&self, user: &User, purpose: AccountTokenPurpose, lifetime: Duration) -> Result<String, Error> {
        let mut bytes = [0_u8; 32];
        self.ports.random.fill(&mut bytes);
        let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        let plaintext = format!("{TOKEN_PREFIX}{hex}");
        let now = self.ports.clock.now();
        let token = AccountToken {
            token_digest: self.ports.crypto.digest_secret(&plaintext),
            organization_id: user.organization_id,
            user_id: user.id,
            purpose,
            email: user.email.clone(),
            password_stamp: self.stamp(user),
            created_at: now,
            expires_at: now + lifetime,
        };
        self.stores.account_tokens.create(&token).await?;
        self.audit(user, "account.link_issued", json!({"purpose": purpose.as_str()}));
        Ok(plaintext)
    }

    /// The user a still-valid link is for, without using it up.
    pub async fn check(
        &self,
        organization: &Organization,
        token: &str,
        purpose: AccountTokenPurpose,
    ) -> Result<User, LinkError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Err(LinkError::Invalid);
        }
        let digest = self.ports.crypto.digest_secret(token);
        let now = self.ports.clock.now();
        let stored = self.stores.account_tokens.find(organization.id, &digest, now).await?;
        let Some(stored) = stored.filter(|stored| stored.purpose == purpose) else { return Err(LinkError::Invalid) };
        let user = match self.stores.users.get(organization.id, stored.user_id).await {
            Ok(user) => user,
            Err(Error::NotFound(_)) => return Err(LinkError::Invalid),
            Err(error) => return Err(error.into()),
        };
        if !user.is_active || user.email != stored.email || self.stamp(&user) != stored.password_stamp {
            return Err(LinkError::Invalid);
        }
        Ok(user)
    }

    /// Uses the link up; `Invalid` when another request used it first.
    async fn consume(
        &self,
        organization: &Organization,
        token: &str,
        purpose: AccountTokenPurpose,
    ) -> Result<(), LinkError> {
        let digest = self.ports.crypto.digest_secret(token);
        let now = self.ports.clock.now();
        match self.stores.account_tokens.consume(organization.id, &digest, purpose, now).await? {
            Some(_) => Ok(()),
            None => Err(LinkError::Invalid),
        }
    }

    /// Redeems a verification link: the user's email is verified.
    pub async fn verify_email(&self, organization: &Organization, token: &str) -> Result<User, LinkError> {
        let user = self.check(organization, token, AccountTokenPurpose::VerifyEmail).await?;
        self.consume(organization, token, AccountTokenPurpose::VerifyEmail).await?;
        let email = user.email.clone();
        // Conditional on the row read: a concurrent change is never undone;
        // an address changed meanwhile is not the one the link verified.
        let (user, _) = change_user(self.stores.users.as_ref(), self.ports.clock.as_ref(), user, |user| {
            let change = !user.email_verified && user.email == email;
            user.email_verified |= change;
            change
        })
        .await?;
        if user.email != email {
            return Err(LinkError::Invalid);
        }
        self.audit(&user, "user.email_verified", json!({}));
        Ok(user)
    }

    /// Redeems a reset or invitation link with a new password: the policy is
    /// checked first (a refused password leaves the link usable), then the
    /// link is used up, the password set, the email marked verified (the
    /// link came by mail), and every session and refresh-token family of
    /// the user ended. Older links are stale from then on (their password
    /// stamp no longer matches).
    pub async fn set_password(
        &self,
        organization: &Organization,
        token: &str,
        purpose: AccountTokenPurpose,
        password: &str,
    ) -> Result<PasswordChange, LinkError> {
        let user = self.check(organization, token, purpose).await?;
        let password = Password::parse(password).map_err(LinkError::Policy)?;
        PasswordPolicy::from_organization(organization)
            .map_err(LinkError::Policy)?
            .check(&password, &user.email)
            .map_err(LinkError::Policy)?;
        let hash = self.ports.hasher.hash(&password).await?;
        self.consume(organization, token, purpose).await?;
        let (email, stamp) = (user.email.clone(), self.stamp(&user));
        // Conditional on the row read, re-read on a lost race: a concurrent
        // deactivation, email or password change is never undone (and makes
        // the link stale, as it would have before it was used).
        let (user, written) = change_user(self.stores.users.as_ref(), self.ports.clock.as_ref(), user, |user| {
            if !user.is_active || user.email != email || self.stamp(user) != stamp {
                return false;
            }
            user.password_hash = Some(hash.clone());
            user.email_verified = true;
            true
        })
        .await?;
        if !written {
            return Err(LinkError::Invalid);
        }
        let now = self.ports.clock.now();
        self.stores.refresh_tokens.revoke_for_user(organization.id, user.id, now).await?;
        let sessions_ended = self.stores.sessions.delete_for_user(organization.id, user.id).await?;
        let event = match purpose {
            AccountTokenPurpose::Invitation => "user.invitation_accepted",
            _ => "user.password_reset",
        };
        self.audit(&user, event, json!({"sessions_ended": sessions_ended}));
        Ok(PasswordChange { user, sessions_ended })
    }
}
