//! `GET /o/{slug}/jwks`: the organization's public signing keys as a JWK Set
//! (RFC 7517 §5) — pending, active and retired-but-unexpired keys, each with
//! `kid`, `alg` and `use`.
//!
//! The first request for an organization makes a key for every algorithm
//! discovery advertises, so the set never lacks the key of a token a client
//! is about to receive.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json};
use zenoauth_domain::keys::ALGORITHMS;
use zenoauth_domain::model::SigningKey;

use super::Tenant;
use crate::http::problem::ApiError;
use crate::http::AppState;

/// How long clients and caches may keep the key set. A rotated-in key is
/// published for at least this long before it signs (`keys.publish_before_signing_seconds`
/// may not be lower), so a verifier never meets a `kid` its cached set lacks.
pub const JWKS_MAX_AGE_SECONDS: u64 = 300;
const JWKS_CACHE_CONTROL: &str = "public, max-age=300";
/// RFC 7517 §8.5.1.
pub const JWK_SET_JSON: &str = "application/jwk-set+json";

/// The public members a published JWK may carry (RFC 7517 §4, RFC 7518
/// §6.2.1 and §6.3.1, RFC 8037 §2). Anything else — above all private
/// members such as `d`, `p`, `q` — is never sent, whatever the store holds.
const PUBLIC_MEMBERS: &[&str] = &["kty", "crv", "x", "y", "n", "e", "kid", "alg", "use"];

/// The JWK Set document of `keys`.
pub fn jwk_set(keys: &[SigningKey]) -> Json {
    let keys: Vec<Json> = keys
        .iter()
        .map(|key| {
            let mut jwk: Map<String, Json> = key
                .public_jwk
                .as_object()
                .map(|members| {
                    members
                        .iter()
                        .filter(|(name, _)| PUBLIC_MEMBERS.contains(&name.as_str()))
                        .map(|(name, value)| (name.clone(), value.clone()))
                        .collect()
                })
                .unwrap_or_default();
            // The key's own identity wins over whatever the stored JWK says.
            jwk.insert("kid".to_owned(), Json::from(key.id.to_string()));
            jwk.insert("alg".to_owned(), Json::from(key.algorithm.as_str()));
            jwk.insert("use".to_owned(), Json::from("sig"));
            Json::Object(jwk)
        })
        .collect();
    serde_json::json!({ "keys": keys })
}

pub async fn jwks(State(state): State<AppState>, Tenant(organization): Tenant) -> Result<Response, ApiError> {
    let keys = state.key_ring().published_keys_for(organization.id, &ALGORITHMS).await?;
    let body = jwk_set(&keys).to_string();
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(JWK_SET_JSON)),
            (header::CACHE_CONTROL, HeaderValue::from_static(JWKS_CACHE_CONTROL)),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_control_header_says_the_max_age() {
        assert_eq!(JWKS_CACHE_CONTROL, format!("public, max-age={JWKS_MAX_AGE_SECONDS}"));
    }
}
