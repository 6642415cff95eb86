//! Password-hashing admission control: with the hasher saturated by
//! concurrent logins, the logins beyond the queue limit are answered 503
//! with Retry-After at once, instead of waiting in memory.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use serde_json::json;
use tokio::sync::Barrier;
use zenoauth_crypto::Argon2Params;
use zenoauth_server::http::security::rate_limit::RateLimits;
use zenoauth_server::http::security::SecuritySettings;

use crate::oidc_support::{hidden_field, sqlite_stores, EMAIL};
use crate::security_audit::metric;
use crate::security_support::{new_browser, Site, SiteOptions};

#[tokio::test]
async fn a_saturated_hasher_turns_logins_away_quickly_with_503() {
    let (stores, _directory) = sqlite_stores().await;
    let options = SiteOptions {
        // Costly enough that the concurrent logins overlap.
        argon2: Argon2Params { memory_kib: 8192, iterations: 2, parallelism: 1 },
        max_concurrent_hashes: Some(1),
        security: SecuritySettings {
            max_queued_hashes: 2,
            rate_limits: RateLimits { ip_per_second: 0, ip_burst: 1, client_per_second: 0, client_burst: 1 },
            ..SecuritySettings::default()
        },
        organization_settings: json!({"lockout_threshold": 1000, "lockout_address_threshold": 100000,
            "login_delay_base_milliseconds": 0}),
        ..SiteOptions::default()
    };
    let site = Site::start(stores, options).await;
    assert_eq!(site.state.security.hasher.capacity(), 3);
    let logins = 24;
    // Every browser first gets its login page (and CSRF token)…
    let mut prepared = Vec::new();
    for _ in 0..logins {
        let browser = new_browser();
        let page = browser.get(site.url("/login")).send().await.unwrap().text().await.unwrap();
        prepared.push((browser, hidden_field(&page, "csrf_token").unwrap()));
    }
    // …then all submit at once.
    let barrier = Arc::new(Barrier::new(logins));
    let mut tasks = Vec::new();
    for (browser, csrf) in prepared {
        let barrier = barrier.clone();
        let url = site.url("/login");
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let started = Instant::now();
            let form = [("csrf_token", csrf.as_str()), ("email", EMAIL), ("password", "a wrong password")];
            let response = browser.post(url).form(&form).send().await.unwrap();
            let retry_after = response.headers().get("retry-after").map(|value| value.to_str().unwrap().to_owned());
            (response.status().as_u16(), retry_after, started.elapsed())
        }));
    }
    let mut busy = Vec::new();
    let mut answered = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (503, retry_after, took) => {
                assert_eq!(retry_after.as_deref(), Some("2"));
                busy.push(took);
            }
            (401, _, took) => answered.push(took),
            (status, _, _) => panic!("unexpected status {status}"),
        }
    }
    assert!(busy.len() >= logins / 2, "{} of {logins} refused", busy.len());
    assert!(answered.len() >= 3, "the admitted ones are answered: {}", answered.len());
    // Refusals do not wait for a hash: each is quicker than the quickest real answer.
    let slowest_refusal = busy.iter().max().unwrap();
    let quickest_answer = answered.iter().min().unwrap();
    assert!(slowest_refusal < quickest_answer, "{slowest_refusal:?} vs {quickest_answer:?}");
    assert_eq!(site.state.security.hasher.in_flight(), 0, "every permit is returned");
    let metrics = new_browser().get(site.server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert_eq!(metric(&metrics, "zenoauth_logins_refused_busy_total"), busy.len() as f64);
    // Once the flood has passed, logins work again.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, _, _, _) = crate::security_support::login(&new_browser(), &site.url("/login"), EMAIL, "x").await;
    assert_eq!(status, 401);
}
