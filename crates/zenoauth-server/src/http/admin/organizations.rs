//! `/api/v1/organizations`: the tenants.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use utoipa::ToSchema;
use zenoauth_domain::ids::OrganizationId;
use zenoauth_domain::model::Organization;
use zenoauth_domain::oauth::settings::OrganizationSettings;
use zenoauth_domain::values::{DisplayName, Slug};

use super::auth::Admin;
use super::common::{
    bounded_object, check_if_match, created, etag_of, next_version, path_id, timestamp, with_etag, AdminJson,
    AdminQuery, Page, PageQuery,
};
use super::error::AdminError;
use super::record;
use crate::http::AppState;

/// An organization (tenant), with its issuer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019375c2-6647-70a1-bd25-09f47117c3f4", "slug": "acme", "name": "Acme Corp",
    "issuer": "https://id.example.com/o/acme", "settings": {"session_absolute_lifetime_seconds": 36000},
    "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z"}))]
pub struct OrganizationDto {
    pub id: uuid::Uuid,
    pub slug: String,
    pub name: String,
    /// `{public_url}/o/{slug}`.
    pub issuer: String,
    /// Free-form settings (a JSON object); known keys are checked.
    #[schema(value_type = Object)]
    pub settings: Json,
    pub created_at: String,
    pub updated_at: String,
}

impl OrganizationDto {
    pub fn from_domain(organization: &Organization, state: &AppState) -> Self {
        Self {
            id: organization.id.as_uuid(),
            slug: organization.slug.as_str().to_owned(),
            name: organization.name.as_str().to_owned(),
            issuer: state.public_url.issuer(organization.slug.as_str()),
            settings: organization.settings.clone(),
            created_at: timestamp(organization.created_at),
            updated_at: timestamp(organization.updated_at),
        }
    }
}

/// A new organization.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"slug": "acme", "name": "Acme Corp", "settings": {}}))]
pub struct CreateOrganization {
    /// 2–63 characters of a-z, 0-9 and single inner hyphens; permanent.
    #[schema(example = "acme")]
    pub slug: String,
    /// 1–200 characters.
    #[schema(example = "Acme Corp")]
    pub name: String,
    /// A JSON object (at most 16 KiB): `session_absolute_lifetime_seconds`,
    /// `session_idle_lifetime_seconds`, `logo_url`, `mfa_policy`,
    /// `password_login` (`false`: the login page shows only the identity
    /// providers and refuses passwords; not allowed for `system`), and your
    /// own keys.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Json>,
}

/// A partial update: the fields given replace the stored ones.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Acme Corporation"}))]
pub struct UpdateOrganization {
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Json>,
}

fn checked_settings(organization: &Organization) -> Result<(), AdminError> {
    bounded_object(&organization.settings, "settings")?;
    OrganizationSettings::from_organization(organization)?;
    // `password_login`: true (default) or false, never false for `system` (docs/federation.md).
    zenoauth_domain::oauth::settings::password_login_setting(organization)?;
    // `mfa_policy`: off, optional or required (docs/mfa.md).
    zenoauth_domain::mfa::MfaPolicy::from_organization(organization)?;
    Ok(())
}

/// List the organizations the caller may manage.
#[utoipa::path(get, operation_id = "organizations_list", path = "/organizations", tag = "organizations", params(PageQuery),
    responses((status = 200, description = "One page of organizations, by id", body = Page<OrganizationDto>)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    AdminQuery(query): AdminQuery<PageQuery>,
) -> Result<Response, AdminError> {
    let page = query.page()?;
    let organizations = if admin.is_platform_admin {
        state.stores.organizations.list(&page).await?
    } else {
        let own = &admin.organization;
        if page.after().is_none_or(|after| own.id.as_uuid() > after) {
            vec![own.clone()]
        } else {
            Vec::new()
        }
    };
    let items = organizations.iter().map(|organization| OrganizationDto::from_domain(organization, &state)).collect();
    Ok(axum::Json(Page::new(items, &page, |dto: &OrganizationDto| dto.id)).into_response())
}

/// Create an organization (platform admins only).
#[utoipa::path(post, operation_id = "organizations_create", path = "/organizations", tag = "organizations", request_body = CreateOrganization,
    responses((status = 201, description = "Created", body = OrganizationDto,
        headers(("Location" = String, description = "The new organization's URL"), ("ETag" = String)))),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    AdminJson(body): AdminJson<CreateOrganization>,
) -> Result<Response, AdminError> {
    admin.require_platform_admin()?;
    let now = state.services.clock.now();
    let organization = Organization {
        id: super::ids(&state).next(),
        slug: Slug::parse(&body.slug)?,
        name: DisplayName::parse(&body.name)?,
        settings: body.settings.unwrap_or_else(|| json!({})),
        created_at: now,
        updated_at: now,
    };
    checked_settings(&organization)?;
    state.stores.organizations.create(&organization).await?;
    record(
        &state,
        &admin,
        organization.id,
        "organization.created",
        organization.id.to_string(),
        json!({"slug": organization.slug}),
    )
    .await;
    let stored = state.stores.organizations.get(organization.id).await?;
    let location = format!("/api/v1/organizations/{}", stored.id);
    Ok(created(&location, OrganizationDto::from_domain(&stored, &state)))
}

/// Read an organization.
#[utoipa::path(get, operation_id = "organizations_read", path = "/organizations/{org_id}", tag = "organizations",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id")),
    responses((status = 200, description = "The organization", body = OrganizationDto, headers(("ETag" = String)))),
    security(("bearer" = [])))]
pub async fn read(
    State(state): State<AppState>,
    admin: Admin,
    Path(org_id): Path<String>,
) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(&org_id)?).await?;
    Ok(with_etag(OrganizationDto::from_domain(&organization, &state)))
}

/// Update an organization's name or settings (`If-Match` required).
#[utoipa::path(patch, operation_id = "organizations_update", path = "/organizations/{org_id}", tag = "organizations",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"),
        ("If-Match" = String, Header, description = "The ETag of the representation being changed")),
    request_body = UpdateOrganization,
    responses((status = 200, description = "The updated organization", body = OrganizationDto, headers(("ETag" = String)))),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path(org_id): Path<String>,
    headers: HeaderMap,
    AdminJson(body): AdminJson<UpdateOrganization>,
) -> Result<Response, AdminError> {
    let mut organization = admin.organization(&state, path_id(&org_id)?).await?;
    check_if_match(&headers, &etag_of(&OrganizationDto::from_domain(&organization, &state)))?;
    if let Some(name) = &body.name {
        organization.name = DisplayName::parse(name)?;
    }
    if let Some(settings) = body.settings {
        organization.settings = settings;
    }
    checked_settings(&organization)?;
    // The ETag check above read `read_at`; the write only lands if no other
    // write came in between (412 otherwise, even under a race).
    let read_at = organization.updated_at;
    organization.updated_at = next_version(read_at, state.services.clock.now());
    state.stores.organizations.update_if_unchanged(&organization, read_at).await?;
    record(&state, &admin, organization.id, "organization.updated", organization.id.to_string(), json!({})).await;
    let stored = state.stores.organizations.get(organization.id).await?;
    Ok(with_etag(OrganizationDto::from_domain(&stored, &state)))
}

/// Delete an organization with its users, applications, roles and keys
/// (platform admins only; the `system` organization cannot be deleted).
#[utoipa::path(delete, operation_id = "organizations_delete", path = "/organizations/{org_id}", tag = "organizations",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id")),
    responses((status = 204, description = "Deleted, or already gone")),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(org_id): Path<String>,
) -> Result<Response, AdminError> {
    let id: OrganizationId = path_id(&org_id)?;
    if !admin.is_platform_admin {
        // An org admin sees only its own organization, and may not delete it.
        if id == admin.organization.id {
            admin.require_platform_admin()?;
        }
        return Err(AdminError::not_found());
    }
    match state.stores.organizations.get(id).await {
        Ok(organization) if organization.slug == Slug::system() => {
            return Err(AdminError::conflict("the system organization cannot be deleted"))
        }
        Ok(_) => {}
        Err(zenoauth_domain::Error::NotFound(_)) => return Ok(StatusCode::NO_CONTENT.into_response()),
        Err(error) => return Err(error.into()),
    }
    match state.stores.organizations.delete(id).await {
        Ok(()) | Err(zenoauth_domain::Error::NotFound(_)) => {}
        Err(error) => return Err(error.into()),
    }
    // The organization's own audit trail went with it: record in the system organization.
    if let Ok(Some(system)) = state.stores.organizations.find_by_slug(&Slug::system()).await {
        record(&state, &admin, system.id, "organization.deleted", id.to_string(), json!({})).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
