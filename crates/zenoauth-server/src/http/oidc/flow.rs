//! What the OpenID Provider's handlers share: building the domain's
//! [`OpenIdProvider`] from the state, request parameters that keep
//! duplicates (RFC 6749 §3.1), cookies (the per-organization session cookie
//! and the CSRF double-submit cookie), RFC 6749 §5.2 JSON errors and
//! authorization responses.

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;
use zenoauth_crypto::{constant_time_eq, CryptoOAuth};
use zenoauth_domain::oauth::settings::OrganizationSettings;
use zenoauth_domain::oauth::{
    ClientCredentials, Issuer, OAuthError, OpenIdProvider, Params, ProviderPorts, RedirectResponse, ResponseMode,
};

use super::super::pages::{self, escape, hidden, strings, Branding, Page};
use super::Tenant;
use crate::http::AppState;

/// The domain's provider over this state's stores and services: built once
/// per state (its ports are shared `Arc`s), not per request — building it
/// cloned ~25 `Arc`s and allocated twice on every call of the hot paths.
pub fn provider(state: &AppState) -> &OpenIdProvider {
    state.openid_provider.get_or_init(|| Arc::new(build_provider(state)))
}

fn build_provider(state: &AppState) -> OpenIdProvider {
    let services = &state.services;
    OpenIdProvider::new(
        state.stores.clone(),
        ProviderPorts {
            hasher: state.security.hasher.clone(),
            signer: services.signer.clone(),
            verifier: services.signer.clone(),
            crypto: Arc::new(CryptoOAuth::new(services.random.clone())),
            clock: services.clock.clone(),
            random: services.random.clone(),
            keys: state.key_ring(),
            audit: state.security.audit_sink(),
        },
    )
}

pub fn issuer(tenant: &Tenant, state: &AppState) -> Issuer {
    Issuer { organization: tenant.0.clone(), url: tenant.issuer(state) }
}

pub fn branding(tenant: &Tenant) -> Branding {
    let logo_url = OrganizationSettings::from_organization(&tenant.0).ok().and_then(|settings| settings.logo_url);
    let password_login = zenoauth_domain::oauth::settings::password_login_enabled(&tenant.0);
    Branding { organization_name: tenant.0.name.as_str().to_owned(), logo_url, password_login }
}

/// Decodes `application/x-www-form-urlencoded` text, keeping every pair.
pub fn decode_pairs(text: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text.as_bytes()).into_owned().collect()
}

pub fn encode_pairs(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// The body of a form POST; `None` unless the content type is
/// `application/x-www-form-urlencoded` and the body is UTF-8.
pub fn form_body(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return None;
    }
    String::from_utf8(body.to_vec()).ok()
}

/// The value of cookie `name` from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// `__Host-` with `Secure` when the public URL is https. On loopback http
/// browsers and cookie jars refuse both, so the cookie goes without them
/// there (still HttpOnly, SameSite=Lax, Path=/).
fn is_secure(state: &AppState) -> bool {
    state.public_url.as_str().starts_with("https://")
}

fn cookie_name(state: &AppState, base: &str) -> String {
    if is_secure(state) {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// The session cookie of one organization.
pub fn session_cookie_name(state: &AppState, tenant: &Tenant) -> String {
    cookie_name(state, &format!("zenoauth_session_{}", tenant.0.slug.as_str()))
}

fn csrf_cookie_name(state: &AppState) -> String {
    cookie_name(state, "zenoauth_csrf")
}

fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<i64>) -> Option<HeaderValue> {
    let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if is_secure(state) {
        text.push_str("; Secure");
    }
    if let Some(seconds) = max_age {
        text.push_str(&format!("; Max-Age={seconds}"));
    }
    HeaderValue::from_str(&text).ok()
}

pub fn session_set_cookie(state: &AppState, tenant: &Tenant, value: &str, max_age: i64) -> Option<HeaderValue> {
    set_cookie(state, &session_cookie_name(state, tenant), value, Some(max_age))
}

/// The name of a short-lived per-organization flow cookie (`base_{slug}`,
/// with `__Host-` on https), e.g. the pending federation link's.
pub fn flow_cookie_name(state: &AppState, tenant: &Tenant, base: &str) -> String {
    cookie_name(state, &format!("{base}_{}", tenant.0.slug.as_str()))
}

/// Sets (or with `max_age` 0 clears) a flow cookie named by [`flow_cookie_name`].
pub fn flow_set_cookie(
    state: &AppState,
    tenant: &Tenant,
    base: &str,
    value: &str,
    max_age: i64,
) -> Option<HeaderValue> {
    set_cookie(state, &flow_cookie_name(state, tenant, base), value, Some(max_age))
}

pub fn session_clear_cookie(state: &AppState, tenant: &Tenant) -> Option<HeaderValue> {
    set_cookie(state, &session_cookie_name(state, tenant), "", Some(0))
}

/// The CSRF token for a form: the browser's existing one if well-formed,
/// otherwise a new one (and the `Set-Cookie` to send it).
pub fn csrf_token(state: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    if let Some(existing) = cookie(headers, &csrf_cookie_name(state)).filter(|token| is_csrf_shaped(token)) {
        return (existing, None);
    }
    let mut bytes = [0u8; 32];
    state.services.random.fill(&mut bytes);
    let token: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    let header = set_cookie(state, &csrf_cookie_name(state), &token, None);
    (token, header)
}

fn is_csrf_shaped(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// Double-submit check: the form's token equals the cookie's.
pub fn csrf_ok(state: &AppState, headers: &HeaderMap, submitted: Option<&str>) -> bool {
    match (cookie(headers, &csrf_cookie_name(state)), submitted) {
        (Some(cookie), Some(submitted)) => {
            is_csrf_shaped(&cookie) && constant_time_eq(cookie.as_bytes(), submitted.as_bytes())
        }
        _ => false,
    }
}

/// The redirect URI a page continuing the authorization request `authorize`
/// (a form-encoded continuation) may let its form's answer go to, for the
/// Content-Security-Policy's `form-action`: only a `redirect_uri` registered
/// for the request's `client_id` in this organization (exact match, as at
/// `authorize`). `None` for anything else — a missing, repeated, unknown or
/// unregistered value — so the policy is never widened by the request alone.
pub async fn registered_form_target(state: &AppState, tenant: &Tenant, authorize: Option<&str>) -> Option<String> {
    let pairs = decode_pairs(authorize?);
    let single = |name: &str| {
        let mut values = pairs.iter().filter(|(key, _)| key == name).map(|(_, value)| value.as_str());
        values.next().filter(|_| values.next().is_none())
    };
    let client_id = zenoauth_domain::values::ClientId::parse(single("client_id")?).ok()?;
    let redirect_uri = zenoauth_domain::values::RedirectUri::parse(single("redirect_uri")?).ok()?;
    let application = state.stores.applications.find_by_client_id(tenant.0.id, &client_id).await.ok()??;
    application.redirect_uris.contains(&redirect_uri).then(|| redirect_uri.as_str().to_owned())
}

/// One field of a decoded form (the first; the forms are ours).
pub fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

/// The authorization response: a redirect (query) or a form to POST (form_post).
pub fn authorization_response(response: &RedirectResponse, after_post: bool, branding: &Branding) -> Response {
    match response.response_mode {
        ResponseMode::Query => {
            let status = if after_post { StatusCode::SEE_OTHER } else { StatusCode::FOUND };
            let mut reply = status.into_response();
            if let Ok(location) = HeaderValue::from_str(&response.location()) {
                reply.headers_mut().insert(header::LOCATION, location);
            }
            reply.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            reply
        }
        ResponseMode::FormPost => {
            let mut form = format!(
                "<p>{}</p><form method=\"post\" action=\"{}\">",
                escape(strings::CONTINUE_BODY),
                escape(response.redirect_uri.as_str())
            );
            for (name, value) in &response.params {
                form.push_str(&hidden(name, value));
            }
            form.push_str(&format!(
                "<button type=\"submit\" autofocus>{}</button></form>",
                escape(strings::CONTINUE_BUTTON)
            ));
            Page::new(StatusCode::OK, strings::CONTINUE_TITLE)
                .allow_form_target(response.redirect_uri.as_str())
                .push(&form)
                .render(branding)
        }
    }
}

/// The page shown when something failed inside (logged here, never shown).
pub fn internal_page(error: &zenoauth_domain::Error, branding: &Branding) -> Response {
    tracing::error!(error = %error, source = ?std::error::Error::source(error), "OpenID Provider request failed");
    pages::error_page(StatusCode::INTERNAL_SERVER_ERROR, strings::SERVER_ERROR, branding)
}

/// An RFC 6749 §5.2 error response: JSON, `no-store`; 401 with
/// `WWW-Authenticate: Basic` for `invalid_client`.
pub fn oauth_error(error: &OAuthError, issuer: &Issuer) -> Response {
    let (status, description) = match error {
        OAuthError::Protocol { code, description } => {
            let status = if *code == zenoauth_domain::oauth::ErrorCode::InvalidClient {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_REQUEST
            };
            (status, *description)
        }
        OAuthError::Internal(source) => {
            tracing::error!(error = %source, source = ?std::error::Error::source(source), "token endpoint failure");
            (StatusCode::INTERNAL_SERVER_ERROR, "the server could not complete the request")
        }
    };
    let body = json!({"error": error.code().as_str(), "error_description": description});
    let mut response = no_store_json(status, &body);
    if status == StatusCode::UNAUTHORIZED {
        let realm = issuer.url.replace('"', "");
        if let Ok(value) = HeaderValue::from_str(&format!("Basic realm=\"{realm}\", charset=\"UTF-8\"")) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
    }
    response
}

/// JSON with `Cache-Control: no-store` and `Pragma: no-cache`.
pub fn no_store_json(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Parses `Authorization: Basic` client credentials (RFC 6749 §2.3.1: the
/// id and secret are form-urlencoded before base64). `Err` when the header
/// is there but malformed.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<ClientCredentials>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let malformed = OAuthError::invalid_client;
    let text = value.to_str().map_err(|_| malformed())?;
    let Some((scheme, encoded)) = text.split_once(' ') else { return Err(malformed()) };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let unescape = |part: &str| -> String {
        url::form_urlencoded::parse(format!("v={part}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    Ok(Some(ClientCredentials { client_id: unescape(id), client_secret: unescape(secret) }))
}

/// Parameters of a request, or the OAuth error for too many / too long.
pub fn params(pairs: Vec<(String, String)>) -> Result<Params, OAuthError> {
    Params::new(pairs)
}

/// Any method but POST at the token, introspection and revocation
/// endpoints: 405 with an RFC 6749 JSON error (not problem+json).
pub async fn post_only() -> Response {
    let body = json!({"error": "invalid_request", "error_description": "this endpoint accepts only POST"});
    let mut response = no_store_json(StatusCode::METHOD_NOT_ALLOWED, &body);
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}
