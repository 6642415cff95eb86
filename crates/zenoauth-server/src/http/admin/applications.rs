//! `/api/v1/organizations/{org_id}/applications`: OAuth clients. A
//! confidential client's secret is shown once, in the response that creates
//! or rotates it, and never again (only its SHA-256 digest is stored).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};
use time::Duration;
use utoipa::ToSchema;
use zenoauth_crypto::{issue_secret, SecretPrefix};
use zenoauth_domain::ids::ApplicationId;
use zenoauth_domain::model::{Application, ClientType, Organization};
use zenoauth_domain::oauth::settings::{ApplicationSettings, ClientAuthMethod, GrantType};
use zenoauth_domain::values::{ClientId, DisplayName, RedirectUri, ScopeSet};

use super::auth::Admin;
use super::common::{
    check_if_match, created_with_secret, etag_of, next_version, path_id, timestamp, with_etag, AdminJson, AdminQuery,
    Page, PageQuery,
};
use super::error::{AdminError, Kind};
use super::record;
use crate::http::AppState;

/// The longest grace period for a replaced client secret: 30 days.
pub const MAX_GRACE_PERIOD_SECONDS: i64 = 30 * 86_400;

/// An application (OAuth client). Never includes its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019375c2-6647-70a1-bd25-09f47117c3f6", "organization_id": "019375c2-6647-70a1-bd25-09f47117c3f4",
    "client_id": "billing-api", "name": "Billing API", "client_type": "confidential",
    "redirect_uris": ["https://billing.example.com/callback"], "post_logout_redirect_uris": [],
    "allowed_scopes": ["openid", "profile"], "grant_types": ["authorization_code", "refresh_token"],
    "token_endpoint_auth_method": "client_secret_basic", "access_token_lifetime_seconds": 900,
    "id_token_lifetime_seconds": 900, "refresh_token_lifetime_seconds": 2592000, "signing_algorithm": "EdDSA",
    "is_first_party": false, "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z"}))]
pub struct ApplicationDto {
    pub id: uuid::Uuid,
    pub organization_id: uuid::Uuid,
    pub client_id: String,
    pub name: String,
    /// `confidential` (has a secret) or `public` (PKCE only).
    #[schema(example = "confidential")]
    pub client_type: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub access_token_lifetime_seconds: i64,
    pub id_token_lifetime_seconds: i64,
    pub refresh_token_lifetime_seconds: i64,
    /// `EdDSA`, `ES256` or `RS256`.
    pub signing_algorithm: String,
    /// First-party applications skip the consent page.
    pub is_first_party: bool,
    /// The client's JWK set for `private_key_jwt`, if registered.
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Json>,
    pub created_at: String,
    pub updated_at: String,
}

fn grant_name(grant: GrantType) -> &'static str {
    match grant {
        GrantType::AuthorizationCode => "authorization_code",
        GrantType::RefreshToken => "refresh_token",
        GrantType::ClientCredentials => "client_credentials",
    }
}

impl ApplicationDto {
    pub fn from_domain(application: &Application) -> Result<Self, AdminError> {
        let settings = ApplicationSettings::from_application(application)
            .map_err(|_| AdminError::new(Kind::Internal).with_detail("the stored application settings are invalid"))?;
        Ok(Self {
            id: application.id.as_uuid(),
            organization_id: application.organization_id.as_uuid(),
            client_id: application.client_id.as_str().to_owned(),
            name: application.name.as_str().to_owned(),
            client_type: if application.client_type.is_confidential() { "confidential" } else { "public" }.to_owned(),
            redirect_uris: application.redirect_uris.iter().map(|uri| uri.as_str().to_owned()).collect(),
            post_logout_redirect_uris: settings
                .post_logout_redirect_uris
                .iter()
                .map(|uri| uri.as_str().to_owned())
                .collect(),
            allowed_scopes: application.allowed_scopes.iter().map(|scope| scope.as_str().to_owned()).collect(),
            grant_types: settings.grant_types.iter().map(|grant| grant_name(*grant).to_owned()).collect(),
            token_endpoint_auth_method: settings.token_endpoint_auth_method.as_str().to_owned(),
            access_token_lifetime_seconds: settings.access_token_lifetime.whole_seconds(),
            id_token_lifetime_seconds: settings.id_token_lifetime.whole_seconds(),
            refresh_token_lifetime_seconds: settings.refresh_token_lifetime.whole_seconds(),
            signing_algorithm: settings.signing_algorithm.as_str().to_owned(),
            is_first_party: settings.is_first_party,
            jwks: settings.jwks,
            created_at: timestamp(application.created_at),
            updated_at: timestamp(application.updated_at),
        })
    }
}

/// A partial update of an application: the fields given replace the stored ones.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"redirect_uris": ["https://billing.example.com/callback"], "access_token_lifetime_seconds": 300}))]
pub struct ApplicationFields {
    /// 1–200 characters.
    pub name: Option<String>,
    /// https, loopback http, or private-use scheme URIs.
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Scopes the client may request; `zenoauth:admin` lets it obtain admin-API tokens.
    pub allowed_scopes: Option<Vec<String>>,
    /// `authorization_code`, `refresh_token`, `client_credentials`.
    pub grant_types: Option<Vec<String>>,
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt` (confidential), `none` (public).
    pub token_endpoint_auth_method: Option<String>,
    /// 1 s to 400 days.
    pub access_token_lifetime_seconds: Option<i64>,
    pub id_token_lifetime_seconds: Option<i64>,
    pub refresh_token_lifetime_seconds: Option<i64>,
    /// `EdDSA` (default), `ES256`, `RS256`.
    pub signing_algorithm: Option<String>,
    pub is_first_party: Option<bool>,
    /// A JWK set (`{"keys": [...]}`) for `private_key_jwt`.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Json>,
}

/// A new application.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"client_id": "billing-api", "name": "Billing API", "client_type": "confidential",
    "allowed_scopes": ["zenoauth:admin"], "grant_types": ["client_credentials"]}))]
pub struct CreateApplication {
    /// 1–128 visible ASCII characters, unique in the organization; default: the new id.
    pub client_id: Option<String>,
    pub name: String,
    /// `confidential` (default; gets a secret) or `public`.
    pub client_type: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub allowed_scopes: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub access_token_lifetime_seconds: Option<i64>,
    pub id_token_lifetime_seconds: Option<i64>,
    pub refresh_token_lifetime_seconds: Option<i64>,
    pub signing_algorithm: Option<String>,
    pub is_first_party: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Json>,
}

/// The response that creates an application: its secret is shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedApplication {
    pub application: ApplicationDto,
    /// The client secret of a confidential application, shown only now.
    #[schema(example = "zcs_ZK2N3cQ0oGqVq6wP1cS6T6WkM9t3YtB0k2fV6ZyJd1E")]
    pub client_secret: Option<String>,
}

/// A secret rotation.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"grace_period_seconds": 3600}))]
pub struct RotateSecret {
    /// How long the replaced secret keeps working (0 to 2592000 s; default 0: not at all).
    pub grace_period_seconds: Option<i64>,
}

/// A new client secret, shown only now.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"client_id": "billing-api", "client_secret": "zcs_ZK2N3cQ0oGqVq6wP1cS6T6WkM9t3YtB0k2fV6ZyJd1E",
    "previous_secret_expires_at": "2026-01-02T04:04:05Z"}))]
pub struct NewSecret {
    pub client_id: String,
    pub client_secret: String,
    /// Until when the replaced secret still works; `null` when it stopped at once.
    pub previous_secret_expires_at: Option<String>,
}

fn uris(items: &[String], field: &'static str) -> Result<Vec<RedirectUri>, AdminError> {
    if items.len() > 50 {
        return Err(AdminError::validation(format!("{field}: at most 50")));
    }
    items.iter().map(|uri| RedirectUri::parse(uri).map_err(AdminError::from)).collect()
}

/// Applies `fields` to `application` and checks the result as the provider will read it.
pub(crate) fn apply(application: &mut Application, fields: ApplicationFields) -> Result<(), AdminError> {
    if let Some(name) = &fields.name {
        application.name = DisplayName::parse(name)?;
    }
    if let Some(redirect_uris) = &fields.redirect_uris {
        application.redirect_uris = uris(redirect_uris, "redirect_uris")?;
    }
    if let Some(scopes) = &fields.allowed_scopes {
        if scopes.len() > 100 {
            return Err(AdminError::validation("allowed_scopes: at most 100"));
        }
        application.allowed_scopes = ScopeSet::parse(&scopes.join(" "))?;
        if scopes.iter().any(|scope| scope.contains(' ')) {
            return Err(AdminError::validation("allowed_scopes: each must be one scope token"));
        }
    }
    let mut settings: Map<String, Json> = application.settings.as_object().cloned().unwrap_or_default();
    let mut set = |key: &str, value: Json| {
        settings.insert(key.to_owned(), value);
    };
    if let Some(value) = &fields.post_logout_redirect_uris {
        uris(value, "post_logout_redirect_uris")?;
        set("post_logout_redirect_uris", json!(value));
    }
    if let Some(value) = &fields.grant_types {
        if value.len() > 3 || value.iter().any(|grant| GrantType::parse(grant).is_none()) {
            return Err(AdminError::validation("grant_types: authorization_code, refresh_token, client_credentials"));
        }
        set("grant_types", json!(value));
    }
    if let Some(value) = &fields.token_endpoint_auth_method {
        if ClientAuthMethod::parse(value).is_none() {
            return Err(AdminError::validation(
                "token_endpoint_auth_method: client_secret_basic, client_secret_post, private_key_jwt or none",
            ));
        }
        set("token_endpoint_auth_method", json!(value));
    }
    for (key, value) in [
        ("access_token_lifetime_seconds", fields.access_token_lifetime_seconds),
        ("id_token_lifetime_seconds", fields.id_token_lifetime_seconds),
        ("refresh_token_lifetime_seconds", fields.refresh_token_lifetime_seconds),
    ] {
        if let Some(seconds) = value {
            set(key, json!(seconds));
        }
    }
    if let Some(value) = &fields.signing_algorithm {
        set("signing_algorithm", json!(value));
    }
    if let Some(value) = fields.is_first_party {
        set("is_first_party", json!(value));
    }
    if let Some(value) = fields.jwks {
        set("jwks", value);
    }
    application.settings = Json::Object(settings);
    super::common::bounded_object(&application.settings, "settings")?;
    ApplicationSettings::from_application(application)?;
    Ok(())
}

async fn find(
    state: &AppState,
    admin: &Admin,
    org_id: &str,
    application_id: &str,
) -> Result<(Organization, Application), AdminError> {
    let organization = admin.organization(state, path_id(org_id)?).await?;
    let application = state.stores.applications.get(organization.id, path_id(application_id)?).await?;
    Ok((organization, application))
}

/// List applications.
#[utoipa::path(get, operation_id = "applications_list", path = "/organizations/{org_id}/applications", tag = "applications",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), PageQuery),
    responses((status = 200, description = "One page of applications, by id", body = Page<ApplicationDto>)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Path(org_id): Path<String>,
    AdminQuery(query): AdminQuery<PageQuery>,
) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(&org_id)?).await?;
    let page = query.page()?;
    let applications = state.stores.applications.list(organization.id, &page).await?;
    let items = applications.iter().map(ApplicationDto::from_domain).collect::<Result<Vec<_>, _>>()?;
    Ok(axum::Json(Page::new(items, &page, |dto: &ApplicationDto| dto.id)).into_response())
}

/// Create an application; a confidential one's secret is in this response only.
#[utoipa::path(post, operation_id = "applications_create", path = "/organizations/{org_id}/applications", tag = "applications",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id")),
    request_body = CreateApplication,
    responses((status = 201, description = "Created (the secret is shown only now)", body = CreatedApplication,
        headers(("Location" = String)))),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Path(org_id): Path<String>,
    AdminJson(body): AdminJson<CreateApplication>,
) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(&org_id)?).await?;
    let id: ApplicationId = super::ids(&state).next();
    let client_id = match &body.client_id {
        Some(text) => ClientId::parse(text)?,
        None => ClientId::parse(&id.to_string())?,
    };
    let secret = match body.client_type.as_deref() {
        None | Some("confidential") => Some(issue_secret(state.services.random.as_ref(), SecretPrefix::ClientSecret)),
        Some("public") => None,
        Some(_) => return Err(AdminError::validation("client_type: confidential or public")),
    };
    let now = state.services.clock.now();
    let mut application = Application {
        id,
        organization_id: organization.id,
        client_id,
        name: DisplayName::parse(&body.name)?,
        client_type: match &secret {
            Some(secret) => ClientType::Confidential { secret_digest: secret.digest() },
            None => ClientType::Public,
        },
        redirect_uris: Vec::new(),
        allowed_scopes: ScopeSet::default(),
        settings: json!({}),
        created_at: now,
        updated_at: now,
    };
    let fields = ApplicationFields {
        name: None,
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        allowed_scopes: body.allowed_scopes,
        grant_types: body.grant_types,
        token_endpoint_auth_method: body.token_endpoint_auth_method,
        access_token_lifetime_seconds: body.access_token_lifetime_seconds,
        id_token_lifetime_seconds: body.id_token_lifetime_seconds,
        refresh_token_lifetime_seconds: body.refresh_token_lifetime_seconds,
        signing_algorithm: body.signing_algorithm,
        is_first_party: body.is_first_party,
        jwks: body.jwks,
    };
    apply(&mut application, fields)?;
    state.stores.applications.create(&application).await?;
    record(&state, &admin, organization.id, "application.created", application.client_id.to_string(), json!({})).await;
    let stored = state.stores.applications.get(organization.id, application.id).await?;
    let location = format!("/api/v1/organizations/{}/applications/{}", organization.id, application.id);
    let response = CreatedApplication {
        application: ApplicationDto::from_domain(&stored)?,
        client_secret: secret.map(|secret| secret.expose().to_owned()),
    };
    Ok(created_with_secret(&location, response))
}

/// Read an application (never its secret).
#[utoipa::path(get, operation_id = "applications_read", path = "/organizations/{org_id}/applications/{application_id}", tag = "applications",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"),
        ("application_id" = uuid::Uuid, Path, description = "The application's id (not its client_id)")),
    responses((status = 200, description = "The application", body = ApplicationDto, headers(("ETag" = String)))),
    security(("bearer" = [])))]
pub async fn read(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, application_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let (_, application) = find(&state, &admin, &org_id, &application_id).await?;
    Ok(with_etag(ApplicationDto::from_domain(&application)?))
}

/// Update an application's URIs, scopes, grant types, lifetimes, algorithm or
/// first-party flag (`If-Match` required).
#[utoipa::path(patch, operation_id = "applications_update", path = "/organizations/{org_id}/applications/{application_id}", tag = "applications",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"),
        ("application_id" = uuid::Uuid, Path, description = "The application's id"),
        ("If-Match" = String, Header, description = "The ETag of the representation being changed")),
    request_body = ApplicationFields,
    responses((status = 200, description = "The updated application", body = ApplicationDto, headers(("ETag" = String)))),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, application_id)): Path<(String, String)>,
    headers: HeaderMap,
    AdminJson(body): AdminJson<ApplicationFields>,
) -> Result<Response, AdminError> {
    let (organization, mut application) = find(&state, &admin, &org_id, &application_id).await?;
    check_if_match(&headers, &etag_of(&ApplicationDto::from_domain(&application)?))?;
    apply(&mut application, body)?;
    // Conditional on the version the ETag check read: 412 on a lost update.
    let read_at = application.updated_at;
    application.updated_at = next_version(read_at, state.services.clock.now());
    state.stores.applications.update_if_unchanged(&application, read_at).await?;
    record(&state, &admin, organization.id, "application.updated", application.client_id.to_string(), json!({})).await;
    let stored = state.stores.applications.get(organization.id, application.id).await?;
    Ok(with_etag(ApplicationDto::from_domain(&stored)?))
}

/// Rotate a confidential application's secret; the new one is in this response
/// only, the old one works for `grace_period_seconds` more.
#[utoipa::path(post, operation_id = "applications_rotate_secret", path = "/organizations/{org_id}/applications/{application_id}/secret", tag = "applications",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"),
        ("application_id" = uuid::Uuid, Path, description = "The application's id")),
    request_body = RotateSecret,
    responses((status = 200, description = "The new secret (shown only now)", body = NewSecret)),
    security(("bearer" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, application_id)): Path<(String, String)>,
    AdminJson(body): AdminJson<RotateSecret>,
) -> Result<Response, AdminError> {
    let (organization, application) = find(&state, &admin, &org_id, &application_id).await?;
    if !application.client_type.is_confidential() {
        return Err(AdminError::conflict("a public application has no secret"));
    }
    let grace = body.grace_period_seconds.unwrap_or(0);
    if !(0..=MAX_GRACE_PERIOD_SECONDS).contains(&grace) {
        return Err(AdminError::validation("grace_period_seconds: 0 to 2592000"));
    }
    let now = state.services.clock.now();
    let until = (grace > 0).then(|| now + Duration::seconds(grace));
    let secret = issue_secret(state.services.random.as_ref(), SecretPrefix::ClientSecret);
    state.stores.client_secrets.rotate(organization.id, application.id, &secret.digest(), until, now).await?;
    record(
        &state,
        &admin,
        organization.id,
        "application.secret_rotated",
        application.client_id.to_string(),
        json!({"grace_period_seconds": grace}),
    )
    .await;
    let response = NewSecret {
        client_id: application.client_id.as_str().to_owned(),
        client_secret: secret.expose().to_owned(),
        previous_secret_expires_at: until.map(timestamp),
    };
    let mut response = axum::Json(response).into_response();
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Delete an application with its codes, refresh tokens and role assignments. Idempotent.
#[utoipa::path(delete, operation_id = "applications_delete", path = "/organizations/{org_id}/applications/{application_id}", tag = "applications",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"),
        ("application_id" = uuid::Uuid, Path, description = "The application's id")),
    responses((status = 204, description = "Deleted, or already gone")),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, application_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(&org_id)?).await?;
    let Ok(id) = path_id::<ApplicationId>(&application_id) else { return Ok(StatusCode::NO_CONTENT.into_response()) };
    match state.stores.applications.delete(organization.id, id).await {
        Ok(()) => record(&state, &admin, organization.id, "application.deleted", id.to_string(), json!({})).await,
        Err(zenoauth_domain::Error::NotFound(_)) => {}
        Err(error) => return Err(error.into()),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
