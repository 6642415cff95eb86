//! Login through an upstream OpenID provider (issue 6):
//! `GET /federation/start?provider=…&authorize=…` keeps state, nonce and a
//! PKCE verifier server-side (single use, expiring) and sends the browser to
//! the upstream; `GET /federation/callback` exchanges the code, validates
//! the ID token (signature against the upstream JWKS, `iss`, `aud`, `exp`,
//! `nonce`), resolves the local user and continues the original
//! authorization request exactly as the password login does. Upstream
//! tokens stay here. Every failure ends on a clear page and an audit event.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::json;
use uuid::Uuid;
use zenoauth_crypto::{digest_secret, pkce_s256_challenge};
use zenoauth_domain::federation::{FederationLogin, IdentityProvider, ProviderKind};
use zenoauth_domain::oauth::{FederatedLoginError, Issuer, OpenIdProvider};

use super::authorize::{proceed, MAX_REQUEST_BYTES};
use super::flow::{self, branding, field, internal_page};
use super::Tenant;
use crate::federation::{identity, UpstreamError};
use crate::http::pages::{error_page, escape, strings, Branding, Page};
use crate::http::AppState;

/// How long a login may stay at the upstream.
const LOGIN_LIFETIME: time::Duration = time::Duration::minutes(10);

pub const STATE_MISMATCH: &str =
    "This sign-in link is no longer valid (it was used already, expired, or was not started here). Please start again.";
pub const UPSTREAM_DENIED: &str = "The identity provider did not sign you in.";
pub const UPSTREAM_UNAVAILABLE: &str = "The identity provider could not be reached. Please try again later.";
pub const UPSTREAM_INVALID: &str = "The identity provider's answer could not be verified.";
pub const UNKNOWN_PROVIDER: &str = "This identity provider is not available.";
pub const PROVISIONING_DISABLED: &str =
    "Your account at the identity provider is not connected to an account here, and accounts are not created automatically. Ask your administrator for access.";
pub const ACCOUNT_EXISTS: &str =
    "An account with this email address already exists. Sign in with your password first; it cannot be connected automatically.";
pub const MISSING_EMAIL: &str =
    "The identity provider did not share an email address, which is needed to create your account.";
pub const INACTIVE: &str = "This account is deactivated.";
pub const LOCKED: &str =
    "This account is temporarily locked after too many failed sign-in attempts. Try again later, or ask an administrator to unlock it.";

/// The URL the upstream sends the browser back to.
pub fn callback_url(state: &AppState, tenant: &Tenant) -> String {
    format!("{}/federation/callback", tenant.issuer(state))
}

/// The organization's enabled providers, for the login page's buttons.
pub async fn enabled_providers(state: &AppState, tenant: &Tenant) -> Vec<IdentityProvider> {
    match state.stores.federation.list_providers(tenant.0.id).await {
        Ok(providers) => providers.into_iter().filter(|provider| provider.enabled).collect(),
        Err(error) => {
            tracing::warn!(%error, "identity providers could not be listed for the login page");
            Vec::new()
        }
    }
}

/// One button (a link to `federation/start`) per provider, with its icon
/// (decorative: the text names the provider). The page must allow the
/// icons' sources ([`icon_sources`]).
pub fn provider_buttons(providers: &[IdentityProvider], authorize: Option<&str>) -> String {
    let mut html = String::new();
    for provider in providers {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("provider", &provider.id.to_string());
        if let Some(authorize) = authorize {
            query.append_pair("authorize", authorize);
        }
        let icon = provider.icon_url.as_deref().map_or_else(String::new, |icon| {
            format!("<img class=\"idp-icon\" src=\"{}\" alt=\"\" width=\"20\" height=\"20\"> ", escape(icon))
        });
        html.push_str(&format!(
            "<p><a class=\"button idp\" href=\"federation/start?{}\">{icon}{} {}</a></p>",
            escape(&query.finish()),
            escape(strings::SIGN_IN_WITH),
            escape(&provider.name)
        ));
    }
    html
}

/// The icon URLs of `providers`, for the page's `img-src`
/// ([`crate::http::pages::Page::allow_image`]).
pub fn icon_sources(providers: &[IdentityProvider]) -> impl Iterator<Item = &str> {
    providers.iter().filter_map(|provider| provider.icon_url.as_deref())
}

fn failure(
    oidc: &OpenIdProvider,
    issuer: &Issuer,
    provider: Option<&IdentityProvider>,
    reason: &str,
    status: StatusCode,
    message: &str,
    branding: &Branding,
) -> Response {
    oidc.record_federation_failure(issuer, provider, reason);
    error_page(status, message, branding)
}

fn random_token(state: &AppState) -> String {
    let mut bytes = [0u8; 32];
    state.services.random.fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn find_enabled(state: &AppState, tenant: &Tenant, id: Option<&str>) -> Option<IdentityProvider> {
    let id = Uuid::parse_str(id?).ok()?;
    let provider = state.stores.federation.find_provider(tenant.0.id, id).await.ok()??;
    provider.enabled.then_some(provider)
}

/// Sends the browser to `provider` (also used for `idp_hint`).
pub async fn redirect_to_upstream(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    provider: &IdentityProvider,
    authorize: Option<&str>,
) -> Response {
    let branding = branding(tenant);
    let oidc = flow::provider(state);
    let issuer = flow::issuer(tenant, state);
    let metadata = match identity::endpoints(&state.upstream, provider).await {
        Ok(metadata) => metadata,
        Err(error) => return upstream_failure(oidc, &issuer, provider, &error, &branding),
    };
    let state_token = random_token(state);
    let nonce = random_token(state);
    let verifier = random_token(state);
    let now = state.services.clock.now();
    let login = FederationLogin {
        state_digest: digest_secret(&state_token),
        organization_id: tenant.0.id,
        provider_id: provider.id,
        nonce: nonce.clone(),
        code_verifier: verifier.clone(),
        continuation: authorize.unwrap_or_default().to_owned(),
        created_at: now,
        expires_at: now + LOGIN_LIFETIME,
    };
    if let Err(error) = state.stores.federation.put_login(&login).await {
        return internal_page(&error, &branding);
    }
    let Ok(mut target) = url::Url::parse(&metadata.authorization_endpoint) else {
        let error = UpstreamError::BadResponse("authorization endpoint is not a URL");
        return upstream_failure(oidc, &issuer, provider, &error, &branding);
    };
    {
        let mut pairs = target.query_pairs_mut();
        pairs
            .append_pair("response_type", "code")
            .append_pair("client_id", &provider.client_id)
            .append_pair("redirect_uri", &callback_url(state, tenant));
        if !provider.scopes.is_empty() {
            pairs.append_pair("scope", &provider.scopes.join(" "));
        }
        pairs.append_pair("state", &state_token);
        // A nonce only means something where an ID token carries it back.
        if provider.kind == ProviderKind::Oidc {
            pairs.append_pair("nonce", &nonce);
        }
        pairs
            .append_pair("code_challenge", &pkce_s256_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
    }
    match HeaderValue::from_str(target.as_str()) {
        Ok(location) => {
            let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
            // Binds the login to this browser (login CSRF; see the callback).
            if let Some(cookie) = super::federation_link::binding_cookie(state, tenant, headers, &state_token) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(_) => {
            let error = UpstreamError::BadResponse("authorization endpoint is not a valid header");
            upstream_failure(oidc, &issuer, provider, &error, &branding)
        }
    }
}

/// `GET /federation/start?provider=…&authorize=…`.
pub async fn start(
    State(state): State<AppState>,
    tenant: Tenant,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let branding = branding(&tenant);
    let pairs = flow::decode_pairs(&query.unwrap_or_default());
    let authorize = field(&pairs, "authorize").filter(|text| !text.is_empty());
    if authorize.is_some_and(|text| text.len() > MAX_REQUEST_BYTES) {
        return error_page(StatusCode::BAD_REQUEST, "The request is too large.", &branding);
    }
    match find_enabled(&state, &tenant, field(&pairs, "provider")).await {
        Some(provider) => redirect_to_upstream(&state, &tenant, &headers, &provider, authorize).await,
        None => error_page(StatusCode::NOT_FOUND, UNKNOWN_PROVIDER, &branding),
    }
}

fn upstream_failure(
    oidc: &OpenIdProvider,
    issuer: &Issuer,
    provider: &IdentityProvider,
    error: &UpstreamError,
    branding: &Branding,
) -> Response {
    tracing::warn!(provider = %provider.name, %error, "federated login failed at the upstream");
    let (reason, status, message) = match error {
        UpstreamError::Timeout => ("upstream_timeout", StatusCode::GATEWAY_TIMEOUT, UPSTREAM_UNAVAILABLE),
        UpstreamError::Unreachable => ("upstream_unreachable", StatusCode::BAD_GATEWAY, UPSTREAM_UNAVAILABLE),
        UpstreamError::BadResponse(_) => ("upstream_bad_response", StatusCode::BAD_GATEWAY, UPSTREAM_UNAVAILABLE),
        UpstreamError::Refused(_) => ("upstream_refused", StatusCode::BAD_GATEWAY, UPSTREAM_DENIED),
        UpstreamError::InvalidToken(_) => ("invalid_id_token", StatusCode::BAD_GATEWAY, UPSTREAM_INVALID),
    };
    failure(oidc, issuer, Some(provider), reason, status, message, branding)
}

/// `GET /federation/callback?code=…&state=…` (or `?error=…&state=…`).
pub async fn callback(
    State(state): State<AppState>,
    tenant: Tenant,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let branding = branding(&tenant);
    let oidc = flow::provider(&state);
    let issuer = flow::issuer(&tenant, &state);
    let pairs = flow::decode_pairs(&query.unwrap_or_default());
    let now = state.services.clock.now();
    // Login CSRF (RFC 6749 §10.12, RFC 9700 §4.7): the callback must come to
    // the browser that started this login, which holds its `state` in a
    // cookie; a callback URL handed to another browser is refused before
    // anything is consumed or created.
    if !super::federation_link::is_bound(&state, &tenant, &headers, field(&pairs, "state")) {
        return failure(oidc, &issuer, None, "state_mismatch", StatusCode::BAD_REQUEST, STATE_MISMATCH, &branding);
    }
    let login = match field(&pairs, "state") {
        Some(token) => state.stores.federation.take_login(tenant.0.id, &digest_secret(token), now).await,
        None => Ok(None),
    };
    let login = match login {
        Ok(Some(login)) => login,
        Ok(None) => {
            return failure(oidc, &issuer, None, "state_mismatch", StatusCode::BAD_REQUEST, STATE_MISMATCH, &branding)
        }
        Err(error) => return internal_page(&error, &branding),
    };
    let provider = match state.stores.federation.find_provider(tenant.0.id, login.provider_id).await {
        Ok(Some(provider)) if provider.enabled => provider,
        Ok(_) => return error_page(StatusCode::NOT_FOUND, UNKNOWN_PROVIDER, &branding),
        Err(error) => return internal_page(&error, &branding),
    };
    if field(&pairs, "error").is_some() {
        let status = StatusCode::FORBIDDEN;
        return failure(oidc, &issuer, Some(&provider), "upstream_denied", status, UPSTREAM_DENIED, &branding);
    }
    let Some(code) = field(&pairs, "code") else {
        let status = StatusCode::BAD_REQUEST;
        return failure(oidc, &issuer, Some(&provider), "missing_code", status, UPSTREAM_INVALID, &branding);
    };
    let redirect_uri = callback_url(&state, &tenant);
    let verified = identity::verify(&state.upstream, &state.services, &provider, &login, code, &redirect_uri).await;
    let upstream = match verified {
        Ok(upstream) => upstream,
        Err(error) => return upstream_failure(oidc, &issuer, &provider, &error, &branding),
    };
    let ip = crate::http::security::context::current().and_then(|context| context.ip).map(|ip| ip.to_string());
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|text| text.chars().take(256).collect::<String>());
    let metadata = json!({"user_agent": user_agent, "ip": ip});
    let success = match oidc.federated_login(&issuer, &provider, &upstream, metadata).await {
        Ok(success) => success,
        Err(FederatedLoginError::Internal(error)) => return internal_page(&error, &branding),
        // An existing account may be connected after proving its password
        // (the browser is the one that started this login, checked above).
        Err(FederatedLoginError::AccountExists) => {
            let continuation = login.continuation.as_str();
            return super::federation_link::offer(&state, &tenant, &headers, &provider, &upstream, continuation).await;
        }
        Err(refusal) => {
            let message = match refusal {
                FederatedLoginError::ProvisioningDisabled => PROVISIONING_DISABLED,
                FederatedLoginError::AccountExists => ACCOUNT_EXISTS,
                FederatedLoginError::MissingEmail => MISSING_EMAIL,
                FederatedLoginError::Locked => LOCKED,
                _ => INACTIVE,
            };
            return error_page(StatusCode::FORBIDDEN, message, &branding);
        }
    };
    let lifetime = (success.session.expires_at - success.session.created_at).whole_seconds();
    let set_cookie = flow::session_set_cookie(&state, &tenant, &success.cookie.plaintext, lifetime);
    let authorize = Some(login.continuation.as_str()).filter(|text| !text.is_empty());
    let pending = zenoauth_domain::mfa::Pending::of(&success.session);
    let mut response = match (pending, authorize) {
        (Some(pending), _) => {
            crate::http::mfa::after_password(&state, &tenant, &headers, &success.session, pending, authorize).await
        }
        (None, Some(authorize)) => {
            let pairs = flow::decode_pairs(authorize);
            proceed(&state, &tenant, &headers, pairs, Some(success.session), true, false).await
        }
        (None, None) => Page::new(StatusCode::OK, strings::SIGNED_IN_TITLE)
            .push(&format!("<p>{}</p>", escape(strings::SIGNED_IN_BODY)))
            .render(&branding),
    };
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// How often expired upstream logins and pending links are deleted (each is
/// refused once expired anyway; this only keeps abandoned ones from piling up).
pub const FEDERATION_HOUSEKEEPING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes expired upstream logins and pending links every `interval`,
/// forever.
pub async fn forget_expired_federation_state(
    federation: std::sync::Arc<dyn zenoauth_domain::ports::FederationStore>,
    clock: std::sync::Arc<dyn zenoauth_domain::ports::Clock>,
    interval: std::time::Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        let now = clock.now();
        match federation.delete_expired_logins(now).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "deleted expired federation logins"),
            Err(error) => tracing::warn!(error = %error, "cannot delete expired federation logins"),
        }
        match federation.delete_expired_pending_links(now).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "deleted expired federation pending links"),
            Err(error) => tracing::warn!(error = %error, "cannot delete expired federation pending links"),
        }
    }
}
