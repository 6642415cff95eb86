//! Rate limiting of every public endpoint (all but `/healthz`, `/readyz` and
//! `/metrics`): a token bucket per source IP and one per OAuth client
//! (organization + `client_id`, taken from HTTP Basic credentials, the
//! query or the form body), with governor's GCRA. A refused request gets
//! `429` with `Retry-After`: an RFC 6749-style JSON error at the token,
//! introspection, revocation and userinfo endpoints, problem+json
//! elsewhere. The same middleware caps the number of fields in a form body.
//!
//! The buckets live in this process (a per-instance limit: with N
//! instances the effective limit is up to N times higher). That is by
//! design — a database round trip per request would cost more than the
//! limit protects; what must be shared across instances (failed-login
//! counters and lockout) lives in the database. A client id in a request
//! is not authenticated at this point, so a caller can spend another
//! client's bucket; the per-IP bucket bounds what one source can do.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde_json::json;

use crate::http::oidc::flow;
use crate::http::problem::{problem_response, ApiError};
use crate::http::AppState;

/// Token-bucket sizes; a rate of 0 turns that bucket off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub ip_per_second: u32,
    pub ip_burst: u32,
    pub client_per_second: u32,
    pub client_burst: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self { ip_per_second: 20, ip_burst: 100, client_per_second: 50, client_burst: 200 }
    }
}

/// Most fields a form body may have (the login form has four; OAuth
/// requests are also capped at 64 parameters by the domain).
pub const DEFAULT_MAX_FORM_FIELDS: usize = 64;

/// The buckets of this process.
pub struct RateLimiter {
    ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    client: Option<DefaultKeyedRateLimiter<String>>,
    checks: AtomicU64,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").finish_non_exhaustive()
    }
}

/// Forget idle buckets every this many checks.
const HOUSEKEEPING_EVERY: u64 = 4096;

fn limiter<K: std::hash::Hash + Eq + Clone>(per_second: u32, burst: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)))
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            ip: limiter(limits.ip_per_second, limits.ip_burst),
            client: limiter(limits.client_per_second, limits.client_burst),
            checks: AtomicU64::new(0),
        }
    }

    fn housekeeping(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % HOUSEKEEPING_EVERY == HOUSEKEEPING_EVERY - 1 {
            if let Some(ip) = &self.ip {
                ip.retain_recent();
                ip.shrink_to_fit();
            }
            if let Some(client) = &self.client {
                client.retain_recent();
                client.shrink_to_fit();
            }
        }
    }

    /// `Err(wait)` when the address has no token left.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Duration> {
        self.housekeeping();
        match &self.ip {
            Some(limiter) => {
                limiter.check_key(&ip).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
            }
            None => Ok(()),
        }
    }

    /// `Err(wait)` when the client has no token left.
    pub fn check_client(&self, key: &str) -> Result<(), Duration> {
        match &self.client {
            Some(limiter) => limiter
                .check_key(&key.to_owned())
                .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now())),
            None => Ok(()),
        }
    }
}

/// Paths never limited: health probes and metrics scrapes.
fn is_exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// Endpoints that answer OAuth JSON errors rather than problem+json.
fn is_oauth_json(path: &str) -> bool {
    path.starts_with("/o/")
        && ["/token", "/introspect", "/revoke", "/userinfo"].iter().any(|endpoint| path.ends_with(endpoint))
}

/// `/o/{slug}/…` → `slug`.
fn organization_segment(path: &str) -> Option<&str> {
    path.strip_prefix("/o/")?.split('/').next().filter(|slug| !slug.is_empty())
}

fn is_form(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

fn query_client_id(request: &Request) -> Option<String> {
    let query = request.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "client_id")
        .map(|(_, value)| value.into_owned())
}

/// The `429` answer, shaped for the endpoint.
pub fn too_many_requests(oauth_json: bool, wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = if oauth_json {
        let body = json!({"error": "temporarily_unavailable", "error_description": "too many requests; retry later"});
        flow::no_store_json(StatusCode::TOO_MANY_REQUESTS, &body)
    } else {
        let problem = ApiError::from_status(StatusCode::TOO_MANY_REQUESTS)
            .with_detail("Too many requests; retry after the time in Retry-After.")
            .problem();
        problem_response(StatusCode::TOO_MANY_REQUESTS, &problem)
    };
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

fn too_many_fields(oauth_json: bool) -> Response {
    if oauth_json {
        let body = json!({"error": "invalid_request", "error_description": "too many form fields"});
        flow::no_store_json(StatusCode::BAD_REQUEST, &body)
    } else {
        let problem = ApiError::from_status(StatusCode::BAD_REQUEST).with_detail("Too many form fields.").problem();
        problem_response(StatusCode::BAD_REQUEST, &problem)
    }
}

/// Bytes of the request head as received (request line and header lines).
fn head_bytes(request: &Request) -> usize {
    let line = request.method().as_str().len() + request.uri().to_string().len() + 12;
    request.headers().iter().fold(line, |total, (name, value)| total + name.as_str().len() + value.len() + 4)
}

/// Middleware: the request-head size cap (hyper's read buffer bounds memory
/// only approximately; this makes the limit exact), the per-IP bucket, the
/// form-field cap, the per-client bucket.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if head_bytes(&request) > state.security.settings.connections.max_header_bytes {
        return ApiError::from_status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE).into_response();
    }
    let path = request.uri().path().to_owned();
    if is_exempt(&path) {
        return next.run(request).await;
    }
    let security = &state.security;
    let oauth_json = is_oauth_json(&path);
    let ip = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    if let Some(ip) = ip {
        if let Err(wait) = security.rate_limiter.check_ip(ip) {
            security.metrics.rate_limited.get_or_create(&super::metrics::ScopeLabels { scope: "ip" }).inc();
            return too_many_requests(oauth_json, wait);
        }
    }
    let mut client_id = flow::basic_credentials(request.headers()).ok().flatten().map(|basic| basic.client_id);
    client_id = client_id.or_else(|| query_client_id(&request));
    let request = if request.method() == Method::POST && is_form(&request) {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, state.limits.max_body_bytes).await else {
            return ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE).into_response();
        };
        let mut fields = 0usize;
        for (name, value) in url::form_urlencoded::parse(&bytes) {
            fields += 1;
            if name == "client_id" && client_id.is_none() {
                client_id = Some(value.into_owned());
            }
        }
        if fields > security.settings.max_form_fields {
            return too_many_fields(oauth_json);
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        request
    };
    if let (Some(organization), Some(client_id)) = (organization_segment(&path), client_id) {
        let key = format!("{organization}\u{0}{}", client_id.chars().take(256).collect::<String>());
        if let Err(wait) = security.rate_limiter.check_client(&key) {
            security.metrics.rate_limited.get_or_create(&super::metrics::ScopeLabels { scope: "client" }).inc();
            return too_many_requests(oauth_json, wait);
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refuses_past_its_burst_and_says_how_long_to_wait() {
        let limiter =
            RateLimiter::new(RateLimits { ip_per_second: 1, ip_burst: 3, client_per_second: 0, client_burst: 0 });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.check_ip(ip).is_ok());
        }
        let wait = limiter.check_ip(ip).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limiter.check_ip("192.0.2.2".parse().unwrap()).is_ok(), "buckets are per address");
        assert!(limiter.check_client("acme\u{0}web").is_ok(), "a zero rate turns the bucket off");
    }

    #[test]
    fn paths_are_classified() {
        assert!(is_exempt("/healthz") && !is_exempt("/o/acme/token"));
        assert!(is_oauth_json("/o/acme/token") && is_oauth_json("/o/acme/userinfo") && !is_oauth_json("/o/acme/login"));
        assert_eq!(organization_segment("/o/acme/token"), Some("acme"));
        assert_eq!(organization_segment("/api/v1/users"), None);
    }
}
