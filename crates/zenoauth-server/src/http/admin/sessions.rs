//! `/api/v1/organizations/{org_id}/users/{user_id}/sessions`: a user's login
//! sessions. Revoking a session also revokes the refresh-token families
//! issued in it; revoking all revokes every family of the user.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value as Json};
use utoipa::ToSchema;
use zenoauth_domain::ids::SessionId;
use zenoauth_domain::model::Session;

use super::auth::Admin;
use super::common::{path_id, timestamp, Page};
use super::error::AdminError;
use super::record;
use super::users::find_user;
use crate::http::AppState;

/// A login session at the hosted pages (never its cookie).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019375c2-6647-70a1-bd25-09f47117c3f8", "user_id": "019375c2-6647-70a1-bd25-09f47117c3f5",
    "authenticated_at": "2026-01-02T03:04:05Z", "created_at": "2026-01-02T03:04:05Z",
    "expires_at": "2026-01-02T13:04:05Z", "metadata": {"amr": ["pwd"]}}))]
pub struct SessionDto {
    pub id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub authenticated_at: String,
    pub created_at: String,
    pub expires_at: String,
    /// IP, user agent, authentication methods.
    #[schema(value_type = Object)]
    pub metadata: Json,
}

impl From<&Session> for SessionDto {
    fn from(session: &Session) -> Self {
        Self {
            id: session.id.as_uuid(),
            user_id: session.user_id.as_uuid(),
            authenticated_at: timestamp(session.authenticated_at),
            created_at: timestamp(session.created_at),
            expires_at: timestamp(session.expires_at),
            metadata: session.metadata.clone(),
        }
    }
}

/// The user's unexpired sessions, oldest first.
#[utoipa::path(get, operation_id = "sessions_list", path = "/organizations/{org_id}/users/{user_id}/sessions", tag = "sessions",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "Every unexpired session (one page, no cursor)", body = Page<SessionDto>)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let (organization, user) = find_user(&state, &admin, &org_id, &user_id).await?;
    let sessions = state.stores.sessions.list_for_user(organization.id, user.id, state.services.clock.now()).await?;
    Ok(axum::Json(Page::complete(sessions.iter().map(SessionDto::from).collect())).into_response())
}

/// Revoke one session and the refresh tokens issued in it. Idempotent.
#[utoipa::path(delete, operation_id = "sessions_revoke", path = "/organizations/{org_id}/users/{user_id}/sessions/{session_id}", tag = "sessions",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id"),
        ("session_id" = uuid::Uuid, Path, description = "The session's id")),
    responses((status = 204, description = "Revoked, or already gone")),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id, session_id)): Path<(String, String, String)>,
) -> Result<Response, AdminError> {
    let (organization, user) = find_user(&state, &admin, &org_id, &user_id).await?;
    let Ok(id) = path_id::<SessionId>(&session_id) else { return Ok(StatusCode::NO_CONTENT.into_response()) };
    match state.stores.sessions.get(organization.id, id).await {
        Ok(session) if session.user_id == user.id => {}
        Ok(_) | Err(zenoauth_domain::Error::NotFound(_)) => return Ok(StatusCode::NO_CONTENT.into_response()),
        Err(error) => return Err(error.into()),
    }
    let now = state.services.clock.now();
    state.stores.refresh_tokens.revoke_for_session(organization.id, id, now).await?;
    match state.stores.sessions.delete(organization.id, id).await {
        Ok(()) | Err(zenoauth_domain::Error::NotFound(_)) => {}
        Err(error) => return Err(error.into()),
    }
    record(&state, &admin, organization.id, "session.revoked", user.id.to_string(), json!({"session": id.to_string()}))
        .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Revoke every session of the user and all their refresh tokens. Idempotent.
#[utoipa::path(delete, operation_id = "sessions_revoke_all", path = "/organizations/{org_id}/users/{user_id}/sessions", tag = "sessions",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 204, description = "The user has no session and no live refresh token")),
    security(("bearer" = [])))]
pub async fn revoke_all(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let (organization, user) = find_user(&state, &admin, &org_id, &user_id).await?;
    let now = state.services.clock.now();
    state.stores.refresh_tokens.revoke_for_user(organization.id, user.id, now).await?;
    let count = state.stores.sessions.delete_for_user(organization.id, user.id).await?;
    record(&state, &admin, organization.id, "session.revoked_all", user.id.to_string(), json!({"sessions": count}))
        .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
