//! HTTP hardening: CSP and `frame-ancestors 'none'` on pages, nosniff,
//! `Referrer-Policy: no-referrer` everywhere, HSTS only for an https public
//! URL, `no-store` on token and userinfo responses.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt as _;
use zenoauth_server::config::PublicUrl;
use zenoauth_server::http::{app, StoresReadiness};
use zenoauth_store_memory::MemoryDatabase;

use crate::oidc_support::{http_client, sqlite_stores, WEB_SECRET};
use crate::security_support::{Site, SiteOptions};
use crate::support::test_state;

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|value| value.to_str().unwrap())
}

#[tokio::test]
async fn every_response_is_hardened_and_pages_carry_a_strict_policy() {
    let (stores, _directory) = sqlite_stores().await;
    let site = Site::start(stores, SiteOptions::default()).await;
    let client = http_client();
    let page = client.get(site.url("/login")).send().await.unwrap();
    let csp = header(&page, "content-security-policy").unwrap();
    for directive in ["default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert_eq!(header(&page, "x-frame-options"), Some("DENY"));
    assert_eq!(header(&page, "cache-control"), Some("no-store"));
    for path in ["/o/acme/.well-known/openid-configuration", "/o/acme/jwks", "/healthz", "/no/such/path"] {
        let response = client.get(site.server.url(path)).send().await.unwrap();
        assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(header(&response, "referrer-policy"), Some("no-referrer"), "{path}");
        assert_eq!(header(&response, "content-security-policy"), Some("frame-ancestors 'none'"), "{path}");
        assert_eq!(header(&response, "strict-transport-security"), None, "no HSTS over http: {path}");
    }
    // Token and userinfo answers are never cached, success or error.
    let token = client
        .post(site.url("/token"))
        .basic_auth("web", Some(WEB_SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", "api")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    assert_eq!(header(&token, "cache-control"), Some("no-store"));
    let access_token = token.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let userinfo = client.get(site.url("/userinfo")).bearer_auth(&access_token).send().await.unwrap();
    assert_eq!(header(&userinfo, "cache-control"), Some("no-store"));
    let no_token = client.get(site.url("/userinfo")).send().await.unwrap();
    assert_eq!(no_token.status(), 401);
    assert_eq!(header(&no_token, "cache-control"), Some("no-store"));
}

#[tokio::test]
async fn hsts_is_sent_when_the_public_url_is_https() {
    let stores = MemoryDatabase::new().stores();
    let state = test_state(stores.clone(), Arc::new(StoresReadiness(stores)))
        .with_public_url(PublicUrl::parse("https://id.example.com").unwrap());
    let response = app(state).oneshot(Request::get("/healthz").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.headers().get("strict-transport-security").unwrap(), "max-age=63072000; includeSubDomains");
    assert_eq!(response.headers().get("x-content-type-options").unwrap(), "nosniff");
}
