//! Hardening headers on every response: `X-Content-Type-Options: nosniff`,
//! `Referrer-Policy: no-referrer`, `frame-ancestors 'none'` where a handler
//! set no Content-Security-Policy of its own (the hosted pages set a full
//! one), and HSTS when the public URL is https (browsers ignore HSTS over
//! plain http, and sending it from a loopback dev server would be noise).
//! Token and userinfo responses carry `Cache-Control: no-store` from their
//! handlers.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::http::AppState;

/// Two years, with subdomains: the value hstspreload.org asks for.
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

pub async fn harden(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("no-referrer"));
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static("frame-ancestors 'none'"));
    headers.entry(header::X_FRAME_OPTIONS).or_insert(HeaderValue::from_static("DENY"));
    if state.public_url.as_str().starts_with("https://") {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    response
}
