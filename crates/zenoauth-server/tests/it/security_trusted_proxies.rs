//! The client address behind reverse proxies (`security.trusted_proxies`),
//! over real HTTP: when the server trusts its peer (127.0.0.1 here, playing
//! the proxy), the per-IP rate limit, the per-address lockout, audit events
//! and sessions are keyed on the address the proxy forwarded; when it does
//! not, the same headers are ignored — a client cannot pick its address.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::json;
use zenoauth_domain::ports::Clock;
use zenoauth_domain::security::audit::event_types;
use zenoauth_domain::security::lockout::address_key;
use zenoauth_domain::values::Email;
use zenoauth_server::http::security::client_ip::{ForwardedHeader, TrustedProxies};
use zenoauth_server::http::security::rate_limit::RateLimits;
use zenoauth_server::http::security::SecuritySettings;

use crate::oidc_support::{sqlite_stores, EMAIL, PASSWORD};
use crate::security_support::{login, wait_for_audit, Site, SiteOptions};

/// A browser (cookies, no redirects) whose every request carries `headers`,
/// as if a proxy had added them.
fn browser_with(headers: &[(&str, &str)]) -> reqwest::Client {
    zenoauth_server::install_tls_provider();
    let mut defaults = HeaderMap::new();
    for (name, value) in headers {
        defaults.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(defaults)
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

fn forwarded_for(address: &str) -> reqwest::Client {
    browser_with(&[("x-forwarded-for", address)])
}

async fn start_site(trusted_proxies: &str, ip_per_second: u32, ip_burst: u32) -> (Site, tempfile::TempDir) {
    start_site_reading(ForwardedHeader::default(), trusted_proxies, ip_per_second, ip_burst).await
}

async fn start_site_reading(
    forwarded_header: ForwardedHeader,
    trusted_proxies: &str,
    ip_per_second: u32,
    ip_burst: u32,
) -> (Site, tempfile::TempDir) {
    let (stores, directory) = sqlite_stores().await;
    let security = SecuritySettings {
        rate_limits: RateLimits { ip_per_second, ip_burst, client_per_second: 0, client_burst: 1 },
        trusted_proxies: TrustedProxies::parse_list(trusted_proxies).unwrap(),
        forwarded_header,
        ..SecuritySettings::default()
    };
    let options = SiteOptions {
        security,
        organization_settings: json!({"lockout_address_threshold": 3, "lockout_threshold": 100,
            "login_delay_base_milliseconds": 0}),
        ..SiteOptions::default()
    };
    (Site::start(stores, options).await, directory)
}

async fn statuses(client: &reqwest::Client, url: &str, count: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..count {
        statuses.push(client.get(url).send().await.unwrap().status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_address_has_its_own_rate_limit_bucket() {
    let (site, _directory) = start_site("127.0.0.1", 1, 3).await;
    let url = site.url("/jwks");
    assert_eq!(statuses(&forwarded_for("198.51.100.1"), &url, 4).await, [200, 200, 200, 429]);
    // Another client behind the same proxy is not refused for the first one's requests.
    assert_eq!(statuses(&forwarded_for("198.51.100.2"), &url, 3).await, [200, 200, 200]);
    // A client-forged first entry does not help: the proxy's rightmost entry counts.
    let forged = browser_with(&[("x-forwarded-for", "203.0.113.50, 198.51.100.1")]);
    assert_eq!(statuses(&forged, &url, 1).await, [429]);
    // A malformed header falls back to the peer (the proxy itself), never to an error.
    assert_eq!(statuses(&browser_with(&[("x-forwarded-for", "garbage")]), &url, 1).await, [200]);
}

#[tokio::test]
async fn only_the_configured_forwarding_header_is_read_so_a_client_cannot_erase_its_address() {
    // The proxy appends X-Forwarded-For (the default) and passes a client's own `Forwarded` along.
    let (site, _directory) = start_site("127.0.0.1", 1, 3).await;
    let url = site.url("/jwks");
    assert_eq!(statuses(&forwarded_for("198.51.100.1"), &url, 3).await, [200, 200, 200]);
    for forged in ["for=1.2.3.4", "for=unknown", "for=\"broken", "for=127.0.0.1"] {
        // A disagreeing or malformed `Forwarded` neither picks another bucket nor falls back to the proxy's.
        let client = browser_with(&[("forwarded", forged), ("x-forwarded-for", "198.51.100.1")]);
        assert_eq!(statuses(&client, &url, 1).await, [429], "{forged}");
    }
    // The proxy's own bucket is untouched by all of that.
    assert_eq!(statuses(&browser_with(&[]), &url, 3).await, [200, 200, 200]);

    // Configured for RFC 7239: `Forwarded` names the client, X-Forwarded-For is the client's noise.
    let (site, _directory) = start_site_reading(ForwardedHeader::Forwarded, "127.0.0.1", 1, 3).await;
    let url = site.url("/jwks");
    let ipv6 = browser_with(&[("forwarded", "for=\"[2001:db8::7]:4711\";proto=https")]);
    assert_eq!(statuses(&ipv6, &url, 4).await, [200, 200, 200, 429]);
    for forged in ["198.51.100.9", "garbage"] {
        let client = browser_with(&[("x-forwarded-for", forged), ("forwarded", "for=\"[2001:db8::7]\"")]);
        assert_eq!(statuses(&client, &url, 1).await, [429], "{forged}");
    }
    // X-Forwarded-For alone is not read: the peer's bucket, still full.
    assert_eq!(statuses(&forwarded_for("198.51.100.9"), &url, 3).await, [200, 200, 200]);
    assert_eq!(statuses(&forwarded_for("198.51.100.10"), &url, 1).await, [429]);
}

#[tokio::test]
async fn without_trust_forwarded_headers_are_ignored_for_the_rate_limit() {
    let (site, _directory) = start_site("", 1, 3).await;
    let url = site.url("/jwks");
    assert_eq!(statuses(&forwarded_for("198.51.100.1"), &url, 3).await, [200, 200, 200]);
    // A "different" forwarded address is the same peer: the bucket is empty.
    assert_eq!(statuses(&forwarded_for("198.51.100.2"), &url, 1).await, [429]);
    assert_eq!(statuses(&browser_with(&[("forwarded", "for=198.51.100.3")]), &url, 1).await, [429]);
    // Trusting some other proxy is no trust for this peer either.
    let (site, _directory) = start_site("10.0.0.0/8, ::1", 1, 3).await;
    let url = site.url("/jwks");
    assert_eq!(statuses(&forwarded_for("198.51.100.1"), &url, 3).await, [200, 200, 200]);
    assert_eq!(statuses(&forwarded_for("198.51.100.2"), &url, 1).await, [429]);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_address_lockout_audit_and_sessions_use_the_forwarded_address() {
    let (site, _directory) = start_site("127.0.0.0/8", 0, 1).await;
    let url = site.url("/login");
    let sprayer = forwarded_for("198.51.100.66");
    for index in 0..3 {
        let (status, _, _, _) = login(&sprayer, &url, &format!("user{index}@example.com"), "123456").await;
        assert_eq!(status, 401);
    }
    // The sprayer's address is locked: even the right password fails from it …
    assert_eq!(login(&forwarded_for("198.51.100.66"), &url, EMAIL, PASSWORD).await.0, 401);
    // … while the real user behind the same proxy signs in.
    assert_eq!(login(&forwarded_for("198.51.100.77"), &url, EMAIL, PASSWORD).await.0, 200);

    let now = site.clock.now();
    let locked = site.stores.login_attempts.find(site.organization.id, &address_key("198.51.100.66")).await.unwrap();
    assert!(locked.is_some_and(|counter| counter.is_locked_at(now)));
    let proxy = site.stores.login_attempts.find(site.organization.id, &address_key("127.0.0.1")).await.unwrap();
    assert!(proxy.is_none(), "the proxy's own address is not counted");

    let events =
        wait_for_audit(&site.stores, &site.organization, &[event_types::LOGIN_LOCKED, event_types::LOGIN_SUCCEEDED])
            .await;
    let ips = |kind: &str| {
        events.iter().filter(|event| event.event_type == kind).map(|event| event.ip.clone()).collect::<Vec<_>>()
    };
    assert!(ips(event_types::LOGIN_FAILED).iter().all(|ip| ip.as_deref() == Some("198.51.100.66")));
    assert_eq!(ips(event_types::LOGIN_SUCCEEDED), [Some("198.51.100.77".to_owned())]);
    let locks: Vec<_> = events.iter().filter(|event| event.event_type == event_types::LOGIN_LOCKED).collect();
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0].subject.as_deref(), Some(address_key("198.51.100.66").as_str()));

    let user =
        site.stores.users.find_by_email(site.organization.id, &Email::parse(EMAIL).unwrap()).await.unwrap().unwrap();
    let sessions = site.stores.sessions.list_for_user(site.organization.id, user.id, now).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].metadata["ip"], "198.51.100.77");
}

#[tokio::test]
async fn without_trust_a_sprayer_cannot_escape_the_address_lockout_by_forging_headers() {
    let (site, _directory) = start_site("", 0, 1).await;
    let url = site.url("/login");
    for index in 0..3 {
        let forged = forwarded_for(&format!("198.51.100.{index}"));
        let (status, _, _, _) = login(&forged, &url, &format!("user{index}@example.com"), "123456").await;
        assert_eq!(status, 401);
    }
    assert_eq!(login(&forwarded_for("198.51.100.200"), &url, EMAIL, PASSWORD).await.0, 401, "127.0.0.1 is locked");
    let events = wait_for_audit(&site.stores, &site.organization, &[event_types::LOGIN_LOCKED]).await;
    let locks: Vec<_> = events.iter().filter(|event| event.event_type == event_types::LOGIN_LOCKED).collect();
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0].subject.as_deref(), Some(address_key("127.0.0.1").as_str()));
    assert!(events.iter().all(|event| event.ip.as_deref().is_none_or(|ip| ip == "127.0.0.1")));
}
