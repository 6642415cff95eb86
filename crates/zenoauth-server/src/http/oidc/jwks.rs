//! `GET /o/{slug}/jwks`: the organization's public signing keys as a JWK Set
//! (RFC 7517 §5) — pending, active and retired-but-unexpired keys, each with
//! `kid`, `alg` and `use`.
//!
//! The first request for an organization makes a key for every algorithm
//! discovery advertises, so the set never lacks the key of a token a client
//! is about to receive.
//!
//! The document is served as bytes serialised once per organization and key
//! set ([`JwksDocuments`]): each request still asks the key ring for the
//! published keys (so a rotation shows the moment the key store shows it),
//! and only serialises again when that list differs from the one the cached
//! bytes were made from.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json};
use zenoauth_domain::ids::{OrganizationId, SigningKeyId};
use zenoauth_domain::keys::ALGORITHMS;
use zenoauth_domain::model::{SigningAlgorithm, SigningKey};

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

/// Beyond this many organizations the serialised documents are dropped
/// and rebuilt on demand, so deleted organizations cannot pile up.
const MAX_CACHED_DOCUMENTS: usize = 10_000;

/// The serialised JWK Set of each organization, with the keys it was made
/// from. Shared by the clones of the state; a document is reused only while
/// the published keys are exactly those it was made from (id, algorithm and
/// public JWK, in order).
#[derive(Clone, Default)]
pub struct JwksDocuments {
    documents: Arc<RwLock<HashMap<OrganizationId, Arc<JwksDocument>>>>,
}

struct JwksDocument {
    keys: Vec<(SigningKeyId, SigningAlgorithm, Json)>,
    body: Bytes,
}

impl JwksDocument {
    fn is_made_from(&self, keys: &[SigningKey]) -> bool {
        self.keys.len() == keys.len()
            && self.keys.iter().zip(keys).all(|((id, algorithm, jwk), key)| {
                *id == key.id && *algorithm == key.algorithm && *jwk == key.public_jwk
            })
    }
}

impl JwksDocuments {
    /// The serialised JWK Set of `keys`, the published keys of `organization`.
    pub fn document(&self, organization: OrganizationId, keys: &[SigningKey]) -> Bytes {
        let cached = self.documents.read().unwrap_or_else(PoisonError::into_inner).get(&organization).cloned();
        if let Some(document) = cached.filter(|document| document.is_made_from(keys)) {
            return document.body.clone();
        }
        let body = Bytes::from(jwk_set(keys).to_string());
        let document = JwksDocument {
            keys: keys.iter().map(|key| (key.id, key.algorithm, key.public_jwk.clone())).collect(),
            body: body.clone(),
        };
        let mut documents = self.documents.write().unwrap_or_else(PoisonError::into_inner);
        if documents.len() >= MAX_CACHED_DOCUMENTS && !documents.contains_key(&organization) {
            documents.clear();
        }
        documents.insert(organization, Arc::new(document));
        body
    }
}

impl std::fmt::Debug for JwksDocuments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksDocuments").finish_non_exhaustive()
    }
}

pub async fn jwks(State(state): State<AppState>, Tenant(organization): Tenant) -> Result<Response, ApiError> {
    let keys = state.key_ring().published_keys_for(organization.id, &ALGORITHMS).await?;
    let body = state.jwks_documents.document(organization.id, &keys);
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

    fn key(id: u128, x: &str) -> SigningKey {
        SigningKey {
            id: SigningKeyId::from_uuid(uuid::Uuid::from_u128(id)),
            organization_id: OrganizationId::from_uuid(uuid::Uuid::from_u128(1)),
            algorithm: SigningAlgorithm::EdDsa,
            state: zenoauth_domain::model::KeyState::Active,
            public_jwk: serde_json::json!({ "kty": "OKP", "crv": "Ed25519", "x": x }),
            encrypted_private_key: Vec::new(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            retired_at: None,
            expires_at: None,
        }
    }

    #[test]
    fn a_document_is_reused_only_for_the_keys_it_was_made_from() {
        let documents = JwksDocuments::default();
        let organization = OrganizationId::from_uuid(uuid::Uuid::from_u128(1));
        let first = vec![key(10, "a")];
        let body = documents.document(organization, &first);
        assert_eq!(body, jwk_set(&first).to_string());
        assert_eq!(documents.document(organization, &first).as_ptr(), body.as_ptr(), "served from the cache");

        let rotated = vec![key(10, "a"), key(11, "b")];
        assert_eq!(documents.document(organization, &rotated), jwk_set(&rotated).to_string());
        let changed_jwk = vec![key(10, "c")];
        assert_eq!(documents.document(organization, &changed_jwk), jwk_set(&changed_jwk).to_string());
        assert_eq!(documents.document(organization, &[]), jwk_set(&[]).to_string());
    }
}
