//! The hosted pages (login, consent, logout, form_post, errors):
//! server-rendered HTML without JavaScript (except the passkey ceremony
//! pages' one script, allowed by its hash: [`Page::script`]). Every interpolated value is
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

/// The CSP hash source of an inline script or style.
fn source_hash(source: &str) -> String {
    let digest = zenoauth_crypto::digest_secret(source);
    format!("'sha256-{}'", STANDARD.encode(digest.as_bytes()))
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
    /// Whether the login page offers the password form (organization
    /// setting `password_login`; otherwise only the providers' buttons).
    pub password_login: bool,
}

/// A page under construction.
#[derive(Debug)]
pub struct Page {
    status: StatusCode,
    title: String,
    body: String,
    /// Extra `form-action` sources (a client's origin) besides `'self'`.
    form_targets: Vec<String>,
    /// Extra `img-src` sources (identity providers' icons) besides the logo's.
    image_sources: Vec<String>,
    /// One inline script, allowed by its hash (the passkey pages).
    script: Option<&'static str>,
    headers: HeaderMap,
}

impl Page {
    pub fn new(status: StatusCode, title: &str) -> Self {
        Self {
            status,
            title: title.to_owned(),
            body: String::new(),
            form_targets: Vec::new(),
            image_sources: Vec::new(),
            script: None,
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

    /// Allows images from `uri`: its origin for an http(s) URL, `data:` for a
    /// `data:image/…` URL (an image there cannot run script). Anything else
    /// is ignored, so it cannot widen the policy.
    pub fn allow_image(mut self, uri: &str) -> Self {
        let source = if uri.starts_with("data:image/") {
            Some("data:".to_owned())
        } else {
            csp_source(uri).filter(|source| source.starts_with("https://") || source.starts_with("http://"))
        };
        if let Some(source) = source.filter(|source| !self.image_sources.contains(source)) {
            self.image_sources.push(source);
        }
        self
    }

    /// Adds an inline script at the end of the body; the policy allows it
    /// by its SHA-256 hash (`script-src 'sha256-…'`), and nothing else.
    pub fn script(mut self, source: &'static str) -> Self {
        self.script = Some(source);
        self
    }

    pub fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    pub fn render(mut self, branding: &Branding) -> Response {
        let script_src = self.script.map(|script| {
            self.body.push_str("<script>");
            self.body.push_str(script);
            self.body.push_str("</script>");
            format!(" script-src {};", source_hash(script))
        });
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
        let mut images: Vec<String> = branding.logo_url.as_deref().and_then(csp_source).into_iter().collect();
        for source in &self.image_sources {
            if !images.contains(source) {
                images.push(source.clone());
            }
        }
        let img_src = if images.is_empty() { "'none'".to_owned() } else { images.join(" ") };
        let mut form_action = String::from("'self'");
        for target in &self.form_targets {
            form_action.push(' ');
            form_action.push_str(target);
        }
        let csp = format!(
            "default-src 'none';{script_src} style-src {}; img-src {img_src}; form-action {form_action}; \
             frame-ancestors 'none'; base-uri 'none'",
            style_hash(),
            script_src = script_src.unwrap_or_default(),
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

    #[test]
    fn a_script_is_allowed_by_its_hash_alone() {
        let branding = Branding { organization_name: "Acme".to_owned(), logo_url: None, password_login: true };
        let plain = Page::new(StatusCode::OK, "t").render(&branding);
        let plain = plain.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap_or_default().to_owned();
        assert!(!plain.contains("script-src"), "{plain}");
        let page = Page::new(StatusCode::OK, "t").script("console.log(1);").render(&branding);
        let csp = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap_or_default().to_owned();
        let expected = format!("script-src {};", source_hash("console.log(1);"));
        assert!(csp.contains(&expected) && !csp.contains("unsafe") && !csp.contains("script-src 'self'"), "{csp}");
        assert!(source_hash("console.log(1);").starts_with("'sha256-") && source_hash("x") != source_hash("y"));
    }

    #[test]
    fn images_widen_img_src_only_to_their_origin_or_data() {
        let branding = Branding { organization_name: "Acme".to_owned(), logo_url: None, password_login: true };
        let csp = |page: Page| {
            let response = page.render(&branding);
            response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap_or_default().to_owned()
        };
        assert!(csp(Page::new(StatusCode::OK, "t")).contains("img-src 'none';"));
        let page = Page::new(StatusCode::OK, "t")
            .allow_image("https://cdn.example.com/icons/github.svg")
            .allow_image("data:image/png;base64,iVBORw0KGgo=")
            .allow_image("https://cdn.example.com/icons/other.svg")
            .allow_image("javascript:alert(1)")
            .allow_image("com.example.app:/x")
            .allow_image("data:text/html;base64,PGI+");
        assert!(csp(page).contains("img-src https://cdn.example.com data:;"));
    }
}
