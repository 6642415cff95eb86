//! WebAuthn passkeys (issue 5): a second factor beside TOTP, and a way to
//! sign in without a password (discoverable credentials, user verification
//! required). The ceremonies themselves (challenge options, attestation and
//! assertion verification) are the [`PasskeyCeremonies`] port's, implemented
//! with `webauthn-rs` in `zenoauth-crypto`; this module holds the rules:
//! which credentials a ceremony may use, single-use ceremony state kept in
//! the store (shared by every instance), counters and backup flags updated
//! on each use, and the `amr` a passkey earns.
//!
//! `amr` (RFC 8176): a passkey proves possession of a key (`hwk` when the
//! credential is device-bound, `swk` when it is backup-eligible, i.e. a
//! synced passkey whose private key leaves the device) and, since user
//! verification is required, a local PIN or biometric (`user`); so it is
//! multi-factor on its own (`mfa`), as NIST SP 800-63B counts a
//! multi-factor cryptographic authenticator.

use serde_json::{json, Value as Json};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{event_types, MultiFactor, Pending, RecoveryCodes, ACR_MFA};
use crate::error::{Error, Result, ValidationError};
use crate::ids::{OrganizationId, UserId};
use crate::model::{Session, User};
use crate::ports::NewSecret;
use crate::values::SecretDigest;

/// How long a ceremony (its challenge) stays usable: the WebAuthn default
/// timeout of five minutes.
pub const CEREMONY_LIFETIME: Duration = Duration::minutes(5);
/// How many passkeys one user may register.
pub const MAX_PASSKEYS_PER_USER: usize = 20;
/// How recent a sign-in must be to add a passkey: a stolen or forgotten
/// session cannot plant a lasting credential of its own.
pub const REGISTRATION_SIGN_IN_WINDOW: Duration = Duration::minutes(5);
/// The longest response a browser may post (attestation objects are a few KiB).
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024;

/// The relying party: the public host is the RP ID of every organization
/// (the server's `public_url`), the origin the pages are served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    /// A registrable domain (`login.example.com`); never an IP address.
    pub id: String,
    /// `scheme://host[:port]` of the pages.
    pub origin: String,
    /// Shown by the authenticator (the organization's name).
    pub name: String,
}

/// A passkey's name, chosen by its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyName(String);

impl PasskeyName {
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(ValidationError::new("name", "must not be empty"));
        }
        if trimmed.chars().count() > 64 {
            return Err(ValidationError::new("name", "must be at most 64 characters"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ValidationError::new("name", "must not contain control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A registered passkey. `passkey` is the ceremony adapter's own record of
/// the credential (public key, counter, flags), opaque to the domain.
#[derive(Debug, Clone, PartialEq)]
pub struct PasskeyCredential {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    pub user_id: UserId,
    /// The authenticator's credential ID (unique per organization).
    pub credential_id: Vec<u8>,
    pub name: PasskeyName,
    pub passkey: Json,
    /// Backup eligible: a synced (multi-device) passkey.
    pub backup_eligible: bool,
    /// Backed up at its last use.
    pub backup_state: bool,
    pub sign_count: u32,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

impl PasskeyCredential {
    /// RFC 8176 values for this credential with user verification.
    pub fn amr(&self) -> [&'static str; 2] {
        [if self.backup_eligible { "swk" } else { "hwk" }, "user"]
    }
}

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyPurpose {
    /// Registering a passkey for `user_id`.
    Registration,
    /// The second factor of `user_id`'s pending login (or step-up).
    SecondFactor,
    /// Signing in with a discoverable passkey: no user known yet.
    Passwordless,
}

impl CeremonyPurpose {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::SecondFactor => "second_factor",
            Self::Passwordless => "passwordless",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "registration" => Some(Self::Registration),
            "second_factor" => Some(Self::SecondFactor),
            "passwordless" => Some(Self::Passwordless),
            _ => None,
        }
    }
}

/// A ceremony in flight: the adapter's state (challenge and what it
/// allows), found by the digest of a random handle the page carries. Single
/// use and short-lived; kept in the store so any instance can finish it.
#[derive(Debug, Clone, PartialEq)]
pub struct PasskeyCeremony {
    pub handle_digest: SecretDigest,
    pub organization_id: OrganizationId,
    pub purpose: CeremonyPurpose,
    /// The user it is for (`None` for passwordless).
    pub user_id: Option<UserId>,
    /// The session it belongs to (the signed-in or pending session), if any.
    pub session_id: Option<crate::ids::SessionId>,
    /// The passkey's name, for a registration.
    pub name: Option<String>,
    pub state: Json,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A started ceremony: what the page passes to `navigator.credentials`, and
/// the handle that names the stored state (shown once, stored as digest).
#[derive(Debug)]
pub struct StartedCeremony {
    pub options: Json,
    pub handle: NewSecret,
}

/// What the [`PasskeyCeremonies`] port returns when a ceremony starts.
#[derive(Debug, Clone)]
pub struct CeremonyStart {
    /// `PublicKeyCredentialCreationOptions` / `…RequestOptions` as JSON.
    pub options: Json,
    /// The state to keep until the response comes back.
    pub state: Json,
}

/// A verified registration.
#[derive(Debug, Clone)]
pub struct RegisteredPasskey {
    pub credential_id: Vec<u8>,
    pub passkey: Json,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub sign_count: u32,
}

/// A verified assertion of `credential_id`, and the credential record with
/// its counter and backup flags updated.
#[derive(Debug, Clone)]
pub struct VerifiedAssertion {
    pub updated_passkey: Json,
    pub sign_count: u32,
    pub backup_state: bool,
    pub user_verified: bool,
}

/// The WebAuthn relying-party operations (adapter: `zenoauth-crypto`, with
/// `webauthn-rs`). Responses are the browser's `PublicKeyCredential` as
/// JSON. `Ok(None)` means the response was refused (bad signature, wrong
/// origin or RP, wrong challenge, user verification missing, malformed);
/// `Err` only for a failure of the server itself.
pub trait PasskeyCeremonies: Send + Sync {
    /// Creation options (user verification required, a discoverable
    /// credential required) excluding `exclude`, and the state to keep.
    fn start_registration(
        &self,
        rp: &RelyingParty,
        user_handle: Uuid,
        user_name: &str,
        exclude: &[Vec<u8>],
    ) -> Result<CeremonyStart>;
    fn finish_registration(
        &self,
        rp: &RelyingParty,
        state: &Json,
        response: &Json,
    ) -> Result<Option<RegisteredPasskey>>;
    /// Request options allowing exactly `passkeys` (user verification required).
    fn start_authentication(&self, rp: &RelyingParty, passkeys: &[Json]) -> Result<CeremonyStart>;
    /// Request options for a discoverable credential (no allow list).
    fn start_discoverable(&self, rp: &RelyingParty) -> Result<CeremonyStart>;
    /// The credential ID and the user handle a response names (unverified).
    fn identify(&self, response: &Json) -> Option<(Vec<u8>, Option<Uuid>)>;
    /// Verifies an assertion by `passkey` against the state.
    fn finish_authentication(
        &self,
        rp: &RelyingParty,
        state: &Json,
        response: &Json,
        passkey: &Json,
    ) -> Result<Option<VerifiedAssertion>>;
}

/// The outcome of a passkey answer at the second step of a login.
#[derive(Debug)]
pub enum PasskeyOutcome {
    Passed {
        session: Box<Session>,
        cookie: NewSecret,
    },
    Refused,
    /// Too many wrong answers (of any factor): the pending session was ended.
    Locked,
}

/// Why an assertion was refused (the audit `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Unknown ceremony or credential, another user's, a bad signature,
    /// origin or challenge, no user verification.
    Assertion,
    /// Verified, but the signature counter did not advance past the stored
    /// one: a concurrent use of the same counter, or a cloned authenticator.
    Counter { user: UserId, credential: Uuid },
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Self::Assertion => "assertion",
            Self::Counter { .. } => "counter",
        }
    }
}

/// Whether the user has a second factor: a confirmed TOTP credential or a passkey.
pub async fn has_factor(stores: &crate::ports::Stores, organization: OrganizationId, user: UserId) -> Result<bool> {
    if stores.mfa.find_totp(organization, user).await?.is_some_and(|totp| totp.confirmed_at.is_some()) {
        return Ok(true);
    }
    Ok(!stores.passkeys.list_credentials(organization, user).await?.is_empty())
}

impl MultiFactor {
    fn ceremony_handle(&self) -> NewSecret {
        let mut bytes = [0u8; 32];
        self.random.fill(&mut bytes);
        let plaintext = format!("zpc_{}", bytes.iter().map(|byte| format!("{byte:02x}")).collect::<String>());
        let digest = self.oauth_crypto.digest_secret(&plaintext);
        NewSecret { plaintext, digest }
    }

    async fn store_ceremony(
        &self,
        organization: OrganizationId,
        purpose: CeremonyPurpose,
        user: Option<UserId>,
        session: Option<&Session>,
        name: Option<String>,
        start: CeremonyStart,
    ) -> Result<StartedCeremony> {
        let handle = self.ceremony_handle();
        let now = self.clock.now();
        let ceremony = PasskeyCeremony {
            handle_digest: handle.digest,
            organization_id: organization,
            purpose,
            user_id: user,
            session_id: session.map(|session| session.id),
            name,
            state: start.state,
            created_at: now,
            expires_at: now + CEREMONY_LIFETIME,
        };
        self.stores.passkeys.put_ceremony(&ceremony).await?;
        Ok(StartedCeremony { options: start.options, handle })
    }

    /// Takes (single use) the ceremony a handle names, if it is for
    /// `purpose` and has not expired.
    async fn take_ceremony(
        &self,
        organization: OrganizationId,
        handle: &str,
        purpose: CeremonyPurpose,
    ) -> Result<Option<PasskeyCeremony>> {
        if handle.is_empty() || handle.len() > 128 {
            return Ok(None);
        }
        let digest = self.oauth_crypto.digest_secret(handle);
        let ceremony = self.stores.passkeys.take_ceremony(organization, &digest, self.clock.now()).await?;
        Ok(ceremony.filter(|ceremony| ceremony.purpose == purpose))
    }

    /// The user's passkeys, oldest first.
    pub async fn passkeys(&self, organization: OrganizationId, user: UserId) -> Result<Vec<PasskeyCredential>> {
        self.stores.passkeys.list_credentials(organization, user).await
    }

    /// Starts registering a passkey named `name` for the user of `session`.
    /// `Err(Unauthorized)` unless the session's sign-in is at most
    /// [`REGISTRATION_SIGN_IN_WINDOW`] old: the user must sign in again.
    pub async fn begin_passkey_registration(
        &self,
        rp: &RelyingParty,
        user: &User,
        session: &Session,
        name: &str,
    ) -> Result<StartedCeremony> {
        if self.clock.now() - session.authenticated_at > REGISTRATION_SIGN_IN_WINDOW {
            return Err(Error::Unauthorized);
        }
        let name = PasskeyName::parse(name)?;
        let existing = self.passkeys(user.organization_id, user.id).await?;
        if existing.len() >= MAX_PASSKEYS_PER_USER {
            return Err(Error::Conflict("passkey_limit"));
        }
        let exclude: Vec<Vec<u8>> = existing.iter().map(|passkey| passkey.credential_id.clone()).collect();
        let start = self.ceremonies.start_registration(rp, user.id.as_uuid(), user.email.as_str(), &exclude)?;
        self.store_ceremony(
            user.organization_id,
            CeremonyPurpose::Registration,
            Some(user.id),
            Some(session),
            Some(name.as_str().to_owned()),
            start,
        )
        .await
    }

    /// Finishes a registration begun by the same session. On success the
    /// passkey is stored; when it is the user's first factor, ten recovery
    /// codes are issued (shown once). `Ok(None)` when refused;
    /// `Err(Unauthorized)` when the ceremony began outside
    /// [`REGISTRATION_SIGN_IN_WINDOW`] of the sign-in.
    pub async fn finish_passkey_registration(
        &self,
        rp: &RelyingParty,
        session: &Session,
        handle: &str,
        response: &Json,
    ) -> Result<Option<(PasskeyCredential, Option<RecoveryCodes>)>> {
        let organization = session.organization_id;
        let user = session.user_id;
        let Some(ceremony) = self.take_ceremony(organization, handle, CeremonyPurpose::Registration).await? else {
            return Ok(None);
        };
        if ceremony.user_id != Some(user) || ceremony.session_id != Some(session.id) {
            return Ok(None);
        }
        // Begun within the window (as begin checked); the ceremony's own lifetime bounds the finish.
        if ceremony.created_at - session.authenticated_at > REGISTRATION_SIGN_IN_WINDOW {
            return Err(Error::Unauthorized);
        }
        let Some(registered) = self.ceremonies.finish_registration(rp, &ceremony.state, response)? else {
            return Ok(None);
        };
        let name = PasskeyName::parse(ceremony.name.as_deref().unwrap_or_default())?;
        let had_factor = has_factor(&self.stores, organization, user).await?;
        let now = self.clock.now();
        let credential = PasskeyCredential {
            id: self.ids.uuid(),
            organization_id: organization,
            user_id: user,
            credential_id: registered.credential_id,
            name,
            passkey: registered.passkey,
            backup_eligible: registered.backup_eligible,
            backup_state: registered.backup_state,
            sign_count: registered.sign_count,
            created_at: now,
            last_used_at: None,
        };
        match self.stores.passkeys.create_credential(&credential).await {
            Ok(()) => {}
            // Registered already (here or in another organization's account of the same person).
            Err(Error::Conflict(_)) => return Ok(None),
            Err(error) => return Err(error),
        }
        let codes = if had_factor { None } else { Some(self.issue_recovery_codes(organization, user).await?) };
        self.emit(
            organization,
            event_types::MFA_ENROLLED,
            user,
            json!({"factor": "webauthn", "method": "webauthn", "credential": credential.id.to_string(),
                   "backup_eligible": credential.backup_eligible}),
        );
        Ok(Some((credential, codes)))
    }

    /// Renames one of the user's passkeys; `Ok(false)` when there is no such passkey.
    pub async fn rename_passkey(
        &self,
        organization: OrganizationId,
        user: UserId,
        id: Uuid,
        name: &str,
    ) -> Result<bool> {
        let name = PasskeyName::parse(name)?;
        self.stores.passkeys.rename_credential(organization, user, id, &name).await
    }

    /// Removes one of the user's passkeys. When it was the user's last
    /// factor, the recovery codes go too: under `required` the next login
    /// leads to enrolment again (as after turning TOTP off).
    pub async fn remove_passkey(&self, organization: OrganizationId, user: UserId, id: Uuid) -> Result<bool> {
        let removed = self.stores.passkeys.delete_credential(organization, user, id).await?;
        if removed {
            if !has_factor(&self.stores, organization, user).await? {
                self.stores.mfa.delete_for_user(organization, user).await?;
            }
            self.emit(
                organization,
                event_types::MFA_REMOVED,
                user,
                json!({"factor": "webauthn", "method": "webauthn", "credential": id.to_string()}),
            );
        }
        Ok(removed)
    }

    /// Starts the passkey answer to a pending login's challenge (or a
    /// step-up); `Ok(None)` when the user has no passkey.
    pub async fn begin_passkey_challenge(
        &self,
        rp: &RelyingParty,
        pending: &Session,
    ) -> Result<Option<StartedCeremony>> {
        let passkeys = self.passkeys(pending.organization_id, pending.user_id).await?;
        if passkeys.is_empty() {
            return Ok(None);
        }
        let records: Vec<Json> = passkeys.into_iter().map(|passkey| passkey.passkey).collect();
        let start = self.ceremonies.start_authentication(rp, &records)?;
        let started = self
            .store_ceremony(
                pending.organization_id,
                CeremonyPurpose::SecondFactor,
                Some(pending.user_id),
                Some(pending),
                None,
                start,
            )
            .await?;
        Ok(Some(started))
    }

    /// Verifies an assertion against a stored ceremony: the credential must
    /// be registered in the organization (to `user` when given) and the
    /// signature, origin, challenge and user verification right. Updates
    /// the credential's counter and backup flags — only when the counter
    /// advanced past the stored one (compare-and-swap): a concurrent
    /// assertion that read the same counter is refused as
    /// [`Refusal::Counter`] (a possible cloned authenticator).
    async fn verify_assertion(
        &self,
        rp: &RelyingParty,
        ceremony: &PasskeyCeremony,
        user: Option<UserId>,
        response: &Json,
    ) -> Result<std::result::Result<PasskeyCredential, Refusal>> {
        let organization = ceremony.organization_id;
        let Some((credential_id, user_handle)) = self.ceremonies.identify(response) else {
            return Ok(Err(Refusal::Assertion));
        };
        let Some(mut credential) = self.stores.passkeys.find_credential(organization, &credential_id).await? else {
            return Ok(Err(Refusal::Assertion));
        };
        if user.is_some_and(|user| user != credential.user_id)
            || user_handle.is_some_and(|handle| handle != credential.user_id.as_uuid())
        {
            return Ok(Err(Refusal::Assertion));
        }
        let Some(verified) =
            self.ceremonies.finish_authentication(rp, &ceremony.state, response, &credential.passkey)?
        else {
            return Ok(Err(Refusal::Assertion));
        };
        if !verified.user_verified {
            return Ok(Err(Refusal::Assertion));
        }
        let now = self.clock.now();
        let updated = self
            .stores
            .passkeys
            .record_use(
                organization,
                credential.id,
                &verified.updated_passkey,
                verified.sign_count,
                verified.backup_state,
                now,
            )
            .await?;
        if !updated {
            return Ok(Err(Refusal::Counter { user: credential.user_id, credential: credential.id }));
        }
        credential.passkey = verified.updated_passkey;
        credential.sign_count = verified.sign_count;
        credential.backup_state = verified.backup_state;
        credential.last_used_at = Some(now);
        Ok(Ok(credential))
    }

    /// Answers a pending login's challenge with a passkey assertion, exactly
    /// as [`MultiFactor::answer_challenge`] answers a code: refused while
    /// the challenge is locked; a refusal (unknown, expired or foreign
    /// ceremony, bad assertion, counter that did not advance) is counted
    /// like a wrong code and can lock it; a pass clears the count.
    pub async fn answer_passkey_challenge(
        &self,
        rp: &RelyingParty,
        pending: &Session,
        handle: &str,
        response: &Json,
    ) -> Result<PasskeyOutcome> {
        let organization = pending.organization_id;
        let user = pending.user_id;
        if self.challenge_is_locked(pending).await? {
            return Ok(PasskeyOutcome::Locked);
        }
        let ceremony = self
            .take_ceremony(organization, handle, CeremonyPurpose::SecondFactor)
            .await?
            .filter(|ceremony| ceremony.user_id == Some(user) && ceremony.session_id == Some(pending.id));
        let verified = match ceremony {
            Some(ceremony) => self.verify_assertion(rp, &ceremony, Some(user), response).await?,
            None => Err(Refusal::Assertion),
        };
        let credential = match verified {
            Ok(credential) => credential,
            Err(refusal) => {
                let details = json!({"factor": "webauthn", "reason": refusal.as_str()});
                if self.count_challenge_failure(pending, details).await? {
                    return Ok(PasskeyOutcome::Locked);
                }
                return Ok(PasskeyOutcome::Refused);
            }
        };
        self.clear_challenge_failures(pending).await?;
        let first_factor = super::amr_of(pending);
        let mut amr: Vec<&str> = first_factor.iter().map(String::as_str).filter(|value| *value != "mfa").collect();
        amr.extend(credential.amr());
        amr.push(ACR_MFA);
        let (session, cookie) = self.upgrade(pending, &amr).await?;
        self.emit(
            organization,
            event_types::MFA_USED,
            user,
            json!({"factor": "webauthn", "method": "webauthn", "credential": credential.id.to_string(),
                   "session_id": session.id.to_string()}),
        );
        Ok(PasskeyOutcome::Passed { session: Box::new(session), cookie })
    }

    /// Starts a passwordless sign-in (any discoverable passkey of this RP).
    pub async fn begin_passwordless(&self, rp: &RelyingParty, organization: OrganizationId) -> Result<StartedCeremony> {
        let start = self.ceremonies.start_discoverable(rp)?;
        self.store_ceremony(organization, CeremonyPurpose::Passwordless, None, None, None, start).await
    }

    /// Finishes a passwordless sign-in: the active user whose passkey (in
    /// this organization) signed the challenge with user verification, and
    /// the `amr` earned. `Ok(None)` for every refusal alike.
    pub async fn finish_passwordless(
        &self,
        rp: &RelyingParty,
        organization: OrganizationId,
        handle: &str,
        response: &Json,
    ) -> Result<Option<(User, Vec<&'static str>)>> {
        let Some(ceremony) = self.take_ceremony(organization, handle, CeremonyPurpose::Passwordless).await? else {
            return Ok(None);
        };
        let Some((_, Some(_))) = self.ceremonies.identify(response) else {
            // A discoverable credential names its user (the user handle).
            return Ok(None);
        };
        let credential = match self.verify_assertion(rp, &ceremony, None, response).await? {
            Ok(credential) => credential,
            Err(Refusal::Counter { user, credential }) => {
                // No pending session to count against: audited (a possible clone), refused alike.
                let details = json!({"factor": "webauthn", "reason": "counter", "credential": credential.to_string(),
                                     "passwordless": true});
                self.emit(organization, event_types::MFA_FAILED, user, details);
                return Ok(None);
            }
            Err(Refusal::Assertion) => return Ok(None),
        };
        let user = match self.stores.users.get(organization, credential.user_id).await {
            Ok(user) if user.is_active => user,
            Ok(_) | Err(Error::NotFound(_)) => return Ok(None),
            Err(error) => return Err(error),
        };
        self.emit(
            organization,
            event_types::MFA_USED,
            user.id,
            json!({"factor": "webauthn", "method": "webauthn", "credential": credential.id.to_string(),
                   "passwordless": true}),
        );
        let mut amr = credential.amr().to_vec();
        amr.push(ACR_MFA);
        Ok(Some((user, amr)))
    }

    /// Whether a pending session may answer with a passkey.
    pub async fn offers_passkey(&self, pending: &Session) -> Result<bool> {
        Ok(Pending::of(pending) == Some(Pending::Challenge)
            && !self.passkeys(pending.organization_id, pending.user_id).await?.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(PasskeyName::parse("  Laptop ").unwrap().as_str(), "Laptop");
        assert!(PasskeyName::parse("   ").is_err());
        assert!(PasskeyName::parse(&"x".repeat(65)).is_err());
        assert!(PasskeyName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn purposes_round_trip() {
        for purpose in [CeremonyPurpose::Registration, CeremonyPurpose::SecondFactor, CeremonyPurpose::Passwordless] {
            assert_eq!(CeremonyPurpose::parse(purpose.as_str()), Some(purpose));
        }
    }
}
