//! `GET/POST /userinfo` (OIDC Core §5.3) with RFC 6750 bearer errors.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;
use zenoauth_domain::oauth::BearerError;

use super::flow::{self, no_store_json};
use super::Tenant;
use crate::http::AppState;

pub async fn userinfo(State(state): State<AppState>, tenant: Tenant, headers: HeaderMap) -> Response {
    let issuer = flow::issuer(&tenant, &state);
    let realm = issuer.url.replace('"', "");
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let Some(token) = token.filter(|token| !token.is_empty()) else {
        // RFC 6750 §3.1: no error code when the request had no token at all.
        return challenge(StatusCode::UNAUTHORIZED, &format!("Bearer realm=\"{realm}\""), None);
    };
    match flow::provider(&state).userinfo(&issuer, &token).await {
        Ok(claims) => no_store_json(StatusCode::OK, &claims),
        Err(BearerError::Internal(error)) => {
            tracing::error!(error = %error, "userinfo failed");
            no_store_json(StatusCode::INTERNAL_SERVER_ERROR, &json!({"error": "server_error"}))
        }
        Err(error) => {
            let status = if matches!(error, BearerError::InsufficientScope) {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            };
            let value = format!("Bearer realm=\"{realm}\", error=\"{}\"", error.code());
            challenge(status, &value, Some(error.code()))
        }
    }
}

fn challenge(status: StatusCode, www_authenticate: &str, code: Option<&str>) -> Response {
    let body = code.map_or_else(|| json!({"error": "invalid_request"}), |code| json!({"error": code}));
    let mut response = no_store_json(status, &body);
    if let Ok(value) = HeaderValue::from_str(www_authenticate) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
