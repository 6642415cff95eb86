//! The conventions every admin endpoint shares: cursor pagination, ETags and
//! `If-Match`, JSON bodies and query strings that fail as problem+json, and
//! ids in paths.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header::{ETAG, IF_MATCH, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use zenoauth_domain::ports::PageRequest;

use super::error::{AdminError, Kind};

/// The page size when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 50;

/// `?limit=&after=`: at most `limit` (1–200, default 50) items after the
/// opaque cursor `after` (a previous page's `next_cursor`), in id order.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200, example = 50)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(example = "AZN1y2ZHcKG9JQn0cRfD9A")]
    pub after: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> Result<PageRequest, AdminError> {
        let after = self.after.as_deref().map(decode_cursor).transpose()?;
        Ok(PageRequest::new(after, self.limit.unwrap_or(DEFAULT_LIMIT))?)
    }
}

/// One page of a list, in a stable order (by id, i.e. creation time).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` for the next page; `null` on the last page.
    #[schema(example = json!(null))]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Items read with `page`; a full page gets a cursor after its last id.
    pub fn new(items: Vec<T>, page: &PageRequest, id: impl Fn(&T) -> Uuid) -> Self {
        let full = items.len() >= usize::try_from(page.limit()).unwrap_or(usize::MAX);
        let next_cursor = if full { items.last().map(|last| encode_cursor(id(last))) } else { None };
        Self { items, next_cursor }
    }

    /// Everything at once (lists that are small by nature).
    pub fn complete(items: Vec<T>) -> Self {
        Self { items, next_cursor: None }
    }
}

pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(text: &str) -> Result<Uuid, AdminError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| AdminError::validation("after: is not a cursor from a previous page"))
}

/// A path id: anything but a UUID names no object (404).
pub fn path_id<T: From<Uuid>>(text: &str) -> Result<T, AdminError> {
    Uuid::parse_str(text).map(T::from).map_err(|_| AdminError::not_found())
}

/// RFC 3339 with the stored precision.
pub fn timestamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// The version rule (`updated_at` always moves forward, at the stored
/// precision) lives in the domain, shared with every other writer.
pub use zenoauth_domain::users::next_version;

/// The strong ETag of a representation: a digest of its JSON form, so any
/// visible change changes it. It covers `updated_at`, which the stores
/// compare on the conditional write that follows the `If-Match` check.
pub fn etag_of<T: Serialize>(representation: &T) -> String {
    let text = serde_json::to_string(representation).unwrap_or_default();
    let digest = zenoauth_crypto::digest_secret(&text);
    let hex: String = digest.as_bytes()[..16].iter().map(|byte| format!("{byte:02x}")).collect();
    format!("\"{hex}\"")
}

/// `If-Match` on an update: required (428 without it), and one of its
/// entity tags (or `*`) must equal the current one (412 otherwise).
pub fn check_if_match(headers: &HeaderMap, current: &str) -> Result<(), AdminError> {
    let values: Vec<&HeaderValue> = headers.get_all(IF_MATCH).iter().collect();
    if values.is_empty() {
        return Err(AdminError::new(Kind::PreconditionRequired)
            .with_detail("send If-Match with the ETag of the representation you are changing"));
    }
    let matches = values.iter().filter_map(|value| value.to_str().ok()).flat_map(|text| text.split(',')).any(|tag| {
        let tag = tag.trim();
        tag == "*" || tag == current
    });
    if matches {
        Ok(())
    } else {
        Err(AdminError::new(Kind::PreconditionFailed)
            .with_detail("the object changed since you read it; fetch it again and retry"))
    }
}

/// 200 with the representation and its `ETag`.
pub fn with_etag<T: Serialize>(representation: T) -> Response {
    let etag = etag_of(&representation);
    let mut response = Json(representation).into_response();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(ETAG, value);
    }
    response
}

/// 201 with `Location` (and `ETag`).
pub fn created<T: Serialize>(location: &str, representation: T) -> Response {
    let mut response = with_etag(representation);
    *response.status_mut() = StatusCode::CREATED;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// 201 with `Location` for a representation that holds a one-time secret (no ETag).
pub fn created_with_secret<T: Serialize>(location: &str, representation: T) -> Response {
    let mut response = (StatusCode::CREATED, Json(representation)).into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A JSON body; malformed JSON, a wrong content type or an oversized body
/// become problem+json (400, 415, 413).
#[derive(Debug, Clone)]
pub struct AdminJson<T>(pub T);

impl<T, S> FromRequest<S> for AdminJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AdminError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> AdminError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            AdminError::new(Kind::UnsupportedMediaType).with_detail("send the body as application/json")
        }
        JsonRejection::JsonDataError(error) => AdminError::validation(schema_detail(&error.body_text())),
        JsonRejection::JsonSyntaxError(_) => AdminError::validation("the body is not valid JSON"),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            AdminError::new(Kind::PayloadTooLarge).with_detail("the body is too large")
        }
        _ => AdminError::validation("the body could not be read"),
    }
}

/// Names a missing or unknown field, never echoes a value.
fn schema_detail(text: &str) -> String {
    for marker in ["missing field `", "unknown field `", "duplicate field `"] {
        if let Some(start) = text.find(marker) {
            let rest = &text[start + marker.len()..];
            if let Some(end) = rest.find('`') {
                let field = &rest[..end];
                if field.len() <= 64 && field.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return format!("the body does not match the schema: {}{field}`", &marker);
                }
            }
        }
    }
    "the body does not match the schema (a field has the wrong type or value)".to_owned()
}

/// A query string; one that does not parse is 400 problem+json.
#[derive(Debug, Clone)]
pub struct AdminQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for AdminQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(_)) => {
                Err(AdminError::validation("the query string does not match the parameters of this operation"))
            }
            Err(_) => Err(AdminError::validation("the query string could not be read")),
        }
    }
}

/// At most this many bytes for a free-form JSON object (settings, profile).
pub const MAX_OBJECT_BYTES: usize = 16 * 1024;

/// A free-form JSON object of bounded size.
pub fn bounded_object(value: &serde_json::Value, field: &'static str) -> Result<(), AdminError> {
    if !value.is_object() {
        return Err(AdminError::validation(format!("{field}: must be a JSON object")));
    }
    let text = value.to_string();
    if text.len() > MAX_OBJECT_BYTES {
        return Err(AdminError::validation(format!("{field}: must be at most 16384 bytes of JSON")));
    }
    if text.contains("\\u0000") {
        return Err(AdminError::validation(format!("{field}: must not contain NUL characters")));
    }
    Ok(())
}

/// A free-text filter from a query string: bounded, no control characters.
pub fn filter_text(value: Option<&String>, field: &'static str, max: usize) -> Result<Option<String>, AdminError> {
    match value {
        Some(text) if text.len() > max || text.chars().any(char::is_control) => {
            Err(AdminError::validation(format!("{field}: at most {max} bytes, no control characters")))
        }
        other => Ok(other.cloned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_roundtrip_and_junk_is_refused() {
        let id = Uuid::from_u128(0x0193_75c2_6647_70a1_bd25_09f4_7117_c3f4);
        assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        assert!(decode_cursor("not a cursor").is_err());
        assert!(decode_cursor("AAAA").is_err());
    }

    #[test]
    fn if_match_is_required_and_compared_strongly() {
        let mut headers = HeaderMap::new();
        assert_eq!(check_if_match(&headers, "\"a\"").unwrap_err().kind(), Kind::PreconditionRequired);
        headers.insert(IF_MATCH, HeaderValue::from_static("\"b\", \"a\""));
        assert!(check_if_match(&headers, "\"a\"").is_ok());
        assert_eq!(check_if_match(&headers, "\"c\"").unwrap_err().kind(), Kind::PreconditionFailed);
        headers.insert(IF_MATCH, HeaderValue::from_static("*"));
        assert!(check_if_match(&headers, "\"c\"").is_ok());
    }

    #[test]
    fn schema_errors_name_fields_but_never_values() {
        assert_eq!(
            schema_detail("Failed to deserialize: missing field `email` at line 1 column 2"),
            "the body does not match the schema: missing field `email`"
        );
        let detail = schema_detail("invalid type: string \"hunter2\", expected a boolean");
        assert!(!detail.contains("hunter2"));
    }
}
