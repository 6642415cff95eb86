//! The request context every audit event carries: the correlation id (the
//! W3C `traceparent` trace-id when the client sent a valid one, otherwise
//! the request id), the client IP and the user agent. Set by the
//! [`attach`] middleware as a task-local, so code deep in a request (the
//! audit sink, the login handlers that key lockout and sessions on the
//! address) can read it without threading it through every call.
//!
//! The client IP is computed here, once per request, by
//! [`super::client_ip::client_ip`] (the TCP peer, or the address trusted
//! proxies forwarded), and also put in the request's extensions as
//! [`ClientIp`] for the middleware further in (the per-IP rate limit).
//! Nothing else reads the peer address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::request_id::RequestId;

use super::client_ip::{client_ip, ForwardedHeader, TrustedProxies};
use crate::http::AppState;

/// The client's address, as [`attach`] computed it (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// What is known about the request being served.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    pub correlation_id: Option<String>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

tokio::task_local! {
    static CURRENT: RequestContext;
}

/// The context of the request this task is serving, if any.
pub fn current() -> Option<RequestContext> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Longest user agent kept (longer ones are cut).
const MAX_USER_AGENT_CHARS: usize = 256;

/// The trace-id of a valid W3C `traceparent` (version 00: `00-{32 hex}-{16
/// hex}-{2 hex}`, ids not all zero), lower case.
pub fn trace_id(headers: &HeaderMap) -> Option<String> {
    let values: Vec<&HeaderValue> = headers.get_all("traceparent").iter().collect();
    // Trace Context §3.2: more than one traceparent is invalid.
    let [value] = values.as_slice() else { return None };
    let text = value.to_str().ok()?.trim();
    let parts: Vec<&str> = text.split('-').collect();
    let hex = |part: &str, len: usize| {
        part.len() == len && part.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let [version, trace, parent, flags] = parts.as_slice() else { return None };
    let valid = hex(version, 2)
        && *version != "ff"
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0');
    // Version 00 has exactly four fields; later versions may add more (not parsed here).
    (valid && *version == "00").then(|| (*trace).to_owned())
}

/// Builds the context from a request; `trusted` are the reverse proxies
/// whose forwarding header (`header`) is believed.
pub fn from_request(request: &Request, trusted: &TrustedProxies, header: ForwardedHeader) -> RequestContext {
    let headers = request.headers();
    let request_id =
        request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).map(str::to_owned);
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| client_ip(info.0.ip(), headers, trusted, header));
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|text| text.chars().take(MAX_USER_AGENT_CHARS).collect());
    RequestContext { correlation_id: trace_id(headers).or(request_id), ip, user_agent }
}

/// Middleware: runs the rest of the request with its context set (and the
/// client IP as a [`ClientIp`] extension), and records the correlation id
/// on the request's log span.
pub async fn attach(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let settings = &state.security.settings;
    let context = from_request(&request, &settings.trusted_proxies, settings.forwarded_header);
    if let Some(correlation_id) = &context.correlation_id {
        tracing::Span::current().record("correlation_id", correlation_id.as_str());
    }
    if let Some(ip) = context.ip {
        request.extensions_mut().insert(ClientIp(ip));
    }
    CURRENT.scope(context, next.run(request)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("traceparent", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn a_valid_traceparent_gives_its_trace_id() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id(&headers(&[parent])).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    }

    #[test]
    fn invalid_traceparents_are_ignored() {
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "garbage",
        ] {
            assert_eq!(trace_id(&headers(&[bad])), None, "{bad}");
        }
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id(&headers(&[parent, parent])), None, "two traceparents are invalid");
    }
}
