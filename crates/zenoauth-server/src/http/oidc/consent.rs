//! `GET/POST /consent`: the consent page and the user's decision.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use zenoauth_domain::oauth::{AuthorizationRequest, Params};

use super::authorize::{current_session, proceed, rejected, MAX_REQUEST_BYTES};
use super::flow::{self, authorization_response, branding, field, internal_page};
use super::{login, Tenant};
use crate::http::pages::{error_page, escape, hidden, strings, Branding, Page};
use crate::http::AppState;

pub fn consent_page(
    state: &AppState,
    headers: &HeaderMap,
    branding: &Branding,
    request: &AuthorizationRequest,
    user_email: &str,
    serialized: &str,
) -> Response {
    let (csrf, set_cookie) = flow::csrf_token(state, headers);
    let mut body = format!(
        "<p><strong>{app}</strong> {intro}</p><p>{signed_in_as} {email}</p><p>{scopes}</p><ul>",
        app = escape(request.application.name.as_str()),
        intro = escape(strings::CONSENT_INTRO),
        signed_in_as = escape(strings::CONSENT_SIGNED_IN_AS),
        email = escape(user_email),
        scopes = escape(strings::CONSENT_SCOPES),
    );
    for scope in request.scope.iter() {
        let text = strings::scope_description(scope.as_str()).map_or_else(|| scope.as_str().to_owned(), str::to_owned);
        body.push_str(&format!("<li>{}</li>", escape(&text)));
    }
    body.push_str("</ul><form method=\"post\" action=\"consent\">");
    body.push_str(&hidden("csrf_token", &csrf));
    body.push_str(&hidden("authorize", serialized));
    body.push_str(&format!(
        "<button type=\"submit\" name=\"decision\" value=\"allow\" autofocus>{}</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">{}</button></form>",
        escape(strings::CONSENT_ALLOW),
        escape(strings::CONSENT_DENY)
    ));
    let mut page =
        Page::new(StatusCode::OK, strings::CONSENT_TITLE).allow_form_target(request.redirect_uri.as_str()).push(&body);
    if let Some(cookie) = set_cookie {
        page = page.header(header::SET_COOKIE, cookie);
    }
    page.render(branding)
}

/// `GET /consent?…authorization request…`: the same as `/authorize`.
pub async fn show(
    State(state): State<AppState>,
    tenant: Tenant,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let raw = query.unwrap_or_default();
    if raw.len() > MAX_REQUEST_BYTES {
        return error_page(StatusCode::BAD_REQUEST, "The request is too large.", &branding(&tenant));
    }
    let session = match current_session(&state, &tenant, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    proceed(&state, &tenant, &headers, flow::decode_pairs(&raw), session, false, false).await
}

/// `POST /consent`: `decision=allow|deny` for the carried request.
pub async fn submit(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let branding = branding(&tenant);
    let Some(text) = flow::form_body(&headers, &body) else {
        return error_page(StatusCode::BAD_REQUEST, "The request must be a form.", &branding);
    };
    let pairs = flow::decode_pairs(&text);
    if !flow::csrf_ok(&state, &headers, field(&pairs, "csrf_token")) {
        return error_page(StatusCode::FORBIDDEN, strings::CSRF_FAILED, &branding);
    }
    let Some(authorize) = field(&pairs, "authorize").filter(|text| text.len() <= MAX_REQUEST_BYTES) else {
        return error_page(StatusCode::BAD_REQUEST, "The request is incomplete.", &branding);
    };
    let approved = match field(&pairs, "decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => return error_page(StatusCode::BAD_REQUEST, "The request is incomplete.", &branding),
    };
    let authorize_pairs = flow::decode_pairs(authorize);
    let session = match current_session(&state, &tenant, &headers).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            let target = field(&authorize_pairs, "redirect_uri").map(str::to_owned);
            return login::login_page(&state, &headers, &branding, Some(authorize), None, target.as_deref(), None);
        }
        Err(response) => return response,
    };
    let provider = flow::provider(&state);
    let issuer = flow::issuer(&tenant, &state);
    let Ok(params) = Params::new(authorize_pairs) else {
        return error_page(StatusCode::BAD_REQUEST, "The request is malformed.", &branding);
    };
    let request = match provider.authorization_request(&issuer, &params).await {
        Ok(request) => request,
        Err(rejection) => return rejected(rejection, true, &branding),
    };
    match provider.decide_consent(&issuer, &request, &session, approved).await {
        Ok(response) => authorization_response(&response, true, &branding),
        Err(error) => internal_page(&error, &branding),
    }
}
