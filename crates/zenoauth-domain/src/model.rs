//! The entities ZenoAuth stores. Plain records of valid values: every field is
//! a parsed value object or a typed id, so a store can only hold what the
//! domain accepted.

use std::fmt;

use serde_json::Value as Json;
use time::OffsetDateTime;

use crate::ids::{
    ApplicationId, AuditEventId, AuthorizationCodeId, OrganizationId, RefreshTokenFamilyId, SessionId, SigningKeyId,
    UserId,
};
use crate::values::{ClientId, DisplayName, Email, PasswordHash, RedirectUri, ScopeSet, SecretDigest, Slug};

/// A tenant. Its issuer is `{public_url}/o/{slug}`; nothing crosses tenants.
#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    pub id: OrganizationId,
    pub slug: Slug,
    pub name: DisplayName,
    /// Free-form settings (branding, policies), a JSON object.
    pub settings: Json,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A person who can log in to one organization.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub organization_id: OrganizationId,
    /// Unique within the organization, case-insensitively (it is normalised).
    pub email: Email,
    pub email_verified: bool,
    /// `None` for users without a password (invited, or federated).
    pub password_hash: Option<PasswordHash>,
    /// Flexible attributes (a JSON object), indexed for equality search.
    pub profile: Json,
    pub is_active: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Whether an application can keep a secret (RFC 6749 §2.1).
#[derive(Clone, PartialEq, Eq)]
pub enum ClientType {
    /// Authenticates with a secret, of which only the digest is kept.
    Confidential { secret_digest: SecretDigest },
    /// A browser or native app: no secret, PKCE only.
    Public,
}

impl ClientType {
    pub fn secret_digest(&self) -> Option<&SecretDigest> {
        match self {
            Self::Confidential { secret_digest } => Some(secret_digest),
            Self::Public => None,
        }
    }

    pub fn is_confidential(&self) -> bool {
        matches!(self, Self::Confidential { .. })
    }
}

impl fmt::Debug for ClientType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_confidential() { "Confidential" } else { "Public" })
    }
}

/// An OAuth client registered in one organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub id: ApplicationId,
    pub organization_id: OrganizationId,
    /// Unique within the organization.
    pub client_id: ClientId,
    pub name: DisplayName,
    pub client_type: ClientType,
    pub redirect_uris: Vec<RedirectUri>,
    pub allowed_scopes: ScopeSet,
    /// Grant types, lifetimes, signing algorithm and other per-client settings.
    pub settings: Json,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A user's login session at the hosted pages. The cookie holds the secret;
/// the store holds its digest.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: SessionId,
    pub organization_id: OrganizationId,
    pub user_id: UserId,
    pub token_digest: SecretDigest,
    /// When the user last proved who they are (OIDC `auth_time`).
    pub authenticated_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    /// The absolute end of the session.
    pub expires_at: OffsetDateTime,
    /// The last recorded use; the idle timeout counts from here
    /// (`SessionStore::touch` moves it, at most about once a minute).
    pub last_seen_at: OffsetDateTime,
    /// IP, user agent, authentication methods, as a JSON object.
    pub metadata: Json,
}

/// A PKCE code challenge with its method. Only S256 is accepted (RFC 9700 §2.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Accepts the base64url SHA-256 of a verifier: 43 characters of `[A-Za-z0-9_-]`.
    pub fn parse_s256(text: &str) -> Result<Self, crate::error::ValidationError> {
        let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if text.len() != 43 || !text.bytes().all(base64url) {
            return Err(crate::error::ValidationError::new(
                "code_challenge",
                "must be the 43-character base64url S256 challenge",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An issued authorization code, kept until it expires so that a replay can be
/// recognised (and the tokens issued from it revoked, RFC 6749 §4.1.2).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationCode {
    pub id: AuthorizationCodeId,
    pub organization_id: OrganizationId,
    pub code_digest: SecretDigest,
    pub application_id: ApplicationId,
    pub user_id: UserId,
    pub session_id: Option<SessionId>,
    pub redirect_uri: RedirectUri,
    pub scope: ScopeSet,
    pub code_challenge: CodeChallenge,
    pub nonce: Option<String>,
    pub auth_time: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// Set once, by the one consumer that redeems the code.
    pub consumed_at: Option<OffsetDateTime>,
}

/// What happened when a code was presented.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeRedemption {
    /// This caller redeemed the code; it is now consumed.
    Redeemed(AuthorizationCode),
    /// The code had already been redeemed: a replay. Carries the code so the
    /// caller can revoke what was issued from it.
    Replayed(AuthorizationCode),
}

/// Every refresh token rotated from one grant shares a family; reuse of a
/// rotated token revokes the whole family (RFC 9700 §4.14.2).
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshTokenFamily {
    pub id: RefreshTokenFamilyId,
    pub organization_id: OrganizationId,
    pub application_id: ApplicationId,
    pub user_id: Option<UserId>,
    pub session_id: Option<SessionId>,
    /// The code this family was issued from, so a code replay can revoke it.
    pub authorization_code_id: Option<AuthorizationCodeId>,
    pub scope: ScopeSet,
    pub auth_time: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    /// The family's absolute end, whatever the rotations.
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

/// One refresh token of a family. Only the current token is usable.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshToken {
    pub token_digest: SecretDigest,
    pub family_id: RefreshTokenFamilyId,
    pub organization_id: OrganizationId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// Set when this token was exchanged for its successor.
    pub rotated_at: Option<OffsetDateTime>,
}

/// What happened when a refresh token was presented for rotation.
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshRotation {
    /// The presented token was current; it is now rotated to the new one.
    Rotated(RefreshTokenFamily),
    /// The presented token had already been rotated: the family is now revoked.
    ReuseDetected(RefreshTokenFamily),
}

/// A revoked access token, by `jti`, kept until the token would have expired.
#[derive(Debug, Clone, PartialEq)]
pub struct Revocation {
    pub organization_id: OrganizationId,
    pub jti: String,
    pub revoked_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// JWS algorithms ZenoAuth signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    EdDsa,
    Es256,
    Rs256,
}

impl SigningAlgorithm {
    /// The JOSE `alg` name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }

    pub fn parse(text: &str) -> Result<Self, crate::error::ValidationError> {
        match text {
            "EdDSA" => Ok(Self::EdDsa),
            "ES256" => Ok(Self::Es256),
            "RS256" => Ok(Self::Rs256),
            _ => Err(crate::error::ValidationError::new("alg", "must be EdDSA, ES256 or RS256")),
        }
    }
}

/// Where a key is in its life: `Pending` keys are published (in JWKS) but do
/// not sign yet, so verifiers' cached key sets learn them first; a key signs
/// while `Active`; once `Retired` it only verifies (stays in JWKS) until every
/// token it signed has expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Pending,
    Active,
    Retired,
}

impl KeyState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }

    pub fn parse(text: &str) -> Result<Self, crate::error::ValidationError> {
        match text {
            "pending" => Ok(Self::Pending),
            "active" => Ok(Self::Active),
            "retired" => Ok(Self::Retired),
            _ => Err(crate::error::ValidationError::new("state", "must be pending, active or retired")),
        }
    }
}

/// An organization's signing key. The private half is stored only encrypted
/// under the key-encryption key.
#[derive(Clone, PartialEq)]
pub struct SigningKey {
    pub id: SigningKeyId,
    pub organization_id: OrganizationId,
    pub algorithm: SigningAlgorithm,
    pub state: KeyState,
    /// The public key as a JWK (JSON object), ready for the JWKS document.
    pub public_jwk: Json,
    /// AEAD ciphertext of the private key (nonce included), opaque to the domain.
    pub encrypted_private_key: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub retired_at: Option<OffsetDateTime>,
    /// After this instant the key is no longer published (all its tokens expired).
    pub expires_at: Option<OffsetDateTime>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .field("organization_id", &self.organization_id)
            .field("algorithm", &self.algorithm)
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// A security-relevant event, written to the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub organization_id: OrganizationId,
    pub occurred_at: OffsetDateTime,
    /// Dotted event type, e.g. `user.created`, `login.failed`.
    pub event_type: String,
    /// Who acted (a user id, client id or `system`).
    pub actor: Option<String>,
    /// What was acted on.
    pub subject: Option<String>,
    pub correlation_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Details, e.g. before and after of an admin change.
    pub data: Json,
}

/// A user's remembered consent to one application, for a set of scopes. A
/// request whose scopes are a subset of `scope` needs no new consent.
#[derive(Debug, Clone, PartialEq)]
pub struct Consent {
    pub organization_id: OrganizationId,
    pub user_id: UserId,
    pub application_id: ApplicationId,
    pub scope: ScopeSet,
    pub granted_at: OffsetDateTime,
}

/// The failed-login counter of one key (an account or a source address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttempts {
    pub organization_id: OrganizationId,
    pub key: String,
    /// Failures since `window_started_at`.
    pub failures: u32,
    pub window_started_at: OffsetDateTime,
    pub last_failed_at: OffsetDateTime,
    /// While in the future, logins for the key are refused (uniformly).
    pub locked_until: Option<OffsetDateTime>,
}

impl LoginAttempts {
    pub fn is_locked_at(&self, now: OffsetDateTime) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
}
