//! Login sessions at the hosted pages: password login (uniform failure, dummy
//! verification for unknown users, re-hash on login), session lookup by
//! cookie, and ending a session.

use serde_json::{json, Value as Json};

use super::settings::OrganizationSettings;
use super::{Issuer, OpenIdProvider};
use crate::error::{Error, Result};
use crate::model::{Session, User};
use crate::ports::{NewSecret, SecretKind};
use crate::security::audit::event_types;
use crate::security::lockout::{LockoutPolicy, LoginThrottle};
use crate::values::{Email, Password};

/// How stale `Session::last_seen_at` may get before a use records itself.
/// Recording every request would turn each page load and SSO redirect into
/// a database write (and a cache invalidation); a minute of slack is
/// negligible against an idle timeout counted in tens of minutes (the idle
/// timeout may end up to this much earlier than exact tracking would end it).
pub const TOUCH_INTERVAL: time::Duration = time::Duration::minutes(1);

/// A successful login: the session, and the cookie value to set (shown once).
#[derive(Debug)]
pub struct LoginSuccess {
    pub session: Session,
    pub cookie: NewSecret,
}

/// Why a login failed. Unknown user, wrong password, no password, an
/// inactive account and a locked account or address are one and the same
/// to the caller; `delay` is how long to wait before answering (progressive
/// delay of the brute-force defence, see [`crate::security::lockout`]).
#[derive(Debug)]
pub enum LoginError {
    InvalidCredentials { delay: time::Duration },
    Internal(Error),
}

impl From<Error> for LoginError {
    fn from(error: Error) -> Self {
        Self::Internal(error)
    }
}

/// Why a login attempt failed, for the audit log only.
#[derive(Debug, Clone, Copy)]
enum FailureReason {
    UnknownUser,
    WrongPassword,
    Inactive,
    Locked,
}

impl FailureReason {
    const fn as_str(self) -> &'static str {
        match self {
            Self::UnknownUser => "unknown_user",
            Self::WrongPassword => "wrong_password",
            Self::Inactive => "inactive",
            Self::Locked => "locked",
        }
    }
}

impl OpenIdProvider {
    /// Checks email and password and starts a session. Costs one password
    /// verification whatever the outcome (a dummy one for unknown users,
    /// the real one even when locked), so neither the answer nor its timing
    /// tells which accounts exist or are locked. `metadata.ip`, when
    /// present, is the source address counted for brute-force defence.
    pub async fn login(
        &self,
        issuer: &Issuer,
        email: &str,
        password: &str,
        metadata: Json,
    ) -> Result<LoginSuccess, LoginError> {
        let organization = issuer.organization.id;
        let Ok(password) = Password::parse(password) else {
            return Err(LoginError::InvalidCredentials { delay: time::Duration::ZERO });
        };
        let policy = LockoutPolicy::from_organization(&issuer.organization).unwrap_or_default();
        let address = metadata.get("ip").and_then(Json::as_str);
        let throttle = LoginThrottle::new(organization, policy, email, address);
        let attempts = self.stores.login_attempts.as_ref();
        let locked = throttle.is_locked(attempts, self.clock.now()).await?;
        let user = match Email::parse(email) {
            Ok(email) => self.stores.users.find_by_email(organization, &email).await?,
            Err(_) => None,
        };
        let outcome = match user.and_then(|user| user.password_hash.clone().map(|hash| (user, hash))) {
            None => {
                self.hasher.verify_dummy(&password).await?;
                Err((FailureReason::UnknownUser, None))
            }
            Some((user, hash)) => {
                let verified = self.hasher.verify(&password, &hash).await?;
                match (verified, user.is_active, locked) {
                    (false, _, _) => Err((FailureReason::WrongPassword, Some(user))),
                    (true, false, _) => Err((FailureReason::Inactive, Some(user))),
                    (true, true, true) => Err((FailureReason::Locked, Some(user))),
                    (true, true, false) => Ok((user, hash)),
                }
            }
        };
        let (user, hash) = match outcome {
            Ok(found) => found,
            Err((reason, user)) => return Err(self.login_failed(issuer, &throttle, email, reason, user, locked).await),
        };
        throttle.record_success(attempts).await?;
        if self.hasher.needs_rehash(&hash) {
            self.rehash(&user, &password).await?;
        }
        Ok(self.start_session(issuer, &user, metadata, &["pwd"], json!({})).await?)
    }

    /// Starts the session of a passwordless passkey login
    /// ([`crate::mfa::MultiFactor::finish_passwordless`] found `user` and the
    /// `amr`, which says `mfa`: no second factor is owed). Audited as
    /// `login.succeeded` with `method: passkey`.
    pub async fn start_passkey_session(
        &self,
        issuer: &Issuer,
        user: &User,
        metadata: Json,
        amr: &[&str],
    ) -> Result<LoginSuccess, Error> {
        if !user.is_active || user.organization_id != issuer.organization.id || !amr.contains(&"mfa") {
            return Err(Error::Unauthorized);
        }
        self.start_session(issuer, user, metadata, amr, json!({"method": "passkey"})).await
    }

    /// Starts a session for `user`, authenticated by `amr` (`pwd`, `fed`), and
    /// audits the login with `audit_details` added. When the organization's
    /// MFA policy still asks for a second factor the session is a short
    /// pending one that `current_session` refuses (crate::mfa).
    pub(super) async fn start_session(
        &self,
        issuer: &Issuer,
        user: &User,
        metadata: Json,
        amr: &[&str],
        audit_details: Json,
    ) -> Result<LoginSuccess, Error> {
        let organization = issuer.organization.id;
        let settings =
            OrganizationSettings::from_organization(&issuer.organization).unwrap_or_else(|_| OrganizationSettings {
                session_absolute_lifetime: time::Duration::hours(10),
                session_idle_lifetime: time::Duration::minutes(30),
                logo_url: None,
            });
        let now = self.clock.now();
        let cookie = self.crypto.issue_secret(SecretKind::Session);
        let mut metadata = if metadata.is_object() { metadata } else { json!({}) };
        // Multi-factor authentication (crate::mfa): a login that owes a second
        // factor gets a short pending session that `current_session` refuses.
        let mfa_policy = crate::mfa::MfaPolicy::from_organization(&issuer.organization).unwrap_or_default();
        // An `amr` that already says `mfa` (a trusted multi-factor upstream
        // login) owes no second factor.
        let passed_mfa = amr.contains(&"mfa");
        let has_factor = !passed_mfa
            && match mfa_policy {
                crate::mfa::MfaPolicy::Off => false,
                _ => crate::mfa::passkeys::has_factor(&self.stores, organization, user.id).await?,
            };
        let pending = if passed_mfa { None } else { crate::mfa::pending_after_password(mfa_policy, has_factor) };
        let mut expires_at = now + settings.session_absolute_lifetime;
        if let Some(object) = metadata.as_object_mut() {
            object.insert("amr".to_owned(), json!(amr));
            if let Some(pending) = pending {
                object.insert(crate::mfa::PENDING_KEY.to_owned(), json!(pending.as_str()));
                object.insert("session_lifetime".to_owned(), json!(settings.session_absolute_lifetime.whole_seconds()));
                expires_at = now + crate::mfa::PENDING_LIFETIME;
            }
        }
        let session = Session {
            id: self.ids.next(),
            organization_id: organization,
            user_id: user.id,
            token_digest: cookie.digest,
            authenticated_at: now,
            created_at: now,
            expires_at,
            last_seen_at: now,
            metadata,
        };
        self.stores.sessions.create(&session).await?;
        let mut details = json!({"session_id": session.id.to_string(), "email": user.email.as_str()});
        if let (Some(details), Some(extra)) = (details.as_object_mut(), audit_details.as_object()) {
            details.extend(extra.clone());
        }
        self.emit(
            organization,
            event_types::LOGIN_SUCCEEDED,
            Some(user.id.to_string()),
            Some(user.id.to_string()),
            details,
        );
        Ok(LoginSuccess { session, cookie })
    }

    /// Counts and audits a failed login; the error to answer with.
    async fn login_failed(
        &self,
        issuer: &Issuer,
        throttle: &LoginThrottle,
        email: &str,
        reason: FailureReason,
        user: Option<User>,
        locked: bool,
    ) -> LoginError {
        let organization = issuer.organization.id;
        let now = self.clock.now();
        let outcome = match throttle.record_failure(self.stores.login_attempts.as_ref(), now).await {
            Ok(outcome) => outcome,
            Err(error) => return LoginError::Internal(error),
        };
        let typed: String = email.chars().take(254).collect();
        let user_id = user.map(|user| user.id.to_string());
        self.emit(
            organization,
            event_types::LOGIN_FAILED,
            None,
            user_id.clone(),
            json!({"email": typed, "reason": reason.as_str(), "locked": locked}),
        );
        for key in outcome.newly_locked {
            let until = now + throttle.policy().lock_duration;
            self.emit(
                organization,
                event_types::LOGIN_LOCKED,
                Some("system".to_owned()),
                Some(key),
                json!({"locked_until": until.unix_timestamp(), "user_id": user_id}),
            );
        }
        LoginError::InvalidCredentials { delay: outcome.delay }
    }

    /// Stores a fresh hash of the password just checked, unless the user
    /// changed since they were read (a rehash is only an optimisation: it
    /// must never undo a concurrent deactivation, email or password change).
    async fn rehash(&self, user: &User, password: &Password) -> Result<()> {
        let mut updated = user.clone();
        updated.password_hash = Some(self.hasher.hash(password).await?);
        updated.updated_at = crate::users::next_version(user.updated_at, self.clock.now());
        match self.stores.users.update_if_unchanged(&updated, user.updated_at).await {
            Ok(()) | Err(Error::PreconditionFailed) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// The live session a cookie names, if its user is still active.
    pub async fn current_session(&self, issuer: &Issuer, cookie: Option<&str>) -> Result<Option<Session>> {
        let Some(cookie) = cookie.filter(|cookie| cookie.len() <= 256) else {
            return Ok(None);
        };
        let organization = issuer.organization.id;
        let now = self.clock.now();
        let digest = self.crypto.digest_secret(cookie);
        let Some(mut session) = self.stores.sessions.find_by_token_digest(organization, &digest, now).await? else {
            return Ok(None);
        };
        if crate::mfa::Pending::of(&session).is_some() {
            // Password checked, second factor still owed: not signed in yet.
            return Ok(None);
        }
        let idle_lifetime = OrganizationSettings::from_organization(&issuer.organization)
            .map_or(time::Duration::minutes(30), |settings| settings.session_idle_lifetime);
        if session.last_seen_at + idle_lifetime <= now {
            // Idle too long: the session is over (housekeeping deletes it at
            // its absolute end; the cookie alone never revives it).
            return Ok(None);
        }
        match self.stores.users.get(organization, session.user_id).await {
            Ok(user) if user.is_active => {}
            Ok(_) | Err(Error::NotFound(_)) => return Ok(None),
            Err(error) => return Err(error),
        }
        if now - session.last_seen_at >= TOUCH_INTERVAL {
            match self.stores.sessions.touch(organization, session.id, now).await {
                Ok(()) => session.last_seen_at = now,
                Err(Error::NotFound(_)) => return Ok(None),
                Err(error) => return Err(error),
            }
        }
        Ok(Some(session))
    }

    /// Ends a session: deletes it and revokes the refresh-token families
    /// issued within it.
    pub async fn end_session_now(&self, issuer: &Issuer, session: &Session) -> Result<()> {
        let organization = issuer.organization.id;
        let revoked = self.stores.refresh_tokens.revoke_for_session(organization, session.id, self.clock.now()).await?;
        match self.stores.sessions.delete(organization, session.id).await {
            Ok(()) | Err(Error::NotFound(_)) => {}
            Err(error) => return Err(error),
        }
        let user = session.user_id.to_string();
        let data = json!({"session_id": session.id.to_string(), "refresh_families_revoked": revoked});
        self.emit(organization, event_types::LOGOUT, Some(user.clone()), Some(user), data);
        Ok(())
    }

    /// The user of a session (for the consent page's "signed in as").
    pub async fn session_user(&self, issuer: &Issuer, session: &Session) -> Result<User> {
        self.stores.users.get(issuer.organization.id, session.user_id).await
    }
}
