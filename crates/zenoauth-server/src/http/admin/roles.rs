//! `/api/v1/organizations/{org_id}/roles` and role assignments to users and
//! applications. Roles end up in access tokens as the `roles` and
//! `permissions` claims. In the `system` organization only platform admins
//! may change or assign the `platform-admin` role.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use zenoauth_domain::ids::{ApplicationId, UserId};
use zenoauth_domain::model::Organization;
use zenoauth_domain::roles::{parse_description, PermissionSet, Role, RoleId, RoleName, PLATFORM_ADMIN};
use zenoauth_domain::values::Slug;

use super::auth::Admin;
use super::common::{
    check_if_match, created, etag_of, path_id, timestamp, with_etag, AdminJson, AdminQuery, Page, PageQuery,
};
use super::error::AdminError;
use super::record;
use crate::http::AppState;

/// A role: a named set of permissions in one organization.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019375c2-6647-70a1-bd25-09f47117c3f7", "organization_id": "019375c2-6647-70a1-bd25-09f47117c3f4",
    "name": "billing-reader", "description": "Reads invoices", "permissions": ["invoices:read"],
    "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z"}))]
pub struct RoleDto {
    pub id: uuid::Uuid,
    pub organization_id: uuid::Uuid,
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Role> for RoleDto {
    fn from(role: &Role) -> Self {
        Self {
            id: role.id.as_uuid(),
            organization_id: role.organization_id.as_uuid(),
            name: role.name.as_str().to_owned(),
            description: role.description.clone(),
            permissions: role.permissions.iter().map(|permission| permission.as_str().to_owned()).collect(),
            created_at: timestamp(role.created_at),
            updated_at: timestamp(role.updated_at),
        }
    }
}

/// A new role.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "billing-reader", "description": "Reads invoices", "permissions": ["invoices:read"]}))]
pub struct CreateRole {
    /// 1–64 characters of a-z, 0-9, `-`, `_`, `.`, `:`; unique in the organization.
    /// `org-admin` grants the admin API for this organization.
    pub name: String,
    /// At most 500 characters.
    pub description: Option<String>,
    /// Up to 100 permission strings (1–128 visible ASCII characters each).
    pub permissions: Option<Vec<String>>,
}

/// A partial update: the fields given replace the stored ones.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"permissions": ["invoices:read", "invoices:export"]}))]
pub struct UpdateRole {
    pub name: Option<String>,
    pub description: Option<String>,
    pub permissions: Option<Vec<String>>,
}

fn permissions(items: &[String]) -> Result<PermissionSet, AdminError> {
    Ok(PermissionSet::parse(items.iter().map(String::as_str))?)
}

/// In the system organization, the platform-admin role is for platform admins to manage.
fn guard_platform_role(admin: &Admin, organization: &Organization, role: &RoleName) -> Result<(), AdminError> {
    if organization.slug == Slug::system() && role.as_str() == PLATFORM_ADMIN {
        admin.require_platform_admin()?;
    }
    Ok(())
}

async fn find(
    state: &AppState,
    admin: &Admin,
    org_id: &str,
    role_id: &str,
) -> Result<(Organization, Role), AdminError> {
    let organization = admin.organization(state, path_id(org_id)?).await?;
    let role = state.stores.roles.get(organization.id, path_id(role_id)?).await?;
    Ok((organization, role))
}

/// List roles.
#[utoipa::path(get, operation_id = "roles_list", path = "/organizations/{org_id}/roles", tag = "roles",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), PageQuery),
    responses((status = 200, description = "One page of roles, by id", body = Page<RoleDto>)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Path(org_id): Path<String>,
    AdminQuery(query): AdminQuery<PageQuery>,
) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(&org_id)?).await?;
    let page = query.page()?;
    let roles = state.stores.roles.list(organization.id, &page).await?;
    let items: Vec<RoleDto> = roles.iter().map(RoleDto::from).collect();
    Ok(axum::Json(Page::new(items, &page, |dto: &RoleDto| dto.id)).into_response())
}

/// Create a role.
#[utoipa::path(post, operation_id = "roles_create", path = "/organizations/{org_id}/roles", tag = "roles",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id")),
    request_body = CreateRole,
    responses((status = 201, description = "Created", body = RoleDto, headers(("Location" = String), ("ETag" = String)))),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Path(org_id): Path<String>,
    AdminJson(body): AdminJson<CreateRole>,
) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(&org_id)?).await?;
    let now = state.services.clock.now();
    let role = Role {
        id: super::ids(&state).next(),
        organization_id: organization.id,
        name: RoleName::parse(&body.name)?,
        description: parse_description(body.description.as_deref().unwrap_or_default())?,
        permissions: permissions(body.permissions.as_deref().unwrap_or_default())?,
        created_at: now,
        updated_at: now,
    };
    guard_platform_role(&admin, &organization, &role.name)?;
    state.stores.roles.create(&role).await?;
    record(&state, &admin, organization.id, "role.created", role.id.to_string(), json!({"name": role.name.as_str()}))
        .await;
    let stored = state.stores.roles.get(organization.id, role.id).await?;
    Ok(created(&format!("/api/v1/organizations/{}/roles/{}", organization.id, role.id), RoleDto::from(&stored)))
}

/// Read a role.
#[utoipa::path(get, operation_id = "roles_read", path = "/organizations/{org_id}/roles/{role_id}", tag = "roles",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("role_id" = uuid::Uuid, Path, description = "The role's id")),
    responses((status = 200, description = "The role", body = RoleDto, headers(("ETag" = String)))),
    security(("bearer" = [])))]
pub async fn read(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, role_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let (_, role) = find(&state, &admin, &org_id, &role_id).await?;
    Ok(with_etag(RoleDto::from(&role)))
}

/// Update a role (`If-Match` required).
#[utoipa::path(patch, operation_id = "roles_update", path = "/organizations/{org_id}/roles/{role_id}", tag = "roles",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("role_id" = uuid::Uuid, Path, description = "The role's id"),
        ("If-Match" = String, Header, description = "The ETag of the representation being changed")),
    request_body = UpdateRole,
    responses((status = 200, description = "The updated role", body = RoleDto, headers(("ETag" = String)))),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, role_id)): Path<(String, String)>,
    headers: HeaderMap,
    AdminJson(body): AdminJson<UpdateRole>,
) -> Result<Response, AdminError> {
    let (organization, mut role) = find(&state, &admin, &org_id, &role_id).await?;
    guard_platform_role(&admin, &organization, &role.name)?;
    check_if_match(&headers, &etag_of(&RoleDto::from(&role)))?;
    if let Some(name) = &body.name {
        role.name = RoleName::parse(name)?;
        guard_platform_role(&admin, &organization, &role.name)?;
    }
    if let Some(description) = &body.description {
        role.description = parse_description(description)?;
    }
    if let Some(items) = &body.permissions {
        role.permissions = permissions(items)?;
    }
    role.updated_at = state.services.clock.now();
    state.stores.roles.update(&role).await?;
    record(&state, &admin, organization.id, "role.updated", role.id.to_string(), json!({})).await;
    let stored = state.stores.roles.get(organization.id, role.id).await?;
    Ok(with_etag(RoleDto::from(&stored)))
}

/// Delete a role with its assignments. Idempotent.
#[utoipa::path(delete, operation_id = "roles_delete", path = "/organizations/{org_id}/roles/{role_id}", tag = "roles",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("role_id" = uuid::Uuid, Path, description = "The role's id")),
    responses((status = 204, description = "Deleted, or already gone")),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, role_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(&org_id)?).await?;
    let Ok(id) = path_id::<RoleId>(&role_id) else { return Ok(StatusCode::NO_CONTENT.into_response()) };
    let role = match state.stores.roles.get(organization.id, id).await {
        Ok(role) => role,
        Err(zenoauth_domain::Error::NotFound(_)) => return Ok(StatusCode::NO_CONTENT.into_response()),
        Err(error) => return Err(error.into()),
    };
    guard_platform_role(&admin, &organization, &role.name)?;
    match state.stores.roles.delete(organization.id, id).await {
        Ok(()) => record(&state, &admin, organization.id, "role.deleted", id.to_string(), json!({})).await,
        Err(zenoauth_domain::Error::NotFound(_)) => {}
        Err(error) => return Err(error.into()),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Who holds roles: a user or an application.
#[derive(Debug, Clone, Copy)]
enum Holder {
    User(UserId),
    Application(ApplicationId),
}

async fn holder(state: &AppState, organization: &Organization, kind: &str, id: &str) -> Result<Holder, AdminError> {
    match kind {
        "user" => {
            let user = state.stores.users.get(organization.id, path_id(id)?).await?;
            Ok(Holder::User(user.id))
        }
        _ => {
            let application = state.stores.applications.get(organization.id, path_id(id)?).await?;
            Ok(Holder::Application(application.id))
        }
    }
}

async fn held(state: &AppState, organization: &Organization, holder: Holder) -> Result<Vec<Role>, AdminError> {
    Ok(match holder {
        Holder::User(user) => state.stores.roles.roles_of_user(organization.id, user).await?,
        Holder::Application(application) => {
            state.stores.roles.roles_of_application(organization.id, application).await?
        }
    })
}

async fn list_held(state: AppState, admin: Admin, org_id: &str, kind: &str, id: &str) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(org_id)?).await?;
    let holder = holder(&state, &organization, kind, id).await?;
    let roles = held(&state, &organization, holder).await?;
    Ok(axum::Json(Page::complete(roles.iter().map(RoleDto::from).collect())).into_response())
}

async fn change(
    state: AppState,
    admin: Admin,
    org_id: &str,
    kind: &str,
    id: &str,
    role_id: &str,
    assign: bool,
) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(org_id)?).await?;
    let holder = holder(&state, &organization, kind, id).await?;
    let role = match state.stores.roles.get(organization.id, path_id(role_id)?).await {
        Ok(role) => role,
        // Removing a role that does not exist (here) leaves nothing to remove.
        Err(zenoauth_domain::Error::NotFound(_)) if !assign => return Ok(StatusCode::NO_CONTENT.into_response()),
        Err(error) => return Err(error.into()),
    };
    guard_platform_role(&admin, &organization, &role.name)?;
    let subject = match holder {
        Holder::User(user) => user.to_string(),
        Holder::Application(application) => application.to_string(),
    };
    let changed = match (holder, assign) {
        (Holder::User(user), true) => {
            state.stores.roles.assign_to_user(organization.id, user, role.id).await?;
            true
        }
        (Holder::User(user), false) => state.stores.roles.unassign_from_user(organization.id, user, role.id).await?,
        (Holder::Application(application), true) => {
            state.stores.roles.assign_to_application(organization.id, application, role.id).await?;
            true
        }
        (Holder::Application(application), false) => {
            state.stores.roles.unassign_from_application(organization.id, application, role.id).await?
        }
    };
    if changed {
        let event = if assign { "role.assigned" } else { "role.unassigned" };
        record(&state, &admin, organization.id, event, subject, json!({"role": role.name.as_str(), "holder": kind}))
            .await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The user's roles.
#[utoipa::path(get, operation_id = "roles_user_roles", path = "/organizations/{org_id}/users/{user_id}/roles", tag = "roles",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "Every role the user holds, by name", body = Page<RoleDto>)),
    security(("bearer" = [])))]
pub async fn user_roles(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    list_held(state, admin, &org_id, "user", &user_id).await
}

/// Give the user a role. Idempotent.
#[utoipa::path(put, operation_id = "roles_assign_to_user", path = "/organizations/{org_id}/users/{user_id}/roles/{role_id}", tag = "roles",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id"),
        ("role_id" = uuid::Uuid, Path, description = "The role's id")),
    responses((status = 204, description = "The user holds the role")),
    security(("bearer" = [])))]
pub async fn assign_to_user(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id, role_id)): Path<(String, String, String)>,
) -> Result<Response, AdminError> {
    change(state, admin, &org_id, "user", &user_id, &role_id, true).await
}

/// Take a role from the user. Idempotent.
#[utoipa::path(delete, operation_id = "roles_unassign_from_user", path = "/organizations/{org_id}/users/{user_id}/roles/{role_id}", tag = "roles",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id"),
        ("role_id" = uuid::Uuid, Path, description = "The role's id")),
    responses((status = 204, description = "The user does not hold the role")),
    security(("bearer" = [])))]
pub async fn unassign_from_user(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id, role_id)): Path<(String, String, String)>,
) -> Result<Response, AdminError> {
    change(state, admin, &org_id, "user", &user_id, &role_id, false).await
}

/// The application's roles (for `client_credentials` tokens).
#[utoipa::path(get, operation_id = "roles_application_roles", path = "/organizations/{org_id}/applications/{application_id}/roles", tag = "roles",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("application_id" = uuid::Uuid, Path, description = "The application's id")),
    responses((status = 200, description = "Every role the application holds, by name", body = Page<RoleDto>)),
    security(("bearer" = [])))]
pub async fn application_roles(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, application_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    list_held(state, admin, &org_id, "application", &application_id).await
}

/// Give the application (as a service account) a role. Idempotent.
#[utoipa::path(put, operation_id = "roles_assign_to_application", path = "/organizations/{org_id}/applications/{application_id}/roles/{role_id}", tag = "roles",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("application_id" = uuid::Uuid, Path, description = "The application's id"),
        ("role_id" = uuid::Uuid, Path, description = "The role's id")),
    responses((status = 204, description = "The application holds the role")),
    security(("bearer" = [])))]
pub async fn assign_to_application(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, application_id, role_id)): Path<(String, String, String)>,
) -> Result<Response, AdminError> {
    change(state, admin, &org_id, "application", &application_id, &role_id, true).await
}

/// Take a role from the application. Idempotent.
#[utoipa::path(delete, operation_id = "roles_unassign_from_application", path = "/organizations/{org_id}/applications/{application_id}/roles/{role_id}", tag = "roles",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("application_id" = uuid::Uuid, Path, description = "The application's id"),
        ("role_id" = uuid::Uuid, Path, description = "The role's id")),
    responses((status = 204, description = "The application does not hold the role")),
    security(("bearer" = [])))]
pub async fn unassign_from_application(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, application_id, role_id)): Path<(String, String, String)>,
) -> Result<Response, AdminError> {
    change(state, admin, &org_id, "application", &application_id, &role_id, false).await
}
