//! `/api/v1/organizations/{org_id}/users/{user_id}/consents`: the
//! applications a user has consented to, with the scopes. Revoking a consent
//! also revokes the refresh-token families the application holds for the
//! user, and the consent page is shown again at the next authorization.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use zenoauth_domain::ids::ApplicationId;
use zenoauth_domain::model::Consent;
use zenoauth_domain::oauth::Issuer;

use super::auth::Admin;
use super::common::{path_id, timestamp, Page};
use super::error::AdminError;
use super::record;
use super::users::find_user;
use crate::http::oidc::flow::provider;
use crate::http::AppState;

/// A remembered consent: the user granted the application these scopes.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "application_id": "019375c2-6647-70a1-bd25-09f47117c3f9", "user_id": "019375c2-6647-70a1-bd25-09f47117c3f5",
    "scope": "openid profile email", "granted_at": "2026-01-02T03:04:05Z"}))]
pub struct ConsentDto {
    pub application_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    /// Space-delimited scopes.
    pub scope: String,
    pub granted_at: String,
}

impl From<&Consent> for ConsentDto {
    fn from(consent: &Consent) -> Self {
        Self {
            application_id: consent.application_id.as_uuid(),
            user_id: consent.user_id.as_uuid(),
            scope: consent.scope.to_string(),
            granted_at: timestamp(consent.granted_at),
        }
    }
}

/// The user's consents, in application id order.
#[utoipa::path(get, operation_id = "consents_list", path = "/organizations/{org_id}/users/{user_id}/consents", tag = "consents",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "Every remembered consent (one page, no cursor)", body = Page<ConsentDto>)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let (organization, user) = find_user(&state, &admin, &org_id, &user_id).await?;
    let consents = state.stores.consents.list_for_user(organization.id, user.id).await?;
    Ok(axum::Json(Page::complete(consents.iter().map(ConsentDto::from).collect())).into_response())
}

/// Revoke the user's consent to an application and the refresh tokens the
/// application holds for the user. Idempotent.
#[utoipa::path(delete, operation_id = "consents_revoke", path = "/organizations/{org_id}/users/{user_id}/consents/{application_id}", tag = "consents",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id"),
        ("application_id" = uuid::Uuid, Path, description = "The application's id")),
    responses((status = 204, description = "Revoked, or there was no consent")),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id, application_id)): Path<(String, String, String)>,
) -> Result<Response, AdminError> {
    let (organization, user) = find_user(&state, &admin, &org_id, &user_id).await?;
    let Ok(application) = path_id::<ApplicationId>(&application_id) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let (id, slug) = (organization.id, organization.slug.as_str().to_owned());
    let issuer = Issuer { url: state.public_url.issuer(&slug), organization };
    let existed = provider(&state).revoke_consent(&issuer, user.id, application).await?;
    let data = json!({"application": application.to_string(), "existed": existed});
    record(&state, &admin, id, "consent.revoked", user.id.to_string(), data).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Revoke every consent of the user (and the refresh tokens of those
/// applications). Idempotent.
#[utoipa::path(delete, operation_id = "consents_revoke_all", path = "/organizations/{org_id}/users/{user_id}/consents", tag = "consents",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 204, description = "The user has no remembered consent")),
    security(("bearer" = [])))]
pub async fn revoke_all(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let (organization, user) = find_user(&state, &admin, &org_id, &user_id).await?;
    let consents = state.stores.consents.list_for_user(organization.id, user.id).await?;
    let (id, slug) = (organization.id, organization.slug.as_str().to_owned());
    let issuer = Issuer { url: state.public_url.issuer(&slug), organization };
    let provider = provider(&state);
    for consent in &consents {
        provider.revoke_consent(&issuer, user.id, consent.application_id).await?;
    }
    record(&state, &admin, id, "consent.revoked_all", user.id.to_string(), json!({"consents": consents.len()})).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
