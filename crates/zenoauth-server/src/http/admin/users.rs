//! `/api/v1/organizations/{org_id}/users`: people who log in to one organization.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use utoipa::{IntoParams, ToSchema};
use zenoauth_domain::ids::UserId;
use zenoauth_domain::model::{Organization, User};
use zenoauth_domain::ports::{PasswordHasher, UserQuery};
use zenoauth_domain::values::Email;

use super::auth::Admin;
use super::common::{
    bounded_object, check_if_match, created, etag_of, filter_text, next_version, path_id, timestamp, with_etag,
    AdminJson, AdminQuery, Page,
};
use super::error::AdminError;
use super::record;
use crate::http::AppState;

/// A user. The password hash is never shown; `has_password` says whether one is set.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019375c2-6647-70a1-bd25-09f47117c3f5", "organization_id": "019375c2-6647-70a1-bd25-09f47117c3f4",
    "email": "alice@example.com", "email_verified": true, "has_password": true,
    "profile": {"name": "Alice Example", "department": "finance"}, "is_active": true,
    "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z"}))]
pub struct UserDto {
    pub id: uuid::Uuid,
    pub organization_id: uuid::Uuid,
    pub email: String,
    pub email_verified: bool,
    pub has_password: bool,
    /// Free-form attributes (a JSON object); OIDC profile claims are read from it.
    #[schema(value_type = Object)]
    pub profile: Json,
    pub is_active: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&User> for UserDto {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.as_uuid(),
            organization_id: user.organization_id.as_uuid(),
            email: user.email.as_str().to_owned(),
            email_verified: user.email_verified,
            has_password: user.password_hash.is_some(),
            profile: user.profile.clone(),
            is_active: user.is_active,
            created_at: timestamp(user.created_at),
            updated_at: timestamp(user.updated_at),
        }
    }
}

/// A new user, with a password or without one (an invited user sets it later).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "alice@example.com", "invite": true, "profile": {"name": "Alice Example"}}))]
pub struct CreateUser {
    pub email: String,
    /// Must meet the organization's password policy; omit to create the
    /// user without a password.
    pub password: Option<String>,
    /// `true`: create the user without a password and mail them an
    /// invitation whose single-use link leads to a set-password page
    /// (setting it also verifies the email). Not with `password`.
    pub invite: Option<bool>,
    pub email_verified: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub profile: Option<Json>,
}

/// A partial update: the fields given replace the stored ones.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"profile": {"name": "Alice Example", "department": "sales"}}))]
pub struct UpdateUser {
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub profile: Option<Json>,
    /// `false` deactivates the user: they cannot log in, their sessions end
    /// and their refresh tokens are revoked.
    pub is_active: Option<bool>,
}

/// A new password for the user.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse battery staple"}))]
pub struct SetPassword {
    pub password: String,
}

/// List filters; every given filter must match.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
    /// Users whose (lower-case) email starts with this.
    #[param(example = "alice@")]
    pub email_prefix: Option<String>,
    /// A top-level profile attribute name, with `profile_value`.
    #[param(example = "department")]
    pub profile_key: Option<String>,
    /// The attribute's value: JSON (`38`, `true`, `"x"`) or else a plain string.
    #[param(example = "finance")]
    pub profile_value: Option<String>,
}

fn user_query(query: &UserListQuery) -> Result<UserQuery, AdminError> {
    let email_prefix = filter_text(query.email_prefix.as_ref(), "email_prefix", 254)?;
    let key = filter_text(query.profile_key.as_ref(), "profile_key", 128)?;
    let value = filter_text(query.profile_value.as_ref(), "profile_value", 1024)?;
    let profile_attribute = match (key, value) {
        (None, None) => None,
        (Some(key), Some(value)) => {
            if key.is_empty() {
                return Err(AdminError::validation("profile_key: must not be empty"));
            }
            let parsed = match serde_json::from_str::<Json>(&value) {
                Ok(Json::String(text)) if text.chars().any(char::is_control) => {
                    return Err(AdminError::validation("profile_value: no control characters"))
                }
                Ok(scalar @ (Json::String(_) | Json::Number(_) | Json::Bool(_))) => scalar,
                _ => Json::String(value),
            };
            Some((key, parsed))
        }
        _ => return Err(AdminError::validation("profile_key and profile_value go together")),
    };
    Ok(UserQuery { email_prefix, profile_attribute })
}

/// The user `user_id` of the organization `org_id`, as the admin may see it
/// (404 for anything outside the admin's reach).
pub(super) async fn find_user(
    state: &AppState,
    admin: &Admin,
    org_id: &str,
    user_id: &str,
) -> Result<(Organization, User), AdminError> {
    let organization = admin.organization(state, path_id(org_id)?).await?;
    let user = state.stores.users.get(organization.id, path_id(user_id)?).await?;
    Ok((organization, user))
}

/// Reads the user, applies `change` (which says whether it changed anything)
/// and writes it conditionally on the version read, so a concurrent write is
/// never undone: on a lost race the change is re-applied to a fresh read
/// (`zenoauth_domain::users::change_user`). These actions carry no
/// `If-Match`; only after repeated lost races does `PreconditionFailed`
/// reach the client (412).
async fn change_user(
    state: &AppState,
    admin: &Admin,
    org_id: &str,
    user_id: &str,
    change: impl FnMut(&mut User) -> bool,
) -> Result<(Organization, User, bool), AdminError> {
    let (organization, user) = find_user(state, admin, org_id, user_id).await?;
    let (user, changed) =
        zenoauth_domain::users::change_user(state.stores.users.as_ref(), state.services.clock.as_ref(), user, change)
            .await?;
    Ok((organization, user, changed))
}

/// Ends the user's sessions and refresh tokens (on deactivation).
async fn end_everything(state: &AppState, user: &User) -> Result<(), AdminError> {
    let now = state.services.clock.now();
    state.stores.refresh_tokens.revoke_for_user(user.organization_id, user.id, now).await?;
    state.stores.sessions.delete_for_user(user.organization_id, user.id).await?;
    Ok(())
}

/// List and search users.
#[utoipa::path(get, operation_id = "users_list", path = "/organizations/{org_id}/users", tag = "users",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), UserListQuery),
    responses((status = 200, description = "One page of users, by id", body = Page<UserDto>)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Path(org_id): Path<String>,
    AdminQuery(query): AdminQuery<UserListQuery>,
) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(&org_id)?).await?;
    let page = super::common::PageQuery { limit: query.limit, after: query.after.clone() }.page()?;
    let users = state.stores.users.list(organization.id, &user_query(&query)?, &page).await?;
    let items: Vec<UserDto> = users.iter().map(UserDto::from).collect();
    Ok(axum::Json(Page::new(items, &page, |dto: &UserDto| dto.id)).into_response())
}

/// Create a user.
#[utoipa::path(post, operation_id = "users_create", path = "/organizations/{org_id}/users", tag = "users",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id")),
    request_body = CreateUser,
    responses((status = 201, description = "Created", body = UserDto,
        headers(("Location" = String), ("ETag" = String)))),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Path(org_id): Path<String>,
    AdminJson(body): AdminJson<CreateUser>,
) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(&org_id)?).await?;
    let email = Email::parse(&body.email)?;
    let invite = body.invite.unwrap_or(false);
    if invite && body.password.is_some() {
        return Err(AdminError::validation("invite: an invited user sets their own password; omit password"));
    }
    let profile = body.profile.unwrap_or_else(|| json!({}));
    bounded_object(&profile, "profile")?;
    let password = body
        .password
        .as_deref()
        .map(|password| zenoauth_domain::users::acceptable_password(&organization, password, &email))
        .transpose()?;
    let password_hash = match &password {
        Some(password) => Some(state.services.hasher.hash(password).await?),
        None => None,
    };
    let now = state.services.clock.now();
    let user = User {
        id: super::ids(&state).next(),
        organization_id: organization.id,
        email,
        email_verified: body.email_verified.unwrap_or(false),
        password_hash,
        profile,
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    state.stores.users.create(&user).await?;
    record(&state, &admin, organization.id, "user.created", user.id.to_string(), json!({"invited": invite})).await;
    if invite {
        crate::http::account::send_link(
            &state,
            &organization,
            &user,
            zenoauth_domain::email::AccountTokenPurpose::Invitation,
        )
        .await?;
    }
    let stored = state.stores.users.get(organization.id, user.id).await?;
    let location = format!("/api/v1/organizations/{}/users/{}", organization.id, user.id);
    Ok(created(&location, UserDto::from(&stored)))
}

/// Read a user.
#[utoipa::path(get, operation_id = "users_read", path = "/organizations/{org_id}/users/{user_id}", tag = "users",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "The user", body = UserDto, headers(("ETag" = String)))),
    security(("bearer" = [])))]
pub async fn read(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let (_, user) = find_user(&state, &admin, &org_id, &user_id).await?;
    Ok(with_etag(UserDto::from(&user)))
}

/// Update a user's email, profile, verification or active flag (`If-Match` required).
#[utoipa::path(patch, operation_id = "users_update", path = "/organizations/{org_id}/users/{user_id}", tag = "users",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id"),
        ("If-Match" = String, Header, description = "The ETag of the representation being changed")),
    request_body = UpdateUser,
    responses((status = 200, description = "The updated user", body = UserDto, headers(("ETag" = String)))),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id)): Path<(String, String)>,
    headers: HeaderMap,
    AdminJson(body): AdminJson<UpdateUser>,
) -> Result<Response, AdminError> {
    let (organization, mut user) = find_user(&state, &admin, &org_id, &user_id).await?;
    check_if_match(&headers, &etag_of(&UserDto::from(&user)))?;
    if let Some(email) = &body.email {
        let email = Email::parse(email)?;
        if email != user.email {
            // A new address is unverified until proven (or the admin says so below).
            user.email = email;
            user.email_verified = false;
        }
    }
    if let Some(verified) = body.email_verified {
        user.email_verified = verified;
    }
    if let Some(profile) = body.profile {
        bounded_object(&profile, "profile")?;
        user.profile = profile;
    }
    let deactivated = body.is_active == Some(false) && user.is_active;
    if let Some(active) = body.is_active {
        user.is_active = active;
    }
    // Conditional on the version the ETag check read: 412 on a lost update.
    let read_at = user.updated_at;
    user.updated_at = next_version(read_at, state.services.clock.now());
    state.stores.users.update_if_unchanged(&user, read_at).await?;
    if deactivated {
        end_everything(&state, &user).await?;
    }
    record(&state, &admin, organization.id, "user.updated", user.id.to_string(), json!({"deactivated": deactivated}))
        .await;
    let stored = state.stores.users.get(organization.id, user.id).await?;
    Ok(with_etag(UserDto::from(&stored)))
}

async fn set_active(
    state: AppState,
    admin: Admin,
    org_id: &str,
    user_id: &str,
    active: bool,
) -> Result<Response, AdminError> {
    let (organization, user, changed) = change_user(&state, &admin, org_id, user_id, |user| {
        let changed = user.is_active != active;
        user.is_active = active;
        changed
    })
    .await?;
    if changed {
        if !active {
            end_everything(&state, &user).await?;
        }
        let event = if active { "user.reactivated" } else { "user.deactivated" };
        record(&state, &admin, organization.id, event, user.id.to_string(), json!({})).await;
    }
    let stored = state.stores.users.get(organization.id, user.id).await?;
    Ok(with_etag(UserDto::from(&stored)))
}

/// Deactivate a user: no more logins; their sessions end and refresh tokens are revoked. Idempotent.
#[utoipa::path(post, operation_id = "users_deactivate", path = "/organizations/{org_id}/users/{user_id}/deactivate", tag = "users",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "The deactivated user", body = UserDto, headers(("ETag" = String)))),
    security(("bearer" = [])))]
pub async fn deactivate(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    set_active(state, admin, &org_id, &user_id, false).await
}

/// Reactivate a user. Idempotent.
#[utoipa::path(post, operation_id = "users_reactivate", path = "/organizations/{org_id}/users/{user_id}/reactivate", tag = "users",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "The reactivated user", body = UserDto, headers(("ETag" = String)))),
    security(("bearer" = [])))]
pub async fn reactivate(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    set_active(state, admin, &org_id, &user_id, true).await
}

/// Set (or reset) a user's password: the organization's password policy
/// applies (400 naming the rule), and the user's sessions end and refresh
/// tokens are revoked.
#[utoipa::path(put, operation_id = "users_set_password", path = "/organizations/{org_id}/users/{user_id}/password", tag = "users",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id")),
    request_body = SetPassword,
    responses((status = 204, description = "The password is set")),
    security(("bearer" = [])))]
pub async fn set_password(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id)): Path<(String, String)>,
    AdminJson(body): AdminJson<SetPassword>,
) -> Result<Response, AdminError> {
    let (organization, user) = find_user(&state, &admin, &org_id, &user_id).await?;
    let set = zenoauth_domain::users::set_password(
        &state.stores,
        state.services.hasher.as_ref(),
        state.services.clock.as_ref(),
        &organization,
        user,
        &body.password,
    )
    .await?;
    let data = json!({"sessions_ended": set.sessions_ended});
    record(&state, &admin, organization.id, "user.password_set", set.user.id.to_string(), data).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Mail the user a link to confirm their email address (single-use,
/// short-lived). Accepted even when the address is already verified.
#[utoipa::path(post, operation_id = "users_send_verification", path = "/organizations/{org_id}/users/{user_id}/verification", tag = "users",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 202, description = "The mail is queued in the outbox")),
    security(("bearer" = [])))]
pub async fn send_verification(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let (organization, user) = find_user(&state, &admin, &org_id, &user_id).await?;
    crate::http::account::send_link(
        &state,
        &organization,
        &user,
        zenoauth_domain::email::AccountTokenPurpose::VerifyEmail,
    )
    .await?;
    record(&state, &admin, organization.id, "user.verification_sent", user.id.to_string(), json!({})).await;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Delete a user with their sessions, codes, refresh tokens and role assignments. Idempotent.
#[utoipa::path(delete, operation_id = "users_delete", path = "/organizations/{org_id}/users/{user_id}", tag = "users",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 204, description = "Deleted, or already gone")),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(&org_id)?).await?;
    let Ok(id) = path_id::<UserId>(&user_id) else { return Ok(StatusCode::NO_CONTENT.into_response()) };
    match state.stores.users.delete(organization.id, id).await {
        Ok(()) => record(&state, &admin, organization.id, "user.deleted", id.to_string(), json!({})).await,
        Err(zenoauth_domain::Error::NotFound(_)) => {}
        Err(error) => return Err(error.into()),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
