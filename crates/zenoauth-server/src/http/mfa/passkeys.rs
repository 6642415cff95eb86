//! Passkey pages under `/o/{slug}/mfa` (issue 5): registration (several
//! passkeys per user, each named), the list with rename and remove, the
//! passkey answer to a login's second step, and passwordless sign-in with a
//! discoverable passkey. The rules are the domain's
//! [`zenoauth_domain::mfa::passkeys`]; the ceremonies `webauthn-rs`'s.
//!
//! Every ceremony is two form posts: the first starts it (the options for
//! `navigator.credentials` go into the page as a JSON data block), the
//! second carries the authenticator's answer (`credential`, the
//! `PublicKeyCredential` as JSON) and the ceremony handle. The one script
//! ([`SCRIPT`]) runs the browser API in between; the page's CSP allows it
//! by its hash and nothing else.
//!
//! - `GET  /mfa/passkeys`                   the user's passkeys; add, rename, remove
//! - `POST /mfa/passkeys/begin`             starts a registration (`name`)
//! - `POST /mfa/passkeys/finish`            stores the passkey
//! - `POST /mfa/passkeys/rename`            (`id`, `name`)
//! - `POST /mfa/passkeys/remove`            (`id`)
//! - `POST /mfa/challenge/passkey`          starts the second step with a passkey
//! - `POST /mfa/challenge/passkey/finish`   answers it
//! - `POST /mfa/passkey-login`              starts a passwordless sign-in
//! - `POST /mfa/passkey-login/finish`       signs in

use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value as Json};
use uuid::Uuid;
use zenoauth_domain::mfa::passkeys::{
    PasskeyCredential, PasskeyOutcome, RelyingParty, StartedCeremony, MAX_RESPONSE_BYTES,
};
use zenoauth_domain::mfa::Pending;
use zenoauth_domain::model::Session;
use zenoauth_domain::Error;

use super::{
    authorize_field, base_path, caller, form, full_session, multi_factor, recovery_codes_html, signed_in, strings,
    user_of, Caller,
};
use crate::http::oidc::authorize::proceed;
use crate::http::oidc::flow::{self, branding, field, internal_page};
use crate::http::oidc::Tenant;
use crate::http::pages::{error_page, escape, hidden, strings as common, Page};
use crate::http::{security, AppState};

/// The page script that calls `navigator.credentials` (served inline,
/// allowed by its hash).
pub const SCRIPT: &str = include_str!("passkey.js");

/// The routes, merged into the `/o/{slug}/mfa` router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/passkeys", get(manage))
        .route("/passkeys/begin", post(register_begin))
        .route("/passkeys/finish", post(register_finish))
        .route("/passkeys/rename", post(rename))
        .route("/passkeys/remove", post(remove))
        .route("/challenge/passkey", post(challenge_begin))
        .route("/challenge/passkey/finish", post(challenge_finish))
        .route("/passkey-login", post(login_begin))
        .route("/passkey-login/finish", post(login_finish))
}

/// How often expired ceremonies are deleted (each is refused once expired
/// anyway; this only keeps abandoned ones from piling up). As often as a
/// ceremony lives (5 minutes), so at most about two lifetimes' worth of
/// unfinished ones — bounded by the per-IP rate limit — are ever stored.
pub const CEREMONY_HOUSEKEEPING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);

/// Deletes expired passkey ceremonies every `interval`, forever.
pub async fn forget_expired_ceremonies(
    passkeys: std::sync::Arc<dyn zenoauth_domain::ports::PasskeyStore>,
    clock: std::sync::Arc<dyn zenoauth_domain::ports::Clock>,
    interval: std::time::Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        match passkeys.delete_expired_ceremonies(clock.now()).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "deleted expired passkey ceremonies"),
            Err(error) => tracing::warn!(error = %error, "cannot delete expired passkey ceremonies"),
        }
    }
}

/// The relying party of an organization: the public URL's host is the RP ID
/// (of every organization: the pages share one origin), the organization's
/// name is shown. `None` when the public URL's host is an IP address, which
/// WebAuthn does not accept as an RP ID: passkeys are then not offered.
pub fn relying_party(state: &AppState, tenant: &Tenant) -> Option<RelyingParty> {
    let url = url::Url::parse(state.public_url.as_str()).ok()?;
    let host = url.domain()?;
    Some(RelyingParty {
        id: host.to_owned(),
        origin: url.origin().ascii_serialization(),
        name: tenant.0.name.as_str().to_owned(),
    })
}

/// Whether passkeys can be used with this server's public URL.
pub fn available(state: &AppState) -> bool {
    url::Url::parse(state.public_url.as_str()).ok().is_some_and(|url| url.domain().is_some())
}

/// The "Sign in with a passkey" form of the login page (relative action:
/// the login page is `{issuer}/login`).
pub fn login_button(state: &AppState, csrf: &str, authorize: Option<&str>) -> String {
    if !available(state) {
        return String::new();
    }
    login_form("mfa/passkey-login", csrf, authorize)
}

/// The "Sign in with a passkey" form posting to `action`.
fn login_form(action: &str, csrf: &str, authorize: Option<&str>) -> String {
    let mut html = format!("<form method=\"post\" action=\"{}\">", escape(action));
    html.push_str(&hidden("csrf_token", csrf));
    if let Some(authorize) = authorize {
        html.push_str(&hidden("authorize", authorize));
    }
    let _ = write!(
        html,
        "<button type=\"submit\" class=\"secondary\" id=\"passkey-login\">{}</button></form>",
        escape(strings::PASSKEY_LOGIN_BUTTON)
    );
    html
}

/// The "Use a passkey" form of the challenge page.
pub fn challenge_button(state: &AppState, tenant: &Tenant, csrf: &str, authorize: Option<&str>) -> String {
    let mut html = format!("<form method=\"post\" action=\"{}/challenge/passkey\">", escape(&base_path(state, tenant)));
    html.push_str(&hidden("csrf_token", csrf));
    if let Some(authorize) = authorize {
        html.push_str(&hidden("authorize", authorize));
    }
    let _ = write!(
        html,
        "<button type=\"submit\" class=\"secondary\" id=\"passkey-challenge\">{}</button></form>",
        escape(strings::PASSKEY_CHALLENGE_BUTTON)
    );
    html
}

/// JSON for a `<script type="application/json">` data block: no `<`, `>`
/// or `&` survives, so the text cannot close the element.
fn data_block(value: &Json) -> String {
    value.to_string().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

/// The page between the two posts of a ceremony.
#[allow(clippy::too_many_arguments)]
async fn ceremony_page(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    title: &str,
    intro: &str,
    started: &StartedCeremony,
    action: &str,
    create: bool,
    authorize: Option<&str>,
) -> Response {
    let (csrf, set_cookie) = flow::csrf_token(state, headers);
    let mut body = format!("<p>{}</p>", escape(intro));
    let _ = write!(
        body,
        "<script type=\"application/json\" id=\"passkey-options\">{}</script>",
        data_block(&started.options)
    );
    let _ = write!(
        body,
        "<form method=\"post\" action=\"{}\" id=\"passkey-form\" data-mode=\"{}\">",
        escape(action),
        if create { "create" } else { "get" }
    );
    body.push_str(&hidden("csrf_token", &csrf));
    if let Some(authorize) = authorize {
        body.push_str(&hidden("authorize", authorize));
    }
    body.push_str(&hidden("ceremony", &started.handle.plaintext));
    let _ = write!(
        body,
        "<input type=\"hidden\" name=\"credential\" id=\"passkey-credential\" value=\"\">\
         <button type=\"submit\">{}</button></form>\
         <p class=\"error\" role=\"alert\" id=\"passkey-error\" hidden>{}</p>\
         <noscript><p class=\"error\" role=\"alert\">{}</p></noscript>",
        escape(strings::PASSKEY_CONTINUE),
        escape(strings::PASSKEY_BROWSER_FAILED),
        escape(strings::PASSKEY_NEEDS_SCRIPT)
    );
    let mut page = Page::new(StatusCode::OK, title).push(&body).script(SCRIPT);
    // The answer may redirect to the client (authorization response).
    if let Some(target) = flow::registered_form_target(state, tenant, authorize).await {
        page = page.allow_form_target(&target);
    }
    if let Some(cookie) = set_cookie {
        page = page.header(header::SET_COOKIE, cookie);
    }
    page.render(&branding(tenant))
}

/// The `credential` field as JSON, within the size limit.
fn credential_field(pairs: &[(String, String)]) -> Option<Json> {
    let text = field(pairs, "credential").filter(|text| !text.is_empty() && text.len() <= MAX_RESPONSE_BYTES)?;
    serde_json::from_str::<Json>(text).ok().filter(Json::is_object)
}

fn unavailable_page(tenant: &Tenant) -> Response {
    error_page(StatusCode::NOT_FOUND, strings::PASSKEY_UNAVAILABLE, &branding(tenant))
}

fn list_html(state: &AppState, tenant: &Tenant, csrf: &str, passkeys: &[PasskeyCredential]) -> String {
    let path = base_path(state, tenant);
    let mut html = String::from("<ul id=\"passkeys\">");
    for passkey in passkeys {
        let last_used =
            passkey.last_used_at.map_or_else(|| strings::PASSKEY_NEVER_USED.to_owned(), |at| at.date().to_string());
        let _ = write!(
            html,
            "<li class=\"passkey\" data-id=\"{id}\"><strong class=\"passkey-name\">{name}</strong> \
             <span>{used_label} {last_used}</span>\
             <form method=\"post\" action=\"{path}/passkeys/rename\">{csrf}{id_field}\
             <label for=\"name-{id}\">{rename_label}</label>\
             <input id=\"name-{id}\" name=\"name\" type=\"text\" maxlength=\"64\" required value=\"{name}\">\
             <button type=\"submit\" class=\"secondary\">{rename}</button></form>\
             <form method=\"post\" action=\"{path}/passkeys/remove\">{csrf}{id_field}\
             <button type=\"submit\" class=\"secondary\">{remove}</button></form></li>",
            id = passkey.id,
            name = escape(passkey.name.as_str()),
            used_label = escape(strings::PASSKEY_LAST_USED),
            last_used = escape(&last_used),
            path = escape(&path),
            csrf = hidden("csrf_token", csrf),
            id_field = hidden("id", &passkey.id.to_string()),
            rename_label = escape(strings::PASSKEY_NAME_LABEL),
            rename = escape(strings::PASSKEY_RENAME),
            remove = escape(strings::PASSKEY_REMOVE),
        );
    }
    html.push_str("</ul>");
    html
}

pub(super) fn add_form(state: &AppState, tenant: &Tenant, csrf: &str, authorize: Option<&str>) -> String {
    let mut html = format!("<form method=\"post\" action=\"{}/passkeys/begin\">", escape(&base_path(state, tenant)));
    html.push_str(&hidden("csrf_token", csrf));
    if let Some(authorize) = authorize {
        html.push_str(&hidden("authorize", authorize));
    }
    let _ = write!(
        html,
        "<label for=\"passkey-name\">{label}</label>\
         <input id=\"passkey-name\" name=\"name\" type=\"text\" maxlength=\"64\" required placeholder=\"{placeholder}\">\
         <button type=\"submit\">{button}</button></form>",
        label = escape(strings::PASSKEY_NAME_LABEL),
        placeholder = escape(strings::PASSKEY_NAME_PLACEHOLDER),
        button = escape(strings::PASSKEY_ADD),
    );
    html
}

/// The list page (also after a change, with `notice`).
async fn list_page(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    session: &Session,
    status: StatusCode,
    notice: Option<(&str, bool)>,
) -> Response {
    let branding = branding(tenant);
    let passkeys = match multi_factor(state).passkeys(tenant.0.id, session.user_id).await {
        Ok(passkeys) => passkeys,
        Err(error) => return internal_page(&error, &branding),
    };
    let (csrf, set_cookie) = flow::csrf_token(state, headers);
    let mut body = String::new();
    if let Some((message, is_error)) = notice {
        let class = if is_error { " class=\"error\" role=\"alert\"" } else { " id=\"passkey-notice\"" };
        let _ = write!(body, "<p{class}>{}</p>", escape(message));
    }
    if passkeys.is_empty() {
        let _ = write!(body, "<p id=\"passkeys-none\">{}</p>", escape(strings::PASSKEYS_NONE));
    } else {
        body.push_str(&list_html(state, tenant, &csrf, &passkeys));
    }
    if available(state) {
        body.push_str(&add_form(state, tenant, &csrf, None));
    }
    let mut page = Page::new(status, strings::PASSKEYS_TITLE).push(&body);
    if let Some(cookie) = set_cookie {
        page = page.header(header::SET_COOKIE, cookie);
    }
    page.render(&branding)
}

/// `GET /mfa/passkeys`.
async fn manage(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap) -> Response {
    match full_session(&state, &tenant, &headers).await {
        Ok(session) => list_page(&state, &tenant, &headers, &session, StatusCode::OK, None).await,
        Err(response) => response,
    }
}

/// The form of a signed-in (or enrolment-pending) user, CSRF-checked.
async fn caller_form(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Caller, Vec<(String, String)>), Response> {
    let branding = branding(tenant);
    let pairs = form(state, headers, body, &branding).map_err(|response| *response)?;
    match caller(state, tenant, headers).await? {
        Some(caller) => Ok((caller, pairs)),
        None => Err(error_page(StatusCode::UNAUTHORIZED, strings::SIGN_IN_FIRST, &branding)),
    }
}

/// `POST /mfa/passkeys/begin`.
async fn register_begin(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let branding = branding(&tenant);
    let (caller, pairs) = match caller_form(&state, &tenant, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(rp) = relying_party(&state, &tenant) else {
        return unavailable_page(&tenant);
    };
    let user = match user_of(&state, &tenant, caller.session()).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let name = field(&pairs, "name").unwrap_or_default();
    let authorize = authorize_field(&pairs);
    match multi_factor(&state).begin_passkey_registration(&rp, &user, caller.session(), name).await {
        Ok(started) => {
            let action = format!("{}/passkeys/finish", base_path(&state, &tenant));
            ceremony_page(
                &state,
                &tenant,
                &headers,
                strings::PASSKEY_REGISTER_TITLE,
                strings::PASSKEY_REGISTER_INTRO,
                &started,
                &action,
                true,
                authorize,
            )
            .await
        }
        Err(Error::InvalidInput(_)) => {
            error_page(StatusCode::UNPROCESSABLE_ENTITY, strings::PASSKEY_NAME_INVALID, &branding)
        }
        Err(Error::Conflict(_)) => error_page(StatusCode::CONFLICT, strings::PASSKEY_LIMIT, &branding),
        Err(Error::Unauthorized) => sign_in_again_page(&state, &tenant),
        Err(error) => internal_page(&error, &branding),
    }
}

/// 401: the sign-in is older than
/// [`zenoauth_domain::mfa::passkeys::REGISTRATION_SIGN_IN_WINDOW`]; a link to
/// the login page, whose new session may add the passkey.
fn sign_in_again_page(state: &AppState, tenant: &Tenant) -> Response {
    let issuer = tenant.issuer(state);
    let path = url::Url::parse(&issuer).map(|url| url.path().trim_end_matches('/').to_owned()).unwrap_or_default();
    Page::new(StatusCode::UNAUTHORIZED, strings::PASSKEY_REGISTER_TITLE)
        .push(&format!(
            "<p id=\"passkey-sign-in-again\">{}</p><p><a href=\"{}/login\">{}</a></p>",
            escape(strings::PASSKEY_SIGN_IN_AGAIN),
            escape(&path),
            escape(strings::PASSKEY_SIGN_IN_AGAIN_LINK)
        ))
        .render(&branding(tenant))
}

/// `POST /mfa/passkeys/finish`.
async fn register_finish(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let branding = branding(&tenant);
    let (caller, pairs) = match caller_form(&state, &tenant, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(rp) = relying_party(&state, &tenant) else {
        return unavailable_page(&tenant);
    };
    let authorize = authorize_field(&pairs);
    let handle = field(&pairs, "ceremony").unwrap_or_default();
    let mfa = multi_factor(&state);
    let finished = match credential_field(&pairs) {
        Some(response) => mfa.finish_passkey_registration(&rp, caller.session(), handle, &response).await,
        None => Ok(None),
    };
    let (passkey, codes) = match finished {
        Ok(Some(finished)) => finished,
        Ok(None) => return error_page(StatusCode::UNPROCESSABLE_ENTITY, strings::PASSKEY_REGISTER_FAILED, &branding),
        Err(Error::Unauthorized) => return sign_in_again_page(&state, &tenant),
        Err(error) => return internal_page(&error, &branding),
    };
    // Tell the user by mail: a passkey someone else added would sign them in for good.
    match state.stores.users.get(tenant.0.id, passkey.user_id).await {
        Ok(user) => {
            let notice = crate::mail::templates::passkey_added(tenant.0.name.as_str());
            if let Err(error) = state.mail.queue(tenant.0.id, &user.email, &notice).await {
                tracing::error!(error = %error, "cannot queue the passkey-added notice");
            }
        }
        Err(error) => tracing::error!(error = %error, "cannot queue the passkey-added notice"),
    }
    match caller {
        Caller::PendingEnrol(pending) => {
            let mut amr = vec!["pwd"];
            amr.extend(passkey.amr());
            amr.push("mfa");
            match mfa.complete_enrolment_with(&pending, &amr).await {
                Ok((session, cookie)) => {
                    let html = codes.as_ref().map(recovery_codes_html);
                    signed_in(&state, &tenant, &headers, session, &cookie.plaintext, authorize, html).await
                }
                Err(error) => internal_page(&error, &branding),
            }
        }
        // The first factor: the recovery codes, shown once.
        Caller::Full(_) if codes.is_some() => Page::new(StatusCode::OK, strings::PASSKEYS_TITLE)
            .push(&format!("<p id=\"passkey-notice\">{}</p>", escape(strings::PASSKEY_ADDED)))
            .push(&codes.as_ref().map(recovery_codes_html).unwrap_or_default())
            .push(&format!(
                "<p><a href=\"{}/passkeys\">{}</a></p>",
                escape(&base_path(&state, &tenant)),
                escape(strings::PASSKEYS_TITLE)
            ))
            .render(&branding),
        Caller::Full(session) => {
            list_page(&state, &tenant, &headers, &session, StatusCode::OK, Some((strings::PASSKEY_ADDED, false))).await
        }
    }
}

/// The `id` field of a passkey form.
fn passkey_id(pairs: &[(String, String)]) -> Option<Uuid> {
    field(pairs, "id").and_then(|text| Uuid::parse_str(text).ok())
}

/// `POST /mfa/passkeys/rename`.
async fn rename(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let branding = branding(&tenant);
    let pairs = match form(&state, &headers, &body, &branding) {
        Ok(pairs) => pairs,
        Err(response) => return *response,
    };
    let session = match full_session(&state, &tenant, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let Some(id) = passkey_id(&pairs) else {
        return error_page(StatusCode::NOT_FOUND, strings::PASSKEY_NOT_FOUND, &branding);
    };
    let name = field(&pairs, "name").unwrap_or_default();
    match multi_factor(&state).rename_passkey(tenant.0.id, session.user_id, id, name).await {
        Ok(true) => {
            list_page(&state, &tenant, &headers, &session, StatusCode::OK, Some((strings::PASSKEY_RENAMED, false)))
                .await
        }
        Ok(false) => error_page(StatusCode::NOT_FOUND, strings::PASSKEY_NOT_FOUND, &branding),
        Err(Error::InvalidInput(_)) => {
            let notice = Some((strings::PASSKEY_NAME_INVALID, true));
            list_page(&state, &tenant, &headers, &session, StatusCode::UNPROCESSABLE_ENTITY, notice).await
        }
        Err(error) => internal_page(&error, &branding),
    }
}

/// `POST /mfa/passkeys/remove`.
async fn remove(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let branding = branding(&tenant);
    let pairs = match form(&state, &headers, &body, &branding) {
        Ok(pairs) => pairs,
        Err(response) => return *response,
    };
    let session = match full_session(&state, &tenant, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let Some(id) = passkey_id(&pairs) else {
        return error_page(StatusCode::NOT_FOUND, strings::PASSKEY_NOT_FOUND, &branding);
    };
    match multi_factor(&state).remove_passkey(tenant.0.id, session.user_id, id).await {
        Ok(true) => {
            list_page(&state, &tenant, &headers, &session, StatusCode::OK, Some((strings::PASSKEY_REMOVED, false)))
                .await
        }
        Ok(false) => error_page(StatusCode::NOT_FOUND, strings::PASSKEY_NOT_FOUND, &branding),
        Err(error) => internal_page(&error, &branding),
    }
}

/// The pending session (owing the challenge) of a CSRF-checked form.
async fn pending_form(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Session, Vec<(String, String)>), Response> {
    let branding = branding(tenant);
    let pairs = form(state, headers, body, &branding).map_err(|response| *response)?;
    let cookie = flow::cookie(headers, &flow::session_cookie_name(state, tenant));
    match multi_factor(state).pending_session(tenant.0.id, cookie.as_deref()).await {
        Ok(Some((session, Pending::Challenge))) => Ok((session, pairs)),
        Ok(_) => Err(error_page(StatusCode::UNAUTHORIZED, strings::SIGN_IN_FIRST, &branding)),
        Err(error) => Err(internal_page(&error, &branding)),
    }
}

/// `POST /mfa/challenge/passkey`: starts the passkey answer.
async fn challenge_begin(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let branding = branding(&tenant);
    let (pending, pairs) = match pending_form(&state, &tenant, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(rp) = relying_party(&state, &tenant) else {
        return unavailable_page(&tenant);
    };
    let authorize = authorize_field(&pairs);
    match multi_factor(&state).begin_passkey_challenge(&rp, &pending).await {
        Ok(Some(started)) => {
            let action = format!("{}/challenge/passkey/finish", base_path(&state, &tenant));
            ceremony_page(
                &state,
                &tenant,
                &headers,
                strings::CHALLENGE_TITLE,
                strings::PASSKEY_CHALLENGE_INTRO,
                &started,
                &action,
                false,
                authorize,
            )
            .await
        }
        Ok(None) => error_page(StatusCode::NOT_FOUND, strings::PASSKEY_NOT_FOUND, &branding),
        Err(error) => internal_page(&error, &branding),
    }
}

/// `POST /mfa/challenge/passkey/finish`.
async fn challenge_finish(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let branding = branding(&tenant);
    let (pending, pairs) = match pending_form(&state, &tenant, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(rp) = relying_party(&state, &tenant) else {
        return unavailable_page(&tenant);
    };
    let authorize = authorize_field(&pairs);
    let handle = field(&pairs, "ceremony").unwrap_or_default();
    let mfa = multi_factor(&state);
    let outcome = match credential_field(&pairs) {
        Some(response) => mfa.answer_passkey_challenge(&rp, &pending, handle, &response).await,
        None => Ok(PasskeyOutcome::Refused),
    };
    match outcome {
        Ok(PasskeyOutcome::Passed { session, cookie }) => {
            signed_in(&state, &tenant, &headers, *session, &cookie.plaintext, authorize, None).await
        }
        Ok(PasskeyOutcome::Refused) => {
            super::challenge_page(&state, &tenant, &headers, authorize, Some(strings::PASSKEY_FAILED), true)
        }
        Ok(PasskeyOutcome::Locked) => super::challenge_locked_page(&state, &tenant),
        Err(error) => internal_page(&error, &branding),
    }
}

/// `POST /mfa/passkey-login`: starts a passwordless sign-in.
async fn login_begin(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let branding = branding(&tenant);
    let pairs = match form(&state, &headers, &body, &branding) {
        Ok(pairs) => pairs,
        Err(response) => return *response,
    };
    let Some(rp) = relying_party(&state, &tenant) else {
        return unavailable_page(&tenant);
    };
    let authorize = authorize_field(&pairs);
    match multi_factor(&state).begin_passwordless(&rp, tenant.0.id).await {
        Ok(started) => {
            let action = format!("{}/passkey-login/finish", base_path(&state, &tenant));
            ceremony_page(
                &state,
                &tenant,
                &headers,
                strings::PASSKEY_LOGIN_TITLE,
                strings::PASSKEY_LOGIN_INTRO,
                &started,
                &action,
                false,
                authorize,
            )
            .await
        }
        Err(error) => internal_page(&error, &branding),
    }
}

/// `POST /mfa/passkey-login/finish`: one answer for every refusal (unknown
/// or foreign credential, bad signature, used or expired ceremony).
async fn login_finish(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let branding = branding(&tenant);
    let pairs = match form(&state, &headers, &body, &branding) {
        Ok(pairs) => pairs,
        Err(response) => return *response,
    };
    let Some(rp) = relying_party(&state, &tenant) else {
        return unavailable_page(&tenant);
    };
    let authorize = authorize_field(&pairs);
    let handle = field(&pairs, "ceremony").unwrap_or_default();
    let found = match credential_field(&pairs) {
        Some(response) => multi_factor(&state).finish_passwordless(&rp, tenant.0.id, handle, &response).await,
        None => Ok(None),
    };
    let (user, amr) = match found {
        Ok(Some(found)) => found,
        Ok(None) => {
            let (csrf, set_cookie) = flow::csrf_token(&state, &headers);
            let mut page = Page::new(StatusCode::UNAUTHORIZED, strings::PASSKEY_LOGIN_TITLE)
                .push(&format!("<p class=\"error\" role=\"alert\">{}</p>", escape(strings::PASSKEY_LOGIN_FAILED)))
                // Absolute: a relative action would resolve against this
                // page's own path (`…/mfa/passkey-login/finish`).
                .push(&login_form(&format!("{}/passkey-login", base_path(&state, &tenant)), &csrf, authorize));
            if let Some(cookie) = set_cookie {
                page = page.header(header::SET_COOKIE, cookie);
            }
            return page.render(&branding);
        }
        Err(error) => return internal_page(&error, &branding),
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|text| text.chars().take(256).collect::<String>());
    let ip = security::context::current().and_then(|context| context.ip).map(|ip| ip.to_string());
    let metadata = json!({"user_agent": user_agent, "ip": ip});
    let issuer = flow::issuer(&tenant, &state);
    let success = match flow::provider(&state).start_passkey_session(&issuer, &user, metadata, &amr).await {
        Ok(success) => success,
        Err(error) => return internal_page(&error, &branding),
    };
    let lifetime = (success.session.expires_at - success.session.created_at).whole_seconds();
    let set_cookie = flow::session_set_cookie(&state, &tenant, &success.cookie.plaintext, lifetime);
    let mut response = match authorize {
        Some(authorize) => {
            proceed(&state, &tenant, &headers, flow::decode_pairs(authorize), Some(success.session), true, true).await
        }
        None => Page::new(StatusCode::OK, common::SIGNED_IN_TITLE)
            .push(&format!("<p>{}</p>", escape(common::SIGNED_IN_BODY)))
            .render(&branding),
    };
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_blocks_cannot_close_their_element() {
        let text = data_block(&json!({"name": "</script><script>alert(1)</script>&"}));
        assert!(!text.contains('<') && !text.contains('>') && !text.contains('&'), "{text}");
        let back: Json = serde_json::from_str(&text).unwrap();
        assert_eq!(back["name"], "</script><script>alert(1)</script>&");
    }
}
