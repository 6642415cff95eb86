//! The tables and every operation on them, synchronous: the caller holds the
//! one lock, so each operation is atomic, and each checks everything before
//! it writes anything (a failed operation changes nothing).

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use serde_json::Value as Json;
use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::ids::{
    ApplicationId, AuditEventId, AuthorizationCodeId, OrganizationId, RefreshTokenFamilyId, SessionId, SigningKeyId,
    UserId,
};
use zenoauth_domain::model::{
    Application, AuditEvent, AuthorizationCode, CodeRedemption, Consent, KeyState, Organization, RefreshRotation,
    RefreshToken, RefreshTokenFamily, Revocation, Session, SigningAlgorithm, SigningKey, User,
};
use zenoauth_domain::ports::{AuditQuery, PageRequest, UserQuery};
use zenoauth_domain::values::{ClientId, Email, SecretDigest, Slug};
use zenoauth_domain::{Error, Result, ValidationError};

mod email;
mod federation;
mod login_attempts;
mod mfa;
mod passkeys;
mod roles;

#[derive(Debug, Default)]
pub(crate) struct State {
    organizations: BTreeMap<OrganizationId, Organization>,
    users: BTreeMap<UserId, User>,
    applications: BTreeMap<ApplicationId, Application>,
    sessions: BTreeMap<SessionId, Session>,
    codes: BTreeMap<AuthorizationCodeId, AuthorizationCode>,
    families: BTreeMap<RefreshTokenFamilyId, RefreshTokenFamily>,
    refresh_tokens: HashMap<SecretDigest, RefreshToken>,
    revocations: HashMap<(OrganizationId, String), Revocation>,
    consents: BTreeMap<(OrganizationId, UserId, ApplicationId), Consent>,
    client_assertion_jtis: HashMap<(OrganizationId, ClientId, String), OffsetDateTime>,
    signing_keys: BTreeMap<SigningKeyId, SigningKey>,
    audit: BTreeMap<AuditEventId, AuditEvent>,
    roles: BTreeMap<zenoauth_domain::roles::RoleId, zenoauth_domain::roles::Role>,
    user_roles: std::collections::BTreeSet<(OrganizationId, UserId, zenoauth_domain::roles::RoleId)>,
    application_roles: std::collections::BTreeSet<(OrganizationId, ApplicationId, zenoauth_domain::roles::RoleId)>,
    previous_secrets: HashMap<ApplicationId, (SecretDigest, OffsetDateTime)>,
    login_attempts: HashMap<(OrganizationId, String), zenoauth_domain::model::LoginAttempts>,
    /// Outbox messages with their lease (claim, until).
    outbox: BTreeMap<Uuid, (zenoauth_domain::email::OutboxMessage, Option<(Uuid, OffsetDateTime)>)>,
    account_tokens: HashMap<SecretDigest, zenoauth_domain::email::AccountToken>,
    totp_credentials: HashMap<(OrganizationId, UserId), zenoauth_domain::mfa::TotpCredential>,
    recovery_codes: HashMap<(OrganizationId, UserId), mfa::RecoveryCodes>,
    passkeys: BTreeMap<Uuid, zenoauth_domain::mfa::passkeys::PasskeyCredential>,
    passkey_ceremonies: HashMap<SecretDigest, zenoauth_domain::mfa::passkeys::PasskeyCeremony>,
    /// The access token minted from a code: (jti, expires_at).
    code_access_tokens: HashMap<AuthorizationCodeId, (String, OffsetDateTime)>,
    identity_providers: BTreeMap<Uuid, zenoauth_domain::federation::IdentityProvider>,
    /// Linked identities by (organization, provider, subject).
    federated_identities: BTreeMap<(OrganizationId, Uuid, String), zenoauth_domain::federation::FederatedIdentity>,
    federation_logins: HashMap<SecretDigest, zenoauth_domain::federation::FederationLogin>,
    federation_pending_links: HashMap<SecretDigest, zenoauth_domain::federation::PendingLink>,
}

/// The ids of a keyset page: strictly after `page.after()`.
fn page_range<'map, K: Ord + From<Uuid>, V>(
    map: &'map BTreeMap<K, V>,
    page: &PageRequest,
) -> impl Iterator<Item = &'map V> + use<'map, K, V> {
    let start = page.after().map_or(Bound::Unbounded, |after| Bound::Excluded(K::from(after)));
    map.range((start, Bound::Unbounded)).map(|(_, value)| value)
}

fn limit(page: &PageRequest) -> usize {
    usize::try_from(page.limit()).unwrap_or(usize::MAX)
}

fn count(removed: usize) -> u64 {
    u64::try_from(removed).unwrap_or(u64::MAX)
}

/// Equality of JSON scalars as a database compares them: numbers by value.
fn json_equals(stored: &Json, wanted: &Json) -> bool {
    match (stored, wanted) {
        (Json::Number(stored), Json::Number(wanted)) => match (stored.as_i64(), wanted.as_i64()) {
            (Some(stored), Some(wanted)) => stored == wanted,
            _ => stored.as_f64() == wanted.as_f64(),
        },
        _ => stored == wanted,
    }
}

impl State {
    fn require_organization(&self, id: OrganizationId) -> Result<()> {
        if self.organizations.contains_key(&id) {
            Ok(())
        } else {
            Err(Error::NotFound("organization"))
        }
    }

    fn require_user(&self, organization: OrganizationId, id: UserId) -> Result<()> {
        match self.users.get(&id) {
            Some(user) if user.organization_id == organization => Ok(()),
            _ => Err(Error::NotFound("user")),
        }
    }

    fn require_application(&self, organization: OrganizationId, id: ApplicationId) -> Result<()> {
        match self.applications.get(&id) {
            Some(application) if application.organization_id == organization => Ok(()),
            _ => Err(Error::NotFound("application")),
        }
    }

    fn require_session(&self, organization: OrganizationId, id: SessionId) -> Result<()> {
        match self.sessions.get(&id) {
            Some(session) if session.organization_id == organization => Ok(()),
            _ => Err(Error::NotFound("session")),
        }
    }

    /// Deletes refresh families matching `doomed`, with their tokens.
    fn remove_families(&mut self, doomed: impl Fn(&RefreshTokenFamily) -> bool) -> usize {
        let before = self.families.len();
        self.families.retain(|_, family| !doomed(family));
        let families = &self.families;
        self.refresh_tokens.retain(|_, token| families.contains_key(&token.family_id));
        before - self.families.len()
    }

    // Organizations

    pub(crate) fn organization_create(&mut self, organization: &Organization) -> Result<()> {
        if self.organizations.contains_key(&organization.id) {
            return Err(Error::Conflict("organization_id"));
        }
        if self.organizations.values().any(|existing| existing.slug == organization.slug) {
            return Err(Error::Conflict("organization_slug"));
        }
        self.organizations.insert(organization.id, organization.clone());
        Ok(())
    }

    pub(crate) fn organization_get(&self, id: OrganizationId) -> Result<Organization> {
        self.organizations.get(&id).cloned().ok_or(Error::NotFound("organization"))
    }

    pub(crate) fn organization_find_by_slug(&self, slug: &Slug) -> Option<Organization> {
        self.organizations.values().find(|organization| &organization.slug == slug).cloned()
    }

    pub(crate) fn organization_update(
        &mut self,
        changed: &Organization,
        expected: Option<OffsetDateTime>,
    ) -> Result<()> {
        let stored = self.organizations.get_mut(&changed.id).ok_or(Error::NotFound("organization"))?;
        unchanged_since(stored.updated_at, expected)?;
        stored.name = changed.name.clone();
        stored.settings = changed.settings.clone();
        stored.updated_at = changed.updated_at;
        Ok(())
    }

    pub(crate) fn organization_delete(&mut self, id: OrganizationId) -> Result<()> {
        self.organizations.remove(&id).ok_or(Error::NotFound("organization"))?;
        self.users.retain(|_, user| user.organization_id != id);
        self.applications.retain(|_, application| application.organization_id != id);
        self.sessions.retain(|_, session| session.organization_id != id);
        self.codes.retain(|_, code| code.organization_id != id);
        self.remove_families(|family| family.organization_id == id);
        self.revocations.retain(|(organization, _), _| *organization != id);
        self.consents.retain(|(organization, _, _), _| *organization != id);
        self.client_assertion_jtis.retain(|(organization, _, _), _| *organization != id);
        self.signing_keys.retain(|_, key| key.organization_id != id);
        self.audit.retain(|_, event| event.organization_id != id);
        self.remove_roles_of_organization(id);
        self.login_attempts.retain(|(organization, _), _| *organization != id);
        self.outbox.retain(|_, (message, _)| message.organization_id != id);
        self.account_tokens.retain(|_, token| token.organization_id != id);
        self.totp_credentials.retain(|(organization, _), _| *organization != id);
        self.recovery_codes.retain(|(organization, _), _| *organization != id);
        self.passkeys.retain(|_, passkey| passkey.organization_id != id);
        self.passkey_ceremonies.retain(|_, ceremony| ceremony.organization_id != id);
        self.identity_providers.retain(|_, provider| provider.organization_id != id);
        self.federated_identities.retain(|(organization, _, _), _| *organization != id);
        self.federation_logins.retain(|_, login| login.organization_id != id);
        self.federation_pending_links.retain(|_, link| link.organization_id != id);
        Ok(())
    }

    pub(crate) fn organization_list(&self, page: &PageRequest) -> Vec<Organization> {
        page_range(&self.organizations, page).take(limit(page)).cloned().collect()
    }

    // Users

    fn email_taken(&self, organization: OrganizationId, email: &Email, except: UserId) -> bool {
        self.users
            .values()
            .any(|user| user.organization_id == organization && &user.email == email && user.id != except)
    }

    pub(crate) fn user_create(&mut self, user: &User) -> Result<()> {
        self.require_organization(user.organization_id)?;
        if self.users.contains_key(&user.id) {
            return Err(Error::Conflict("user_id"));
        }
        if self.email_taken(user.organization_id, &user.email, user.id) {
            return Err(Error::Conflict("user_email"));
        }
        self.users.insert(user.id, user.clone());
        Ok(())
    }

    pub(crate) fn user_get(&self, organization: OrganizationId, id: UserId) -> Result<User> {
        match self.users.get(&id) {
            Some(user) if user.organization_id == organization => Ok(user.clone()),
            _ => Err(Error::NotFound("user")),
        }
    }

    pub(crate) fn user_find_by_email(&self, organization: OrganizationId, email: &Email) -> Option<User> {
        self.users.values().find(|user| user.organization_id == organization && &user.email == email).cloned()
    }

    pub(crate) fn user_update(&mut self, changed: &User, expected: Option<OffsetDateTime>) -> Result<()> {
        self.require_user(changed.organization_id, changed.id)?;
        if let Some(stored) = self.users.get(&changed.id) {
            unchanged_since(stored.updated_at, expected)?;
        }
        if self.email_taken(changed.organization_id, &changed.email, changed.id) {
            return Err(Error::Conflict("user_email"));
        }
        let stored = self.users.get_mut(&changed.id).ok_or(Error::NotFound("user"))?;
        stored.email = changed.email.clone();
        stored.email_verified = changed.email_verified;
        stored.password_hash = changed.password_hash.clone();
        stored.profile = changed.profile.clone();
        stored.is_active = changed.is_active;
        stored.updated_at = changed.updated_at;
        Ok(())
    }

    pub(crate) fn user_delete(&mut self, organization: OrganizationId, id: UserId) -> Result<()> {
        self.require_user(organization, id)?;
        self.users.remove(&id);
        self.consents.retain(|(_, user, _), _| *user != id);
        self.sessions.retain(|_, session| session.user_id != id);
        self.codes.retain(|_, code| code.user_id != id);
        self.remove_families(|family| family.user_id == Some(id));
        self.user_roles.retain(|(_, user, _)| *user != id);
        self.account_tokens.retain(|_, token| token.user_id != id);
        self.totp_credentials.retain(|(_, user), _| *user != id);
        self.recovery_codes.retain(|(_, user), _| *user != id);
        self.passkeys.retain(|_, passkey| passkey.user_id != id);
        self.passkey_ceremonies.retain(|_, ceremony| ceremony.user_id != Some(id));
        self.federated_identities.retain(|_, identity| identity.user_id != id);
        self.federation_pending_links.retain(|_, link| link.user_id != id);
        Ok(())
    }

    pub(crate) fn user_list(&self, organization: OrganizationId, query: &UserQuery, page: &PageRequest) -> Vec<User> {
        let prefix = query.email_prefix.as_deref().map(str::to_lowercase);
        page_range(&self.users, page)
            .filter(|user| user.organization_id == organization)
            .filter(|user| prefix.as_deref().is_none_or(|prefix| user.email.as_str().starts_with(prefix)))
            .filter(|user| {
                query.profile_attribute.as_ref().is_none_or(|(name, wanted)| {
                    user.profile.get(name).is_some_and(|stored| json_equals(stored, wanted))
                })
            })
            .take(limit(page))
            .cloned()
            .collect()
    }

    // Applications

    pub(crate) fn application_create(&mut self, application: &Application) -> Result<()> {
        self.require_organization(application.organization_id)?;
        if self.applications.contains_key(&application.id) {
            return Err(Error::Conflict("application_id"));
        }
        let taken = self.applications.values().any(|existing| {
            existing.organization_id == application.organization_id && existing.client_id == application.client_id
        });
        if taken {
            return Err(Error::Conflict("application_client_id"));
        }
        self.applications.insert(application.id, application.clone());
        Ok(())
    }

    pub(crate) fn application_get(&self, organization: OrganizationId, id: ApplicationId) -> Result<Application> {
        match self.applications.get(&id) {
            Some(application) if application.organization_id == organization => Ok(application.clone()),
            _ => Err(Error::NotFound("application")),
        }
    }

    pub(crate) fn application_find_by_client_id(
        &self,
        organization: OrganizationId,
        client_id: &ClientId,
    ) -> Option<Application> {
        self.applications
            .values()
            .find(|application| application.organization_id == organization && &application.client_id == client_id)
            .cloned()
    }

    pub(crate) fn application_update(&mut self, changed: &Application, expected: Option<OffsetDateTime>) -> Result<()> {
        self.require_application(changed.organization_id, changed.id)?;
        if let Some(stored) = self.applications.get(&changed.id) {
            unchanged_since(stored.updated_at, expected)?;
        }
        let stored = self.applications.get_mut(&changed.id).ok_or(Error::NotFound("application"))?;
        stored.name = changed.name.clone();
        stored.client_type = changed.client_type.clone();
        stored.redirect_uris = changed.redirect_uris.clone();
        stored.allowed_scopes = changed.allowed_scopes.clone();
        stored.settings = changed.settings.clone();
        stored.updated_at = changed.updated_at;
        Ok(())
    }

    pub(crate) fn application_delete(&mut self, organization: OrganizationId, id: ApplicationId) -> Result<()> {
        self.require_application(organization, id)?;
        self.applications.remove(&id);
        self.consents.retain(|(_, _, application), _| *application != id);
        self.codes.retain(|_, code| code.application_id != id);
        self.remove_families(|family| family.application_id == id);
        self.application_roles.retain(|(_, application, _)| *application != id);
        self.previous_secrets.remove(&id);
        Ok(())
    }

    pub(crate) fn application_list(&self, organization: OrganizationId, page: &PageRequest) -> Vec<Application> {
        page_range(&self.applications, page)
            .filter(|application| application.organization_id == organization)
            .take(limit(page))
            .cloned()
            .collect()
    }

    // Sessions

    pub(crate) fn session_create(&mut self, session: &Session) -> Result<()> {
        self.require_organization(session.organization_id)?;
        self.require_user(session.organization_id, session.user_id)?;
        if self.sessions.contains_key(&session.id) {
            return Err(Error::Conflict("session_id"));
        }
        if self.sessions.values().any(|existing| existing.token_digest == session.token_digest) {
            return Err(Error::Conflict("session_token_digest"));
        }
        self.sessions.insert(session.id, session.clone());
        Ok(())
    }

    pub(crate) fn session_find_by_token_digest(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Option<Session> {
        self.sessions
            .values()
            .find(|session| {
                session.organization_id == organization
                    && &session.token_digest == token_digest
                    && session.expires_at > now
            })
            .cloned()
    }

    pub(crate) fn session_get(&self, organization: OrganizationId, id: SessionId) -> Result<Session> {
        match self.sessions.get(&id) {
            Some(session) if session.organization_id == organization => Ok(session.clone()),
            _ => Err(Error::NotFound("session")),
        }
    }

    pub(crate) fn session_list_for_user(
        &self,
        organization: OrganizationId,
        user: UserId,
        now: OffsetDateTime,
    ) -> Vec<Session> {
        let mut sessions: Vec<Session> = self
            .sessions
            .values()
            .filter(|session| {
                session.organization_id == organization && session.user_id == user && session.expires_at > now
            })
            .cloned()
            .collect();
        sessions.sort_by_key(|session| (session.created_at, session.id));
        sessions
    }

    pub(crate) fn session_delete(&mut self, organization: OrganizationId, id: SessionId) -> Result<()> {
        self.require_session(organization, id)?;
        self.sessions.remove(&id);
        Ok(())
    }

    pub(crate) fn session_delete_for_user(&mut self, organization: OrganizationId, user: UserId) -> u64 {
        let before = self.sessions.len();
        self.sessions.retain(|_, session| !(session.organization_id == organization && session.user_id == user));
        count(before - self.sessions.len())
    }

    pub(crate) fn session_delete_expired(&mut self, now: OffsetDateTime) -> u64 {
        let before = self.sessions.len();
        self.sessions.retain(|_, session| session.expires_at > now);
        count(before - self.sessions.len())
    }

    pub(crate) fn session_touch(
        &mut self,
        organization: OrganizationId,
        id: SessionId,
        last_seen_at: OffsetDateTime,
    ) -> Result<()> {
        match self.sessions.get_mut(&id) {
            Some(session) if session.organization_id == organization => {
                session.last_seen_at = last_seen_at;
                Ok(())
            }
            _ => Err(Error::NotFound("session")),
        }
    }

    // Authorization codes

    pub(crate) fn code_record_access_token(
        &mut self,
        organization: OrganizationId,
        code: AuthorizationCodeId,
        jti: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        match self.codes.get(&code) {
            Some(found) if found.organization_id == organization => {
                self.code_access_tokens.insert(code, (jti.to_owned(), expires_at));
                Ok(())
            }
            _ => Err(Error::NotFound("authorization_code")),
        }
    }

    pub(crate) fn code_issued_access_token(
        &self,
        organization: OrganizationId,
        code: AuthorizationCodeId,
    ) -> Option<(String, OffsetDateTime)> {
        match self.codes.get(&code) {
            Some(found) if found.organization_id == organization => self.code_access_tokens.get(&code).cloned(),
            _ => None,
        }
    }

    pub(crate) fn code_create(&mut self, code: &AuthorizationCode) -> Result<()> {
        self.require_organization(code.organization_id)?;
        self.require_application(code.organization_id, code.application_id)?;
        self.require_user(code.organization_id, code.user_id)?;
        if let Some(session) = code.session_id {
            self.require_session(code.organization_id, session)?;
        }
        if self.codes.contains_key(&code.id) {
            return Err(Error::Conflict("authorization_code_id"));
        }
        if self.codes.values().any(|existing| existing.code_digest == code.code_digest) {
            return Err(Error::Conflict("authorization_code_digest"));
        }
        self.codes.insert(code.id, code.clone());
        Ok(())
    }

    pub(crate) fn code_redeem(
        &mut self,
        organization: OrganizationId,
        code_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<CodeRedemption> {
        let code = self
            .codes
            .values_mut()
            .find(|code| code.organization_id == organization && &code.code_digest == code_digest)
            .ok_or(Error::InvalidGrant)?;
        if code.expires_at <= now {
            return Err(Error::InvalidGrant);
        }
        if code.consumed_at.is_some() {
            return Ok(CodeRedemption::Replayed(code.clone()));
        }
        code.consumed_at = Some(now);
        Ok(CodeRedemption::Redeemed(code.clone()))
    }

    pub(crate) fn code_delete_expired(&mut self, now: OffsetDateTime) -> u64 {
        let before = self.codes.len();
        self.codes.retain(|_, code| code.expires_at > now);
        let codes = &self.codes;
        self.code_access_tokens.retain(|id, _| codes.contains_key(id));
        count(before - self.codes.len())
    }

    // Refresh tokens

    pub(crate) fn refresh_create_family(&mut self, family: &RefreshTokenFamily, first: &RefreshToken) -> Result<()> {
        if first.family_id != family.id || first.organization_id != family.organization_id {
            return Err(ValidationError::new("refresh_token", "must belong to the family it starts").into());
        }
        self.require_organization(family.organization_id)?;
        self.require_application(family.organization_id, family.application_id)?;
        if let Some(user) = family.user_id {
            self.require_user(family.organization_id, user)?;
        }
        if let Some(session) = family.session_id {
            self.require_session(family.organization_id, session)?;
        }
        if self.families.contains_key(&family.id) {
            return Err(Error::Conflict("refresh_token_family_id"));
        }
        if self.refresh_tokens.contains_key(&first.token_digest) {
            return Err(Error::Conflict("refresh_token_digest"));
        }
        self.families.insert(family.id, family.clone());
        self.refresh_tokens.insert(first.token_digest, first.clone());
        Ok(())
    }

    pub(crate) fn refresh_find(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
    ) -> Option<(RefreshToken, RefreshTokenFamily)> {
        let token = self.refresh_tokens.get(token_digest).filter(|token| token.organization_id == organization)?;
        let family = self.families.get(&token.family_id)?;
        Some((token.clone(), family.clone()))
    }

    pub(crate) fn refresh_rotate(
        &mut self,
        organization: OrganizationId,
        presented: &SecretDigest,
        successor: &SecretDigest,
        successor_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<RefreshRotation> {
        let token = self
            .refresh_tokens
            .get(presented)
            .filter(|token| token.organization_id == organization)
            .cloned()
            .ok_or(Error::InvalidGrant)?;
        let family = self.families.get_mut(&token.family_id).ok_or(Error::InvalidGrant)?;
        if token.rotated_at.is_some() {
            // A rotated token came back: someone holds a stolen copy.
            family.revoked_at.get_or_insert(now);
            return Ok(RefreshRotation::ReuseDetected(family.clone()));
        }
        if family.revoked_at.is_some() || family.expires_at <= now || token.expires_at <= now {
            return Err(Error::InvalidGrant);
        }
        let family = family.clone();
        if self.refresh_tokens.contains_key(successor) {
            return Err(Error::Conflict("refresh_token_digest"));
        }
        let next = RefreshToken {
            token_digest: *successor,
            family_id: family.id,
            organization_id: organization,
            created_at: now,
            expires_at: successor_expires_at,
            rotated_at: None,
        };
        self.refresh_tokens.insert(*successor, next);
        if let Some(stored) = self.refresh_tokens.get_mut(presented) {
            stored.rotated_at = Some(now);
        }
        Ok(RefreshRotation::Rotated(family))
    }

    pub(crate) fn refresh_revoke_family(
        &mut self,
        organization: OrganizationId,
        id: RefreshTokenFamilyId,
        now: OffsetDateTime,
    ) -> Result<()> {
        match self.families.get_mut(&id) {
            Some(family) if family.organization_id == organization => {
                family.revoked_at.get_or_insert(now);
                Ok(())
            }
            _ => Err(Error::NotFound("refresh_token_family")),
        }
    }

    /// Revokes the organization's unrevoked families matching `selected`; counts them.
    pub(crate) fn refresh_revoke_where(
        &mut self,
        organization: OrganizationId,
        now: OffsetDateTime,
        selected: impl Fn(&RefreshTokenFamily) -> bool,
    ) -> u64 {
        let mut revoked = 0;
        for family in self.families.values_mut() {
            if family.organization_id == organization && family.revoked_at.is_none() && selected(family) {
                family.revoked_at = Some(now);
                revoked += 1;
            }
        }
        revoked
    }

    pub(crate) fn refresh_delete_expired(&mut self, now: OffsetDateTime) -> u64 {
        count(self.remove_families(|family| family.expires_at <= now))
    }

    // Revocations

    pub(crate) fn revocation_revoke(&mut self, revocation: &Revocation) -> Result<()> {
        self.require_organization(revocation.organization_id)?;
        self.revocations
            .entry((revocation.organization_id, revocation.jti.clone()))
            .and_modify(|stored| stored.expires_at = stored.expires_at.max(revocation.expires_at))
            .or_insert_with(|| revocation.clone());
        Ok(())
    }

    pub(crate) fn revocation_is_revoked(&self, organization: OrganizationId, jti: &str) -> bool {
        self.revocations.contains_key(&(organization, jti.to_owned()))
    }

    pub(crate) fn revocation_delete_expired(&mut self, now: OffsetDateTime) -> u64 {
        let before = self.revocations.len();
        self.revocations.retain(|_, revocation| revocation.expires_at > now);
        count(before - self.revocations.len())
    }

    // Consents

    pub(crate) fn consent_find(
        &self,
        organization: OrganizationId,
        user: UserId,
        application: ApplicationId,
    ) -> Option<Consent> {
        self.consents.get(&(organization, user, application)).cloned()
    }

    pub(crate) fn consent_save(&mut self, consent: &Consent) -> Result<()> {
        self.require_organization(consent.organization_id)?;
        self.require_user(consent.organization_id, consent.user_id)?;
        self.require_application(consent.organization_id, consent.application_id)?;
        self.consents.insert((consent.organization_id, consent.user_id, consent.application_id), consent.clone());
        Ok(())
    }

    pub(crate) fn consent_delete(
        &mut self,
        organization: OrganizationId,
        user: UserId,
        application: ApplicationId,
    ) -> bool {
        self.consents.remove(&(organization, user, application)).is_some()
    }

    pub(crate) fn consent_list_for_user(&self, organization: OrganizationId, user: UserId) -> Vec<Consent> {
        self.consents
            .values()
            .filter(|consent| consent.organization_id == organization && consent.user_id == user)
            .cloned()
            .collect()
    }

    // Client assertions

    pub(crate) fn client_assertion_record(
        &mut self,
        organization: OrganizationId,
        client_id: &ClientId,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool> {
        self.require_organization(organization)?;
        let key = (organization, client_id.clone(), jti.to_owned());
        if self.client_assertion_jtis.get(&key).is_some_and(|stored| *stored > now) {
            return Ok(false);
        }
        self.client_assertion_jtis.insert(key, expires_at);
        Ok(true)
    }

    pub(crate) fn client_assertion_delete_expired(&mut self, now: OffsetDateTime) -> u64 {
        let before = self.client_assertion_jtis.len();
        self.client_assertion_jtis.retain(|_, expires_at| *expires_at > now);
        count(before - self.client_assertion_jtis.len())
    }

    // Signing keys

    pub(crate) fn signing_key_create(&mut self, key: &SigningKey) -> Result<()> {
        self.require_organization(key.organization_id)?;
        if self.signing_keys.contains_key(&key.id) {
            return Err(Error::Conflict("signing_key_id"));
        }
        self.signing_keys.insert(key.id, key.clone());
        Ok(())
    }

    pub(crate) fn signing_key_list(&self, organization: OrganizationId) -> Vec<SigningKey> {
        let mut keys: Vec<SigningKey> =
            self.signing_keys.values().filter(|key| key.organization_id == organization).cloned().collect();
        keys.sort_by_key(|key| std::cmp::Reverse((key.created_at, key.id)));
        keys
    }

    pub(crate) fn signing_key_find_active(
        &self,
        organization: OrganizationId,
        algorithm: SigningAlgorithm,
    ) -> Option<SigningKey> {
        self.signing_keys
            .values()
            .filter(|key| key.organization_id == organization && key.algorithm == algorithm)
            .filter(|key| key.state == KeyState::Active)
            .max_by_key(|key| (key.created_at, key.id))
            .cloned()
    }

    pub(crate) fn signing_key_activate(&mut self, organization: OrganizationId, id: SigningKeyId) -> Result<()> {
        match self.signing_keys.get_mut(&id) {
            Some(key) if key.organization_id == organization && key.state != KeyState::Retired => {
                key.state = KeyState::Active;
                Ok(())
            }
            _ => Err(Error::NotFound("signing_key")),
        }
    }

    pub(crate) fn signing_key_retire(
        &mut self,
        organization: OrganizationId,
        id: SigningKeyId,
        retired_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        match self.signing_keys.get_mut(&id) {
            Some(key) if key.organization_id == organization => {
                key.state = KeyState::Retired;
                key.retired_at = Some(retired_at);
                key.expires_at = Some(expires_at);
                Ok(())
            }
            _ => Err(Error::NotFound("signing_key")),
        }
    }

    pub(crate) fn signing_key_delete_expired(&mut self, now: OffsetDateTime) -> u64 {
        let before = self.signing_keys.len();
        self.signing_keys.retain(|_, key| {
            !(key.state == KeyState::Retired && key.expires_at.is_some_and(|expires_at| expires_at <= now))
        });
        count(before - self.signing_keys.len())
    }

    // Audit log

    pub(crate) fn audit_append(&mut self, events: &[AuditEvent]) -> Result<()> {
        let mut batch = std::collections::BTreeSet::new();
        for event in events {
            self.require_organization(event.organization_id)?;
            if self.audit.contains_key(&event.id) || !batch.insert(event.id) {
                return Err(Error::Conflict("audit_event_id"));
            }
        }
        for event in events {
            self.audit.insert(event.id, event.clone());
        }
        Ok(())
    }

    pub(crate) fn audit_list(
        &self,
        organization: OrganizationId,
        query: &AuditQuery,
        page: &PageRequest,
    ) -> Vec<AuditEvent> {
        let matches = |wanted: &Option<String>, stored: &Option<String>| {
            wanted.as_ref().is_none_or(|wanted| stored.as_ref() == Some(wanted))
        };
        page_range(&self.audit, page)
            .filter(|event| event.organization_id == organization)
            .filter(|event| matches(&query.actor, &event.actor) && matches(&query.subject, &event.subject))
            .filter(|event| query.event_type.as_ref().is_none_or(|wanted| &event.event_type == wanted))
            .filter(|event| query.from.is_none_or(|from| event.occurred_at >= from))
            .filter(|event| query.until.is_none_or(|until| event.occurred_at < until))
            .take(limit(page))
            .cloned()
            .collect()
    }
}

/// The optimistic-concurrency precondition of a conditional update: the stored
/// `updated_at` must still be the one the writer read.
fn unchanged_since(stored: OffsetDateTime, expected: Option<OffsetDateTime>) -> Result<()> {
    match expected {
        Some(expected) if expected != stored => Err(Error::PreconditionFailed),
        _ => Ok(()),
    }
}
