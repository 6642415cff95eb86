//! Multi-factor authentication (issue 5): TOTP (RFC 6238) credentials with
//! encrypted secrets, ±1 step skew and replay refusal; single-use recovery
//! codes stored as digests; the organization's MFA policy; and the second
//! step of a hosted login, which turns a pending session (password checked,
//! second factor owed) into a full one with `amr` values of RFC 8176.
//!
//! A login that owes a second factor leaves a *pending* session: its
//! metadata carries [`PENDING_KEY`] (`challenge` or `enrol`) and
//! [`crate::oauth::OpenIdProvider::current_session`] does not accept it.
//! Completing the factor replaces it with a new session and a new cookie
//! (no session fixation across the privilege change).

pub mod passkeys;

use std::sync::Arc;

use serde_json::{json, Value as Json};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::error::{Error, Result, ValidationError};
use crate::ids::{IdGenerator, OrganizationId, UserId};
use crate::model::{Organization, Session, User};
use crate::ports::{AuditSink, Clock, MfaCrypto, NewSecret, OAuthCrypto, SecretKind, Stores};
use crate::values::SecretDigest;

/// The session-metadata key of a pending session.
pub const PENDING_KEY: &str = "mfa_pending";
/// How long a pending session lives: enough to open an app and type a code.
pub const PENDING_LIFETIME: Duration = Duration::minutes(10);
/// TOTP time step (RFC 6238 §4: X = 30 s) and code length.
pub const TOTP_STEP_SECONDS: i64 = 30;
pub const TOTP_DIGITS: usize = 6;
/// How many recovery codes a user gets.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Wrong second-factor answers per user before the challenge locks.
pub const MAX_FAILURES: u32 = 5;
/// How long the challenge stays locked, and the window failures count in.
pub const FAILURE_WINDOW: Duration = Duration::minutes(15);

/// `acr` values: `0` (OIDC Core §2: no assurance claimed beyond a password
/// session) and `mfa`, which a client may request with `acr_values`.
pub const ACR_PASSWORD: &str = "0";
pub const ACR_MFA: &str = "mfa";

/// Audit event types of this module.
pub mod event_types {
    pub const MFA_ENROLLED: &str = "mfa.enrolled";
    pub const MFA_USED: &str = "mfa.used";
    pub const MFA_FAILED: &str = "mfa.failed";
    pub const MFA_REMOVED: &str = "mfa.removed";
    pub const RECOVERY_CODES_REGENERATED: &str = "mfa.recovery_codes_regenerated";
}

/// An organization's MFA policy (organization setting `mfa_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MfaPolicy {
    /// No second factor is asked, even of users who enrolled one.
    Off,
    /// Users who enrolled a factor are challenged; others are not.
    #[default]
    Optional,
    /// Every user must pass a second factor; one without is led to enrol.
    Required,
}

impl MfaPolicy {
    pub const SETTING: &'static str = "mfa_policy";

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "off" => Some(Self::Off),
            "optional" => Some(Self::Optional),
            "required" => Some(Self::Required),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Optional => "optional",
            Self::Required => "required",
        }
    }

    /// The organization's policy; `optional` when unset, an error when set to
    /// anything else than `off`, `optional` or `required`.
    pub fn from_organization(organization: &Organization) -> Result<Self, ValidationError> {
        match organization.settings.get(Self::SETTING) {
            None | Some(Json::Null) => Ok(Self::default()),
            Some(Json::String(text)) => Self::parse(text)
                .ok_or_else(|| ValidationError::new(Self::SETTING, "must be \"off\", \"optional\" or \"required\"")),
            Some(_) => Err(ValidationError::new(Self::SETTING, "must be \"off\", \"optional\" or \"required\"")),
        }
    }
}

/// What a pending session still owes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// The user has a factor: answer the challenge.
    Challenge,
    /// The policy requires a factor and the user has none: enrol one.
    Enrol,
}

impl Pending {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Challenge => "challenge",
            Self::Enrol => "enrol",
        }
    }

    /// What `session` still owes; `None` for a full session.
    pub fn of(session: &Session) -> Option<Self> {
        match session.metadata.get(PENDING_KEY).and_then(Json::as_str) {
            Some("challenge") => Some(Self::Challenge),
            Some("enrol") => Some(Self::Enrol),
            _ => None,
        }
    }
}

/// The second step a password login leads to, if any, under `policy`.
pub fn pending_after_password(policy: MfaPolicy, has_factor: bool) -> Option<Pending> {
    match (policy, has_factor) {
        (MfaPolicy::Off, _) | (MfaPolicy::Optional, false) => None,
        (_, true) => Some(Pending::Challenge),
        (MfaPolicy::Required, false) => Some(Pending::Enrol),
    }
}

/// The `amr` values (RFC 8176) a session was authenticated with.
pub fn amr_of(session: &Session) -> Vec<String> {
    session
        .metadata
        .get("amr")
        .and_then(Json::as_array)
        .map(|values| values.iter().filter_map(Json::as_str).map(str::to_owned).collect())
        .filter(|values: &Vec<String>| !values.is_empty())
        .unwrap_or_else(|| vec!["pwd".to_owned()])
}

/// The `acr` of a session: [`ACR_MFA`] when it passed a second factor.
pub fn acr_of(session: &Session) -> &'static str {
    if amr_of(session).iter().any(|value| value == "mfa") {
        ACR_MFA
    } else {
        ACR_PASSWORD
    }
}

/// A user's TOTP credential. The shared secret is stored only sealed under
/// the key-encryption key, bound to (organization, credential id).
#[derive(Clone, PartialEq, Eq)]
pub struct TotpCredential {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    pub user_id: UserId,
    pub encrypted_secret: Vec<u8>,
    /// Set when the user proved the enrolment with a code; until then the
    /// credential is not a factor.
    pub confirmed_at: Option<OffsetDateTime>,
    /// The last time step whose code was accepted: no code of this step or
    /// an earlier one is accepted again (RFC 6238 §5.2).
    pub last_used_step: Option<i64>,
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for TotpCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpCredential")
            .field("id", &self.id)
            .field("organization_id", &self.organization_id)
            .field("user_id", &self.user_id)
            .field("confirmed_at", &self.confirmed_at)
            .field("last_used_step", &self.last_used_step)
            .finish_non_exhaustive()
    }
}

/// A TOTP enrolment to show: the key for manual entry (base32) and the
/// `otpauth://` URI the QR code encodes. `Debug` shows neither.
#[derive(Clone)]
pub struct TotpEnrolment {
    pub credential_id: Uuid,
    pub secret_base32: String,
    pub provisioning_uri: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpEnrolment").field("credential_id", &self.credential_id).finish_non_exhaustive()
    }
}

/// Recovery codes in plaintext, shown once. `Debug` hides them.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCodes(pub Vec<String>);

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodes({} codes)", self.0.len())
    }
}

/// Which second factor answered a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    Totp,
    RecoveryCode,
}

impl SecondFactor {
    /// RFC 8176 values for a session that passed a password and this factor.
    /// A recovery code is a one-time password too (`otp`).
    pub fn amr(self) -> Vec<&'static str> {
        match self {
            Self::Totp | Self::RecoveryCode => vec!["pwd", "otp", "mfa"],
        }
    }

    const fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
        }
    }
}

/// The outcome of a challenge answer.
#[derive(Debug)]
pub enum ChallengeOutcome {
    /// Passed: the new full session and its cookie (the pending one is gone).
    Passed { session: Box<Session>, cookie: NewSecret, factor: SecondFactor },
    /// Wrong, replayed or unknown code.
    Failed,
    /// Too many wrong answers: the pending session was ended.
    Locked,
}

/// The MFA use cases over the ports.
#[derive(Clone)]
pub struct MultiFactor {
    stores: Stores,
    crypto: Arc<dyn MfaCrypto>,
    ceremonies: Arc<dyn passkeys::PasskeyCeremonies>,
    random: Arc<dyn crate::ports::RandomSource>,
    oauth_crypto: Arc<dyn OAuthCrypto>,
    clock: Arc<dyn Clock>,
    ids: IdGenerator,
    audit: Arc<dyn AuditSink>,
}

impl std::fmt::Debug for MultiFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiFactor").finish_non_exhaustive()
    }
}

/// The non-store ports [`MultiFactor`] needs.
#[derive(Clone)]
pub struct MfaPorts {
    pub crypto: Arc<dyn MfaCrypto>,
    /// WebAuthn ceremonies (passkeys).
    pub ceremonies: Arc<dyn passkeys::PasskeyCeremonies>,
    pub oauth_crypto: Arc<dyn OAuthCrypto>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn crate::ports::RandomSource>,
    pub audit: Arc<dyn AuditSink>,
}

impl std::fmt::Debug for MfaPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaPorts").finish_non_exhaustive()
    }
}

/// Normalises a typed code: drops spaces and dashes, upper-cases.
fn normalise(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect()
}

/// The time step of `now` (RFC 6238 §4.2, T0 = 0).
pub fn totp_step(now: OffsetDateTime) -> i64 {
    now.unix_timestamp().div_euclid(TOTP_STEP_SECONDS)
}

impl MultiFactor {
    pub fn new(stores: Stores, ports: MfaPorts) -> Self {
        let ids = IdGenerator::new(ports.clock.clone(), ports.random.clone());
        Self {
            stores,
            crypto: ports.crypto,
            ceremonies: ports.ceremonies,
            random: ports.random,
            oauth_crypto: ports.oauth_crypto,
            clock: ports.clock,
            ids,
            audit: ports.audit,
        }
    }

    fn emit(&self, organization: OrganizationId, event_type: &str, user: UserId, data: Json) {
        let event = crate::security::audit::audit_event(
            self.ids.next(),
            organization,
            self.clock.now(),
            event_type,
            Some(user.to_string()),
            Some(user.to_string()),
            data,
        );
        self.audit.record(event);
    }

    /// Whether the user has a second factor: a confirmed TOTP credential or a passkey.
    pub async fn has_factor(&self, organization: OrganizationId, user: UserId) -> Result<bool> {
        passkeys::has_factor(&self.stores, organization, user).await
    }

    /// Whether the user has a confirmed TOTP credential.
    pub async fn has_totp(&self, organization: OrganizationId, user: UserId) -> Result<bool> {
        Ok(self.stores.mfa.find_totp(organization, user).await?.is_some_and(|totp| totp.confirmed_at.is_some()))
    }

    /// Starts (or restarts) a TOTP enrolment: a fresh secret, stored sealed
    /// and unconfirmed. `Conflict("mfa_totp")` when the user already has a
    /// confirmed TOTP credential (remove it first).
    pub async fn begin_totp(&self, issuer_name: &str, user: &User) -> Result<TotpEnrolment> {
        let organization = user.organization_id;
        let secret = self.crypto.new_totp_secret();
        let id = self.ids.uuid();
        let credential = TotpCredential {
            id,
            organization_id: organization,
            user_id: user.id,
            encrypted_secret: self.crypto.seal_totp_secret(organization, id, &secret)?,
            confirmed_at: None,
            last_used_step: None,
            created_at: self.clock.now(),
        };
        self.stores.mfa.put_totp(&credential).await?;
        Ok(TotpEnrolment {
            credential_id: id,
            secret_base32: self.crypto.base32(&secret),
            provisioning_uri: self.crypto.provisioning_uri(&secret, issuer_name, user.email.as_str()),
        })
    }

    /// The user's unconfirmed enrolment, to show again (e.g. after a wrong
    /// confirmation code); `None` when there is none.
    pub async fn pending_totp(&self, issuer_name: &str, user: &User) -> Result<Option<TotpEnrolment>> {
        let organization = user.organization_id;
        let Some(credential) = self.stores.mfa.find_totp(organization, user.id).await? else {
            return Ok(None);
        };
        if credential.confirmed_at.is_some() {
            return Ok(None);
        }
        let secret = self.crypto.open_totp_secret(organization, credential.id, &credential.encrypted_secret)?;
        Ok(Some(TotpEnrolment {
            credential_id: credential.id,
            secret_base32: self.crypto.base32(&secret),
            provisioning_uri: self.crypto.provisioning_uri(&secret, issuer_name, user.email.as_str()),
        }))
    }

    /// The step (within ±1 of now, after `last_used_step`) whose code is `code`.
    fn matching_step(&self, secret: &[u8], code: &str, last_used_step: Option<i64>) -> Option<i64> {
        if code.len() != TOTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = totp_step(self.clock.now());
        // Every candidate is computed, so timing does not tell which matched.
        let mut found = None;
        for step in [current - 1, current, current + 1] {
            let fresh = last_used_step.is_none_or(|last| step > last);
            if self.crypto.totp_matches(secret, step, code) && fresh && found.is_none() {
                found = Some(step);
            }
        }
        found
    }

    /// Confirms the pending enrolment with a code from the app. On success
    /// the credential becomes a factor and ten new recovery codes are issued
    /// (shown once). `Ok(None)` for a wrong code or no pending enrolment.
    pub async fn confirm_totp(
        &self,
        organization: OrganizationId,
        user: UserId,
        code: &str,
    ) -> Result<Option<RecoveryCodes>> {
        let Some(credential) = self.stores.mfa.find_totp(organization, user).await? else {
            return Ok(None);
        };
        if credential.confirmed_at.is_some() {
            return Ok(None);
        }
        let secret = self.crypto.open_totp_secret(organization, credential.id, &credential.encrypted_secret)?;
        let Some(step) = self.matching_step(&secret, &normalise(code), credential.last_used_step) else {
            return Ok(None);
        };
        if !self.stores.mfa.confirm_totp(organization, credential.id, step, self.clock.now()).await? {
            return Ok(None);
        }
        let codes = self.issue_recovery_codes(organization, user).await?;
        self.emit(organization, event_types::MFA_ENROLLED, user, json!({"factor": "totp"}));
        Ok(Some(codes))
    }

    /// Checks a TOTP code of a confirmed credential and burns its step.
    async fn check_totp(&self, organization: OrganizationId, user: UserId, code: &str) -> Result<bool> {
        let Some(credential) = self.stores.mfa.find_totp(organization, user).await? else {
            return Ok(false);
        };
        if credential.confirmed_at.is_none() {
            return Ok(false);
        }
        let secret = self.crypto.open_totp_secret(organization, credential.id, &credential.encrypted_secret)?;
        match self.matching_step(&secret, code, credential.last_used_step) {
            // The store refuses a step not after the last one, so of two
            // concurrent uses of one code only one wins.
            Some(step) => self.stores.mfa.use_totp_step(organization, credential.id, step).await,
            None => Ok(false),
        }
    }

    async fn issue_recovery_codes(&self, organization: OrganizationId, user: UserId) -> Result<RecoveryCodes> {
        let mut plaintexts = Vec::with_capacity(RECOVERY_CODE_COUNT);
        let mut digests = Vec::with_capacity(RECOVERY_CODE_COUNT);
        for _ in 0..RECOVERY_CODE_COUNT {
            let code = self.crypto.new_recovery_code();
            digests.push(self.recovery_digest(organization, user, &code));
            plaintexts.push(code);
        }
        self.stores.mfa.replace_recovery_codes(organization, user, &digests, self.clock.now()).await?;
        Ok(RecoveryCodes(plaintexts))
    }

    /// The stored digest of a recovery code: bound to the user, so equal
    /// codes of two users never share a digest.
    fn recovery_digest(&self, organization: OrganizationId, user: UserId, code: &str) -> SecretDigest {
        self.oauth_crypto.digest_secret(&format!("zenoauth-recovery:{organization}:{user}:{}", normalise(code)))
    }

    /// Replaces the user's recovery codes with ten new ones (the old ones
    /// stop working). `Conflict("mfa_not_enrolled")` without a factor.
    pub async fn regenerate_recovery_codes(&self, organization: OrganizationId, user: UserId) -> Result<RecoveryCodes> {
        if !self.has_factor(organization, user).await? {
            return Err(Error::Conflict("mfa_not_enrolled"));
        }
        let codes = self.issue_recovery_codes(organization, user).await?;
        self.emit(organization, event_types::RECOVERY_CODES_REGENERATED, user, json!({}));
        Ok(codes)
    }

    /// How many unused recovery codes the user has.
    pub async fn remaining_recovery_codes(&self, organization: OrganizationId, user: UserId) -> Result<u32> {
        self.stores.mfa.count_recovery_codes(organization, user).await
    }

    /// Turns two-step verification off: removes the user's TOTP credential,
    /// passkeys and recovery codes.
    pub async fn remove(&self, organization: OrganizationId, user: UserId) -> Result<bool> {
        let had_totp = self.has_totp(organization, user).await?;
        let mut removed = self.stores.mfa.delete_for_user(organization, user).await?;
        if had_totp {
            self.emit(organization, event_types::MFA_REMOVED, user, json!({"factor": "totp"}));
        }
        for passkey in self.stores.passkeys.list_credentials(organization, user).await? {
            if self.stores.passkeys.delete_credential(organization, user, passkey.id).await? {
                removed = true;
                self.emit(
                    organization,
                    event_types::MFA_REMOVED,
                    user,
                    json!({"factor": "webauthn", "method": "webauthn", "credential": passkey.id.to_string()}),
                );
            }
        }
        Ok(removed)
    }

    /// The pending session a cookie names, with what it owes.
    pub async fn pending_session(
        &self,
        organization: OrganizationId,
        cookie: Option<&str>,
    ) -> Result<Option<(Session, Pending)>> {
        let Some(cookie) = cookie.filter(|cookie| cookie.len() <= 256) else {
            return Ok(None);
        };
        let digest = self.oauth_crypto.digest_secret(cookie);
        let Some(session) = self.stores.sessions.find_by_token_digest(organization, &digest, self.clock.now()).await?
        else {
            return Ok(None);
        };
        Ok(Pending::of(&session).map(|pending| (session, pending)))
    }

    /// Answers a login challenge with a TOTP code (six digits) or a recovery
    /// code. Wrong answers are counted per user; at [`MAX_FAILURES`] the
    /// pending session is ended and the challenge locked for a while.
    pub async fn answer_challenge(&self, pending: &Session, answer: &str) -> Result<ChallengeOutcome> {
        let organization = pending.organization_id;
        let user = pending.user_id;
        let now = self.clock.now();
        if self.challenge_is_locked(pending).await? {
            return Ok(ChallengeOutcome::Locked);
        }
        let answer = normalise(answer);
        let factor = if answer.len() == TOTP_DIGITS && answer.bytes().all(|b| b.is_ascii_digit()) {
            self.check_totp(organization, user, &answer).await?.then_some(SecondFactor::Totp)
        } else {
            let digest = self.recovery_digest(organization, user, &answer);
            self.stores
                .mfa
                .use_recovery_code(organization, user, &digest, now)
                .await?
                .then_some(SecondFactor::RecoveryCode)
        };
        let Some(factor) = factor else {
            if self.count_challenge_failure(pending, json!({})).await? {
                return Ok(ChallengeOutcome::Locked);
            }
            return Ok(ChallengeOutcome::Failed);
        };
        self.clear_challenge_failures(pending).await?;
        let (session, cookie) = self.upgrade(pending, &factor.amr()).await?;
        self.emit(
            organization,
            event_types::MFA_USED,
            user,
            json!({"factor": factor.as_str(), "session_id": session.id.to_string()}),
        );
        Ok(ChallengeOutcome::Passed { session: Box::new(session), cookie, factor })
    }

    /// The per-user counter of wrong second-factor answers (TOTP, recovery
    /// codes and passkeys share it).
    fn challenge_failures_key(pending: &Session) -> String {
        format!("mfa:{}", pending.user_id)
    }

    /// Whether the user's challenge is locked; when it is, the pending
    /// session is ended.
    async fn challenge_is_locked(&self, pending: &Session) -> Result<bool> {
        let key = Self::challenge_failures_key(pending);
        let now = self.clock.now();
        let counter = self.stores.login_attempts.find(pending.organization_id, &key).await?;
        if counter.is_some_and(|state| state.is_locked_at(now)) {
            self.end_pending(pending).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Counts a wrong answer and audits it (`details` plus `failures`); at
    /// [`MAX_FAILURES`] the challenge is locked, the pending session ended
    /// and `true` returned.
    async fn count_challenge_failure(&self, pending: &Session, details: serde_json::Value) -> Result<bool> {
        let (organization, user) = (pending.organization_id, pending.user_id);
        let key = Self::challenge_failures_key(pending);
        let now = self.clock.now();
        let state = self
            .stores
            .login_attempts
            .record_failure(organization, &key, now, now - FAILURE_WINDOW, MAX_FAILURES, now + FAILURE_WINDOW)
            .await?;
        let mut details = details;
        if let Some(object) = details.as_object_mut() {
            object.insert("failures".to_owned(), json!(state.failures));
        }
        self.emit(organization, event_types::MFA_FAILED, user, details);
        if state.is_locked_at(now) {
            self.end_pending(pending).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// A right answer: the count of wrong ones starts again.
    async fn clear_challenge_failures(&self, pending: &Session) -> Result<()> {
        let key = Self::challenge_failures_key(pending);
        self.stores.login_attempts.clear(pending.organization_id, &key).await?;
        Ok(())
    }

    /// After an enrolment made from a pending (`enrol`) session: the full session.
    pub async fn complete_enrolment(&self, pending: &Session) -> Result<(Session, NewSecret)> {
        self.complete_enrolment_with(pending, &SecondFactor::Totp.amr()).await
    }

    /// As [`Self::complete_enrolment`], with the `amr` the enrolled factor earned.
    pub async fn complete_enrolment_with(&self, pending: &Session, amr: &[&str]) -> Result<(Session, NewSecret)> {
        if Pending::of(pending) != Some(Pending::Enrol)
            || !self.has_factor(pending.organization_id, pending.user_id).await?
        {
            return Err(Error::Unauthorized);
        }
        self.upgrade(pending, amr).await
    }

    /// Step-up: a full session that has not passed a second factor, when one
    /// is required, is replaced by a pending one (challenge when the user has
    /// a factor, enrolment otherwise) under a new cookie. Abandoning the
    /// second step therefore signs the user out.
    pub async fn demand_second_factor(&self, session: &Session) -> Result<(Session, NewSecret, Pending)> {
        let pending = if self.has_factor(session.organization_id, session.user_id).await? {
            Pending::Challenge
        } else {
            Pending::Enrol
        };
        let now = self.clock.now();
        let mut metadata = if session.metadata.is_object() { session.metadata.clone() } else { json!({}) };
        if let Some(object) = metadata.as_object_mut() {
            object.insert(PENDING_KEY.to_owned(), json!(pending.as_str()));
            object.insert(
                "session_lifetime".to_owned(),
                json!((session.expires_at - session.created_at).whole_seconds()),
            );
            object.insert("amr".to_owned(), json!(["pwd"]));
            // Only a password proof's own login may carry a link to make.
            object.remove(crate::federation::LINK_AFTER_SECOND_FACTOR);
        }
        let cookie = self.oauth_crypto.issue_secret(SecretKind::Session);
        let replacement = Session {
            id: self.ids.next(),
            organization_id: session.organization_id,
            user_id: session.user_id,
            token_digest: cookie.digest,
            authenticated_at: session.authenticated_at,
            created_at: now,
            expires_at: (now + PENDING_LIFETIME).min(session.expires_at),
            last_seen_at: now,
            metadata,
        };
        self.stores.sessions.create(&replacement).await?;
        self.end_pending(session).await?;
        Ok((replacement, cookie, pending))
    }

    /// Replaces `previous` (pending, or a full session stepping up) by a new
    /// full session with `amr`, under a new cookie.
    pub async fn upgrade(&self, previous: &Session, amr: &[&str]) -> Result<(Session, NewSecret)> {
        let now = self.clock.now();
        let mut metadata = previous.metadata.clone();
        if !metadata.is_object() {
            metadata = json!({});
        }
        let lifetime = match previous.metadata.get("session_lifetime").and_then(Json::as_i64) {
            Some(seconds) => Duration::seconds(seconds),
            None => previous.expires_at - previous.created_at,
        };
        let mut link = None;
        if let Some(object) = metadata.as_object_mut() {
            object.remove(PENDING_KEY);
            object.remove("session_lifetime");
            object.insert("amr".to_owned(), json!(amr));
            link = object.remove(crate::federation::LINK_AFTER_SECOND_FACTOR);
        }
        let cookie = self.oauth_crypto.issue_secret(SecretKind::Session);
        let session = Session {
            id: self.ids.next(),
            organization_id: previous.organization_id,
            user_id: previous.user_id,
            token_digest: cookie.digest,
            authenticated_at: now,
            created_at: now,
            expires_at: now + lifetime,
            last_seen_at: now,
            metadata,
        };
        self.stores.sessions.create(&session).await?;
        self.end_pending(previous).await?;
        if let (Some(link), true) = (link, Pending::of(previous).is_some()) {
            self.link_after_second_factor(&session, &link).await?;
        }
        Ok((session, cookie))
    }

    /// Makes the link a password proof left for after the second factor
    /// (`crate::oauth` federation linking), as the direct path does
    /// ([`crate::oauth::federation_link::make_proven_link`]); a link taken
    /// meanwhile, or whose provider is gone or disabled, is skipped.
    async fn link_after_second_factor(&self, session: &Session, link: &Json) -> Result<()> {
        let provider = link.get("provider_id").and_then(Json::as_str).and_then(|id| Uuid::parse_str(id).ok());
        let (Some(provider_id), Some(subject)) = (provider, link.get("subject").and_then(Json::as_str)) else {
            return Ok(());
        };
        let claims = link.get("claims").cloned().unwrap_or_else(|| json!({}));
        let ports = crate::oauth::federation_link::LinkPorts {
            stores: &self.stores,
            clock: self.clock.as_ref(),
            ids: &self.ids,
            audit: &*self.audit,
        };
        let proven = crate::oauth::federation_link::ProvenLink { provider_id, subject, claims: &claims };
        crate::oauth::federation_link::make_proven_link(
            &ports,
            session.organization_id,
            session.user_id,
            &proven,
            true,
        )
        .await?;
        Ok(())
    }

    async fn end_pending(&self, session: &Session) -> Result<()> {
        match self.stores.sessions.delete(session.organization_id, session.id).await {
            Ok(()) | Err(Error::NotFound(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_decides_the_second_step() {
        assert_eq!(pending_after_password(MfaPolicy::Off, true), None);
        assert_eq!(pending_after_password(MfaPolicy::Optional, false), None);
        assert_eq!(pending_after_password(MfaPolicy::Optional, true), Some(Pending::Challenge));
        assert_eq!(pending_after_password(MfaPolicy::Required, true), Some(Pending::Challenge));
        assert_eq!(pending_after_password(MfaPolicy::Required, false), Some(Pending::Enrol));
    }

    #[test]
    fn codes_are_normalised() {
        assert_eq!(normalise(" abcd-efgh 1234 "), "ABCDEFGH1234");
    }

    #[test]
    fn steps_are_thirty_seconds_from_the_epoch() {
        assert_eq!(totp_step(OffsetDateTime::from_unix_timestamp(59).unwrap()), 1);
        assert_eq!(totp_step(OffsetDateTime::from_unix_timestamp(60).unwrap()), 2);
    }
}
