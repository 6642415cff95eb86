//! The OpenAPI 3.1 description of the HTTP API, generated from the handlers
//! (served at `/api/openapi.json`, committed as `docs/openapi.json`).

use utoipa::OpenApi;

use super::admin::{AdminApi, AdminConventions};
use super::health::HealthStatus;
use super::problem::Problem;

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "ZenoAuth",
        description = "OAuth 2.1 / OpenID Connect provider. Errors outside the OAuth endpoints are RFC 9457 `application/problem+json`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(super::health::healthz, super::health::readyz, super::metrics::metrics),
    components(schemas(HealthStatus, Problem)),
    tags((name = "operations", description = "Health, readiness and metrics for operators and orchestrators")),
    nest((path = "/api/v1", api = AdminApi)),
    modifiers(&AdminConventions),
)]
pub struct ApiDoc;

/// The OpenAPI document as pretty JSON with a trailing newline (the form
/// committed as `docs/openapi.json`).
pub fn openapi_json() -> Result<String, serde_json::Error> {
    let mut text = ApiDoc::openapi().to_pretty_json()?;
    text.push('\n');
    Ok(text)
}
