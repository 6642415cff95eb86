//! `POST /introspect` (RFC 7662), client-authenticated.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use zenoauth_domain::oauth::OAuthError;

use super::flow::{self, no_store_json, oauth_error};
use super::Tenant;
use crate::http::security::rate_limit::{too_many_requests, ClientGate};
use crate::http::AppState;

pub async fn introspect(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
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
    let outcome = flow::provider(&state).introspect(&issuer, &params, basic.as_ref()).await;
    gate.close(&state, &outcome);
    match outcome {
        Ok(body) => no_store_json(StatusCode::OK, &body),
        Err(error) => oauth_error(&error, &issuer),
    }
}
