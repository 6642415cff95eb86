//! `POST /token` (RFC 6749 §3.2): JSON answers with `Cache-Control:
//! no-store`; errors per §5.2, never problem+json.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::flow::{self, no_store_json, oauth_error};
use super::Tenant;
use crate::http::security::rate_limit::{too_many_requests, ClientGate};
use crate::http::AppState;
use zenoauth_domain::oauth::OAuthError;

pub async fn token(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap, body: Bytes) -> Response {
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
    let outcome = flow::provider(&state).token(&issuer, &params, basic.as_ref()).await;
    gate.close(&state, &outcome);
    match outcome {
        Ok(tokens) => {
            let mut body = json!({
                "access_token": tokens.access_token,
                "token_type": "Bearer",
                "expires_in": tokens.expires_in,
                "scope": tokens.scope,
            });
            if let Some(object) = body.as_object_mut() {
                if let Some(id_token) = tokens.id_token {
                    object.insert("id_token".to_owned(), json!(id_token));
                }
                if let Some(refresh_token) = tokens.refresh_token {
                    object.insert("refresh_token".to_owned(), json!(refresh_token));
                }
            }
            no_store_json(StatusCode::OK, &body)
        }
        Err(error) => oauth_error(&error, &issuer),
    }
}
