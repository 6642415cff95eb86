//! The HTTP client the server uses to talk to upstream identity providers
//! (OpenID Connect, and plain OAuth 2.0 with a userinfo endpoint): rustls on
//! the aws-lc-rs provider with the webpki roots, a bounded timeout per
//! request (`federation.upstream_timeout_seconds`), no redirects. Discovery documents are cached per issuer; the JWKS is
//! refetched when a token names an unknown `kid` (key rotation), at most
//! once per [`JWKS_REFETCH_INTERVAL`] per issuer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value as Json;
use time::OffsetDateTime;
use zenoauth_domain::ports::{Clock, OAuthCrypto};

/// How long a discovery document is trusted before it is fetched again.
const METADATA_LIFETIME: time::Duration = time::Duration::hours(1);
/// The least time between two JWKS fetches of one issuer.
pub const JWKS_REFETCH_INTERVAL: time::Duration = time::Duration::seconds(60);
/// The default bound on one whole upstream request
/// (`federation.upstream_timeout_seconds`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a connection may take to open, whatever the whole timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest upstream response body read.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why a call to an upstream failed; safe to name on an error page.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the identity provider did not answer in time")]
    Timeout,
    #[error("the identity provider could not be reached")]
    Unreachable,
    #[error("the identity provider answered unexpectedly: {0}")]
    BadResponse(&'static str),
    #[error("the identity provider refused the request: {0}")]
    Refused(String),
    #[error("the identity provider's ID token is not valid: {0}")]
    InvalidToken(&'static str),
}

impl From<reqwest::Error> for UpstreamError {
    fn from(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout
        } else if error.is_connect() || error.is_request() {
            Self::Unreachable
        } else {
            Self::BadResponse("unreadable response")
        }
    }
}

/// What ZenoAuth needs from an upstream's discovery document.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
}

impl ProviderMetadata {
    /// The endpoints an administrator configured for a plain OAuth 2.0
    /// provider (no discovery, no JWKS: there is no ID token to verify).
    pub fn configured(issuer: &str, authorization: &str, token: &str, userinfo: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            authorization_endpoint: authorization.to_owned(),
            token_endpoint: token.to_owned(),
            jwks_uri: String::new(),
            userinfo_endpoint: Some(userinfo.to_owned()),
        }
    }
}

/// The upstream token response (only what is used; the upstream tokens stay
/// here and are never handed to applications).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub id_token: Option<String>,
}

#[derive(Debug, Clone)]
struct IssuerCache {
    metadata: ProviderMetadata,
    metadata_fetched_at: OffsetDateTime,
    jwks: Option<Json>,
    jwks_fetched_at: Option<OffsetDateTime>,
}

/// Talks to upstream providers. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct UpstreamClient {
    /// `None` when the client could not be built (TLS setup failed): every
    /// call then fails as [`UpstreamError::Unreachable`].
    http: Option<reqwest::Client>,
    clock: Arc<dyn Clock>,
    cache: Arc<Mutex<HashMap<String, IssuerCache>>>,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient").finish_non_exhaustive()
    }
}

impl UpstreamClient {
    /// A client with `timeout` for each whole request (and a shorter connect
    /// timeout), TLS by rustls on aws-lc-rs with the webpki roots.
    ///
    /// Also makes aws-lc-rs the process-wide rustls provider if none is set:
    /// reqwest is built without a provider of its own (no `ring`), and any
    /// other reqwest client of the process needs that default.
    pub fn new(clock: Arc<dyn Clock>, timeout: Duration) -> Self {
        crate::install_tls_provider();
        let http = match Self::build(timeout) {
            Ok(http) => Some(http),
            Err(error) => {
                tracing::error!(%error, "the HTTP client for upstream identity providers could not be built");
                None
            }
        };
        Self { http, clock, cache: Arc::new(Mutex::new(HashMap::new())) }
    }

    fn build(timeout: Duration) -> Result<reqwest::Client, UpstreamError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|_| UpstreamError::BadResponse("TLS setup failed"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(timeout)
            .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ZenoAuth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| UpstreamError::BadResponse("HTTP client setup failed"))
    }

    fn http(&self) -> Result<&reqwest::Client, UpstreamError> {
        self.http.as_ref().ok_or(UpstreamError::Unreachable)
    }

    fn cached(&self, issuer: &str) -> Option<IssuerCache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).get(issuer).cloned()
    }

    fn store(&self, issuer: &str, entry: IssuerCache) {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).insert(issuer.to_owned(), entry);
    }

    async fn get_json(&self, url: &str) -> Result<Json, UpstreamError> {
        let response = self.http()?.get(url).header("accept", "application/json").send().await?;
        if !response.status().is_success() {
            return Err(UpstreamError::BadResponse("non-success status"));
        }
        read_json(response).await
    }

    /// The issuer's discovery document (cached), whose `issuer` must equal
    /// the configured one exactly (OIDC Discovery §4.3).
    pub async fn discover(&self, issuer: &str) -> Result<ProviderMetadata, UpstreamError> {
        let now = self.clock.now();
        if let Some(entry) = self.cached(issuer) {
            if now - entry.metadata_fetched_at < METADATA_LIFETIME {
                return Ok(entry.metadata);
            }
        }
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let document = self.get_json(&url).await?;
        let metadata: ProviderMetadata = serde_json::from_value(document)
            .map_err(|_| UpstreamError::BadResponse("discovery document lacks required fields"))?;
        if metadata.issuer != issuer {
            return Err(UpstreamError::BadResponse("discovery document names another issuer"));
        }
        self.store(
            issuer,
            IssuerCache { metadata: metadata.clone(), metadata_fetched_at: now, jwks: None, jwks_fetched_at: None },
        );
        Ok(metadata)
    }

    /// The authorization-code exchange (RFC 6749 §4.1.3 with the PKCE
    /// verifier), authenticating with `client_secret_basic` when there is a
    /// secret.
    pub async fn exchange_code(
        &self,
        metadata: &ProviderMetadata,
        client_id: &str,
        client_secret: Option<&str>,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenResponse, UpstreamError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ];
        let request = self.http()?.post(&metadata.token_endpoint).header("accept", "application/json");
        let request = match client_secret {
            Some(secret) => request.basic_auth(form_encode(client_id), Some(form_encode(secret))),
            None => {
                form.push(("client_id", client_id));
                request
            }
        };
        let response = request.form(&form).send().await?;
        let status = response.status();
        let body = read_json(response).await?;
        // Some OAuth 2.0 providers (GitHub) answer a refused code with 200
        // and an `error` member: that is a refusal too.
        if !status.is_success() || body.get("error").is_some() {
            let error = body.get("error").and_then(Json::as_str).unwrap_or("unknown error");
            return Err(UpstreamError::Refused(error.chars().take(100).collect()));
        }
        serde_json::from_value(body).map_err(|_| UpstreamError::BadResponse("malformed token response"))
    }

    /// The userinfo claims (OIDC Core §5.3) for the upstream access token.
    pub async fn userinfo(&self, endpoint: &str, access_token: &str) -> Result<Json, UpstreamError> {
        let response =
            self.http()?.get(endpoint).bearer_auth(access_token).header("accept", "application/json").send().await?;
        if !response.status().is_success() {
            return Err(UpstreamError::BadResponse("userinfo refused"));
        }
        let claims = read_json(response).await?;
        if claims.is_object() {
            Ok(claims)
        } else {
            Err(UpstreamError::BadResponse("userinfo is not a JSON object"))
        }
    }

    /// The claims of an upstream ID token whose signature verifies against
    /// the issuer's JWKS. An unknown `kid` refetches the JWKS once (rate
    /// limited per issuer). Claims are the caller's to check.
    pub async fn verify_signature(
        &self,
        crypto: &dyn OAuthCrypto,
        metadata: &ProviderMetadata,
        token: &str,
    ) -> Result<Json, UpstreamError> {
        let kid = header_kid(token);
        let mut entry = self.cached(&metadata.issuer).unwrap_or(IssuerCache {
            metadata: metadata.clone(),
            metadata_fetched_at: self.clock.now(),
            jwks: None,
            jwks_fetched_at: None,
        });
        let knows_kid = |jwks: &Json| match &kid {
            Some(kid) => jwks
                .get("keys")
                .and_then(Json::as_array)
                .is_some_and(|keys| keys.iter().any(|key| key.get("kid").and_then(Json::as_str) == Some(kid))),
            None => true,
        };
        let now = self.clock.now();
        let may_refetch = entry.jwks_fetched_at.is_none_or(|at| now - at >= JWKS_REFETCH_INTERVAL);
        let stale = entry.jwks.as_ref().is_none_or(|jwks| !knows_kid(jwks));
        if stale && may_refetch {
            let jwks = self.get_json(&metadata.jwks_uri).await?;
            entry.jwks = Some(jwks);
            entry.jwks_fetched_at = Some(now);
            self.store(&metadata.issuer, entry.clone());
        }
        let jwks = entry.jwks.ok_or(UpstreamError::InvalidToken("no keys"))?;
        crypto.verify_with_jwks(&jwks, token).map_err(|_| UpstreamError::InvalidToken("bad signature"))
    }
}

/// The upstream user's identifier from `claim` of `claims`: a non-empty
/// string of at most 255 characters, or an integer (GitHub's numeric `id`)
/// written in decimal.
pub fn subject_of(claims: &Json, claim: &str) -> Option<String> {
    match claims.get(claim)? {
        Json::String(text) if !text.is_empty() && text.len() <= 255 => Some(text.clone()),
        Json::Number(number) if number.is_i64() || number.is_u64() => Some(number.to_string()),
        _ => None,
    }
}

/// RFC 6749 §2.3.1: client credentials are form-encoded before Basic.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

async fn read_json(response: reqwest::Response) -> Result<Json, UpstreamError> {
    if response.content_length().is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(UpstreamError::BadResponse("response too large"));
    }
    let bytes = response.bytes().await?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(UpstreamError::BadResponse("response too large"));
    }
    serde_json::from_slice(&bytes).map_err(|_| UpstreamError::BadResponse("response is not JSON"))
}

/// The `kid` of a compact JWS header, if any.
fn header_kid(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let bytes = URL_SAFE_NO_PAD.decode(header).ok()?;
    let header: Json = serde_json::from_slice(&bytes).ok()?;
    header.get("kid").and_then(Json::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_strings_or_integers() {
        let claims = serde_json::json!({"id": 583231, "sub": "abc", "empty": "", "float": 1.5, "neg": -4,
            "list": ["a"], "long": "x".repeat(256)});
        assert_eq!(subject_of(&claims, "id").as_deref(), Some("583231"));
        assert_eq!(subject_of(&claims, "sub").as_deref(), Some("abc"));
        assert_eq!(subject_of(&claims, "neg").as_deref(), Some("-4"));
        for refused in ["empty", "float", "list", "long", "missing"] {
            assert_eq!(subject_of(&claims, refused), None, "{refused}");
        }
    }

    #[test]
    fn kid_is_read_from_the_header() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"k1"}"#);
        assert_eq!(header_kid(&format!("{header}.e30.sig")), Some("k1".to_owned()));
        assert_eq!(header_kid("not-a-token"), None);
    }
}
