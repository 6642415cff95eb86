//! The hosted pages (login, consent, logout, form_post, errors):
//! server-rendered HTML without JavaScript. Every interpolated value is
//! HTML-escaped; every page carries a strict Content-Security-Policy
//! (`default-src 'none'`, the one inline stylesheet allowed by its hash,
//! `form-action` limited to this server and, where a form leads back to a
//! client, that client's origin; `frame-ancestors 'none'`). Words come from
//! [`strings`] only.

pub mod strings;

use std::fmt::Write as _;
use std::sync::OnceLock;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// The one stylesheet: readable, high contrast (WCAG AA), visible focus.
const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f4f5;color:#18181b;margin:0;\
line-height:1.5}main{max-width:26rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:.5rem;\
box-shadow:0 1px 3px rgba(0,0,0,.2)}h1{font-size:1.5rem;margin-top:0}label{display:block;font-weight:600;\
margin-top:1rem}input{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;border:1px solid #52525b;\
border-radius:.25rem}button{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem;border-radius:.25rem;\
border:1px solid #1e3a8a;background:#1e40af;color:#fff;cursor:pointer}button.secondary{background:#fff;\
color:#1e3a8a}:focus-visible{outline:3px solid #b45309;outline-offset:2px}.error{color:#991b1b;\
background:#fef2f2;border:1px solid #991b1b;padding:.5rem;border-radius:.25rem}.org{color:#3f3f46}\
.logo{max-height:3rem;display:block;margin-bottom:1rem}";

fn style_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        // SHA-256 of the stylesheet (the digest the crypto adapter uses for secrets is plain SHA-256).
        let digest = zenoauth_crypto::digest_secret(STYLE);
        format!("'sha256-{}'", STANDARD.encode(digest.as_bytes()))
    })
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(character),
        }
    }
    escaped
}

/// Organization branding shown on every page.
#[derive(Debug, Clone)]
pub struct Branding {
    pub organization_name: String,
    pub logo_url: Option<String>,
}

/// A page under construction.
#[derive(Debug)]
pub struct Page {
    status: StatusCode,
    title: String,
    body: String,
    /// Extra `form-action` sources (a client's origin) besides `'self'`.
    form_targets: Vec<String>,
    headers: HeaderMap,
}

impl Page {
    pub fn new(status: StatusCode, title: &str) -> Self {
        Self {
            status,
            title: title.to_owned(),
            body: String::new(),
            form_targets: Vec::new(),
            headers: HeaderMap::new(),
        }
    }

    /// Appends trusted markup (callers escape what they interpolate).
    pub fn push(mut self, html: &str) -> Self {
        self.body.push_str(html);
        self
    }

    /// Allows forms (and the redirects that follow them) to reach `uri`'s origin.
    pub fn allow_form_target(mut self, uri: &str) -> Self {
        if let Some(source) = csp_source(uri) {
            self.form_targets.push(source);
        }
        self
    }

    pub fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    pub fn render(self, branding: &Branding) -> Response {
        let mut html = String::with_capacity(2048 + self.body.len());
        let _ = write!(
            html,
            "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <meta name=\"referrer\" content=\"no-referrer\">\
             <title>{title} – {org}</title><style>{STYLE}</style></head><body><main>",
            lang = strings::LANG,
            title = escape(&self.title),
            org = escape(&branding.organization_name),
        );
        if let Some(logo) = &branding.logo_url {
            let _ = write!(
                html,
                "<img class=\"logo\" src=\"{}\" alt=\"{} {}\">",
                escape(logo),
                escape(&branding.organization_name),
                strings::LOGO_ALT
            );
        }
        let _ = write!(
            html,
            "<p class=\"org\">{}</p><h1>{}</h1>{}</main></body></html>",
            escape(&branding.organization_name),
            escape(&self.title),
            self.body
        );
        let img_src = branding.logo_url.as_deref().and_then(csp_source).unwrap_or_else(|| "'none'".to_owned());
        let mut form_action = String::from("'self'");
        for target in &self.form_targets {
            form_action.push(' ');
            form_action.push_str(target);
        }
        let csp = format!(
            "default-src 'none'; style-src {}; img-src {img_src}; form-action {form_action}; \
             frame-ancestors 'none'; base-uri 'none'",
            style_hash()
        );
        let mut response = (self.status, html).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        if let Ok(value) = HeaderValue::from_str(&csp) {
            headers.insert(header::CONTENT_SECURITY_POLICY, value);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        for (name, value) in self.headers {
            if let Some(name) = name {
                headers.append(name, value);
            }
        }
        response
    }
}

/// The CSP source expression for a URI: its origin (`https://host:port`) or,
/// for private-use schemes, the scheme (`com.example.app:`).
fn csp_source(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    match url.scheme() {
        "http" | "https" => {
            let origin = url.origin().ascii_serialization();
            (origin != "null").then_some(origin)
        }
        scheme => Some(format!("{scheme}:")),
    }
}

/// A hidden form field.
pub fn hidden(name: &str, value: &str) -> String {
    format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(name), escape(value))
}

/// The error page: never redirects.
pub fn error_page(status: StatusCode, message: &str, branding: &Branding) -> Response {
    Page::new(status, strings::ERROR_TITLE)
        .push(&format!(
            "<p class=\"error\" role=\"alert\">{}</p><p>{}</p>",
            escape(message),
            escape(strings::ERROR_HINT)
        ))
        .render(branding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_the_five_html_specials() {
        assert_eq!(escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn csp_sources_are_origins_or_schemes() {
        assert_eq!(csp_source("https://app.example.com:8443/cb?x=1").as_deref(), Some("https://app.example.com:8443"));
        assert_eq!(csp_source("http://127.0.0.1:9/cb").as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(csp_source("com.example.app:/cb").as_deref(), Some("com.example.app:"));
        assert_eq!(csp_source("not a url"), None);
    }
}
