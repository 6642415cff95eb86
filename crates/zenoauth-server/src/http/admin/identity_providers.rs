//! `/api/v1/organizations/{org_id}/identity-providers` (issue 6): upstream
//! identity providers of an organization (OpenID Connect, or plain OAuth 2.0
//! with configured endpoints). The client secret is sealed
//! under the key-encryption key on write and never shown again
//! (`has_client_secret` says whether one is set).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;
use zenoauth_domain::federation::{ClaimMapping, IdentityProvider, ProviderKind};
use zenoauth_domain::model::Organization;
use zenoauth_domain::ports::FederationCrypto as _;

use super::auth::Admin;
use super::common::{check_if_match, created, etag_of, path_id, timestamp, with_etag, AdminJson};
use super::error::AdminError;
use super::record;
use crate::http::AppState;

/// How upstream claims become local data at each login.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"attributes": {"department": "department"}, "groups_claim": "groups",
    "roles": {"engineering": "developer"}}))]
pub struct ClaimMappingDto {
    /// Upstream claim name → top-level profile attribute name.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The upstream claim holding the groups (string or array); `groups` when absent.
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// Upstream group value → local role name. The roles named here are
    /// granted or withdrawn at each login to match the upstream groups.
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
}

impl From<&ClaimMapping> for ClaimMappingDto {
    fn from(mapping: &ClaimMapping) -> Self {
        Self {
            attributes: mapping.attributes.clone(),
            groups_claim: mapping.groups_claim.clone(),
            roles: mapping.roles.clone(),
        }
    }
}

impl From<ClaimMappingDto> for ClaimMapping {
    fn from(dto: ClaimMappingDto) -> Self {
        Self { attributes: dto.attributes, groups_claim: dto.groups_claim, roles: dto.roles }
    }
}

/// What protocol an upstream speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKindDto {
    /// OpenID Connect: endpoints from discovery, a validated ID token.
    Oidc,
    /// Plain OAuth 2.0 (GitHub-style): configured endpoints, the identity
    /// from the userinfo endpoint.
    Oauth2,
}

impl From<ProviderKind> for ProviderKindDto {
    fn from(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::Oidc => Self::Oidc,
            ProviderKind::OAuth2 => Self::Oauth2,
        }
    }
}

impl From<ProviderKindDto> for ProviderKind {
    fn from(kind: ProviderKindDto) -> Self {
        match kind {
            ProviderKindDto::Oidc => Self::Oidc,
            ProviderKindDto::Oauth2 => Self::OAuth2,
        }
    }
}

/// An upstream identity provider.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "019375c2-6647-70a1-bd25-09f47117c3f9", "organization_id": "019375c2-6647-70a1-bd25-09f47117c3f4",
    "name": "Corp SSO", "kind": "oidc", "issuer": "https://login.corp.example/realms/staff",
    "authorization_endpoint": null, "token_endpoint": null, "userinfo_endpoint": null,
    "subject_claim": "sub", "email_claim": "email", "icon_url": null, "trust_upstream_amr": false,
    "client_id": "zenoauth", "has_client_secret": true, "scopes": ["openid", "profile", "email"], "enabled": true,
    "jit_provisioning": true, "link_by_verified_email": false,
    "claim_mapping": {"attributes": {}, "groups_claim": "groups", "roles": {"engineering": "developer"}},
    "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z"}))]
pub struct IdentityProviderDto {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub kind: ProviderKindDto,
    pub issuer: String,
    /// `oauth2` only.
    pub authorization_endpoint: Option<String>,
    /// `oauth2` only.
    pub token_endpoint: Option<String>,
    /// `oauth2` only.
    pub userinfo_endpoint: Option<String>,
    pub subject_claim: String,
    pub email_claim: String,
    pub icon_url: Option<String>,
    pub trust_upstream_amr: bool,
    pub client_id: String,
    pub has_client_secret: bool,
    pub scopes: Vec<String>,
    pub enabled: bool,
    pub jit_provisioning: bool,
    pub link_by_verified_email: bool,
    pub claim_mapping: ClaimMappingDto,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&IdentityProvider> for IdentityProviderDto {
    fn from(provider: &IdentityProvider) -> Self {
        Self {
            id: provider.id,
            organization_id: provider.organization_id.as_uuid(),
            name: provider.name.clone(),
            kind: provider.kind.into(),
            issuer: provider.issuer.clone(),
            authorization_endpoint: provider.authorization_endpoint.clone(),
            token_endpoint: provider.token_endpoint.clone(),
            userinfo_endpoint: provider.userinfo_endpoint.clone(),
            subject_claim: provider.subject_claim.clone(),
            email_claim: provider.email_claim.clone(),
            icon_url: provider.icon_url.clone(),
            trust_upstream_amr: provider.trust_upstream_amr,
            client_id: provider.client_id.clone(),
            has_client_secret: provider.encrypted_client_secret.is_some(),
            scopes: provider.scopes.clone(),
            enabled: provider.enabled,
            jit_provisioning: provider.jit_provisioning,
            link_by_verified_email: provider.link_by_verified_email,
            claim_mapping: ClaimMappingDto::from(&provider.claim_mapping),
            created_at: timestamp(provider.created_at),
            updated_at: timestamp(provider.updated_at),
        }
    }
}

/// Every provider of the organization.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdentityProviderList {
    pub items: Vec<IdentityProviderDto>,
}

/// A new provider.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Corp SSO", "issuer": "https://login.corp.example/realms/staff",
    "client_id": "zenoauth", "client_secret": "s3cret", "claim_mapping": {"roles": {"engineering": "developer"}}}))]
pub struct CreateIdentityProvider {
    /// Shown on the login button; 1–100 characters, unique in the organization.
    pub name: String,
    /// `oidc` (default) or `oauth2`.
    pub kind: Option<ProviderKindDto>,
    /// `oidc`: the upstream issuer (its discovery document is at
    /// `{issuer}/.well-known/openid-configuration`). `oauth2`: an identifier
    /// of the upstream, e.g. `https://github.com` (not fetched).
    pub issuer: String,
    /// `oauth2` only, required there: https (http only for loopback).
    pub authorization_endpoint: Option<String>,
    /// `oauth2` only, required there: https (http only for loopback).
    pub token_endpoint: Option<String>,
    /// `oauth2` only, required there: https (http only for loopback).
    pub userinfo_endpoint: Option<String>,
    /// The claim naming the upstream user (string or number): `sub` (the
    /// only value for `oidc`); for `oauth2` default `id`. An immutable id the
    /// upstream never reassigns: `email`, `login`, `preferred_username`,
    /// `name` and `upn` are refused.
    pub subject_claim: Option<String>,
    /// The claim holding the email. Default `email`; only `email` can count as
    /// verified.
    pub email_claim: Option<String>,
    /// The login button's icon: an https URL, or a base64 `data:image/png` /
    /// `data:image/svg+xml` URL; at most 8192 characters.
    pub icon_url: Option<String>,
    /// `oidc` only: an upstream ID token whose `amr` shows a multi-factor
    /// login satisfies the organization's required second factor. Default false.
    pub trust_upstream_amr: Option<bool>,
    pub client_id: String,
    /// Omit for a public client (PKCE only). Stored encrypted; never shown again.
    pub client_secret: Option<String>,
    /// `oidc`: must include `openid`; default `["openid", "profile", "email"]`.
    /// `oauth2`: the upstream's own scopes; default none.
    pub scopes: Option<Vec<String>>,
    /// Default true.
    pub enabled: Option<bool>,
    /// Create unknown users at their first login. Default true.
    pub jit_provisioning: Option<bool>,
    /// Link to the local user with the same email when the upstream says
    /// `email_verified: true`. Default false.
    pub link_by_verified_email: Option<bool>,
    pub claim_mapping: Option<ClaimMappingDto>,
}

/// A partial update: the fields given replace the stored ones
/// (`client_secret: null` removes the secret).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": false}))]
pub struct UpdateIdentityProvider {
    pub name: Option<String>,
    /// Changing the kind without `subject_claim` resets it to the kind's default.
    /// Changing `kind`, `issuer` or `subject_claim` is refused (409) while
    /// users are linked to the provider.
    pub kind: Option<ProviderKindDto>,
    pub issuer: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub authorization_endpoint: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub token_endpoint: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub userinfo_endpoint: Option<Option<String>>,
    pub subject_claim: Option<String>,
    pub email_claim: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub icon_url: Option<Option<String>>,
    pub trust_upstream_amr: Option<bool>,
    pub client_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<Option<String>>,
    pub scopes: Option<Vec<String>>,
    pub enabled: Option<bool>,
    pub jit_provisioning: Option<bool>,
    pub link_by_verified_email: Option<bool>,
    pub claim_mapping: Option<ClaimMappingDto>,
}

/// A field that is present (possibly `null`) is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

fn seal(state: &AppState, provider: &IdentityProvider, secret: Option<&str>) -> Result<Option<Vec<u8>>, AdminError> {
    match secret {
        Some(secret) => Ok(Some(state.services.federation_crypto.seal_client_secret(
            provider.organization_id,
            provider.id,
            secret,
        )?)),
        None => Ok(None),
    }
}

async fn find(
    state: &AppState,
    admin: &Admin,
    org_id: &str,
    provider_id: &str,
) -> Result<(Organization, IdentityProvider), AdminError> {
    let organization = admin.organization(state, path_id(org_id)?).await?;
    let id: Uuid = path_id(provider_id)?;
    let provider = state
        .stores
        .federation
        .find_provider(organization.id, id)
        .await?
        .ok_or(zenoauth_domain::Error::NotFound("identity_provider"))?;
    Ok((organization, provider))
}

/// List an organization's identity providers.
#[utoipa::path(get, operation_id = "identity_providers_list", path = "/organizations/{org_id}/identity-providers",
    tag = "identity-providers",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id")),
    responses((status = 200, description = "Every provider, by id", body = IdentityProviderList)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Path(org_id): Path<String>,
) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(&org_id)?).await?;
    let providers = state.stores.federation.list_providers(organization.id).await?;
    let items = providers.iter().map(IdentityProviderDto::from).collect();
    Ok(axum::Json(IdentityProviderList { items }).into_response())
}

/// Add an identity provider.
#[utoipa::path(post, operation_id = "identity_providers_create", path = "/organizations/{org_id}/identity-providers",
    tag = "identity-providers",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id")),
    request_body = CreateIdentityProvider,
    responses((status = 201, description = "Created", body = IdentityProviderDto, headers(("Location" = String), ("ETag" = String)))),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Path(org_id): Path<String>,
    AdminJson(body): AdminJson<CreateIdentityProvider>,
) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(&org_id)?).await?;
    let now = state.services.clock.now();
    let kind = body.kind.map_or(ProviderKind::Oidc, ProviderKind::from);
    let default_scopes = match kind {
        ProviderKind::Oidc => vec!["openid".into(), "profile".into(), "email".into()],
        ProviderKind::OAuth2 => Vec::new(),
    };
    let mut provider = IdentityProvider {
        id: super::ids(&state).next(),
        organization_id: organization.id,
        name: body.name.trim().to_owned(),
        kind,
        issuer: body.issuer,
        authorization_endpoint: body.authorization_endpoint,
        token_endpoint: body.token_endpoint,
        userinfo_endpoint: body.userinfo_endpoint,
        subject_claim: body.subject_claim.unwrap_or_else(|| kind.default_subject_claim().to_owned()),
        email_claim: body.email_claim.unwrap_or_else(|| "email".to_owned()),
        icon_url: body.icon_url,
        trust_upstream_amr: body.trust_upstream_amr.unwrap_or(false),
        client_id: body.client_id,
        encrypted_client_secret: None,
        scopes: body.scopes.unwrap_or(default_scopes),
        enabled: body.enabled.unwrap_or(true),
        jit_provisioning: body.jit_provisioning.unwrap_or(true),
        link_by_verified_email: body.link_by_verified_email.unwrap_or(false),
        claim_mapping: body.claim_mapping.unwrap_or_default().into(),
        created_at: now,
        updated_at: now,
    };
    provider.validate()?;
    provider.encrypted_client_secret = seal(&state, &provider, body.client_secret.as_deref())?;
    state.stores.federation.create_provider(&provider).await?;
    let data = json!({"name": provider.name, "kind": provider.kind.as_str(), "issuer": provider.issuer});
    record(&state, &admin, organization.id, "identity_provider.created", provider.id.to_string(), data).await;
    let location = format!("/api/v1/organizations/{}/identity-providers/{}", organization.id, provider.id);
    Ok(created(&location, IdentityProviderDto::from(&provider)))
}

/// Read an identity provider.
#[utoipa::path(get, operation_id = "identity_providers_read",
    path = "/organizations/{org_id}/identity-providers/{provider_id}", tag = "identity-providers",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"),
        ("provider_id" = uuid::Uuid, Path, description = "The provider's id")),
    responses((status = 200, description = "The provider", body = IdentityProviderDto, headers(("ETag" = String)))),
    security(("bearer" = [])))]
pub async fn read(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, provider_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let (_, provider) = find(&state, &admin, &org_id, &provider_id).await?;
    Ok(with_etag(IdentityProviderDto::from(&provider)))
}

/// Update an identity provider (`If-Match` required).
#[utoipa::path(patch, operation_id = "identity_providers_update",
    path = "/organizations/{org_id}/identity-providers/{provider_id}", tag = "identity-providers",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"),
        ("provider_id" = uuid::Uuid, Path, description = "The provider's id"),
        ("If-Match" = String, Header, description = "The ETag of the representation being changed")),
    request_body = UpdateIdentityProvider,
    responses((status = 200, description = "The updated provider", body = IdentityProviderDto, headers(("ETag" = String)))),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, provider_id)): Path<(String, String)>,
    headers: HeaderMap,
    AdminJson(body): AdminJson<UpdateIdentityProvider>,
) -> Result<Response, AdminError> {
    let (organization, mut provider) = find(&state, &admin, &org_id, &provider_id).await?;
    check_if_match(&headers, &etag_of(&IdentityProviderDto::from(&provider)))?;
    let before = provider.clone();
    if let Some(name) = body.name {
        provider.name = name.trim().to_owned();
    }
    if let Some(kind) = body.kind.map(ProviderKind::from) {
        if kind != provider.kind && body.subject_claim.is_none() {
            provider.subject_claim = kind.default_subject_claim().to_owned();
        }
        provider.kind = kind;
    }
    if let Some(issuer) = body.issuer {
        provider.issuer = issuer;
    }
    if let Some(endpoint) = body.authorization_endpoint {
        provider.authorization_endpoint = endpoint;
    }
    if let Some(endpoint) = body.token_endpoint {
        provider.token_endpoint = endpoint;
    }
    if let Some(endpoint) = body.userinfo_endpoint {
        provider.userinfo_endpoint = endpoint;
    }
    if let Some(claim) = body.subject_claim {
        provider.subject_claim = claim;
    }
    if let Some(claim) = body.email_claim {
        provider.email_claim = claim;
    }
    if let Some(icon) = body.icon_url {
        provider.icon_url = icon;
    }
    if let Some(trust) = body.trust_upstream_amr {
        provider.trust_upstream_amr = trust;
    }
    if let Some(client_id) = body.client_id {
        provider.client_id = client_id;
    }
    if let Some(scopes) = body.scopes {
        provider.scopes = scopes;
    }
    if let Some(enabled) = body.enabled {
        provider.enabled = enabled;
    }
    if let Some(jit_provisioning) = body.jit_provisioning {
        provider.jit_provisioning = jit_provisioning;
    }
    if let Some(link) = body.link_by_verified_email {
        provider.link_by_verified_email = link;
    }
    if let Some(mapping) = body.claim_mapping {
        provider.claim_mapping = mapping.into();
    }
    provider.validate()?;
    if provider.renames_subjects(&before)
        && state.stores.federation.provider_has_identities(organization.id, provider.id).await?
    {
        return Err(AdminError::conflict(zenoauth_domain::federation::SUBJECT_RENAME_REFUSED));
    }
    if let Some(secret) = body.client_secret {
        provider.encrypted_client_secret = seal(&state, &provider, secret.as_deref())?;
    }
    provider.updated_at = state.services.clock.now();
    state.stores.federation.update_provider(&provider).await?;
    record(&state, &admin, organization.id, "identity_provider.updated", provider.id.to_string(), json!({})).await;
    Ok(with_etag(IdentityProviderDto::from(&provider)))
}

/// Delete an identity provider with its linked identities. Idempotent.
#[utoipa::path(delete, operation_id = "identity_providers_delete",
    path = "/organizations/{org_id}/identity-providers/{provider_id}", tag = "identity-providers",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"),
        ("provider_id" = uuid::Uuid, Path, description = "The provider's id")),
    responses((status = 204, description = "Deleted, or already gone")),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, provider_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(&org_id)?).await?;
    let Ok(id) = path_id::<Uuid>(&provider_id) else { return Ok(StatusCode::NO_CONTENT.into_response()) };
    if state.stores.federation.delete_provider(organization.id, id).await? {
        record(&state, &admin, organization.id, "identity_provider.deleted", id.to_string(), json!({})).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
