//! `GET/POST /login`: the login page (email and password, CSRF-protected by a
//! double-submit cookie) and the login itself, which continues the
//! authorization request it carries.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;
use zenoauth_domain::oauth::LoginError;

use super::authorize::{proceed, MAX_REQUEST_BYTES};
use super::flow::{self, branding, field, internal_page};
use super::Tenant;
use crate::http::pages::{error_page, escape, hidden, strings, Branding, Page};
use crate::http::security::admission::HasherBusy;
use crate::http::{security, AppState};

/// Seconds a client is asked to wait when password hashing is saturated.
pub const BUSY_RETRY_AFTER_SECONDS: u32 = 2;

/// 503 with `Retry-After`: the password-hashing queue is full (admission
/// control), answered at once rather than queued.
fn busy_page(branding: &Branding) -> Response {
    let mut response = error_page(StatusCode::SERVICE_UNAVAILABLE, strings::LOGIN_BUSY, branding);
    response.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from(BUSY_RETRY_AFTER_SECONDS));
    response
}

/// Renders the login form. `authorize` is the serialized authorization
/// request to continue after login; `form_target` the client's redirect URI
/// (allowed in `form-action`, as the login's answer redirects there).
pub fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    branding: &Branding,
    authorize: Option<&str>,
    login_hint: Option<&str>,
    form_target: Option<&str>,
    failed: Option<&str>,
) -> Response {
    login_page_with(state, headers, branding, authorize, login_hint, form_target, failed, &[])
}

/// [`login_page`] with one button per upstream identity provider (issue 6).
#[allow(clippy::too_many_arguments)]
pub fn login_page_with(
    state: &AppState,
    headers: &HeaderMap,
    branding: &Branding,
    authorize: Option<&str>,
    login_hint: Option<&str>,
    form_target: Option<&str>,
    failed: Option<&str>,
    providers: &[zenoauth_domain::federation::IdentityProvider],
) -> Response {
    let (csrf, set_cookie) = flow::csrf_token(state, headers);
    let mut body = String::new();
    if let Some(message) = failed {
        body.push_str(&format!("<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>", escape(message)));
    } else {
        body.push_str(&format!("<p>{}</p>", escape(strings::LOGIN_INTRO)));
    }
    if !branding.password_login {
        // Organization setting `password_login: false`: only the providers.
        if providers.is_empty() {
            body.push_str(&format!("<p>{}</p>", escape(super::federation_link::PASSWORD_LOGIN_DISABLED)));
        }
    } else {
        password_form(&mut body, &csrf, authorize, login_hint, failed.is_some());
    }
    // Passwordless sign-in with a discoverable passkey (crate::http::mfa::passkeys).
    body.push_str(&crate::http::mfa::passkeys::login_button(state, &csrf, authorize));
    body.push_str(&super::federation::provider_buttons(providers, authorize));
    let status = if failed.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    let mut page = Page::new(status, strings::LOGIN_TITLE).push(&body);
    if let Some(target) = form_target {
        page = page.allow_form_target(target);
    }
    for icon in super::federation::icon_sources(providers) {
        page = page.allow_image(icon);
    }
    if let Some(cookie) = set_cookie {
        page = page.header(header::SET_COOKIE, cookie);
    }
    page.render(branding)
}

/// The email and password form of the login page.
fn password_form(body: &mut String, csrf: &str, authorize: Option<&str>, login_hint: Option<&str>, failed: bool) {
    let described_by = if failed { " aria-describedby=\"login-error\"" } else { "" };
    body.push_str("<form method=\"post\" action=\"login\">");
    body.push_str(&hidden("csrf_token", csrf));
    if let Some(authorize) = authorize {
        body.push_str(&hidden("authorize", authorize));
    }
    let email = login_hint.unwrap_or_default();
    let email_focus = if email.is_empty() { " autofocus" } else { "" };
    let password_focus = if email.is_empty() { "" } else { " autofocus" };
    body.push_str(&format!(
        "<label for=\"email\">{email_label}</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{email}\"{email_focus}{described_by}>\
         <label for=\"password\">{password_label}</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required{password_focus}>\
         <button type=\"submit\">{button}</button></form>\
         <p><a href=\"account/forgot\">{forgot}</a></p>",
        forgot = escape(strings::FORGOT_PASSWORD_LINK),
        email_label = escape(strings::EMAIL_LABEL),
        email = escape(email),
        password_label = escape(strings::PASSWORD_LABEL),
        button = escape(strings::LOGIN_BUTTON),
    ));
}

/// `GET /login?authorize=…`: the form on its own.
pub async fn show(
    State(state): State<AppState>,
    tenant: Tenant,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let pairs = flow::decode_pairs(&query.unwrap_or_default());
    let authorize = field(&pairs, "authorize").filter(|text| text.len() <= MAX_REQUEST_BYTES);
    let providers = super::federation::enabled_providers(&state, &tenant).await;
    login_page_with(&state, &headers, &branding(&tenant), authorize, None, None, None, &providers)
}

/// `POST /login`.
pub async fn submit(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let branding = branding(&tenant);
    let Some(text) = flow::form_body(&headers, &body) else {
        return error_page(StatusCode::BAD_REQUEST, "The request must be a form.", &branding);
    };
    let pairs = flow::decode_pairs(&text);
    if !flow::csrf_ok(&state, &headers, field(&pairs, "csrf_token")) {
        return error_page(StatusCode::FORBIDDEN, strings::CSRF_FAILED, &branding);
    }
    if !branding.password_login {
        // Hidden is not enough: a posted password is refused too.
        return error_page(StatusCode::FORBIDDEN, super::federation_link::PASSWORD_LOGIN_DISABLED, &branding);
    }
    let authorize = field(&pairs, "authorize").filter(|text| !text.is_empty());
    if authorize.is_some_and(|text| text.len() > MAX_REQUEST_BYTES) {
        return error_page(StatusCode::BAD_REQUEST, "The request is too large.", &branding);
    }
    let authorize_pairs = authorize.map(flow::decode_pairs);
    let form_target = flow::registered_form_target(&state, &tenant, authorize).await;
    let email = field(&pairs, "email").unwrap_or_default();
    let password = field(&pairs, "password").unwrap_or_default();
    let provider = flow::provider(&state);
    let issuer = flow::issuer(&tenant, &state);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|text| text.chars().take(256).collect::<String>());
    let ip = security::context::current().and_then(|context| context.ip).map(|ip| ip.to_string());
    let metadata = json!({"user_agent": user_agent, "ip": ip});
    let success = match provider.login(&issuer, email, password, metadata).await {
        Ok(success) => success,
        Err(LoginError::InvalidCredentials { delay }) => {
            // Progressive delay (brute-force defence): the same for every kind of failure.
            if let Ok(delay) = std::time::Duration::try_from(delay) {
                tokio::time::sleep(delay).await;
            }
            let hint = (email.len() <= 254).then_some(email);
            let providers = super::federation::enabled_providers(&state, &tenant).await;
            return login_page_with(
                &state,
                &headers,
                &branding,
                authorize,
                hint,
                form_target.as_deref(),
                Some(strings::LOGIN_FAILED),
                &providers,
            );
        }
        Err(LoginError::Internal(error)) if HasherBusy::is(&error) => return busy_page(&branding),
        Err(LoginError::Internal(error)) => return internal_page(&error, &branding),
    };
    let lifetime = (success.session.expires_at - success.session.created_at).whole_seconds();
    let set_cookie = flow::session_set_cookie(&state, &tenant, &success.cookie.plaintext, lifetime);
    let pending = zenoauth_domain::mfa::Pending::of(&success.session);
    let mut response = match (pending, authorize_pairs) {
        // A second factor is owed (crate::http::mfa): challenge or enrolment.
        (Some(pending), _) => {
            crate::http::mfa::after_password(&state, &tenant, &headers, &success.session, pending, authorize).await
        }
        (None, authorize_pairs) => match authorize_pairs {
            Some(pairs) => proceed(&state, &tenant, &headers, pairs, Some(success.session), true, true).await,
            None => Page::new(StatusCode::OK, strings::SIGNED_IN_TITLE)
                .push(&format!("<p>{}</p>", escape(strings::SIGNED_IN_BODY)))
                .render(&branding),
        },
    };
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}
