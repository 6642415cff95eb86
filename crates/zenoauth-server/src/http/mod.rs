//! The HTTP surface: the router ([`app`]), its middleware stack and the
//! server loop with graceful shutdown ([`serve`]).
//!
//! Middleware, outermost first: request id (`x-request-id`, kept when the
//! client sends a sane one, generated otherwise, echoed in the response) →
//! trace span carrying the request id (so every log line of a request has
//! it) → request context for audit events (`security::context`: correlation
//! id from `traceparent` or the request id, client IP — the peer, or what
//! trusted proxies forwarded — user agent) →
//! hardening headers (`security::headers`) → metrics by route template →
//! problem+json for bare error responses → request timeout (503) → panic
//! catcher (bare 500) → rate limits and the form-field cap
//! (`security::rate_limit`, 429/400) → body limit (413).

pub mod account;
pub mod admin;
pub mod health;
pub mod metrics;
pub mod mfa;
pub mod oidc;
pub mod openapi;
pub mod pages;
pub mod problem;
pub mod security;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;
use zenoauth_domain::keys::{KeyPolicy, KeyRing};
use zenoauth_domain::ports::{PageRequest, Stores};

use self::metrics::Metrics;
use self::openapi::ApiDoc;
use self::problem::{problem_response, ApiError, PROBLEM_JSON};
use crate::config::PublicUrl;
use crate::services::Services;

/// The header carrying the request id, in both directions.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Longest client-supplied request id that is kept (longer ones are replaced).
const MAX_REQUEST_ID_LEN: usize = 128;

/// Why the service is not ready; logged, never sent to clients.
pub type ReadinessError = Box<dyn std::error::Error + Send + Sync>;

/// Answers whether the service can do its work (in practice: whether the
/// database answers).
#[async_trait]
pub trait ReadinessCheck: Send + Sync {
    async fn check(&self) -> Result<(), ReadinessError>;
}

/// Readiness through the store ports: one cheap read. For stores that have
/// no cheaper probe (the memory store in tests).
#[derive(Debug, Clone)]
pub struct StoresReadiness(pub Stores);

#[async_trait]
impl ReadinessCheck for StoresReadiness {
    async fn check(&self) -> Result<(), ReadinessError> {
        self.0.organizations.list(&PageRequest::first(1)).await?;
        Ok(())
    }
}

/// Request limits applied by the middleware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self { request_timeout: Duration::from_secs(30), max_body_bytes: 65536 }
    }
}

/// What every handler can reach: one shared [`AppStateInner`] behind an
/// `Arc`, so the clones axum makes per request (one per middleware that
/// takes state, one for the handler) cost one reference count, not one per
/// store and service. Fields read through `Deref` (`state.stores`).
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// The fields of [`AppState`].
#[derive(Clone)]
pub struct AppStateInner {
    pub stores: Stores,
    pub readiness: Arc<dyn ReadinessCheck>,
    pub metrics: Arc<Metrics>,
    pub limits: HttpLimits,
    /// Clock, randomness, password hasher, JWS signer.
    pub services: Services,
    /// The externally visible base URL; issuers are `{public_url}/o/{slug}`.
    pub public_url: PublicUrl,
    /// When signing keys rotate and how long they stay published.
    pub key_policy: KeyPolicy,
    /// Rate limits, hashing admission, the audit pipeline (issue 5).
    pub security: self::security::SecurityState,
    /// Queues mail into the outbox (issue 5, email flows).
    pub mail: crate::mail::Mailer,
    /// Talks to upstream identity providers (issue 6, federation).
    pub upstream: crate::federation::UpstreamClient,
    /// Serialised JWK Sets per organization (`oidc::jwks`).
    pub jwks_documents: self::oidc::jwks::JwksDocuments,
    /// The OpenID Provider over these fields, built at first use and shared
    /// by every request (`oidc::flow::provider`); the `with_*` builders reset it.
    pub(crate) openid_provider: std::sync::OnceLock<Arc<zenoauth_domain::oauth::OpenIdProvider>>,
    /// Lockout administration over these fields, built at first use
    /// (`admin::lockout::login_lockout`); the `with_*` builders reset it.
    pub(crate) login_lockout: std::sync::OnceLock<zenoauth_domain::security::lockout::LoginLockout>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Debug for AppStateInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl AppState {
    /// State with default limits and a fresh metrics registry.
    /// Starts the audit writer on the current tokio runtime.
    pub fn new(stores: Stores, readiness: Arc<dyn ReadinessCheck>, services: Services, public_url: PublicUrl) -> Self {
        let metrics = Arc::new(Metrics::with_hasher(services.hasher.clone()));
        let security = self::security::SecurityState::start(
            self::security::SecuritySettings::default(),
            metrics.security.clone(),
            services.hasher.clone(),
            stores.audit.clone(),
        );
        let mail = crate::mail::Mailer::new(
            stores.mail_outbox.clone(),
            services.clock.clone(),
            services.random.clone(),
            crate::mail::MailSettings::default(),
        );
        let upstream = crate::federation::UpstreamClient::new(
            services.clock.clone(),
            crate::federation::upstream::DEFAULT_TIMEOUT,
        );
        Self(Arc::new(AppStateInner {
            security,
            mail,
            upstream,
            stores,
            readiness,
            metrics,
            limits: HttpLimits::default(),
            services,
            public_url,
            key_policy: KeyPolicy::default(),
            jwks_documents: self::oidc::jwks::JwksDocuments::default(),
            openid_provider: std::sync::OnceLock::new(),
            login_lockout: std::sync::OnceLock::new(),
        }))
    }

    /// The fields, for the `with_*` builders (copied first if shared).
    fn inner_mut(&mut self) -> &mut AppStateInner {
        let inner = Arc::make_mut(&mut self.0);
        // Built from the fields about to change: rebuilt at its next use.
        inner.openid_provider = std::sync::OnceLock::new();
        inner.login_lockout = std::sync::OnceLock::new();
        inner
    }

    /// The organizations' signing keys, over this state's store and signer.
    pub fn key_ring(&self) -> KeyRing {
        self.key_ring_over(self.stores.signing_keys.clone())
    }

    /// [`AppState::key_ring`] over another store of the same keys.
    pub fn key_ring_over(&self, keys: Arc<dyn zenoauth_domain::ports::SigningKeyRepository>) -> KeyRing {
        KeyRing::new(keys, self.services.signer.clone(), self.services.clock.clone(), self.services.random.clone())
            .with_policy(self.key_policy)
    }

    /// Bounds each request to an upstream identity provider
    /// (`federation.upstream_timeout_seconds`).
    pub fn with_upstream_timeout(mut self, timeout: std::time::Duration) -> Self {
        let upstream = crate::federation::UpstreamClient::new(self.services.clock.clone(), timeout);
        self.inner_mut().upstream = upstream;
        self
    }

    pub fn with_key_policy(mut self, key_policy: KeyPolicy) -> Self {
        self.inner_mut().key_policy = key_policy;
        self
    }

    /// The same state with another public URL (tests learn theirs after binding).
    pub fn with_public_url(mut self, public_url: PublicUrl) -> Self {
        self.inner_mut().public_url = public_url;
        self
    }

    /// The same state with other mail settings (SMTP, sender, link lifetimes).
    pub fn with_mail(mut self, settings: crate::mail::MailSettings) -> Self {
        let mail = crate::mail::Mailer::new(
            self.stores.mail_outbox.clone(),
            self.services.clock.clone(),
            self.services.random.clone(),
            settings,
        );
        self.inner_mut().mail = mail;
        self
    }

    /// The mail sender over this state's outbox (spawn it with `.spawn()`).
    pub fn mail_worker(&self) -> Result<crate::mail::worker::MailWorker, crate::mail::worker::MailSetupError> {
        crate::mail::worker::MailWorker::new(
            self.stores.mail_outbox.clone(),
            self.services.clock.clone(),
            self.services.random.clone(),
            &self.mail,
        )
    }

    pub fn with_limits(mut self, limits: HttpLimits) -> Self {
        self.inner_mut().limits = limits;
        self
    }

    /// The same state with other security settings (a new limiter and
    /// hashing queue; the audit writer is restarted with the new sizes).
    pub fn with_security(mut self, settings: self::security::SecuritySettings) -> Self {
        let security = self::security::SecurityState::start(
            settings,
            self.metrics.security.clone(),
            self.services.hasher.clone(),
            self.stores.audit.clone(),
        );
        self.inner_mut().security = security;
        self
    }
}

/// The whole router with its middleware.
pub fn app(state: AppState) -> Router {
    let limits = state.limits;
    let middleware = ServiceBuilder::new()
        .map_request(discard_unusable_request_id)
        .layer(SetRequestIdLayer::new(HeaderName::from_static(REQUEST_ID_HEADER), MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(HeaderName::from_static(REQUEST_ID_HEADER)))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(DefaultOnRequest::new().level(Level::DEBUG))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(middleware::from_fn_with_state(state.clone(), security::context::attach))
        .layer(middleware::from_fn_with_state(state.clone(), security::headers::harden))
        .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(middleware::from_fn(problem_for_bare_errors))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, limits.request_timeout))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(state.clone(), security::rate_limit::limit))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .nest("/o/{slug}", oidc::router())
        .nest("/o/{slug}/mfa", mfa::router())
        .nest("/o/{slug}/account", account::router())
        .nest("/api/v1", admin::router())
        // RFC 8414 §3.1: the well-known segment goes before the issuer's path.
        .route("/.well-known/oauth-authorization-server/o/{slug}", get(oidc::discovery::provider_metadata))
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", ApiDoc::openapi()))
        .fallback(not_found)
        .layer(middleware)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// Drops a client-sent request id that is empty, overlong or not plain
/// token characters, so a fresh one is generated instead of logging junk.
fn discard_unusable_request_id(mut request: Request) -> Request {
    let usable = request.headers().get(REQUEST_ID_HEADER).is_none_or(|value| {
        let bytes = value.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID_LEN
            && bytes.iter().all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(byte))
    });
    if !usable {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
    request
}

fn request_span(request: &Request) -> tracing::Span {
    let request_id =
        request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-");
    let route = request.extensions().get::<MatchedPath>().map_or(metrics::UNMATCHED_ROUTE, MatchedPath::as_str);
    tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        route = %route,
        path = %request.uri().path(),
        correlation_id = tracing::field::Empty,
    )
}

/// Error responses from the framework and tower layers (405, 408, 413, 503
/// from the timeout …) come bare or as plain text; they leave as problem+json.
async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_bare = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|value| value.to_str().is_ok_and(|text| text.starts_with("text/plain")));
    if !is_bare {
        return response;
    }
    let (mut parts, _body) = response.into_parts();
    let replacement = ApiError::from_status(status).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    let (_, body) = replacement.into_parts();
    Response::from_parts(parts, body)
}

fn panic_response(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    // The payload may hold internal text: it is neither logged verbatim nor sent.
    tracing::error!("a handler panicked");
    problem_response(StatusCode::INTERNAL_SERVER_ERROR, &ApiError::internal().problem())
}

/// Serves `app` on `listener` until `shutdown` completes, then stops
/// accepting, lets in-flight requests finish, and gives up on them after
/// `drain_timeout`. Logs `listening on http://ADDRESS` first. Uses the
/// default connection limits (see [`security::connections`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain_timeout: Duration,
) -> std::io::Result<()> {
    security::connections::serve(listener, app, shutdown, drain_timeout, Default::default()).await
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
