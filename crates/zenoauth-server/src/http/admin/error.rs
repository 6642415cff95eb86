//! Errors of the admin API: RFC 9457 problem details whose `type` is a
//! machine-readable URI `https://zenoauth.dev/problems/{name}` (documented in
//! docs/admin-api.md), and RFC 6750 `WWW-Authenticate: Bearer` challenges on
//! 401 and 403.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::http::problem::{problem_response, Problem};

/// The base of every admin problem `type`.
pub const PROBLEM_BASE: &str = "https://zenoauth.dev/problems/";

/// The kinds of admin problems, each with its status, `type` name and title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 400: the request (body, query, header) is malformed or a value is invalid.
    Validation,
    /// 401: no usable bearer token.
    Unauthenticated,
    /// 403: the token does not carry an admin role for this.
    Forbidden,
    /// 404: no such object (or another organization's: indistinguishable).
    NotFound,
    /// 409: a uniqueness rule or the object's state forbids this.
    Conflict,
    /// 412: `If-Match` does not match the current `ETag`.
    PreconditionFailed,
    /// 413: the body is too large.
    PayloadTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 428: an update without `If-Match`.
    PreconditionRequired,
    /// 503: a dependency (the database) is unavailable.
    Unavailable,
    /// 500: an unexpected failure (logged; nothing is disclosed).
    Internal,
}

impl Kind {
    pub const fn status(self) -> StatusCode {
        match self {
            Self::Validation => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The last segment of the `type` URI.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Validation => "validation",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not-found",
            Self::Conflict => "conflict",
            Self::PreconditionFailed => "precondition-failed",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::PreconditionRequired => "precondition-required",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    pub const fn title(self) -> &'static str {
        match self {
            Self::Validation => "Invalid request",
            Self::Unauthenticated => "Authentication required",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "Not found",
            Self::Conflict => "Conflict",
            Self::PreconditionFailed => "Precondition failed",
            Self::PayloadTooLarge => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::PreconditionRequired => "Precondition required",
            Self::Unavailable => "Service unavailable",
            Self::Internal => "Internal error",
        }
    }
}

/// An admin API error: becomes problem+json.
#[derive(Debug)]
pub struct AdminError {
    kind: Kind,
    detail: Option<String>,
    /// RFC 6750 error code for the `WWW-Authenticate` challenge.
    bearer_error: Option<&'static str>,
    /// Logged, never sent.
    source: Option<zenoauth_domain::Error>,
}

impl AdminError {
    pub fn new(kind: Kind) -> Self {
        Self { kind, detail: None, bearer_error: None, source: None }
    }

    /// Adds an explanation meant for the client. Never pass internal text or secrets.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn validation(detail: impl Into<String>) -> Self {
        Self::new(Kind::Validation).with_detail(detail)
    }

    pub fn not_found() -> Self {
        Self::new(Kind::NotFound)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(Kind::Conflict).with_detail(detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self { bearer_error: Some("insufficient_scope"), ..Self::new(Kind::Forbidden).with_detail(detail) }
    }

    /// 401 without an error code: no credentials were sent (RFC 6750 §3.1).
    pub fn no_token() -> Self {
        Self::new(Kind::Unauthenticated).with_detail("send an access token: Authorization: Bearer <token>")
    }

    /// 401 `invalid_token`.
    pub fn invalid_token(detail: &'static str) -> Self {
        Self { bearer_error: Some("invalid_token"), ..Self::new(Kind::Unauthenticated).with_detail(detail) }
    }

    /// 401 `invalid_request` for a malformed `Authorization` header.
    pub fn invalid_request(detail: &'static str) -> Self {
        Self { bearer_error: Some("invalid_request"), ..Self::new(Kind::Unauthenticated).with_detail(detail) }
    }

    pub fn problem(&self) -> Problem {
        Problem {
            problem_type: format!("{PROBLEM_BASE}{}", self.kind.name()),
            title: self.kind.title().to_owned(),
            status: self.kind.status().as_u16(),
            detail: self.detail.clone(),
        }
    }
}

impl From<zenoauth_domain::Error> for AdminError {
    fn from(error: zenoauth_domain::Error) -> Self {
        use zenoauth_domain::Error;
        match error {
            Error::NotFound(what) => Self::not_found().with_detail(format!("{what} not found")),
            Error::Conflict(rule) => Self::conflict(format!("conflict: {rule}")),
            Error::InvalidInput(validation) => Self::validation(validation.to_string()),
            Error::InvalidGrant | Error::Unauthorized => Self::validation("the request was refused"),
            Error::PreconditionFailed => Self::new(Kind::PreconditionFailed)
                .with_detail("the object changed since you read it; fetch it again and retry"),
            Error::Unavailable(_) => Self {
                source: Some(error),
                ..Self::new(Kind::Unavailable).with_detail("a dependency is unavailable; retry later")
            },
        }
    }
}

impl From<zenoauth_domain::ValidationError> for AdminError {
    fn from(error: zenoauth_domain::ValidationError) -> Self {
        Self::validation(error.to_string())
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        match &self.source {
            Some(source) => {
                tracing::error!(status = self.kind.status().as_u16(), error = %source, "admin request failed")
            }
            None if self.kind.status().is_server_error() => {
                tracing::error!(status = self.kind.status().as_u16(), "admin request failed");
            }
            None => {}
        }
        let mut response = problem_response(self.kind.status(), &self.problem());
        if matches!(self.kind, Kind::Unauthenticated | Kind::Forbidden) {
            let challenge = match self.bearer_error {
                Some(code) => format!("Bearer realm=\"zenoauth-admin\", error=\"{code}\""),
                None => "Bearer realm=\"zenoauth-admin\"".to_owned(),
            };
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}
