//! The OpenID Provider: every route under `/o/{slug}`, one issuer per
//! organization. Handlers parse HTTP and render; protocol rules are domain
//! use cases.

pub mod authorize;
pub mod consent;
pub mod discovery;
pub mod end_session;
pub mod federation;
pub mod federation_link;
pub mod flow;
pub mod introspect;
pub mod jwks;
pub mod login;
pub mod revoke;
pub mod token;
pub mod userinfo;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::Router;
use zenoauth_domain::model::Organization;
use zenoauth_domain::values::Slug;

use super::problem::ApiError;
use super::AppState;

/// The routes of every organization's issuer. Each endpoint module adds its
/// own `.route(...)` lines here.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", axum::routing::get(discovery::provider_metadata))
        .route("/.well-known/oauth-authorization-server", axum::routing::get(discovery::provider_metadata))
        .route("/jwks", axum::routing::get(jwks::jwks))
        .route("/authorize", axum::routing::get(authorize::authorize).post(authorize::authorize))
        .route("/login", axum::routing::get(login::show).post(login::submit))
        .route("/federation/start", axum::routing::get(federation::start))
        .route("/federation/callback", axum::routing::get(federation::callback))
        .route("/federation/link", axum::routing::post(federation_link::submit))
        .route("/consent", axum::routing::get(consent::show).post(consent::submit))
        .route("/token", axum::routing::post(token::token).fallback(flow::post_only))
        .route("/userinfo", axum::routing::get(userinfo::userinfo).post(userinfo::userinfo))
        .route("/introspect", axum::routing::post(introspect::introspect).fallback(flow::post_only))
        .route("/revoke", axum::routing::post(revoke::revoke).fallback(flow::post_only))
        .route("/end_session", axum::routing::get(end_session::end_session).post(end_session::end_session))
}

/// The organization named by the `{slug}` path segment. An unknown or
/// malformed slug is 404, indistinguishable from each other.
#[derive(Debug, Clone)]
pub struct Tenant(pub Organization);

impl Tenant {
    /// `{public_url}/o/{slug}`.
    pub fn issuer(&self, state: &AppState) -> String {
        state.public_url.issuer(self.0.slug.as_str())
    }
}

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<std::collections::HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found())?;
        let slug = params.get("slug").and_then(|text| Slug::parse(text).ok()).ok_or_else(ApiError::not_found)?;
        match state.stores.organizations.find_by_slug(&slug).await {
            Ok(Some(organization)) => Ok(Self(organization)),
            Ok(None) => Err(ApiError::not_found()),
            Err(error) => Err(ApiError::from(error)),
        }
    }
}
