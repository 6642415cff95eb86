//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the
//! database answers too).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::problem::{ApiError, Problem};
use super::AppState;

/// The body of a successful health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthStatus {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: String,
}

impl HealthStatus {
    fn ok() -> Self {
        Self { status: "ok".to_owned() }
    }
}

/// Liveness: the process is up and serving HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is up", body = HealthStatus))
)]
pub async fn healthz() -> Json<HealthStatus> {
    Json(HealthStatus::ok())
}

/// Readiness: the database answers. Load balancers should route traffic here only while this is 200.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = HealthStatus),
        (status = 503, description = "The database is unreachable", content_type = "application/problem+json", body = Problem),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.readiness.check().await {
        Ok(()) => Json(HealthStatus::ok()).into_response(),
        Err(error) => ApiError::unavailable("the database is unreachable").with_source(error).into_response(),
    }
}
