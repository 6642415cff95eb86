//! Rate limits (per IP and per authenticated client, 429 with Retry-After,
//! OAuth JSON or problem+json), the form-field cap, request-head limits, and slow clients.

use std::time::Duration;

use tokio::time::Instant;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zenoauth_server::http::security::connections::ConnectionLimits;
use zenoauth_server::http::security::rate_limit::RateLimits;
use zenoauth_server::http::security::SecuritySettings;
use zenoauth_server::http::HttpLimits;

use crate::oidc_support::{http_client, sqlite_stores, WEB_SECRET};
use crate::security_support::{Site, SiteOptions};

fn limits(ip_per_second: u32, ip_burst: u32, client_per_second: u32, client_burst: u32) -> SecuritySettings {
    SecuritySettings {
        rate_limits: RateLimits { ip_per_second, ip_burst, client_per_second, client_burst },
        ..SecuritySettings::default()
    }
}

async fn site(security: SecuritySettings) -> (Site, tempfile::TempDir) {
    let (stores, directory) = sqlite_stores().await;
    (Site::start(stores, SiteOptions { security, ..SiteOptions::default() }).await, directory)
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers().get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn an_address_past_its_burst_gets_429_problem_json_with_retry_after() {
    let (site, _directory) = site(limits(1, 5, 0, 1)).await;
    let client = http_client();
    for _ in 0..5 {
        assert_eq!(client.get(site.url("/jwks")).send().await.unwrap().status(), 200);
    }
    let refused = client.get(site.url("/.well-known/openid-configuration")).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!((1..=2).contains(&retry_after(&refused)));
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["status"], 429);
    // Health probes and metrics are never limited.
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(client.get(site.server.url(path)).send().await.unwrap().status(), 200, "{path}");
    }
    let metrics = client.get(site.server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("zenoauth_rate_limited_requests_total{scope=\"ip\"} 1"), "{metrics}");
    // The bucket refills.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(client.get(site.url("/jwks")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_client_past_its_burst_gets_an_oauth_json_429_and_other_clients_do_not() {
    let (site, _directory) = site(limits(0, 1, 1, 3)).await;
    let token = |client_id: &'static str| {
        http_client()
            .post(site.url("/token"))
            .basic_auth(client_id, Some(WEB_SECRET))
            .form(&[("grant_type", "client_credentials"), ("scope", "api")])
            .send()
    };
    for _ in 0..3 {
        assert_eq!(token("web").await.unwrap().status(), 200);
    }
    let refused = token("web").await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(retry_after(&refused) >= 1);
    assert_eq!(refused.headers()["content-type"], "application/json");
    assert_eq!(refused.headers()["cache-control"], "no-store");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    // The client_id in a form body counts as the same client.
    let in_body = http_client()
        .post(site.url("/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", "web"), ("client_secret", WEB_SECRET)])
        .send()
        .await
        .unwrap();
    assert_eq!(in_body.status(), 429);
    assert_eq!(token("other").await.unwrap().status(), 200, "buckets are per client");
}

#[tokio::test]
async fn nobody_without_the_secret_can_spend_a_clients_bucket() {
    let (site, _directory) = site(limits(0, 1, 1, 3)).await;
    let attempt = |secret: &'static str| {
        http_client()
            .post(site.url("/token"))
            .basic_auth("web", Some(secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "api")])
            .send()
    };
    for _ in 0..10 {
        assert_eq!(attempt("not the secret").await.unwrap().status(), 401);
        let named = http_client()
            .post(site.url("/token?client_id=web"))
            .form(&[("grant_type", "client_credentials"), ("client_id", "web")])
            .send()
            .await
            .unwrap();
        assert_eq!(named.status(), 401, "a client_id alone is no credential");
        let revoke = http_client()
            .post(site.url("/revoke"))
            .form(&[("token", "x"), ("client_id", "web"), ("client_secret", "wrong")])
            .send()
            .await
            .unwrap();
        assert_eq!(revoke.status(), 401);
    }
    for _ in 0..3 {
        assert_eq!(attempt(WEB_SECRET).await.unwrap().status(), 200, "the real client keeps its whole bucket");
    }
    assert_eq!(attempt(WEB_SECRET).await.unwrap().status(), 429, "and its own requests spend it");
    let metrics = http_client().get(site.server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("zenoauth_rate_limited_requests_total{scope=\"client\"} 1"), "{metrics}");
}

#[tokio::test]
async fn forms_with_too_many_fields_are_refused() {
    let (site, _directory) = site(SecuritySettings { max_form_fields: 10, ..limits(0, 1, 0, 1) }).await;
    let fields: Vec<(String, String)> = (0..11).map(|index| (format!("f{index}"), "x".to_owned())).collect();
    let token = http_client().post(site.url("/token")).form(&fields).send().await.unwrap();
    assert_eq!(token.status(), 400);
    let body: Value = token.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    let login = http_client().post(site.url("/login")).form(&fields).send().await.unwrap();
    assert_eq!(login.status(), 400);
    assert_eq!(login.headers()["content-type"], "application/problem+json");
    // Ten fields pass the cap (and then fail as the request they are).
    let ten = &fields[..10];
    let token = http_client().post(site.url("/token")).form(ten).send().await.unwrap();
    assert_eq!(token.status(), 401);
}

#[tokio::test]
async fn oversized_request_heads_get_431() {
    let (site, _directory) = site(SecuritySettings {
        connections: ConnectionLimits { max_header_bytes: 8192, ..ConnectionLimits::default() },
        ..limits(0, 1, 0, 1)
    })
    .await;
    let client = http_client();
    let big = client.get(site.server.url("/healthz")).header("x-filler", "a".repeat(9000)).send().await.unwrap();
    assert_eq!(big.status(), 431);
    let mut many = client.get(site.server.url("/healthz"));
    for index in 0..70 {
        many = many.header(format!("x-header-{index}"), "1");
    }
    assert_eq!(many.send().await.unwrap().status(), 431);
    assert_eq!(client.get(site.server.url("/healthz")).send().await.unwrap().status(), 200);
}

/// Reads until the server closes the connection; how long that took.
async fn time_until_closed(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server kept the connection open for {limit:?}"),
        }
    }
}

#[tokio::test]
async fn slow_and_idle_clients_are_cut_off() {
    let (site, _directory) = site(SecuritySettings {
        connections: ConnectionLimits { header_read_timeout: Duration::from_secs(1), ..ConnectionLimits::default() },
        ..limits(0, 1, 0, 1)
    })
    .await;
    // Slowloris: a header line every 300 ms, never finishing the head.
    let mut slow = TcpStream::connect(site.server.address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let dribble = async {
        for index in 0..20 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if slow.write_all(format!("X-{index}: y\r\n").as_bytes()).await.is_err() {
                break;
            }
        }
    };
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), dribble).await.unwrap();
    time_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(started.elapsed() < Duration::from_secs(4), "cut off after {:?}", started.elapsed());
    // A connection that sends nothing is closed too.
    let mut idle = TcpStream::connect(site.server.address).await.unwrap();
    let closed_after = time_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(closed_after >= Duration::from_millis(900) && closed_after < Duration::from_secs(3), "{closed_after:?}");
}

#[tokio::test]
async fn a_body_that_never_arrives_is_answered_by_the_request_timeout() {
    let (stores, _directory) = sqlite_stores().await;
    let options = SiteOptions {
        security: limits(0, 1, 0, 1),
        limits: HttpLimits { request_timeout: Duration::from_secs(1), ..HttpLimits::default() },
        ..SiteOptions::default()
    };
    let site = Site::start(stores, options).await;
    let mut stream = TcpStream::connect(site.server.address).await.unwrap();
    let head = "POST /o/acme/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=";
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("\r\n\r\n") {
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await.unwrap().unwrap();
        assert!(read > 0, "closed without an answer");
        answer.extend_from_slice(&buffer[..read]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3));
}
