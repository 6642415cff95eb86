//! Multi-factor pages under `/o/{slug}/mfa` (issue 5): TOTP enrolment (QR
//! code rendered here as inline SVG, plus the key for manual entry),
//! confirmation, the login challenge after the password (TOTP or recovery
//! code), recovery-code regeneration and removal. The rules are the domain's
//! [`zenoauth_domain::mfa`]; this module parses forms and renders pages.
//!
//! - `GET  /mfa`                 status and actions (full session)
//! - `GET  /mfa/totp`            the enrolment (full session, or a login pending enrolment)
//! - `POST /mfa/totp`            confirms it with a code; shows the recovery codes once
//! - `GET/POST /mfa/challenge`   the second step of a login
//! - `POST /mfa/recovery-codes`  ten new recovery codes (full session)
//! - `POST /mfa/remove`          turns two-step verification off (full session)
//! - passkeys: see [`passkeys`]

pub mod passkeys;
pub mod strings;

use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use qrcodegen::{QrCode, QrCodeEcc};
use zenoauth_crypto::{CryptoOAuth, WebauthnPasskeys};
use zenoauth_domain::mfa::{ChallengeOutcome, MfaPorts, MultiFactor, Pending, RecoveryCodes, TotpEnrolment};
use zenoauth_domain::model::{Session, User};

use crate::http::oidc::authorize::{proceed, MAX_REQUEST_BYTES};
use crate::http::oidc::flow::{self, branding, field, internal_page};
use crate::http::oidc::Tenant;
use crate::http::pages::{error_page, escape, hidden, strings as common, Branding, Page};
use crate::http::AppState;

/// The routes, nested at `/o/{slug}/mfa`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(manage))
        .route("/totp", get(enrol_show).post(enrol_confirm))
        .route("/challenge", get(challenge_show).post(challenge_submit))
        .route("/recovery-codes", post(regenerate))
        .route("/remove", post(remove))
        .merge(passkeys::routes())
}

/// The domain's MFA use cases over this state.
pub fn multi_factor(state: &AppState) -> MultiFactor {
    let services = &state.services;
    MultiFactor::new(
        state.stores.clone(),
        MfaPorts {
            crypto: services.mfa_crypto.clone(),
            ceremonies: Arc::new(WebauthnPasskeys::new()),
            oauth_crypto: Arc::new(CryptoOAuth::new(services.random.clone())),
            clock: services.clock.clone(),
            random: services.random.clone(),
            audit: state.security.audit_sink(),
        },
    )
}

/// The path of this organization's MFA pages, `{issuer path}/mfa`, for form
/// actions that work from any page (the login page posts here too).
fn base_path(state: &AppState, tenant: &Tenant) -> String {
    let issuer = tenant.issuer(state);
    let path = url::Url::parse(&issuer).map(|url| url.path().trim_end_matches('/').to_owned()).unwrap_or_default();
    format!("{path}/mfa")
}

/// An inline SVG of `text` as a QR code (medium error correction, 4-module
/// quiet zone). Inline SVG with presentation attributes needs no CSP source.
pub fn qr_svg(text: &str) -> Option<String> {
    let code = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let border = 4;
    let size = code.size() + border * 2;
    let mut path = String::new();
    for y in 0..code.size() {
        for x in 0..code.size() {
            if code.get_module(x, y) {
                let _ = write!(path, "M{},{}h1v1h-1z", x + border, y + border);
            }
        }
    }
    Some(format!(
        "<svg id=\"totp-qr\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" width=\"240\" height=\"240\" \
         role=\"img\" aria-label=\"QR code\" shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

/// Who is asking: the user of a full session, or of a session pending enrolment.
enum Caller {
    Full(Session),
    PendingEnrol(Session),
}

impl Caller {
    fn session(&self) -> &Session {
        match self {
            Self::Full(session) | Self::PendingEnrol(session) => session,
        }
    }
}

async fn caller(state: &AppState, tenant: &Tenant, headers: &HeaderMap) -> Result<Option<Caller>, Response> {
    let cookie = flow::cookie(headers, &flow::session_cookie_name(state, tenant));
    let issuer = flow::issuer(tenant, state);
    let failed = |error: zenoauth_domain::Error| internal_page(&error, &branding(tenant));
    if let Some(session) = flow::provider(state).current_session(&issuer, cookie.as_deref()).await.map_err(failed)? {
        return Ok(Some(Caller::Full(session)));
    }
    match multi_factor(state).pending_session(tenant.0.id, cookie.as_deref()).await.map_err(failed)? {
        Some((session, Pending::Enrol)) => Ok(Some(Caller::PendingEnrol(session))),
        _ => Ok(None),
    }
}

async fn full_session(state: &AppState, tenant: &Tenant, headers: &HeaderMap) -> Result<Session, Response> {
    match caller(state, tenant, headers).await? {
        Some(Caller::Full(session)) => Ok(session),
        _ => Err(error_page(StatusCode::UNAUTHORIZED, strings::SIGN_IN_FIRST, &branding(tenant))),
    }
}

async fn user_of(state: &AppState, tenant: &Tenant, session: &Session) -> Result<User, Response> {
    state.stores.users.get(tenant.0.id, session.user_id).await.map_err(|error| internal_page(&error, &branding(tenant)))
}

/// Parses a CSRF-checked form post.
fn form(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    branding: &Branding,
) -> Result<Vec<(String, String)>, Box<Response>> {
    let Some(text) = flow::form_body(headers, body) else {
        return Err(Box::new(error_page(StatusCode::BAD_REQUEST, "The request must be a form.", branding)));
    };
    let pairs = flow::decode_pairs(&text);
    if !flow::csrf_ok(state, headers, field(&pairs, "csrf_token")) {
        return Err(Box::new(error_page(StatusCode::FORBIDDEN, common::CSRF_FAILED, branding)));
    }
    Ok(pairs)
}

fn authorize_field(pairs: &[(String, String)]) -> Option<&str> {
    field(pairs, "authorize").filter(|text| !text.is_empty() && text.len() <= MAX_REQUEST_BYTES)
}

fn code_form(csrf: &str, action: &str, authorize: Option<&str>, button: &str, autocomplete: &str) -> String {
    let mut html = format!("<form method=\"post\" action=\"{}\">", escape(action));
    html.push_str(&hidden("csrf_token", csrf));
    if let Some(authorize) = authorize {
        html.push_str(&hidden("authorize", authorize));
    }
    let _ = write!(
        html,
        "<label for=\"code\">{label}</label>\
         <input id=\"code\" name=\"code\" type=\"text\" autocomplete=\"{autocomplete}\" spellcheck=\"false\" required autofocus>\
         <button type=\"submit\">{button}</button></form>",
        label = escape(strings::CODE_LABEL),
        button = escape(button),
    );
    html
}

/// The challenge page of a login pending its second factor.
pub fn challenge_page(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    authorize: Option<&str>,
    failed: Option<&str>,
    passkey: bool,
) -> Response {
    let (csrf, set_cookie) = flow::csrf_token(state, headers);
    let mut body = match failed {
        Some(message) => format!("<p class=\"error\" role=\"alert\">{}</p>", escape(message)),
        None => format!("<p>{}</p>", escape(strings::CHALLENGE_INTRO)),
    };
    let action = format!("{}/challenge", base_path(state, tenant));
    body.push_str(&code_form(&csrf, &action, authorize, strings::VERIFY_BUTTON, "one-time-code"));
    if passkey && passkeys::available(state) {
        body.push_str(&passkeys::challenge_button(state, tenant, &csrf, authorize));
    }
    let status = if failed.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    let mut page = Page::new(status, strings::CHALLENGE_TITLE).push(&body);
    if let Some(cookie) = set_cookie {
        page = page.header(header::SET_COOKIE, cookie);
    }
    page.render(&branding(tenant))
}

/// The enrolment page: QR code, manual key, confirmation form.
fn enrol_page(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    enrolment: &TotpEnrolment,
    authorize: Option<&str>,
    required: bool,
    failed: bool,
) -> Response {
    let (csrf, set_cookie) = flow::csrf_token(state, headers);
    let mut body = String::new();
    if failed {
        let _ = write!(body, "<p class=\"error\" role=\"alert\">{}</p>", escape(strings::ENROL_FAILED));
    } else if required {
        let _ = write!(body, "<p>{}</p>", escape(strings::ENROL_REQUIRED));
    }
    let _ = write!(body, "<p>{}</p>", escape(strings::ENROL_INTRO));
    if let Some(svg) = qr_svg(&enrolment.provisioning_uri) {
        body.push_str(&svg);
    }
    let _ = write!(
        body,
        "<p>{}</p><p><code id=\"totp-secret\">{}</code></p>",
        escape(strings::ENROL_MANUAL),
        escape(&enrolment.secret_base32)
    );
    let action = format!("{}/totp", base_path(state, tenant));
    body.push_str(&code_form(&csrf, &action, authorize, strings::VERIFY_BUTTON, "one-time-code"));
    if passkeys::available(state) {
        let _ = write!(body, "<p>{}</p>", escape(strings::ENROL_PASSKEY_INSTEAD));
        body.push_str(&passkeys::add_form(state, tenant, &csrf, authorize));
    }
    let status = if failed { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let mut page = Page::new(status, strings::ENROL_TITLE).push(&body);
    if let Some(cookie) = set_cookie {
        page = page.header(header::SET_COOKIE, cookie);
    }
    page.render(&branding(tenant))
}

/// The enrolment a user sees: the unconfirmed one if any, else a new one.
async fn current_enrolment(state: &AppState, tenant: &Tenant, user: &User) -> zenoauth_domain::Result<TotpEnrolment> {
    let mfa = multi_factor(state);
    let issuer_name = tenant.0.name.as_str();
    match mfa.pending_totp(issuer_name, user).await? {
        Some(enrolment) => Ok(enrolment),
        None => mfa.begin_totp(issuer_name, user).await,
    }
}

/// What a password login that owes a second factor answers (the caller sets
/// the pending session's cookie).
pub async fn after_password(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    session: &Session,
    pending: Pending,
    authorize: Option<&str>,
) -> Response {
    match pending {
        Pending::Challenge => match multi_factor(state).offers_passkey(session).await {
            Ok(passkey) => challenge_page(state, tenant, headers, authorize, None, passkey),
            Err(error) => internal_page(&error, &branding(tenant)),
        },
        Pending::Enrol => {
            let user = match user_of(state, tenant, session).await {
                Ok(user) => user,
                Err(response) => return response,
            };
            match current_enrolment(state, tenant, &user).await {
                Ok(enrolment) => enrol_page(state, tenant, headers, &enrolment, authorize, true, false),
                Err(error) => internal_page(&error, &branding(tenant)),
            }
        }
    }
}

/// Step-up inside an authorization request: the full session becomes a
/// pending one (new cookie) and the user answers the challenge or enrols.
pub async fn step_up(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    session: &Session,
    authorize: &str,
) -> Response {
    let (pending_session, cookie, pending) = match multi_factor(state).demand_second_factor(session).await {
        Ok(demanded) => demanded,
        Err(error) => return internal_page(&error, &branding(tenant)),
    };
    let mut response = after_password(state, tenant, headers, &pending_session, pending, Some(authorize)).await;
    let lifetime = (pending_session.expires_at - pending_session.created_at).whole_seconds();
    if let Some(set_cookie) = flow::session_set_cookie(state, tenant, &cookie.plaintext, lifetime) {
        response.headers_mut().append(header::SET_COOKIE, set_cookie);
    }
    response
}

/// Continues the authorization request after the second step, or says the
/// user is signed in; with the new session's cookie.
async fn signed_in(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    session: Session,
    cookie: &str,
    authorize: Option<&str>,
    before: Option<String>,
) -> Response {
    let lifetime = (session.expires_at - session.created_at).whole_seconds();
    let set_cookie = flow::session_set_cookie(state, tenant, cookie, lifetime);
    let mut response = match authorize {
        Some(authorize) if before.is_none() => {
            proceed(state, tenant, headers, flow::decode_pairs(authorize), Some(session), true, true).await
        }
        _ => {
            let mut page = Page::new(StatusCode::OK, common::SIGNED_IN_TITLE);
            if let Some(html) = &before {
                page = page.push(html);
            }
            match authorize {
                // After showing recovery codes: a button continues the authorization request.
                Some(authorize) => {
                    let pairs = flow::decode_pairs(authorize);
                    let path = base_path(state, tenant);
                    let action = format!("{}/authorize", path.trim_end_matches("/mfa"));
                    let mut form = format!("<form method=\"post\" action=\"{}\">", escape(&action));
                    for (name, value) in &pairs {
                        form.push_str(&hidden(name, value));
                    }
                    let _ = write!(form, "<button type=\"submit\">{}</button></form>", escape(common::CONTINUE_BUTTON));
                    page = page.push(&form);
                }
                None => page = page.push(&format!("<p>{}</p>", escape(common::SIGNED_IN_BODY))),
            }
            page.render(&branding(tenant))
        }
    };
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn recovery_codes_html(codes: &RecoveryCodes) -> String {
    let mut html = format!(
        "<h2>{}</h2><p>{}</p><ul id=\"recovery-codes\">",
        escape(strings::RECOVERY_TITLE),
        escape(strings::RECOVERY_INTRO)
    );
    for code in &codes.0 {
        let _ = write!(html, "<li><code class=\"recovery-code\">{}</code></li>", escape(code));
    }
    html.push_str("</ul>");
    html
}

/// `GET /mfa/totp`.
async fn enrol_show(
    State(state): State<AppState>,
    tenant: Tenant,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let branding = branding(&tenant);
    let caller = match caller(&state, &tenant, &headers).await {
        Ok(Some(caller)) => caller,
        Ok(None) => return error_page(StatusCode::UNAUTHORIZED, strings::SIGN_IN_FIRST, &branding),
        Err(response) => return response,
    };
    let user = match user_of(&state, &tenant, caller.session()).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    match multi_factor(&state).has_totp(tenant.0.id, user.id).await {
        Ok(true) => return error_page(StatusCode::CONFLICT, strings::ENROL_ALREADY, &branding),
        Ok(false) => {}
        Err(error) => return internal_page(&error, &branding),
    }
    let pairs = flow::decode_pairs(&query.unwrap_or_default());
    let authorize = authorize_field(&pairs);
    let required = matches!(caller, Caller::PendingEnrol(_));
    match current_enrolment(&state, &tenant, &user).await {
        Ok(enrolment) => enrol_page(&state, &tenant, &headers, &enrolment, authorize, required, false),
        Err(error) => internal_page(&error, &branding),
    }
}

/// `POST /mfa/totp`: confirms the enrolment.
async fn enrol_confirm(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let branding = branding(&tenant);
    let pairs = match form(&state, &headers, &body, &branding) {
        Ok(pairs) => pairs,
        Err(response) => return *response,
    };
    let caller = match caller(&state, &tenant, &headers).await {
        Ok(Some(caller)) => caller,
        Ok(None) => return error_page(StatusCode::UNAUTHORIZED, strings::SIGN_IN_FIRST, &branding),
        Err(response) => return response,
    };
    let user = match user_of(&state, &tenant, caller.session()).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let authorize = authorize_field(&pairs);
    let mfa = multi_factor(&state);
    let code = field(&pairs, "code").unwrap_or_default();
    let codes = match mfa.confirm_totp(tenant.0.id, user.id, code).await {
        Ok(Some(codes)) => codes,
        Ok(None) => {
            let required = matches!(caller, Caller::PendingEnrol(_));
            return match current_enrolment(&state, &tenant, &user).await {
                Ok(enrolment) => enrol_page(&state, &tenant, &headers, &enrolment, authorize, required, true),
                Err(error) => internal_page(&error, &branding),
            };
        }
        Err(error) => return internal_page(&error, &branding),
    };
    match caller {
        Caller::PendingEnrol(pending) => match mfa.complete_enrolment(&pending).await {
            Ok((session, cookie)) => {
                let html = recovery_codes_html(&codes);
                signed_in(&state, &tenant, &headers, session, &cookie.plaintext, authorize, Some(html)).await
            }
            Err(error) => internal_page(&error, &branding),
        },
        Caller::Full(_) => Page::new(StatusCode::OK, strings::MANAGE_TITLE)
            .push(&format!("<p>{}</p>", escape(strings::MANAGE_ON)))
            .push(&recovery_codes_html(&codes))
            .render(&branding),
    }
}

/// `GET /mfa/challenge?authorize=…`.
async fn challenge_show(
    State(state): State<AppState>,
    tenant: Tenant,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let cookie = flow::cookie(&headers, &flow::session_cookie_name(&state, &tenant));
    let mfa = multi_factor(&state);
    match mfa.pending_session(tenant.0.id, cookie.as_deref()).await {
        Ok(Some((session, Pending::Challenge))) => {
            let pairs = flow::decode_pairs(&query.unwrap_or_default());
            match mfa.offers_passkey(&session).await {
                Ok(passkey) => challenge_page(&state, &tenant, &headers, authorize_field(&pairs), None, passkey),
                Err(error) => internal_page(&error, &branding(&tenant)),
            }
        }
        Ok(_) => error_page(StatusCode::UNAUTHORIZED, strings::SIGN_IN_FIRST, &branding(&tenant)),
        Err(error) => internal_page(&error, &branding(&tenant)),
    }
}

/// `POST /mfa/challenge`: a TOTP code or a recovery code.
async fn challenge_submit(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let branding = branding(&tenant);
    let pairs = match form(&state, &headers, &body, &branding) {
        Ok(pairs) => pairs,
        Err(response) => return *response,
    };
    let mfa = multi_factor(&state);
    let cookie = flow::cookie(&headers, &flow::session_cookie_name(&state, &tenant));
    let pending = match mfa.pending_session(tenant.0.id, cookie.as_deref()).await {
        Ok(Some((session, Pending::Challenge))) => session,
        Ok(_) => return error_page(StatusCode::UNAUTHORIZED, strings::SIGN_IN_FIRST, &branding),
        Err(error) => return internal_page(&error, &branding),
    };
    let authorize = authorize_field(&pairs);
    let answer = field(&pairs, "code").unwrap_or_default();
    let passkey = match mfa.offers_passkey(&pending).await {
        Ok(passkey) => passkey,
        Err(error) => return internal_page(&error, &branding),
    };
    if answer.len() > 64 {
        return challenge_page(&state, &tenant, &headers, authorize, Some(strings::CHALLENGE_FAILED), passkey);
    }
    match mfa.answer_challenge(&pending, answer).await {
        Ok(ChallengeOutcome::Passed { session, cookie, .. }) => {
            signed_in(&state, &tenant, &headers, *session, &cookie.plaintext, authorize, None).await
        }
        Ok(ChallengeOutcome::Failed) => {
            challenge_page(&state, &tenant, &headers, authorize, Some(strings::CHALLENGE_FAILED), passkey)
        }
        Ok(ChallengeOutcome::Locked) => challenge_locked_page(&state, &tenant),
        Err(error) => internal_page(&error, &branding),
    }
}

/// 429: too many wrong second-factor answers (codes or passkeys); the
/// pending session is over, so its cookie is cleared.
fn challenge_locked_page(state: &AppState, tenant: &Tenant) -> Response {
    let mut response = error_page(StatusCode::TOO_MANY_REQUESTS, strings::CHALLENGE_LOCKED, &branding(tenant));
    if let Some(clear) = flow::session_clear_cookie(state, tenant) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

/// `GET /mfa`: status and actions.
async fn manage(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap) -> Response {
    let branding = branding(&tenant);
    let session = match full_session(&state, &tenant, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let mfa = multi_factor(&state);
    let enrolled = match mfa.has_factor(tenant.0.id, session.user_id).await {
        Ok(enrolled) => enrolled,
        Err(error) => return internal_page(&error, &branding),
    };
    let (csrf, set_cookie) = flow::csrf_token(&state, &headers);
    let path = base_path(&state, &tenant);
    let mut body = String::new();
    if enrolled {
        let remaining = match mfa.remaining_recovery_codes(tenant.0.id, session.user_id).await {
            Ok(remaining) => remaining,
            Err(error) => return internal_page(&error, &branding),
        };
        let _ = write!(
            body,
            "<p id=\"mfa-status\">{on}</p><p>{remaining_label} <span id=\"recovery-remaining\">{remaining}</span></p>",
            on = escape(strings::MANAGE_ON),
            remaining_label = escape(strings::MANAGE_REMAINING),
        );
        for (action, label) in [("recovery-codes", strings::MANAGE_REGENERATE), ("remove", strings::MANAGE_REMOVE)] {
            let _ = write!(
                body,
                "<form method=\"post\" action=\"{}\">{}<button type=\"submit\">{}</button></form>",
                escape(&format!("{path}/{action}")),
                hidden("csrf_token", &csrf),
                escape(label)
            );
        }
    } else {
        let _ = write!(
            body,
            "<p id=\"mfa-status\">{}</p><p><a href=\"{}\">{}</a></p>",
            escape(strings::MANAGE_OFF),
            escape(&format!("{path}/totp")),
            escape(strings::MANAGE_ENROL)
        );
    }
    if enrolled {
        match mfa.has_totp(tenant.0.id, session.user_id).await {
            Ok(true) => {}
            Ok(false) => {
                let _ = write!(
                    body,
                    "<p><a href=\"{}\">{}</a></p>",
                    escape(&format!("{path}/totp")),
                    escape(strings::MANAGE_ENROL)
                );
            }
            Err(error) => return internal_page(&error, &branding),
        }
    }
    if passkeys::available(&state) {
        let _ = write!(
            body,
            "<p><a id=\"passkeys-link\" href=\"{}\">{}</a></p>",
            escape(&format!("{path}/passkeys")),
            escape(strings::MANAGE_PASSKEYS)
        );
    }
    let mut page = Page::new(StatusCode::OK, strings::MANAGE_TITLE).push(&body);
    if let Some(cookie) = set_cookie {
        page = page.header(header::SET_COOKIE, cookie);
    }
    page.render(&branding)
}

/// `POST /mfa/recovery-codes`: ten new codes; the old ones stop working.
async fn regenerate(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let branding = branding(&tenant);
    if let Err(response) = form(&state, &headers, &body, &branding) {
        return *response;
    }
    let session = match full_session(&state, &tenant, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    match multi_factor(&state).regenerate_recovery_codes(tenant.0.id, session.user_id).await {
        Ok(codes) => {
            Page::new(StatusCode::OK, strings::RECOVERY_TITLE).push(&recovery_codes_html(&codes)).render(&branding)
        }
        Err(zenoauth_domain::Error::Conflict(_)) => error_page(StatusCode::CONFLICT, strings::MANAGE_OFF, &branding),
        Err(error) => internal_page(&error, &branding),
    }
}

/// `POST /mfa/remove`.
async fn remove(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let branding = branding(&tenant);
    if let Err(response) = form(&state, &headers, &body, &branding) {
        return *response;
    }
    let session = match full_session(&state, &tenant, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    match multi_factor(&state).remove(tenant.0.id, session.user_id).await {
        Ok(_) => Page::new(StatusCode::OK, strings::MANAGE_TITLE)
            .push(&format!("<p id=\"mfa-status\">{}</p>", escape(strings::REMOVED_BODY)))
            .render(&branding),
        Err(error) => internal_page(&error, &branding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_svg_is_an_inline_svg_with_modules() {
        let svg = qr_svg("otpauth://totp/Acme:ada%40example.com?secret=GEZDGNBVGY3TQOJQ&issuer=Acme").unwrap();
        assert!(svg.starts_with("<svg id=\"totp-qr\""), "{svg}");
        assert!(svg.matches("h1v1h-1z").count() > 100);
        assert!(svg.ends_with("</svg>"));
    }
}
