//! Provider metadata: OpenID Connect Discovery 1.0 §4 at
//! `/o/{slug}/.well-known/openid-configuration`, and the same document as
//! RFC 8414 authorization-server metadata at
//! `/o/{slug}/.well-known/oauth-authorization-server` and at the §3.1 form
//! `/.well-known/oauth-authorization-server/o/{slug}`.
//!
//! The document differs between organizations only by the issuer, so it is
//! serialised once, with a marker where the issuer goes, and each response
//! splices the (JSON-escaped) issuer into those bytes.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use zenoauth_domain::keys::ALGORITHMS;

use super::Tenant;
use crate::http::AppState;

/// How long clients and caches may keep the document.
pub const DISCOVERY_CACHE_CONTROL: &str = "public, max-age=300";

/// Scopes the provider understands (applications may add their own).
pub const SCOPES_SUPPORTED: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Claims the provider can put in ID tokens and userinfo.
pub const CLAIMS_SUPPORTED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "sid",
    "azp",
    "at_hash",
    "email",
    "email_verified",
    // Scope `profile` (OpenID Connect Core §5.4), from the user's profile.
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "updated_at",
];

/// Stands in for the issuer in the pre-serialised document; it cannot occur
/// in a real issuer (`.invalid` is reserved, RFC 2606).
const ISSUER_MARKER: &str = "https://issuer.zenoauth.invalid";

/// The metadata document of `issuer`, as a JSON value (the source of the
/// served bytes, and handy for tests).
pub fn metadata(issuer: &str) -> serde_json::Value {
    let endpoint = |path: &str| format!("{issuer}{path}");
    let algorithms: Vec<&str> = ALGORITHMS.iter().map(|algorithm| algorithm.as_str()).collect();
    json!({
        "issuer": issuer,
        "authorization_endpoint": endpoint("/authorize"),
        "token_endpoint": endpoint("/token"),
        "userinfo_endpoint": endpoint("/userinfo"),
        "jwks_uri": endpoint("/jwks"),
        "end_session_endpoint": endpoint("/end_session"),
        "introspection_endpoint": endpoint("/introspect"),
        "revocation_endpoint": endpoint("/revoke"),
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms,
        "token_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA", "ES256", "RS256"],
        "claims_supported": CLAIMS_SUPPORTED,
        "prompt_values_supported": ["none", "login", "consent"],
        // crate::http::mfa: `mfa` (a second factor was used; requestable with acr_values) or `0`.
        "acr_values_supported": ["0", "mfa"],
        "authorization_response_iss_parameter_supported": true,
        // Discovery 1.0 §3 defaults request_uri_parameter_supported to true: say no explicitly.
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
    })
}

/// The pre-serialised document, split at the issuer marker.
fn template() -> &'static [String] {
    static TEMPLATE: OnceLock<Vec<String>> = OnceLock::new();
    TEMPLATE.get_or_init(|| metadata(ISSUER_MARKER).to_string().split(ISSUER_MARKER).map(str::to_owned).collect())
}

/// The serialised document of `issuer`.
pub fn render(issuer: &str) -> Vec<u8> {
    let quoted = serde_json::Value::from(issuer).to_string();
    let escaped = quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default();
    let parts = template();
    let length = parts.iter().map(String::len).sum::<usize>() + escaped.len() * parts.len();
    let mut body = Vec::with_capacity(length);
    for (index, part) in parts.iter().enumerate() {
        if index > 0 {
            body.extend_from_slice(escaped.as_bytes());
        }
        body.extend_from_slice(part.as_bytes());
    }
    body
}

/// `GET /o/{slug}/.well-known/openid-configuration` (also the RFC 8414 paths).
pub async fn provider_metadata(State(state): State<AppState>, tenant: Tenant) -> Response {
    let body = render(&tenant.issuer(&state));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static(DISCOVERY_CACHE_CONTROL)),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_splices_the_issuer_exactly_where_the_value_has_it() {
        for issuer in ["http://127.0.0.1:8080/o/system", "https://auth.example.com/base/o/acme-corp"] {
            let rendered: serde_json::Value = serde_json::from_slice(&render(issuer)).unwrap();
            assert_eq!(rendered, metadata(issuer));
        }
    }

    #[test]
    fn the_marker_occurs_only_where_the_issuer_goes() {
        // issuer + seven endpoints.
        assert_eq!(template().len(), 9);
    }
}
