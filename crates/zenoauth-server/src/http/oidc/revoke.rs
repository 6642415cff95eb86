//! `POST /revoke` (RFC 7009), client-authenticated. 200 with an empty body
//! whether or not the token was known.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use zenoauth_domain::oauth::OAuthError;

use super::flow::{self, oauth_error};
use super::Tenant;
use crate::http::security::rate_limit::{too_many_requests, ClientGate};
use crate::http::AppState;

pub async fn revoke(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
    let issuer = flow::issuer(&tenant, &state);
    let Some(text) = flow::form_body(&headers, &body) else {
        return oauth_error(
            &OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"),
            &issuer,
        );
    };
    let params = match flow::params(flow::decode_pairs(&text)) {
        Ok(params) => params,
        Err(error) => return oauth_error(&error, &issuer),
    };
    let basic = match flow::basic_credentials(&headers) {
        Ok(basic) => basic,
        Err(error) => return oauth_error(&error, &issuer),
    };
    let gate = match ClientGate::open(&state, tenant.0.slug.as_str(), basic.as_ref(), &params) {
        Ok(gate) => gate,
        Err(wait) => return too_many_requests(true, wait),
    };
    let outcome = flow::provider(&state).revoke(&issuer, &params, basic.as_ref()).await;
    gate.close(&state, &outcome);
    match outcome {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => oauth_error(&error, &issuer),
    }
}
