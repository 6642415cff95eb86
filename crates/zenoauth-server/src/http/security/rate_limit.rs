//! Rate limiting of every public endpoint (all but `/healthz`, `/readyz` and
//! `/metrics`): a token bucket per client IP (governor's GCRA; the address
//! `context::attach` resolved, see `client_ip`), and one per
//! *authenticated* OAuth client at the token, introspection and revocation
//! endpoints (see [`ClientGate`]). A refused request gets
//! `429` with `Retry-After`: an RFC 6749-style JSON error at the token,
//! introspection, revocation and userinfo endpoints, problem+json
//! elsewhere. The same middleware caps the number of fields in a form body.
//!
//! The buckets live in this process (a per-instance limit: with N
//! instances the effective limit is up to N times higher). That is by
//! design — a database round trip per request would cost more than the
//! limit protects; what must be shared across instances (failed-login
//! counters and lockout) lives in the database.
//!
//! A `client_id` in a request proves nothing, so the per-client bucket is
//! charged only after the client authenticated with a credential (a
//! secret or a signed assertion): a caller who does not hold a client's
//! credential cannot spend its bucket. Requests before authentication —
//! and public clients, whose `client_id` is all they present — are bounded
//! by the per-IP bucket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde_json::json;
use tokio::time::Instant;
use zenoauth_domain::oauth::{ClientCredentials, ErrorCode, OAuthError, Params};

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
    client: Option<ClientBuckets>,
    checks: AtomicU64,
}

/// GCRA buckets keyed by authenticated client. Unlike governor's limiter
/// this one can be *looked at* without spending a token: a request is
/// refused up front when its client's bucket is empty, and a token is
/// spent only once the client authenticated.
struct ClientBuckets {
    /// Time one token takes to come back.
    interval: Duration,
    /// `interval × burst`: how far ahead of now the theoretical arrival
    /// time may run.
    capacity: Duration,
    /// Theoretical arrival time per client; an entry at or before now is a
    /// full bucket and may be forgotten.
    arrivals: Mutex<HashMap<String, Instant>>,
}

impl ClientBuckets {
    fn new(per_second: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst).unwrap_or(rate);
        let interval = Duration::from_secs(1) / rate.get();
        Some(Self { interval, capacity: interval * burst.get(), arrivals: Mutex::new(HashMap::new()) })
    }

    fn arrivals(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.arrivals.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Err(wait)` when spending a token now would overdraw the bucket.
    fn peek(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let Some(arrival) = self.arrivals().get(key).copied() else { return Ok(()) };
        let ahead = arrival.max(now) + self.interval - now;
        match ahead.checked_sub(self.capacity) {
            Some(wait) if !wait.is_zero() => Err(wait),
            _ => Ok(()),
        }
    }

    /// Spends one token (the request was admitted by [`Self::peek`]).
    fn spend(&self, key: &str) {
        let now = Instant::now();
        let mut arrivals = self.arrivals();
        let arrival = arrivals.entry(key.to_owned()).or_insert(now);
        *arrival = (*arrival).max(now) + self.interval;
    }

    fn forget_full(&self) {
        let now = Instant::now();
        self.arrivals().retain(|_, arrival| *arrival > now);
    }
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
            client: ClientBuckets::new(limits.client_per_second, limits.client_burst),
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
                client.forget_full();
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

    /// `Err(wait)` when the client has no token left (spends nothing).
    pub fn client_wait(&self, key: &str) -> Result<(), Duration> {
        self.client.as_ref().map_or(Ok(()), |buckets| buckets.peek(key))
    }

    /// Spends one of the client's tokens: call only once it authenticated.
    pub fn spend_client(&self, key: &str) {
        self.housekeeping();
        if let Some(buckets) = &self.client {
            buckets.spend(key);
        }
    }
}

/// The per-client bucket around one token, introspection or revocation
/// request: [`ClientGate::open`] before the domain handles it (refusing
/// when the named client's bucket is empty), [`ClientGate::close`] with the
/// outcome (spending a token when the client authenticated).
#[derive(Debug)]
pub struct ClientGate {
    key: Option<String>,
}

impl ClientGate {
    /// `Err(wait)` when the client the request presents a credential for
    /// has no token left (answer it with [`too_many_requests`]).
    pub fn open(
        state: &AppState,
        organization: &str,
        basic: Option<&ClientCredentials>,
        params: &Params,
    ) -> Result<Self, Duration> {
        let key = credentialed_client(basic, params)
            .map(|client_id| format!("{organization}\u{0}{}", client_id.chars().take(256).collect::<String>()));
        if let Some(key) = &key {
            if let Err(wait) = state.security.rate_limiter.client_wait(key) {
                state
                    .security
                    .metrics
                    .rate_limited
                    .get_or_create(&super::metrics::ScopeLabels { scope: "client" })
                    .inc();
                return Err(wait);
            }
        }
        Ok(Self { key })
    }

    /// Spends a token when the outcome shows the client authenticated: a
    /// success, or an error the domain raises only after authentication
    /// (`invalid_client`, `invalid_request` and internal failures may come
    /// before it, so they spend nothing).
    pub fn close<T>(self, state: &AppState, outcome: &Result<T, OAuthError>) {
        let authenticated = match outcome {
            Ok(_) => true,
            Err(error) => {
                !matches!(error.code(), ErrorCode::InvalidClient | ErrorCode::InvalidRequest | ErrorCode::ServerError)
            }
        };
        if let (true, Some(key)) = (authenticated, &self.key) {
            state.security.rate_limiter.spend_client(key);
        }
    }
}

/// The client a request presents a credential for: the Basic user, the
/// `client_id` beside a `client_secret`, or the subject of a
/// `client_assertion` (unverified here; the domain verifies it). `None`
/// for requests without a credential (public clients).
fn credentialed_client(basic: Option<&ClientCredentials>, params: &Params) -> Option<String> {
    if let Some(basic) = basic {
        return Some(basic.client_id.clone());
    }
    let param = |name: &str| params.get(name).ok().flatten();
    if param("client_secret").is_some() {
        return param("client_id").map(str::to_owned);
    }
    let assertion = param("client_assertion")?;
    let payload = URL_SAFE_NO_PAD.decode(assertion.split('.').nth(1)?).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&payload).ok()?;
    claims.get("sub").and_then(serde_json::Value::as_str).map(str::to_owned)
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

fn is_form(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
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
/// form-field cap. (The per-client bucket is applied by the endpoints that
/// authenticate clients, through [`ClientGate`].)
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
    // The client's address (behind trusted proxies, the one they forwarded).
    let ip = request.extensions().get::<super::context::ClientIp>().map(|client| client.0);
    if let Some(ip) = ip {
        if let Err(wait) = security.rate_limiter.check_ip(ip) {
            security.metrics.rate_limited.get_or_create(&super::metrics::ScopeLabels { scope: "ip" }).inc();
            return too_many_requests(oauth_json, wait);
        }
    }
    let request = if request.method() == Method::POST && is_form(&request) {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, state.limits.max_body_bytes).await else {
            return ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE).into_response();
        };
        let fields = url::form_urlencoded::parse(&bytes).count();
        if fields > security.settings.max_form_fields {
            return too_many_fields(oauth_json);
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        request
    };
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
        assert!(limiter.client_wait("acme\u{0}web").is_ok(), "a zero rate turns the bucket off");
    }

    #[test]
    fn paths_are_classified() {
        assert!(is_exempt("/healthz") && !is_exempt("/o/acme/token"));
        assert!(is_oauth_json("/o/acme/token") && is_oauth_json("/o/acme/userinfo") && !is_oauth_json("/o/acme/login"));
    }

    #[tokio::test]
    async fn a_client_bucket_is_looked_at_for_free_and_spent_only_on_request() {
        let limiter =
            RateLimiter::new(RateLimits { ip_per_second: 0, ip_burst: 0, client_per_second: 10, client_burst: 2 });
        for _ in 0..10 {
            assert!(limiter.client_wait("acme\u{0}web").is_ok(), "looking spends nothing");
        }
        limiter.spend_client("acme\u{0}web");
        limiter.spend_client("acme\u{0}web");
        let wait = limiter.client_wait("acme\u{0}web").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100), "{wait:?}");
        assert!(limiter.client_wait("acme\u{0}other").is_ok(), "buckets are per client");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(limiter.client_wait("acme\u{0}web").is_ok(), "the bucket refills");
    }

    #[test]
    fn the_credentialed_client_is_the_one_holding_a_secret_or_assertion() {
        let params = |pairs: &[(&str, &str)]| {
            Params::new(pairs.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()).unwrap()
        };
        let basic = ClientCredentials { client_id: "web".to_owned(), client_secret: "s".to_owned() };
        assert_eq!(credentialed_client(Some(&basic), &params(&[])).as_deref(), Some("web"));
        let post = params(&[("client_id", "web"), ("client_secret", "s")]);
        assert_eq!(credentialed_client(None, &post).as_deref(), Some("web"));
        assert_eq!(credentialed_client(None, &params(&[("client_id", "spa")])), None, "public: no credential");
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"svc","iss":"svc"}"#);
        let assertion = params(&[("client_assertion", &format!("e30.{payload}.sig"))]);
        assert_eq!(credentialed_client(None, &assertion).as_deref(), Some("svc"));
    }
}
