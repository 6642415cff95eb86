//! Use cases of the OpenID Provider (issue 3): authorization requests,
//! login sessions, consent, the token endpoint's grants, userinfo,
//! introspection, revocation and RP-initiated logout. Everything here talks
//! only to ports; the server parses HTTP into [`Params`] and renders what
//! these functions decide.
//!
//! Specifications: RFC 6749 (OAuth 2.0), RFC 7636 (PKCE), RFC 9700 (OAuth
//! security BCP), RFC 9207 (`iss` in authorization responses), RFC 9068 (JWT
//! access tokens), RFC 7662 (introspection), RFC 7009 (revocation), RFC 7523
//! (`private_key_jwt`), OpenID Connect Core 1.0, RP-Initiated Logout 1.0.

mod authorize;
mod base64url;
mod federated;
pub(crate) mod federation_link;
mod logout;
mod resource;
mod session;
pub mod settings;
mod token;

use std::sync::Arc;

use crate::error::Error;
use crate::ids::IdGenerator;
use crate::keys::KeyRing;
use crate::model::Organization;
use crate::ports::{AuditSink, Clock, OAuthCrypto, PasswordHasher, RandomSource, Stores, TokenSigner, TokenVerifier};

pub use authorize::{AuthorizationRequest, AuthorizeRejection, Prompt, RedirectResponse, ResponseMode, Step};
pub use federated::{FederatedLoginError, UpstreamIdentity, FEDERATION_LINKED, FEDERATION_LOGIN_FAILED};
pub use federation_link::{
    LinkProof, LinkProofError, UnlinkError, Unlinker, FEDERATION_UNLINKED, LINK_METHOD_PASSWORD, PENDING_LINK_LIFETIME,
};
pub use logout::{EndSessionOutcome, EndSessionRequest};
pub use resource::BearerError;
pub use session::{LoginError, LoginSuccess};
pub use token::{admin_audience, ClientCredentials, TokenResponse};

/// The `typ` header of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// The `typ` header of ID tokens.
pub const ID_TOKEN_TYP: &str = "JWT";
/// The scopes ZenoAuth itself defines.
pub const STANDARD_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// OAuth 2.0 / OIDC error codes (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1;
/// OIDC Core §3.1.2.6; RFC 7009 §2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UnsupportedTokenType,
    InvalidScope,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
        }
    }
}

/// Why an OAuth request failed: a protocol error the client is told about,
/// or an internal failure (logged by the server, answered as `server_error`).
#[derive(Debug)]
pub enum OAuthError {
    Protocol { code: ErrorCode, description: &'static str },
    Internal(Error),
}

impl OAuthError {
    pub const fn new(code: ErrorCode, description: &'static str) -> Self {
        Self::Protocol { code, description }
    }

    pub const fn invalid_request(description: &'static str) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub const fn invalid_client() -> Self {
        Self::new(ErrorCode::InvalidClient, "client authentication failed")
    }

    pub const fn invalid_grant(description: &'static str) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// The error code, `server_error` for internal failures.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Protocol { code, .. } => *code,
            Self::Internal(_) => ErrorCode::ServerError,
        }
    }
}

impl From<Error> for OAuthError {
    fn from(error: Error) -> Self {
        Self::Internal(error)
    }
}

/// The parameters of one OAuth request (query or form), in arrival order.
/// RFC 6749 §3.1: a parameter may appear at most once, and one sent without
/// a value counts as omitted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// At most this many parameters per request.
    pub const MAX_PARAMS: usize = 64;
    /// At most this many bytes in one value.
    pub const MAX_VALUE_BYTES: usize = 8192;

    /// Refuses more than [`Self::MAX_PARAMS`] parameters or a value longer
    /// than [`Self::MAX_VALUE_BYTES`].
    pub fn new(pairs: Vec<(String, String)>) -> Result<Self, OAuthError> {
        if pairs.len() > Self::MAX_PARAMS {
            return Err(OAuthError::invalid_request("too many parameters"));
        }
        if pairs.iter().any(|(name, value)| name.len() > 128 || value.len() > Self::MAX_VALUE_BYTES) {
            return Err(OAuthError::invalid_request("a parameter is too long"));
        }
        Ok(Self(pairs))
    }

    /// The value of `name`; `None` when absent or empty; `invalid_request`
    /// when repeated.
    pub fn get(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut found = None;
        for (key, value) in &self.0 {
            if key == name && !value.is_empty() {
                if found.is_some() {
                    return Err(OAuthError::invalid_request("a parameter was repeated"));
                }
                found = Some(value.as_str());
            }
        }
        Ok(found)
    }

    /// Like [`Self::get`], but a missing value is `invalid_request`.
    pub fn require(&self, name: &str, missing: &'static str) -> Result<&str, OAuthError> {
        self.get(name)?.ok_or(OAuthError::invalid_request(missing))
    }

    /// Whether any parameter is repeated (with a value).
    pub fn has_repeats(&self) -> bool {
        let mut names: Vec<&str> =
            self.0.iter().filter(|(_, value)| !value.is_empty()).map(|(name, _)| name.as_str()).collect();
        names.sort_unstable();
        names.windows(2).any(|pair| pair[0] == pair[1])
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

/// The organization a request is for, with its issuer URL
/// (`{public_url}/o/{slug}`).
#[derive(Debug, Clone)]
pub struct Issuer {
    pub organization: Organization,
    pub url: String,
}

impl Issuer {
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.url)
    }
}

/// The OpenID Provider's use cases over the ports. Cheap to build per request.
#[derive(Clone)]
pub struct OpenIdProvider {
    stores: Stores,
    hasher: Arc<dyn PasswordHasher>,
    signer: Arc<dyn TokenSigner>,
    verifier: Arc<dyn TokenVerifier>,
    crypto: Arc<dyn OAuthCrypto>,
    clock: Arc<dyn Clock>,
    keys: KeyRing,
    ids: IdGenerator,
    audit: Arc<dyn AuditSink>,
}

impl std::fmt::Debug for OpenIdProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenIdProvider").finish_non_exhaustive()
    }
}

/// The non-store ports [`OpenIdProvider`] needs.
#[derive(Clone)]
pub struct ProviderPorts {
    pub hasher: Arc<dyn PasswordHasher>,
    pub signer: Arc<dyn TokenSigner>,
    pub verifier: Arc<dyn TokenVerifier>,
    pub crypto: Arc<dyn OAuthCrypto>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn RandomSource>,
    /// The organizations' signing keys (with the operator's rotation policy).
    pub keys: KeyRing,
    /// Where logins, token issuance, revocation and logout are audited.
    pub audit: Arc<dyn AuditSink>,
}

impl std::fmt::Debug for ProviderPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderPorts").finish_non_exhaustive()
    }
}

impl OpenIdProvider {
    pub fn new(stores: Stores, ports: ProviderPorts) -> Self {
        let keys = ports.keys;
        let ids = IdGenerator::new(ports.clock.clone(), ports.random);
        Self {
            stores,
            hasher: ports.hasher,
            signer: ports.signer,
            verifier: ports.verifier,
            crypto: ports.crypto,
            clock: ports.clock,
            keys,
            ids,
            audit: ports.audit,
        }
    }

    /// Emits an audit event (the sink adds the request's context).
    fn emit(
        &self,
        organization: crate::ids::OrganizationId,
        event_type: &str,
        actor: Option<String>,
        subject: Option<String>,
        data: serde_json::Value,
    ) {
        let id = self.ids.next();
        let event =
            crate::security::audit::audit_event(id, organization, self.clock.now(), event_type, actor, subject, data);
        self.audit.record(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()).unwrap()
    }

    #[test]
    fn repeated_parameters_are_invalid_and_empty_ones_absent() {
        let p = params(&[("a", "1"), ("b", ""), ("c", "x"), ("c", "y"), ("d", ""), ("d", "2")]);
        assert_eq!(p.get("a").unwrap(), Some("1"));
        assert_eq!(p.get("b").unwrap(), None);
        assert_eq!(p.get("d").unwrap(), Some("2"));
        assert_eq!(p.get("c").unwrap_err().code(), ErrorCode::InvalidRequest);
        assert!(p.has_repeats());
        assert!(!params(&[("a", "1"), ("b", "2")]).has_repeats());
        assert!(p.require("zzz", "missing").is_err());
    }

    #[test]
    fn oversized_requests_are_refused() {
        let many: Vec<(String, String)> = (0..65).map(|i| (format!("p{i}"), "v".to_owned())).collect();
        assert!(Params::new(many).is_err());
        assert!(Params::new(vec![("a".to_owned(), "x".repeat(8193))]).is_err());
    }
}
