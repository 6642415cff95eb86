//! `/api/v1/organizations/{org_id}/keys`: signing keys (public parts and
//! state) and their rotation, with the operator's `keys.*` policy.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use utoipa::ToSchema;
use zenoauth_domain::keys::{Rotation, ALGORITHMS};
use zenoauth_domain::model::SigningKey;

use super::auth::Admin;
use super::common::{path_id, timestamp, AdminJson, Page};
use super::error::AdminError;
use super::record;
use crate::http::AppState;

/// A published signing key: its public JWK and where it is in its life.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "kid": "019375c2-6647-70a1-bd25-09f47117c3f9", "algorithm": "EdDSA", "state": "active",
    "public_jwk": {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        "kid": "019375c2-6647-70a1-bd25-09f47117c3f9", "alg": "EdDSA", "use": "sig"},
    "created_at": "2026-01-02T03:04:05Z", "retired_at": null, "expires_at": null}))]
pub struct KeyDto {
    /// The JWS `kid`.
    pub kid: uuid::Uuid,
    pub algorithm: String,
    /// `pending` (published, not signing yet), `active` (signing) or `retired` (verifying only).
    pub state: String,
    #[schema(value_type = Object)]
    pub public_jwk: Json,
    pub created_at: String,
    pub retired_at: Option<String>,
    /// When a retired key leaves the JWKS.
    pub expires_at: Option<String>,
}

impl From<&SigningKey> for KeyDto {
    fn from(key: &SigningKey) -> Self {
        Self {
            kid: key.id.as_uuid(),
            algorithm: key.algorithm.as_str().to_owned(),
            state: key.state.as_str().to_owned(),
            public_jwk: key.public_jwk.clone(),
            created_at: timestamp(key.created_at),
            retired_at: key.retired_at.map(timestamp),
            expires_at: key.expires_at.map(timestamp),
        }
    }
}

/// A rotation request.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"algorithm": "EdDSA", "immediate": false}))]
pub struct RotateKeys {
    /// `EdDSA`, `ES256`, `RS256`, or `all` (default).
    pub algorithm: Option<String>,
    /// Sign with the new key at once (after a suspected leak) instead of
    /// publishing it first for `keys.publish_before_signing_seconds`.
    pub immediate: Option<bool>,
}

/// The outcome of rotating one algorithm's key.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RotatedKey {
    pub key: KeyDto,
    /// When the new key starts signing.
    pub signs_from: String,
    /// The kids of the keys it replaces (published until their tokens expired).
    pub replaces: Vec<uuid::Uuid>,
}

/// The organization's published signing keys, newest first.
#[utoipa::path(get, operation_id = "keys_list", path = "/organizations/{org_id}/keys", tag = "keys",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id")),
    responses((status = 200, description = "Every published key (one page, no cursor)", body = Page<KeyDto>)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Path(org_id): Path<String>,
) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(&org_id)?).await?;
    let keys = state.key_ring().published_keys(organization.id).await?;
    Ok(axum::Json(Page::complete(keys.iter().map(KeyDto::from).collect())).into_response())
}

/// Rotate the organization's signing key(s).
#[utoipa::path(post, operation_id = "keys_rotate", path = "/organizations/{org_id}/keys/rotate", tag = "keys",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id")),
    request_body = RotateKeys,
    responses((status = 200, description = "One entry per rotated algorithm", body = Vec<RotatedKey>)),
    security(("bearer" = [])))]
pub async fn rotate(
    State(state): State<AppState>,
    admin: Admin,
    Path(org_id): Path<String>,
    AdminJson(body): AdminJson<RotateKeys>,
) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(&org_id)?).await?;
    let algorithms = match body.algorithm.as_deref() {
        None | Some("all") => ALGORITHMS.to_vec(),
        Some(text) => vec![ALGORITHMS
            .into_iter()
            .find(|algorithm| algorithm.as_str() == text)
            .ok_or_else(|| AdminError::validation("algorithm: EdDSA, ES256, RS256 or all"))?],
    };
    let rotation = if body.immediate.unwrap_or(false) { Rotation::Immediate } else { Rotation::Staged };
    let key_ring = state.key_ring();
    let mut rotated = Vec::new();
    for algorithm in algorithms {
        let outcome = key_ring.rotate(organization.id, algorithm, rotation).await?;
        rotated.push(RotatedKey {
            key: KeyDto::from(&outcome.key),
            signs_from: timestamp(outcome.signs_from),
            replaces: outcome.replaces.iter().map(|id| id.as_uuid()).collect(),
        });
    }
    let kids: Vec<String> = rotated.iter().map(|entry| entry.key.kid.to_string()).collect();
    record(&state, &admin, organization.id, "keys.rotated", organization.id.to_string(), json!({"kids": kids})).await;
    Ok(axum::Json(rotated).into_response())
}
