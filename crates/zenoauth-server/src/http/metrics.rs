//! Prometheus metrics (OpenMetrics text at `GET /metrics`): request counts and
//! latencies by method, matched route template and status, plus build info.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use super::problem::ApiError;

mod cache;
use super::AppState;
pub use cache::CacheSlot;

/// The content type `prometheus-client` writes (Prometheus scrapes it natively).
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The route label of requests that matched no route (so unknown paths
/// cannot blow up the label cardinality).
pub const UNMATCHED_ROUTE: &str = "unmatched";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

type HistogramFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;

/// The server's metric registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily,
    /// Audit pipeline, rate limiting and hashing admission counters.
    pub security: std::sync::Arc<super::security::metrics::SecurityMetrics>,
    /// The store caches, exported at each scrape once set (issue 7).
    pub caches: CacheSlot,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn latency_histogram() -> Histogram {
    // 1 ms to ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The password hasher's work in `/metrics`, read at each scrape.
#[derive(Debug)]
struct HasherCollector(std::sync::Arc<zenoauth_crypto::Argon2Hasher>);

impl prometheus_client::collector::Collector for HasherCollector {
    fn encode(&self, mut encoder: prometheus_client::encoding::DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric as _;
        let counter = prometheus_client::metrics::counter::ConstCounter::new(self.0.computed());
        let family = encoder.encode_descriptor(
            "zenoauth_password_hashes",
            "Argon2id computations finished (password hashes and verifications, dummy ones for unknown users included)",
            None,
            counter.metric_type(),
        )?;
        counter.encode(family)
    }
}

impl Metrics {
    /// A registry that also reports `hasher`'s work.
    pub fn with_hasher(hasher: std::sync::Arc<zenoauth_crypto::Argon2Hasher>) -> Self {
        let mut metrics = Self::new();
        metrics.registry.register_collector(Box::new(HasherCollector(hasher)));
        metrics
    }

    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        // Registered as `http_requests`; the counter encoding appends `_total`.
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let durations: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from receiving a request to answering it, in seconds",
            durations.clone(),
        );
        // Encoded as `zenoauth_build_info{version="…"} 1`.
        let build = Info::new(BuildLabels { version: env!("CARGO_PKG_VERSION").to_owned() });
        registry.register("zenoauth_build", "The running ZenoAuth version", build);
        let security = std::sync::Arc::new(super::security::metrics::SecurityMetrics::registered(&mut registry));
        let caches = CacheSlot::default();
        registry.register_collector(Box::new(cache::CacheCollector(caches.clone())));
        Self { registry, requests, durations, security, caches }
    }

    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let labels = RequestLabels { method: method.to_owned(), route: route.to_owned(), status };
        self.requests.get_or_create(&labels).inc();
        self.durations.get_or_create(&labels).observe(seconds);
    }

    /// The registry in OpenMetrics text.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Middleware: counts and times every request by its route template.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED_ROUTE.to_owned(), |path| path.as_str().to_owned());
    let started = tokio::time::Instant::now();
    let response = next.run(request).await;
    state.metrics.record(&method, &route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// Metrics in the Prometheus/OpenMetrics text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Metrics in OpenMetrics text", content_type = "application/openmetrics-text", body = String),
    )
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.encode() {
        Ok(text) => {
            ([(header::CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE))], text).into_response()
        }
        Err(error) => ApiError::internal().with_source(error).into_response(),
    }
}
