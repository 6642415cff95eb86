//! RFC 9457 problem details: the one way the server reports an error over
//! HTTP outside the OAuth endpoints. The body holds only text written for
//! clients; internal causes are logged (inside the request span, so with the
//! request id) and never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem details document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub problem_type: String,
    /// A short summary of the problem type.
    #[schema(example = "Not Found")]
    pub title: String,
    /// The HTTP status code.
    #[schema(example = 404)]
    pub status: u16,
    /// An explanation of this occurrence, safe to show to the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// An error a handler returns; becomes problem+json.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    problem_type: &'static str,
    title: &'static str,
    detail: Option<String>,
    /// Logged, never sent.
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ApiError {
    /// A problem described by its status alone (`type` is `about:blank`,
    /// `title` the status's reason phrase).
    pub fn from_status(status: StatusCode) -> Self {
        Self {
            status,
            problem_type: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            detail: None,
            source: None,
        }
    }

    /// Adds an explanation meant for the client. Never pass internal error text.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Attaches the internal cause, to be logged when the response is built.
    pub fn with_source(mut self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn not_found() -> Self {
        Self::from_status(StatusCode::NOT_FOUND)
    }

    /// 500 with no detail at all.
    pub fn internal() -> Self {
        Self::from_status(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::from_status(StatusCode::SERVICE_UNAVAILABLE).with_detail(detail)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn problem(&self) -> Problem {
        Problem {
            problem_type: self.problem_type.to_owned(),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
        }
    }
}

impl From<zenoauth_domain::Error> for ApiError {
    fn from(error: zenoauth_domain::Error) -> Self {
        use zenoauth_domain::Error;
        match error {
            Error::NotFound(what) => Self::not_found().with_detail(format!("{what} not found")),
            Error::Conflict(rule) => Self::from_status(StatusCode::CONFLICT).with_detail(format!("conflict: {rule}")),
            // Validation messages are written for clients and never echo input.
            Error::InvalidInput(validation) => {
                Self::from_status(StatusCode::BAD_REQUEST).with_detail(validation.to_string())
            }
            Error::InvalidGrant => Self::from_status(StatusCode::BAD_REQUEST).with_detail("invalid grant"),
            Error::Unauthorized => Self::from_status(StatusCode::UNAUTHORIZED),
            Error::PreconditionFailed => Self::from_status(StatusCode::PRECONDITION_FAILED)
                .with_detail("the object changed since it was read; read it again and retry"),
            Error::Unavailable(source) => {
                Self::unavailable("a dependency is unavailable; retry later").with_source(source)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self.source {
            Some(source) => tracing::error!(status = self.status.as_u16(), error = %source, "request failed"),
            None if self.status.is_server_error() => tracing::error!(status = self.status.as_u16(), "request failed"),
            None => {}
        }
        problem_response(self.status, &self.problem())
    }
}

/// Writes `problem` as `application/problem+json` with `status`.
pub fn problem_response(status: StatusCode, problem: &Problem) -> Response {
    // Serializing a struct of strings cannot fail; fall back to an empty object regardless.
    let body = serde_json::to_vec(problem).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}
