//! Brute-force defence against real attack patterns through the real login
//! form: password guessing against one account, password spraying from one
//! address, guesses spread over two instances sharing the database; with
//! uniform answers and timing for unknown, wrong and locked accounts.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use zenoauth_domain::ports::{Clock, Stores};
use zenoauth_domain::security::audit::event_types;
use zenoauth_domain::security::lockout::{account_key, LoginLockout};
use zenoauth_domain::values::Email;
use zenoauth_server::config::PublicUrl;
use zenoauth_server::http::security::SecuritySettings;
use zenoauth_server::http::{AppState, StoresReadiness};

use crate::oidc_support::{on_both_databases, World, EMAIL, PASSWORD};
use crate::security_support::{login, new_browser, types, wait_for_audit, without_csrf, Site, SiteOptions, SiteServer};

/// The most common passwords, as an attacker would try them.
const GUESSES: [&str; 6] = ["123456", "password", "qwerty", "letmein", "dragon", "monkey"];

/// The answer with what legitimately varies (CSRF token, echoed email) blanked.
fn normalised(page: &str, email: &str) -> String {
    without_csrf(page).replace(email, "EMAIL")
}

async fn guessing_one_account_locks_it_and_every_failure_looks_the_same(stores: Stores) {
    let world = World::new(stores.clone()).await;
    let mut organization = world.organization.clone();
    organization.settings = json!({
        "lockout_threshold": 5,
        "lockout_duration_seconds": 300,
        "login_delay_after_failures": 2,
        "login_delay_base_milliseconds": 100,
        "login_delay_max_milliseconds": 400,
    });
    stores.organizations.update(&organization).await.unwrap();
    let login_url = world.url("/login");
    let attacker = new_browser();
    let mut answers = Vec::new();
    let mut elapsed = Vec::new();
    for guess in GUESSES {
        let (status, page, took, _) = login(&attacker, &login_url, EMAIL, guess).await;
        assert_eq!(status, 401);
        answers.push(normalised(&page, EMAIL));
        elapsed.push(took);
    }
    // Progressive delay from the third failure: 100 ms, 200 ms, 400 ms (capped).
    assert!(elapsed[2] >= Duration::from_millis(100), "{elapsed:?}");
    assert!(elapsed[3] >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed[4] >= Duration::from_millis(400) && elapsed[5] >= Duration::from_millis(400), "{elapsed:?}");
    // Locked: the right password fails too, from another browser, with the same answer.
    let (status, page, _, _) = login(&new_browser(), &login_url, EMAIL, PASSWORD).await;
    assert_eq!(status, 401);
    answers.push(normalised(&page, EMAIL));
    // An unknown account gets the same answer.
    let (status, page, _, _) = login(&new_browser(), &login_url, "mallory@example.com", "hunter2").await;
    assert_eq!(status, 401);
    answers.push(normalised(&page, "mallory@example.com"));
    assert!(answers.windows(2).all(|pair| pair[0] == pair[1]), "every failure must look the same");

    let events = wait_for_audit(&stores, &world.organization, &[event_types::LOGIN_LOCKED]).await;
    let locks: Vec<_> = events.iter().filter(|event| event.event_type == event_types::LOGIN_LOCKED).collect();
    assert_eq!(locks.len(), 1, "{:?}", types(&events));
    assert_eq!(locks[0].subject.as_deref(), Some(account_key(EMAIL).as_str()));
    assert_eq!(locks[0].data["user_id"], world.user.id.to_string());
    // The counter is in the database.
    let counter = stores.login_attempts.find(world.organization.id, &account_key(EMAIL)).await.unwrap().unwrap();
    assert_eq!(counter.failures, 7);
    assert!(counter.is_locked_at(world.clock.now()));

    // An administrator unlocks (audited); the owner signs in.
    let lockout = LoginLockout::new(
        stores.login_attempts.clone(),
        Arc::new(zenoauth_domain::security::audit::RecordingAuditSink::new()),
        world.clock.clone(),
        Arc::new(zenoauth_crypto::OsRandom::new()),
    );
    assert!(lockout.unlock_account(world.organization.id, &Email::parse(EMAIL).unwrap(), "admin").await.unwrap());
    let (status, _, _, _) = login(&new_browser(), &login_url, EMAIL, PASSWORD).await;
    assert_eq!(status, 200);

    // Locked again; the lock ends by itself after lockout_duration_seconds.
    for guess in &GUESSES[..5] {
        login(&attacker, &login_url, EMAIL, guess).await;
    }
    assert_eq!(login(&new_browser(), &login_url, EMAIL, PASSWORD).await.0, 401);
    world.clock.advance(time::Duration::seconds(301));
    assert_eq!(login(&new_browser(), &login_url, EMAIL, PASSWORD).await.0, 200);
}

async fn spraying_many_accounts_from_one_address_locks_the_address(stores: Stores) {
    let world = World::new(stores.clone()).await;
    let mut organization = world.organization.clone();
    organization.settings = json!({"lockout_address_threshold": 5, "login_delay_base_milliseconds": 0});
    stores.organizations.update(&organization).await.unwrap();
    let login_url = world.url("/login");
    for index in 0..5 {
        let (status, _, _, _) = login(&new_browser(), &login_url, &format!("user{index}@example.com"), "123456").await;
        assert_eq!(status, 401);
    }
    // 127.0.0.1 is locked: even the real user's right password fails from it.
    assert_eq!(login(&new_browser(), &login_url, EMAIL, PASSWORD).await.0, 401);
    let events = wait_for_audit(&stores, &world.organization, &[event_types::LOGIN_LOCKED]).await;
    let subjects: Vec<_> = events
        .iter()
        .filter(|event| event.event_type == event_types::LOGIN_LOCKED)
        .filter_map(|event| event.subject.clone())
        .collect();
    assert_eq!(subjects, ["ip:127.0.0.1"]);
}

async fn guesses_spread_over_two_instances_share_one_counter(stores: Stores) {
    let options = SiteOptions {
        organization_settings: json!({"lockout_threshold": 20, "login_delay_base_milliseconds": 0,
            "lockout_address_threshold": 1000}),
        ..SiteOptions::default()
    };
    let site = Site::start(stores.clone(), options).await;
    // A second instance: its own state, limiter and audit writer, the same database.
    let second_state = AppState::new(
        stores.clone(),
        Arc::new(StoresReadiness(stores.clone())),
        site.state.services.clone(),
        PublicUrl::parse("http://127.0.0.1").unwrap(),
    )
    .with_security(SecuritySettings::default());
    let second = SiteServer::start(second_state).await;
    let urls = [site.url("/login"), second.url("/o/acme/login")];
    let mut attempts = Vec::new();
    for index in 0..20 {
        let url = urls[index % 2].clone();
        attempts
            .push(tokio::spawn(async move { login(&new_browser(), &url, EMAIL, &format!("guess-{index}")).await.0 }));
    }
    for attempt in attempts {
        assert_eq!(attempt.await.unwrap(), 401);
    }
    let counter = site.stores.login_attempts.find(site.organization.id, &account_key(EMAIL)).await.unwrap().unwrap();
    assert_eq!(counter.failures, 20, "every concurrent failure on either instance is counted once");
    assert!(counter.is_locked_at(site.clock.now()));
    for url in &urls {
        assert_eq!(login(&new_browser(), url, EMAIL, PASSWORD).await.0, 401, "locked on every instance");
    }
}

on_both_databases!(
    guessing_one_account_locks_it_and_every_failure_looks_the_same,
    spraying_many_accounts_from_one_address_locks_the_address,
    guesses_spread_over_two_instances_share_one_counter,
);

fn median(mut durations: Vec<Duration>) -> Duration {
    durations.sort();
    durations[durations.len() / 2]
}

/// Unknown account, wrong password and locked account cost the same: each
/// runs exactly one full Argon2 verification (counted by the hasher and in
/// `/metrics`), and the answer time follows (measured with costly
/// parameters so that the hash dominates it).
#[tokio::test]
async fn unknown_wrong_and_locked_take_the_same_time() {
    let (stores, _directory) = crate::oidc_support::sqlite_stores().await;
    let options = SiteOptions {
        argon2: zenoauth_crypto::Argon2Params { memory_kib: 8192, iterations: 2, parallelism: 1 },
        organization_settings: json!({"lockout_threshold": 6, "login_delay_base_milliseconds": 0,
            "lockout_address_threshold": 1000}),
        ..SiteOptions::default()
    };
    let site = Site::start(stores, options).await;
    let url = site.url("/login");
    let browser = new_browser();
    let hasher = site.state.services.hasher.clone();
    // One attempt and the Argon2 computations it caused.
    let attempt = |email: String, password: &'static str| {
        let (browser, url, hasher) = (&browser, &url, &hasher);
        async move {
            let before = hasher.computed();
            let (status, _, took, _) = login(browser, url, &email, password).await;
            (status, took, hasher.computed() - before)
        }
    };
    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    let mut locked = Vec::new();
    for round in 0..5 {
        let (status, took, hashes) = attempt(format!("nobody{round}@example.com"), "guess").await;
        assert_eq!((status, hashes), (401, 1), "unknown user: one dummy verification");
        unknown.push(took);
        let (status, took, hashes) = attempt(EMAIL.to_owned(), "guess").await;
        assert_eq!((status, hashes), (401, 1), "wrong password: one verification");
        wrong.push(took);
    }
    attempt(EMAIL.to_owned(), "guess").await; // the sixth failure locks
    for _ in 0..5 {
        let (status, took, hashes) = attempt(EMAIL.to_owned(), PASSWORD).await;
        assert_eq!((status, hashes), (401, 1), "locked account: one verification, refused anyway");
        locked.push(took);
    }
    let metrics = site.state.metrics.encode().unwrap();
    let exported = format!("zenoauth_password_hashes_total {}", hasher.computed());
    assert!(metrics.contains(&exported), "{exported} in {metrics}");
    let (unknown, wrong, locked) = (median(unknown), median(wrong), median(locked));
    // The hash dominates the answer: without one, an answer takes a few
    // milliseconds. The ratio is loose: other tests share the CPUs.
    assert!(wrong >= Duration::from_millis(20), "{wrong:?}");
    for (name, value) in [("unknown user", unknown), ("locked account", locked)] {
        let ratio = value.as_secs_f64() / wrong.as_secs_f64();
        assert!((0.33..3.0).contains(&ratio), "{name}: {value:?} vs wrong password {wrong:?}");
    }
}
