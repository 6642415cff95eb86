//! The account pages under `/o/{slug}/account` (issue 5, email flows):
//! "forgot password" (`/forgot`), password reset (`/reset?token=…`),
//! invitation acceptance (`/invitation?token=…`) and email verification
//! (`/verify?token=…`), and the signed-in user's linked identities
//! (`/identities`, [`identities`]). Server-rendered like the login pages (CSRF
//! double-submit cookie, strict CSP). A link is only looked at on GET and
//! used up on POST, so mail scanners that fetch links do not spend them.
//! The use cases are the domain's [`AccountLinks`]; this module renders and
//! queues mail.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use zenoauth_crypto::CryptoOAuth;
use zenoauth_domain::email::{AccountLinks, AccountLinksPorts, AccountTokenPurpose, LinkError};
use zenoauth_domain::model::{Organization, User};
use zenoauth_domain::values::Email;

use super::oidc::flow::{self, branding, field, internal_page};
use super::oidc::Tenant;
use super::pages::{error_page, escape, hidden, Branding, Page};
use super::AppState;
use crate::mail::templates;

pub mod identities;

/// Words of the account pages.
mod words {
    pub const FORGOT_TITLE: &str = "Reset your password";
    pub const FORGOT_INTRO: &str =
        "Enter the email address of your account. We will send you a link to choose a new password.";
    pub const FORGOT_BUTTON: &str = "Send the link";
    pub const FORGOT_SENT_TITLE: &str = "Check your mail";
    pub const FORGOT_SENT_BODY: &str =
        "If an account exists for that address, a link to reset its password is on its way. It expires soon.";
    pub const RESET_TITLE: &str = "Choose a new password";
    pub const INVITATION_TITLE: &str = "Set your password";
    pub const NEW_PASSWORD_LABEL: &str = "New password";
    pub const SAVE_BUTTON: &str = "Save password";
    pub const PASSWORD_SET_TITLE: &str = "Your password is set";
    pub const PASSWORD_SET_BODY: &str = "You can now sign in with your new password.";
    pub const VERIFY_TITLE: &str = "Confirm your email address";
    pub const VERIFY_BUTTON: &str = "Confirm";
    pub const VERIFIED_TITLE: &str = "Your email address is confirmed";
    pub const VERIFIED_BODY: &str = "You can close this window.";
    pub const LINK_INVALID: &str = "This link is not valid any more: it was used already, it expired, or the \
        password was changed since it was sent. Ask for a new one.";
}

/// The routes, nested at `/o/{slug}/account`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/forgot", get(forgot_show).post(forgot_submit))
        .route("/reset", get(reset_show).post(reset_submit))
        .route("/invitation", get(invitation_show).post(invitation_submit))
        .route("/verify", get(verify_show).post(verify_submit))
        .route("/identities", get(identities::show).post(identities::remove))
}

/// The use case over this state's ports.
pub fn account_links(state: &AppState) -> AccountLinks {
    let services = &state.services;
    AccountLinks::new(
        state.stores.clone(),
        AccountLinksPorts {
            hasher: state.security.hasher.clone(),
            crypto: Arc::new(CryptoOAuth::new(services.random.clone())),
            clock: services.clock.clone(),
            random: services.random.clone(),
            audit: state.security.audit_sink(),
        },
    )
}

/// `{issuer}/account/{page}?token=…`.
fn link(state: &AppState, organization: &Organization, page: &str, token: &str) -> String {
    format!("{}/account/{page}?token={token}", state.public_url.issuer(organization.slug.as_str()))
}

/// Issues a link for `user` and queues the mail carrying it.
pub async fn send_link(
    state: &AppState,
    organization: &Organization,
    user: &User,
    purpose: AccountTokenPurpose,
) -> zenoauth_domain::Result<()> {
    let settings = &state.mail.settings;
    let (page, lifetime) = match purpose {
        AccountTokenPurpose::VerifyEmail => ("verify", settings.verification_link_lifetime),
        AccountTokenPurpose::ResetPassword => ("reset", settings.reset_link_lifetime),
        AccountTokenPurpose::Invitation => ("invitation", settings.invitation_link_lifetime),
    };
    let token = account_links(state).issue(user, purpose, lifetime).await?;
    let url = link(state, organization, page, &token);
    let name = organization.name.as_str();
    let mail = match purpose {
        AccountTokenPurpose::VerifyEmail => templates::verify_email(name, &url, lifetime),
        AccountTokenPurpose::ResetPassword => templates::reset_password(name, &url, lifetime),
        AccountTokenPurpose::Invitation => templates::invitation(name, &url, lifetime),
    };
    state.mail.queue(organization.id, &user.email, &mail).await
}

fn token_of(query: Option<&str>) -> String {
    let pairs = flow::decode_pairs(query.unwrap_or_default());
    field(&pairs, "token").unwrap_or_default().chars().take(200).collect()
}

pub(crate) fn with_csrf(page: Page, cookie: Option<axum::http::HeaderValue>) -> Page {
    match cookie {
        Some(cookie) => page.header(header::SET_COOKIE, cookie),
        None => page,
    }
}

/// The posted form, CSRF-checked; `Err` is the page to answer with.
pub(crate) fn posted_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
    branding: &Branding,
) -> Result<Vec<(String, String)>, Box<Response>> {
    let Some(text) = flow::form_body(headers, body) else {
        return Err(Box::new(error_page(StatusCode::BAD_REQUEST, "The request must be a form.", branding)));
    };
    let pairs = flow::decode_pairs(&text);
    if !flow::csrf_ok(state, headers, field(&pairs, "csrf_token")) {
        return Err(Box::new(error_page(StatusCode::FORBIDDEN, super::pages::strings::CSRF_FAILED, branding)));
    }
    Ok(pairs)
}

fn invalid_link(branding: &Branding) -> Response {
    error_page(StatusCode::BAD_REQUEST, words::LINK_INVALID, branding)
}

fn message_page(title: &str, body: &str, branding: &Branding) -> Response {
    Page::new(StatusCode::OK, title).push(&format!("<p>{}</p>", escape(body))).render(branding)
}

// Forgot password

async fn forgot_show(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap) -> Response {
    let (csrf, cookie) = flow::csrf_token(&state, &headers);
    let body = format!(
        "<p>{intro}</p><form method=\"post\" action=\"forgot\">{csrf}\
         <label for=\"email\">{label}</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required autofocus>\
         <button type=\"submit\">{button}</button></form>",
        intro = escape(words::FORGOT_INTRO),
        csrf = hidden("csrf_token", &csrf),
        label = escape(super::pages::strings::EMAIL_LABEL),
        button = escape(words::FORGOT_BUTTON),
    );
    with_csrf(Page::new(StatusCode::OK, words::FORGOT_TITLE).push(&body), cookie).render(&branding(&tenant))
}

/// Always the same answer, at once: whether the address has an account is
/// decided (and the mail queued) after the response, off the request path,
/// by at most [`crate::mail::RESET_LOOKUPS`] tasks at a time; a user gets
/// at most one reset mail per [`crate::mail::RESET_MAIL_INTERVAL`].
async fn forgot_submit(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let branding = branding(&tenant);
    let pairs = match posted_form(&state, &headers, &body, &branding) {
        Ok(pairs) => pairs,
        Err(page) => return *page,
    };
    if let Ok(email) = Email::parse(field(&pairs, "email").unwrap_or_default()) {
        match state.mail.reset_lookup_slot() {
            Some(slot) => {
                let organization = tenant.0.clone();
                tokio::spawn(async move {
                    if let Err(error) = send_reset(&state, &organization, &email).await {
                        tracing::error!(error = %error, "cannot queue a password reset mail");
                    }
                    drop(slot);
                });
            }
            None => tracing::warn!("too many password reset requests at once; one was dropped"),
        }
    }
    message_page(words::FORGOT_SENT_TITLE, words::FORGOT_SENT_BODY, &branding)
}

async fn send_reset(state: &AppState, organization: &Organization, email: &Email) -> zenoauth_domain::Result<()> {
    match state.stores.users.find_by_email(organization.id, email).await? {
        Some(user) if user.is_active && state.mail.reserve_reset(organization.id, user.id) => {
            let sent = send_link(state, organization, &user, AccountTokenPurpose::ResetPassword).await;
            if sent.is_err() {
                state.mail.release_reset(organization.id, user.id);
            }
            sent
        }
        _ => Ok(()),
    }
}

// Reset and invitation: the set-password form

fn password_form(
    state: &AppState,
    headers: &HeaderMap,
    branding: &Branding,
    purpose: AccountTokenPurpose,
    token: &str,
    user: &User,
    problem: Option<&str>,
) -> Response {
    let (title, action) = match purpose {
        AccountTokenPurpose::Invitation => (words::INVITATION_TITLE, "invitation"),
        _ => (words::RESET_TITLE, "reset"),
    };
    let (csrf, cookie) = flow::csrf_token(state, headers);
    let mut body = String::new();
    if let Some(problem) = problem {
        body.push_str(&format!("<p class=\"error\" role=\"alert\" id=\"password-error\">{}</p>", escape(problem)));
    }
    let described_by = if problem.is_some() { " aria-describedby=\"password-error\"" } else { "" };
    body.push_str(&format!(
        "<form method=\"post\" action=\"{action}\">{csrf}{token}\
         <input type=\"email\" name=\"username\" autocomplete=\"username\" value=\"{email}\" readonly hidden>\
         <label for=\"password\">{label}</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" required autofocus{described_by}>\
         <button type=\"submit\">{button}</button></form>",
        csrf = hidden("csrf_token", &csrf),
        token = hidden("token", token),
        email = escape(user.email.as_str()),
        label = escape(words::NEW_PASSWORD_LABEL),
        button = escape(words::SAVE_BUTTON),
    ));
    let status = if problem.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    with_csrf(Page::new(status, title).push(&body), cookie).render(branding)
}

async fn show_password_form(
    state: AppState,
    tenant: Tenant,
    headers: HeaderMap,
    query: Option<String>,
    purpose: AccountTokenPurpose,
) -> Response {
    let branding = branding(&tenant);
    let token = token_of(query.as_deref());
    match account_links(&state).check(&tenant.0, &token, purpose).await {
        Ok(user) => password_form(&state, &headers, &branding, purpose, &token, &user, None),
        Err(LinkError::Internal(error)) => internal_page(&error, &branding),
        Err(_) => invalid_link(&branding),
    }
}

async fn submit_password_form(
    state: AppState,
    tenant: Tenant,
    headers: HeaderMap,
    body: Bytes,
    purpose: AccountTokenPurpose,
) -> Response {
    let branding = branding(&tenant);
    let pairs = match posted_form(&state, &headers, &body, &branding) {
        Ok(pairs) => pairs,
        Err(page) => return *page,
    };
    let token = field(&pairs, "token").unwrap_or_default();
    let password = field(&pairs, "password").unwrap_or_default();
    let links = account_links(&state);
    match links.set_password(&tenant.0, token, purpose, password).await {
        Ok(change) => {
            let notice = templates::password_changed(tenant.0.name.as_str());
            if let Err(error) = state.mail.queue(tenant.0.id, &change.user.email, &notice).await {
                tracing::error!(error = %error, "cannot queue the password-change notice");
            }
            let mut response = message_page(words::PASSWORD_SET_TITLE, words::PASSWORD_SET_BODY, &branding);
            // This browser's session (if any) ended with the others.
            if let Some(clear) = flow::session_clear_cookie(&state, &tenant) {
                response.headers_mut().append(header::SET_COOKIE, clear);
            }
            response
        }
        Err(LinkError::Policy(problem)) => match links.check(&tenant.0, token, purpose).await {
            Ok(user) => {
                let message = format!("The password {}.", problem.reason);
                password_form(&state, &headers, &branding, purpose, token, &user, Some(&message))
            }
            Err(_) => invalid_link(&branding),
        },
        Err(LinkError::Internal(error)) => internal_page(&error, &branding),
        Err(LinkError::Invalid) => invalid_link(&branding),
    }
}

async fn reset_show(
    State(state): State<AppState>,
    tenant: Tenant,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    show_password_form(state, tenant, headers, query, AccountTokenPurpose::ResetPassword).await
}

async fn reset_submit(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    submit_password_form(state, tenant, headers, body, AccountTokenPurpose::ResetPassword).await
}

async fn invitation_show(
    State(state): State<AppState>,
    tenant: Tenant,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    show_password_form(state, tenant, headers, query, AccountTokenPurpose::Invitation).await
}

async fn invitation_submit(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    submit_password_form(state, tenant, headers, body, AccountTokenPurpose::Invitation).await
}

// Email verification

async fn verify_show(
    State(state): State<AppState>,
    tenant: Tenant,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let branding = branding(&tenant);
    let token = token_of(query.as_deref());
    match account_links(&state).check(&tenant.0, &token, AccountTokenPurpose::VerifyEmail).await {
        Ok(user) => {
            let (csrf, cookie) = flow::csrf_token(&state, &headers);
            let body = format!(
                "<p>{email}</p><form method=\"post\" action=\"verify\">{csrf}{token}\
                 <button type=\"submit\">{button}</button></form>",
                email = escape(user.email.as_str()),
                csrf = hidden("csrf_token", &csrf),
                token = hidden("token", &token),
                button = escape(words::VERIFY_BUTTON),
            );
            with_csrf(Page::new(StatusCode::OK, words::VERIFY_TITLE).push(&body), cookie).render(&branding)
        }
        Err(LinkError::Internal(error)) => internal_page(&error, &branding),
        Err(_) => invalid_link(&branding),
    }
}

async fn verify_submit(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let branding = branding(&tenant);
    let pairs = match posted_form(&state, &headers, &body, &branding) {
        Ok(pairs) => pairs,
        Err(page) => return *page,
    };
    let token = field(&pairs, "token").unwrap_or_default();
    match account_links(&state).verify_email(&tenant.0, token).await {
        Ok(_) => message_page(words::VERIFIED_TITLE, words::VERIFIED_BODY, &branding),
        Err(LinkError::Internal(error)) => internal_page(&error, &branding),
        Err(_) => invalid_link(&branding),
    }
}
