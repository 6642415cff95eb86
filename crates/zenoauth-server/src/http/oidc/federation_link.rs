//! Connecting an upstream identity to an existing account by proving its
//! password (issue 6). When the callback finds that the upstream's email
//! belongs to a local account that may not be linked automatically, it
//! answers with a password form for that account (email fixed) instead of a
//! dead end; `POST /federation/link` checks the password through the
//! ordinary login, links, and continues the original authorization request.
//!
//! The pending link is found by the digest of a random token kept in a
//! cookie of this browser only (never in a URL or the form), and it is only
//! offered to the browser that started the federated login (a cookie bound
//! to its `state`): a callback URL or a form passed to a victim cannot make
//! them connect the sender's upstream identity to their own account.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;
use zenoauth_crypto::{constant_time_eq, digest_secret};
use zenoauth_domain::federation::IdentityProvider;
use zenoauth_domain::model::User;
use zenoauth_domain::oauth::settings::password_login_enabled;
use zenoauth_domain::oauth::{LinkProofError, UpstreamIdentity, PENDING_LINK_LIFETIME};

use super::authorize::proceed;
use super::flow::{self, branding, field, internal_page};
use super::Tenant;
use crate::http::pages::{error_page, escape, hidden, strings, Branding, Page};
use crate::http::security::admission::HasherBusy;
use crate::http::{security, AppState};

/// The cookie binding a federated login to the browser that started it.
const BINDING_COOKIE: &str = "zenoauth_federation";
/// The cookie carrying the pending link's token.
const LINK_COOKIE: &str = "zenoauth_link";

pub const LINK_TITLE: &str = "Connect your account";
/// Shown above the password form; `{provider}` is the provider's name.
pub const LINK_INTRO: &str = "This email address belongs to an existing account. Sign in with its password to \
     connect {provider} to it; afterwards you can sign in with {provider} directly.";
pub const LINK_BUTTON: &str = "Sign in and connect";
pub const LINK_EXPIRED: &str =
    "This request to connect your account is no longer valid (it was used already or expired). Please sign in with your identity provider again.";
pub const LINK_FAILED: &str = "The password is not correct.";
pub const PASSWORD_LOGIN_DISABLED: &str =
    "Signing in with a password is turned off for this organization. Use one of the identity providers.";

/// Logins in flight one browser may have at once (several tabs); starting
/// another drops the oldest one's binding, whose callback is then refused.
const MAX_BOUND_LOGINS: usize = 4;

/// The `Set-Cookie` binding a login in flight (its `state`) to this browser:
/// the new `state` first, then those of the browser's most recent other
/// logins, separated by `.` (absent from base64url).
pub fn binding_cookie(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    state_token: &str,
) -> Option<HeaderValue> {
    let existing = flow::cookie(headers, &flow::flow_cookie_name(state, tenant, BINDING_COOKIE)).unwrap_or_default();
    let earlier = existing.split('.').filter(|token| is_state_shaped(token) && *token != state_token);
    let bound: Vec<&str> = std::iter::once(state_token).chain(earlier).take(MAX_BOUND_LOGINS).collect();
    flow::flow_set_cookie(state, tenant, BINDING_COOKIE, &bound.join("."), PENDING_LINK_LIFETIME.whole_seconds())
}

/// Whether the callback comes to a browser that started the login `state_token`.
pub fn is_bound(state: &AppState, tenant: &Tenant, headers: &HeaderMap, state_token: Option<&str>) -> bool {
    match (flow::cookie(headers, &flow::flow_cookie_name(state, tenant, BINDING_COOKIE)), state_token) {
        (Some(cookie), Some(token)) => cookie
            .split('.')
            .take(MAX_BOUND_LOGINS)
            .fold(false, |found, bound| found | constant_time_eq(bound.as_bytes(), token.as_bytes())),
        _ => false,
    }
}

/// A `state` as `federation::random_token` makes it: 32 bytes in base64url.
fn is_state_shaped(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

fn random_token(state: &AppState) -> String {
    let mut bytes = [0u8; 32];
    state.services.random.fill(&mut bytes);
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("zfl_{hex}")
}

fn link_cookie(state: &AppState, tenant: &Tenant, token: &str) -> Option<HeaderValue> {
    flow::flow_set_cookie(state, tenant, LINK_COOKIE, token, PENDING_LINK_LIFETIME.whole_seconds())
}

fn clear_link_cookie(state: &AppState, tenant: &Tenant) -> Option<HeaderValue> {
    flow::flow_set_cookie(state, tenant, LINK_COOKIE, "", 0)
}

/// The password form for `user` (email shown, not editable).
#[allow(clippy::too_many_arguments)]
async fn link_page(
    state: &AppState,
    headers: &HeaderMap,
    branding: &Branding,
    provider: &IdentityProvider,
    user: &User,
    continuation: &str,
    token: &str,
    tenant: &Tenant,
    failed: bool,
) -> Response {
    let (csrf, csrf_cookie) = flow::csrf_token(state, headers);
    let form_target = flow::registered_form_target(state, tenant, Some(continuation)).await;
    let mut body = String::new();
    if failed {
        body.push_str(&format!("<p class=\"error\" role=\"alert\" id=\"link-error\">{}</p>", escape(LINK_FAILED)));
    }
    let described_by = if failed { " aria-describedby=\"link-error\"" } else { "" };
    body.push_str(&format!(
        "<p>{intro}</p><form method=\"post\" action=\"link\">{csrf}\
         <label for=\"email\">{email_label}</label>\
         <input id=\"email\" type=\"email\" autocomplete=\"username\" value=\"{email}\" readonly>\
         <label for=\"password\">{password_label}</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required autofocus{described_by}>\
         <button type=\"submit\">{button}</button></form>\
         <p><a href=\"../account/forgot\">{forgot}</a></p>",
        intro = escape(&LINK_INTRO.replace("{provider}", &provider.name)),
        csrf = hidden("csrf_token", &csrf),
        email_label = escape(strings::EMAIL_LABEL),
        email = escape(user.email.as_str()),
        password_label = escape(strings::PASSWORD_LABEL),
        button = escape(LINK_BUTTON),
        forgot = escape(strings::FORGOT_PASSWORD_LINK),
    ));
    let status = if failed { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    let mut page = Page::new(status, LINK_TITLE).push(&body);
    if let Some(target) = form_target {
        page = page.allow_form_target(&target);
    }
    if let Some(cookie) = csrf_cookie {
        page = page.header(header::SET_COOKIE, cookie);
    }
    let mut response = page.render(branding);
    if let Some(cookie) = link_cookie(state, tenant, token) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// The callback's answer when the upstream's email belongs to an account
/// that may not be linked automatically: the password form, or the
/// "account exists" page when no proof is possible.
pub async fn offer(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    provider: &IdentityProvider,
    upstream: &UpstreamIdentity,
    continuation: &str,
) -> Response {
    let branding = branding(tenant);
    let oidc = flow::provider(state);
    let issuer = flow::issuer(tenant, state);
    let token = random_token(state);
    match oidc.offer_password_link(&issuer, provider, upstream, continuation, digest_secret(&token)).await {
        Ok(Some(user)) => {
            link_page(state, headers, &branding, provider, &user, continuation, &token, tenant, false).await
        }
        Ok(None) => error_page(StatusCode::FORBIDDEN, super::federation::ACCOUNT_EXISTS, &branding),
        Err(error) => internal_page(&error, &branding),
    }
}

fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// `POST /federation/link`: the password proof.
pub async fn submit(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let branding = branding(&tenant);
    let Some(text) = flow::form_body(&headers, &body) else {
        return error_page(StatusCode::BAD_REQUEST, "The request must be a form.", &branding);
    };
    let pairs = flow::decode_pairs(&text);
    if !flow::csrf_ok(&state, &headers, field(&pairs, "csrf_token")) {
        return error_page(StatusCode::FORBIDDEN, strings::CSRF_FAILED, &branding);
    }
    if !password_login_enabled(&tenant.0) {
        return error_page(StatusCode::FORBIDDEN, PASSWORD_LOGIN_DISABLED, &branding);
    }
    let clear = clear_link_cookie(&state, &tenant);
    let Some(token) = flow::cookie(&headers, &flow::flow_cookie_name(&state, &tenant, LINK_COOKIE))
        .filter(|token| !token.is_empty() && token.len() <= 128)
    else {
        return with_cookie(error_page(StatusCode::BAD_REQUEST, LINK_EXPIRED, &branding), clear);
    };
    let password = field(&pairs, "password").unwrap_or_default();
    let oidc = flow::provider(&state);
    let issuer = flow::issuer(&tenant, &state);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|text| text.chars().take(256).collect::<String>());
    let ip = security::context::current().and_then(|context| context.ip).map(|ip| ip.to_string());
    let metadata = json!({"user_agent": user_agent, "ip": ip});
    let retry = random_token(&state);
    let proof =
        match oidc.link_by_password(&issuer, &digest_secret(&token), password, metadata, digest_secret(&retry)).await {
            Ok(proof) => proof,
            Err(LinkProofError::Failed { delay, user, provider, continuation }) => {
                // The same progressive delay as the login form's.
                if let Ok(delay) = std::time::Duration::try_from(delay) {
                    tokio::time::sleep(delay).await;
                }
                return link_page(&state, &headers, &branding, &provider, &user, &continuation, &retry, &tenant, true)
                    .await;
            }
            Err(LinkProofError::Invalid) => {
                return with_cookie(error_page(StatusCode::BAD_REQUEST, LINK_EXPIRED, &branding), clear)
            }
            Err(LinkProofError::Internal(error)) if HasherBusy::is(&error) => {
                let mut response = error_page(StatusCode::SERVICE_UNAVAILABLE, strings::LOGIN_BUSY, &branding);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(super::login::BUSY_RETRY_AFTER_SECONDS));
                return with_cookie(response, link_cookie(&state, &tenant, &retry));
            }
            Err(LinkProofError::Internal(error)) => return with_cookie(internal_page(&error, &branding), clear),
        };
    let success = proof.success;
    let lifetime = (success.session.expires_at - success.session.created_at).whole_seconds();
    let session_cookie = flow::session_set_cookie(&state, &tenant, &success.cookie.plaintext, lifetime);
    let authorize = Some(proof.continuation.as_str()).filter(|text| !text.is_empty());
    let pending = zenoauth_domain::mfa::Pending::of(&success.session);
    let response = match (pending, authorize) {
        (Some(pending), _) => {
            crate::http::mfa::after_password(&state, &tenant, &headers, &success.session, pending, authorize).await
        }
        (None, Some(authorize)) => {
            proceed(&state, &tenant, &headers, flow::decode_pairs(authorize), Some(success.session), true, true).await
        }
        (None, None) => Page::new(StatusCode::OK, strings::SIGNED_IN_TITLE)
            .push(&format!("<p>{}</p>", escape(strings::SIGNED_IN_BODY)))
            .render(&branding),
    };
    with_cookie(with_cookie(response, session_cookie), clear)
}
