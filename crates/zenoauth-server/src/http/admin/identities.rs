//! `/api/v1/organizations/{org_id}/users/{user_id}/identities`: the upstream
//! identities (federation, issue 6) linked to a user. A link is named by its
//! provider id and the upstream subject; the subject may contain any
//! character and is percent-encoded as one path segment
//! (`…/identities/{provider_id}/{subject}`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use zenoauth_domain::federation::FederatedIdentity;
use zenoauth_domain::oauth::{UnlinkError, Unlinker};

use super::auth::Admin;
use super::common::{path_id, timestamp, Page};
use super::error::AdminError;
use super::users::find_user;
use crate::http::AppState;

/// An upstream identity linked to the user.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "provider_id": "019375c2-6647-70a1-bd25-09f47117c3f9", "provider_name": "Corp SSO",
    "subject": "248289761001", "created_at": "2026-01-02T03:04:05Z"}))]
pub struct IdentityDto {
    pub provider_id: Uuid,
    /// The provider's current name.
    pub provider_name: String,
    /// The upstream `sub` (or the provider's subject claim).
    pub subject: String,
    /// When the link was made.
    pub created_at: String,
}

fn dto(identity: &FederatedIdentity, provider_name: String) -> IdentityDto {
    IdentityDto {
        provider_id: identity.provider_id,
        provider_name,
        subject: identity.subject.clone(),
        created_at: timestamp(identity.created_at),
    }
}

/// The user's linked identities, oldest first.
#[utoipa::path(get, operation_id = "identities_list", path = "/organizations/{org_id}/users/{user_id}/identities", tag = "users",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "Every linked identity (one page, no cursor)", body = Page<IdentityDto>)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let (organization, user) = find_user(&state, &admin, &org_id, &user_id).await?;
    let identities = state.stores.federation.identities_of_user(organization.id, user.id).await?;
    let providers = state.stores.federation.list_providers(organization.id).await?;
    let items = identities
        .iter()
        .map(|identity| {
            let name = providers.iter().find(|provider| provider.id == identity.provider_id);
            dto(identity, name.map(|provider| provider.name.clone()).unwrap_or_default())
        })
        .collect();
    Ok(axum::Json(Page::complete(items)).into_response())
}

/// Remove one linked identity (the user stays; they can no longer sign in
/// through it until linked again). Unlike the user's own account page, an
/// administrator may remove the last way to sign in of a user without a
/// password. Idempotent for a link already gone.
#[utoipa::path(delete, operation_id = "identities_delete", path = "/organizations/{org_id}/users/{user_id}/identities/{provider_id}/{subject}", tag = "users",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id"),
        ("provider_id" = uuid::Uuid, Path, description = "The identity provider's id (of this organization)"),
        ("subject" = String, Path, description = "The upstream subject, percent-encoded as one path segment")),
    responses((status = 204, description = "Removed, or already gone")),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id, provider_id, subject)): Path<(String, String, String, String)>,
) -> Result<Response, AdminError> {
    let (organization, user) = find_user(&state, &admin, &org_id, &user_id).await?;
    let provider_id: Uuid = path_id(&provider_id)?;
    // Another organization's provider (or none) is not found, like any object.
    let provider =
        state.stores.federation.find_provider(organization.id, provider_id).await?.ok_or_else(AdminError::not_found)?;
    // The domain's removal (one audit schema with the account page's), with
    // the administrator as actor and without the last-way-in check.
    let oidc = crate::http::oidc::flow::provider(&state);
    match oidc.unlink_identity(&user, provider.id, &subject, Unlinker::Administrator(admin.actor())).await {
        Ok(_) | Err(UnlinkError::NotFound) => {}
        Err(UnlinkError::LastSignInMethod) => {
            return Err(AdminError::conflict("the user's last way to sign in cannot be removed"))
        }
        Err(UnlinkError::Internal(error)) => return Err(error.into()),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
