//! `GET/POST /end_session` (OpenID Connect RP-Initiated Logout 1.0).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use zenoauth_domain::oauth::{EndSessionOutcome, Params};

use super::authorize::{current_session, MAX_REQUEST_BYTES};
use super::flow::{self, branding, field, internal_page};
use super::Tenant;
use crate::http::pages::{error_page, escape, hidden, strings, Page};
use crate::http::AppState;

pub async fn end_session(
    State(state): State<AppState>,
    tenant: Tenant,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let branding = branding(&tenant);
    let raw = if method == Method::POST {
        match flow::form_body(&headers, &body) {
            Some(text) => text,
            None => return error_page(StatusCode::BAD_REQUEST, "The request must be a form.", &branding),
        }
    } else {
        query.unwrap_or_default()
    };
    if raw.len() > MAX_REQUEST_BYTES {
        return error_page(StatusCode::BAD_REQUEST, "The request is too large.", &branding);
    }
    let mut pairs = flow::decode_pairs(&raw);
    // Our own confirmation form carries the original request and a CSRF token.
    let confirmed = method == Method::POST
        && field(&pairs, "confirm") == Some("yes")
        && flow::csrf_ok(&state, &headers, field(&pairs, "csrf_token"));
    if method == Method::POST && field(&pairs, "confirm").is_some() {
        if !confirmed {
            return error_page(StatusCode::FORBIDDEN, strings::CSRF_FAILED, &branding);
        }
        pairs = flow::decode_pairs(field(&pairs, "logout_request").unwrap_or_default());
    }
    let serialized = flow::encode_pairs(&pairs);
    let Ok(params) = Params::new(pairs) else {
        return error_page(StatusCode::BAD_REQUEST, "The request has too many or too long parameters.", &branding);
    };
    let session = match current_session(&state, &tenant, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let provider = flow::provider(&state);
    let issuer = flow::issuer(&tenant, &state);
    let outcome = match provider.end_session(&issuer, &params, session.as_ref(), confirmed).await {
        Ok(outcome) => outcome,
        Err(error) => return internal_page(&error, &branding),
    };
    match outcome {
        EndSessionOutcome::Page(message) => error_page(StatusCode::BAD_REQUEST, message, &branding),
        EndSessionOutcome::Confirm(request) => {
            let (csrf, set_cookie) = flow::csrf_token(&state, &headers);
            let mut form =
                format!("<p>{}</p><form method=\"post\" action=\"end_session\">", escape(strings::LOGOUT_BODY));
            form.push_str(&hidden("csrf_token", &csrf));
            form.push_str(&hidden("confirm", "yes"));
            form.push_str(&hidden("logout_request", &serialized));
            form.push_str(&format!(
                "<button type=\"submit\" autofocus>{}</button></form>",
                escape(strings::LOGOUT_BUTTON)
            ));
            let mut page = Page::new(StatusCode::OK, strings::LOGOUT_TITLE).push(&form);
            if let Some(location) = request.location() {
                page = page.allow_form_target(&location);
            }
            if let Some(cookie) = set_cookie {
                page = page.header(header::SET_COOKIE, cookie);
            }
            page.render(&branding)
        }
        EndSessionOutcome::Done(location) => {
            let mut response = match location {
                Some(location) => {
                    let status = if method == Method::POST { StatusCode::SEE_OTHER } else { StatusCode::FOUND };
                    let mut response = status.into_response();
                    if let Ok(value) = HeaderValue::from_str(&location) {
                        response.headers_mut().insert(header::LOCATION, value);
                    }
                    response
                }
                None => Page::new(StatusCode::OK, strings::SIGNED_OUT_TITLE)
                    .push(&format!("<p>{}</p>", escape(strings::SIGNED_OUT_BODY)))
                    .render(&branding),
            };
            if let Some(cookie) = flow::session_clear_cookie(&state, &tenant) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
    }
}
