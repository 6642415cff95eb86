//! Who is calling the admin API, checked as any resource server would check
//! one of ZenoAuth's access tokens (RFC 6750, RFC 9068): a bearer `at+jwt`
//! signed by a published key of the organization its `iss` names
//! (`{public_url}/o/{slug}`, compared exactly), unexpired (`exp`, `nbf`
//! against the injected clock), for the audience `{public_url}/api`, and not
//! revoked (by `jti`) — the domain's `OpenIdProvider::verify_access_token`.
//! The role must be in the token's `roles` claim and still be held, per the
//! store, by a subject that still exists (an active user, or the
//! application of a client_credentials token): `platform-admin` of the
//! `system` organization manages every organization, `org-admin` manages
//! its own organization only.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value as Json;
use zenoauth_domain::ids::{OrganizationId, UserId};
use zenoauth_domain::model::Organization;
use zenoauth_domain::oauth::Issuer;
use zenoauth_domain::roles::{Role, ORG_ADMIN, PLATFORM_ADMIN};
use zenoauth_domain::values::{ClientId, Slug};

use super::error::AdminError;
use crate::http::oidc::flow::provider;
use crate::http::AppState;

/// Longest token the admin API reads.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The authenticated caller of an admin request.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The organization that issued the token.
    pub organization: Organization,
    /// The token's `sub`: a user id, or a client_id for service accounts.
    pub subject: String,
    /// `platform-admin` of the `system` organization.
    pub is_platform_admin: bool,
}

impl Admin {
    /// The organization `id`, if this admin may manage it; otherwise 404,
    /// exactly as if it did not exist.
    pub async fn organization(&self, state: &AppState, id: OrganizationId) -> Result<Organization, AdminError> {
        if self.is_platform_admin {
            return Ok(state.stores.organizations.get(id).await?);
        }
        if id != self.organization.id {
            return Err(AdminError::not_found());
        }
        Ok(state.stores.organizations.get(id).await?)
    }

    /// Refuses (403) what only platform admins may do.
    pub fn require_platform_admin(&self) -> Result<(), AdminError> {
        if self.is_platform_admin {
            Ok(())
        } else {
            Err(AdminError::forbidden(
                "only a platform admin (role platform-admin of the system organization) may do this",
            ))
        }
    }

    /// The audit actor: `{sub}@{slug}`.
    pub fn actor(&self) -> String {
        format!("{}@{}", self.subject, self.organization.slug)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?;
        authenticate(state, token).await
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, AdminError> {
    let mut values = parts.headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else { return Err(AdminError::no_token()) };
    if values.next().is_some() {
        return Err(AdminError::invalid_request("send one Authorization header"));
    }
    let text = value.to_str().map_err(|_| AdminError::invalid_request("the Authorization header is malformed"))?;
    let (scheme, token) = text.split_once(' ').ok_or(AdminError::invalid_request("use the Bearer scheme"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AdminError::invalid_request("use the Bearer scheme"));
    }
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(AdminError::invalid_token("the access token is malformed"));
    }
    Ok(token)
}

async fn authenticate(state: &AppState, token: &str) -> Result<Admin, AdminError> {
    let invalid = || AdminError::invalid_token("the access token is invalid, expired or revoked");
    // The issuer, read before verification only to pick the keys to verify with.
    let issuer = unverified_issuer(token).ok_or_else(invalid)?;
    let prefix = format!("{}/o/", state.public_url.as_str());
    let slug = issuer.strip_prefix(&prefix).and_then(|slug| Slug::parse(slug).ok()).ok_or_else(invalid)?;
    if state.public_url.issuer(slug.as_str()) != issuer {
        return Err(invalid());
    }
    let organization = state.stores.organizations.find_by_slug(&slug).await?.ok_or_else(invalid)?;
    let issuer = Issuer { organization, url: issuer };
    // Signature, typ, iss, exp, nbf and revocation: as for any resource server.
    let claims = provider(state).verify_access_token(&issuer, token).await?.ok_or_else(invalid)?;
    let organization = issuer.organization;
    let audience = format!("{}/api", state.public_url.as_str());
    let audience_ok = match claims.get("aud") {
        Some(Json::String(aud)) => *aud == audience,
        Some(Json::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(audience.as_str())),
        _ => false,
    };
    if !audience_ok {
        return Err(AdminError::invalid_token(
            "the access token is not for the admin API (request scope zenoauth:admin)",
        ));
    }
    let subject = claims.get("sub").and_then(Json::as_str).ok_or_else(invalid)?.to_owned();
    let claimed: Vec<&str> = claims
        .get("roles")
        .and_then(Json::as_array)
        .map(|roles| roles.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    // The claim is only what was true at issuance: the subject must still
    // exist, be active and hold the role now (offboarding takes effect at
    // once, not when the token expires).
    let held = current_roles(state, &organization, &subject, &claims).await?.ok_or_else(invalid)?;
    let holds = |role: &str| claimed.contains(&role) && held.iter().any(|name| name == role);
    let is_platform_admin = organization.slug == Slug::system() && holds(PLATFORM_ADMIN);
    let is_org_admin = holds(ORG_ADMIN);
    if !is_platform_admin && !is_org_admin {
        return Err(AdminError::forbidden("the caller holds no admin role (org-admin, or platform-admin of system)"));
    }
    Ok(Admin { organization, subject, is_platform_admin })
}

/// The role names the token's subject holds now: a user (by id) who exists
/// and is active, or — for a client_credentials token, whose `sub` is its
/// `client_id` — an application that still exists. `None`: no such subject.
async fn current_roles(
    state: &AppState,
    organization: &Organization,
    subject: &str,
    claims: &Json,
) -> Result<Option<Vec<String>>, AdminError> {
    let names = |roles: Vec<Role>| roles.into_iter().map(|role| role.name.as_str().to_owned()).collect();
    if claims.get("client_id").and_then(Json::as_str) == Some(subject) {
        let Ok(client_id) = ClientId::parse(subject) else { return Ok(None) };
        let Some(application) = state.stores.applications.find_by_client_id(organization.id, &client_id).await? else {
            return Ok(None);
        };
        let roles = state.stores.roles.roles_of_application(organization.id, application.id).await?;
        return Ok(Some(names(roles)));
    }
    let Ok(user_id) = subject.parse::<UserId>() else { return Ok(None) };
    match state.stores.users.get(organization.id, user_id).await {
        Ok(user) if user.is_active => {}
        Ok(_) | Err(zenoauth_domain::Error::NotFound(_)) => return Ok(None),
        Err(error) => return Err(error.into()),
    }
    let roles = state.stores.roles.roles_of_user(organization.id, user_id).await?;
    Ok(Some(names(roles)))
}

fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Json = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}
