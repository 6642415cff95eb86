//! `GET/POST /o/{slug}/account/identities`: the signed-in user's linked
//! upstream identities (federation, issue 6) — provider, upstream subject,
//! when linked — each with a remove button (CSRF-protected). Removing the
//! last way to sign in of a user without a password is refused.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use uuid::Uuid;
use zenoauth_domain::model::User;
use zenoauth_domain::oauth::{UnlinkError, Unlinker};

use super::{posted_form, with_csrf};
use crate::http::admin::common::timestamp;
use crate::http::oidc::flow::{self, branding, field, internal_page};
use crate::http::oidc::Tenant;
use crate::http::pages::{error_page, escape, hidden, Branding, Page};
use crate::http::AppState;

pub const IDENTITIES_TITLE: &str = "Connected identity providers";
pub const NO_IDENTITIES: &str = "No identity provider is connected to your account.";
pub const REMOVE_BUTTON: &str = "Remove";
pub const REMOVED: &str = "The identity provider was disconnected from your account.";
pub const NOT_SIGNED_IN: &str = "Sign in first to see your connected identity providers.";
pub const SIGN_IN_LINK: &str = "Sign in";
pub const LAST_SIGN_IN_METHOD: &str = "This is the only way to sign in to your account (it has no usable password \
     and no passkey), so it cannot be removed. Set a password or add a passkey first, then remove it.";
pub const NOT_LINKED: &str = "This identity provider is not connected to your account.";

/// The signed-in (full session) user of this organization, or the page to
/// answer with.
async fn signed_in_user(state: &AppState, tenant: &Tenant, headers: &HeaderMap) -> Result<User, Box<Response>> {
    let branding = branding(tenant);
    let oidc = flow::provider(state);
    let issuer = flow::issuer(tenant, state);
    let cookie = flow::cookie(headers, &flow::session_cookie_name(state, tenant));
    let session = match oidc.current_session(&issuer, cookie.as_deref()).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            let body =
                format!("<p>{}</p><p><a href=\"../login\">{}</a></p>", escape(NOT_SIGNED_IN), escape(SIGN_IN_LINK));
            return Err(Box::new(Page::new(StatusCode::UNAUTHORIZED, IDENTITIES_TITLE).push(&body).render(&branding)));
        }
        Err(error) => return Err(Box::new(internal_page(&error, &branding))),
    };
    match oidc.session_user(&issuer, &session).await {
        Ok(user) => Ok(user),
        Err(error) => Err(Box::new(internal_page(&error, &branding))),
    }
}

/// The list, with `notice` (and `problem`, an error) above it.
async fn list_page(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    branding: &Branding,
    user: &User,
    status: StatusCode,
    notice: Option<&str>,
) -> Response {
    let organization = tenant.0.id;
    let identities = match state.stores.federation.identities_of_user(organization, user.id).await {
        Ok(identities) => identities,
        Err(error) => return internal_page(&error, branding),
    };
    let providers = match state.stores.federation.list_providers(organization).await {
        Ok(providers) => providers,
        Err(error) => return internal_page(&error, branding),
    };
    let (csrf, cookie) = flow::csrf_token(state, headers);
    let mut body = String::new();
    if let Some(notice) = notice {
        let class = if status.is_success() { "notice" } else { "error" };
        body.push_str(&format!("<p class=\"{class}\" role=\"alert\">{}</p>", escape(notice)));
    }
    body.push_str(&format!("<p>{}</p>", escape(user.email.as_str())));
    if identities.is_empty() {
        body.push_str(&format!("<p>{}</p>", escape(NO_IDENTITIES)));
    } else {
        body.push_str("<table><thead><tr><th>Provider</th><th>Account at the provider</th><th>Connected</th><th></th></tr></thead><tbody>");
        for identity in &identities {
            let name = providers
                .iter()
                .find(|provider| provider.id == identity.provider_id)
                .map_or_else(|| identity.provider_id.to_string(), |provider| provider.name.clone());
            let linked = timestamp(identity.created_at);
            let date = linked.get(..10).unwrap_or(&linked);
            body.push_str(&format!(
                "<tr><td>{name}</td><td>{subject}</td><td>{date}</td><td>\
                 <form method=\"post\" action=\"identities\">{csrf}{provider}{subject_field}\
                 <button type=\"submit\">{remove}</button></form></td></tr>",
                name = escape(&name),
                subject = escape(&identity.subject),
                date = escape(date),
                csrf = hidden("csrf_token", &csrf),
                provider = hidden("provider_id", &identity.provider_id.to_string()),
                subject_field = hidden("subject", &identity.subject),
                remove = escape(REMOVE_BUTTON),
            ));
        }
        body.push_str("</tbody></table>");
    }
    with_csrf(Page::new(status, IDENTITIES_TITLE).push(&body), cookie).render(branding)
}

/// `GET /account/identities`.
pub async fn show(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap) -> Response {
    let branding = branding(&tenant);
    match signed_in_user(&state, &tenant, &headers).await {
        Ok(user) => list_page(&state, &tenant, &headers, &branding, &user, StatusCode::OK, None).await,
        Err(page) => *page,
    }
}

/// `POST /account/identities` (`provider_id`, `subject`): removes one link.
pub async fn remove(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let branding = branding(&tenant);
    let pairs = match posted_form(&state, &headers, &body, &branding) {
        Ok(pairs) => pairs,
        Err(page) => return *page,
    };
    let user = match signed_in_user(&state, &tenant, &headers).await {
        Ok(user) => user,
        Err(page) => return *page,
    };
    let provider = field(&pairs, "provider_id").and_then(|id| Uuid::parse_str(id).ok());
    let subject = field(&pairs, "subject").filter(|subject| !subject.is_empty() && subject.len() <= 1024);
    let (Some(provider), Some(subject)) = (provider, subject) else {
        return error_page(StatusCode::BAD_REQUEST, "The request is incomplete.", &branding);
    };
    let oidc = flow::provider(&state);
    let (status, notice) = match oidc.unlink_identity(&user, provider, subject, Unlinker::User).await {
        Ok(_) => (StatusCode::OK, REMOVED),
        Err(UnlinkError::LastSignInMethod) => (StatusCode::CONFLICT, LAST_SIGN_IN_METHOD),
        Err(UnlinkError::NotFound) => (StatusCode::NOT_FOUND, NOT_LINKED),
        Err(UnlinkError::Internal(error)) => return internal_page(&error, &branding),
    };
    list_page(&state, &tenant, &headers, &branding, &user, status, Some(notice)).await
}
