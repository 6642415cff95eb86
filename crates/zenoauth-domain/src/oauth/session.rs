//! Login sessions at the hosted pages: password login (uniform failure, dummy
//! verification for unknown users, re-hash on login), session lookup by
//! cookie, and ending a session.

use serde_json::{json, Value as Json};

use super::settings::OrganizationSettings;
use super::{Issuer, OpenIdProvider};
use crate::error::{Error, Result};
use crate::model::{Session, User};
use crate::ports::{NewSecret, SecretKind};
use crate::values::{Email, Password};

/// A successful login: the session, and the cookie value to set (shown once).
#[derive(Debug)]
pub struct LoginSuccess {
    pub session: Session,
    pub cookie: NewSecret,
}

/// Why a login failed. Unknown user, wrong password, no password and an
/// inactive account are one and the same to the caller.
#[derive(Debug)]
pub enum LoginError {
    InvalidCredentials,
    Internal(Error),
}

impl From<Error> for LoginError {
    fn from(error: Error) -> Self {
        Self::Internal(error)
    }
}

impl OpenIdProvider {
    /// Checks email and password and starts a session. Costs one password
    /// verification whatever the outcome.
    pub async fn login(
        &self,
        issuer: &Issuer,
        email: &str,
        password: &str,
        metadata: Json,
    ) -> Result<LoginSuccess, LoginError> {
        let organization = issuer.organization.id;
        let Ok(password) = Password::parse(password) else {
            return Err(LoginError::InvalidCredentials);
        };
        let user = match Email::parse(email) {
            Ok(email) => self.stores.users.find_by_email(organization, &email).await?,
            Err(_) => None,
        };
        let Some((user, hash)) = user.and_then(|user| user.password_hash.clone().map(|hash| (user, hash))) else {
            self.hasher.verify_dummy(&password).await?;
            return Err(LoginError::InvalidCredentials);
        };
        if !self.hasher.verify(&password, &hash).await? || !user.is_active {
            return Err(LoginError::InvalidCredentials);
        }
        if self.hasher.needs_rehash(&hash) {
            self.rehash(&user, &password).await?;
        }
        let settings =
            OrganizationSettings::from_organization(&issuer.organization).unwrap_or_else(|_| OrganizationSettings {
                session_absolute_lifetime: time::Duration::hours(10),
                session_idle_lifetime: time::Duration::minutes(30),
                logo_url: None,
            });
        let now = self.clock.now();
        let cookie = self.crypto.issue_secret(SecretKind::Session);
        let mut metadata = if metadata.is_object() { metadata } else { json!({}) };
        if let Some(object) = metadata.as_object_mut() {
            object.insert("amr".to_owned(), json!(["pwd"]));
        }
        let session = Session {
            id: self.ids.next(),
            organization_id: organization,
            user_id: user.id,
            token_digest: cookie.digest,
            authenticated_at: now,
            created_at: now,
            expires_at: now + settings.session_absolute_lifetime,
            metadata,
        };
        self.stores.sessions.create(&session).await?;
        Ok(LoginSuccess { session, cookie })
    }

    async fn rehash(&self, user: &User, password: &Password) -> Result<()> {
        let mut updated = user.clone();
        updated.password_hash = Some(self.hasher.hash(password).await?);
        updated.updated_at = self.clock.now();
        self.stores.users.update(&updated).await
    }

    /// The live session a cookie names, if its user is still active.
    pub async fn current_session(&self, issuer: &Issuer, cookie: Option<&str>) -> Result<Option<Session>> {
        let Some(cookie) = cookie.filter(|cookie| cookie.len() <= 256) else {
            return Ok(None);
        };
        let organization = issuer.organization.id;
        let digest = self.crypto.digest_secret(cookie);
        let Some(session) = self.stores.sessions.find_by_token_digest(organization, &digest, self.clock.now()).await?
        else {
            return Ok(None);
        };
        match self.stores.users.get(organization, session.user_id).await {
            Ok(user) if user.is_active => Ok(Some(session)),
            Ok(_) | Err(Error::NotFound(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Ends a session: deletes it and revokes the refresh-token families
    /// issued within it.
    pub async fn end_session_now(&self, issuer: &Issuer, session: &Session) -> Result<()> {
        let organization = issuer.organization.id;
        self.stores.refresh_tokens.revoke_for_session(organization, session.id, self.clock.now()).await?;
        match self.stores.sessions.delete(organization, session.id).await {
            Ok(()) | Err(Error::NotFound(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// The user of a session (for the consent page's "signed in as").
    pub async fn session_user(&self, issuer: &Issuer, session: &Session) -> Result<User> {
        self.stores.users.get(issuer.organization.id, session.user_id).await
    }
}
