//! The audit pipeline: what the OpenID Provider records (with correlation
//! id, IP, user agent and organization), and the pipeline's behaviour when
//! the database is down, its buffer is full, and the server shuts down.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use serde_json::json;
use time::OffsetDateTime;
use zenoauth_domain::ids::AuditEventId;
use zenoauth_domain::ports::{AuditSink, Stores};
use zenoauth_domain::security::audit::{audit_event, event_types};
use zenoauth_server::audit_pipeline::{AuditPipeline, AuditSettings};
use zenoauth_server::http::security::metrics::SecurityMetrics;
use zenoauth_store_memory::MemoryDatabase;

use crate::oidc_support::{
    authorization_url, authorize_in_browser, exchange, hidden_field, http_client, json, on_both_databases, pkce,
    query_param, submit_login, token_request, World, EMAIL, USER_SCOPES, WEB_SECRET,
};
use crate::security_support::{audit_events, types, wait_for_audit};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

async fn the_provider_audits_logins_tokens_and_abuse_with_request_context(stores: Stores) {
    let world = World::new(stores.clone()).await;
    zenoauth_server::install_tls_provider();
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("security-test/1.0")
        .build()
        .unwrap();
    // A failed login, then the code flow with a successful one.
    let page = browser.get(world.url("/login")).send().await.unwrap().text().await.unwrap();
    assert_eq!(submit_login(&world, &browser, &page, EMAIL, "not the password").await.status(), 401);
    let (verifier, challenge) = pkce();
    let redirect =
        authorize_in_browser(&world, &browser, &authorization_url(&world, "web", USER_SCOPES, &challenge, &[])).await;
    let code = query_param(&redirect, "code").unwrap();
    // The exchange carries a W3C traceparent: its trace-id is the correlation id.
    let tokens = http_client()
        .post(world.url("/token"))
        .basic_auth("web", Some(WEB_SECRET))
        .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", crate::oidc_support::REDIRECT),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(tokens.status(), 200);
    let tokens = json(tokens).await;
    let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refreshed =
        token_request(&world, "web", WEB_SECRET, &[("grant_type", "refresh_token"), ("refresh_token", &first_refresh)])
            .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed = json(refreshed).await;
    // Abuse: reuse of the rotated refresh token, replay of the code.
    let reused =
        token_request(&world, "web", WEB_SECRET, &[("grant_type", "refresh_token"), ("refresh_token", &first_refresh)])
            .await;
    assert_eq!(reused.status(), 400);
    assert_eq!(exchange(&world, &code, &verifier).await.status(), 400);
    // Revocation with a client-chosen request id: it becomes the correlation id.
    // (The code's own access token was revoked by the replay: revoke the
    // refreshed one.)
    let revoked = http_client()
        .post(world.url("/revoke"))
        .basic_auth("web", Some(WEB_SECRET))
        .header("x-request-id", "audit-test-42")
        .form(&[("token", refreshed["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);

    let events = wait_for_audit(
        &stores,
        &world.organization,
        &[
            event_types::LOGIN_FAILED,
            event_types::LOGIN_SUCCEEDED,
            event_types::TOKEN_ISSUED,
            event_types::TOKEN_REFRESHED,
            event_types::REFRESH_REUSE_DETECTED,
            event_types::CODE_REPLAY_DETECTED,
            event_types::TOKEN_REVOKED,
        ],
    )
    .await;
    let find = |kind: &str| events.iter().find(|event| event.event_type == kind).unwrap().clone();
    let user = world.user.id.to_string();
    for event in &events {
        assert_eq!(event.organization_id, world.organization.id);
        assert_eq!(event.ip.as_deref(), Some("127.0.0.1"), "{}", event.event_type);
        assert!(event.correlation_id.as_deref().is_some_and(|id| !id.is_empty()), "{}", event.event_type);
    }
    let failed = find(event_types::LOGIN_FAILED);
    assert_eq!((failed.data["reason"].as_str(), failed.data["email"].as_str()), (Some("wrong_password"), Some(EMAIL)));
    assert_eq!(failed.user_agent.as_deref(), Some("security-test/1.0"));
    let succeeded = find(event_types::LOGIN_SUCCEEDED);
    assert_eq!(succeeded.subject.as_deref(), Some(user.as_str()));
    assert_eq!(succeeded.user_agent.as_deref(), Some("security-test/1.0"));
    let issued = find(event_types::TOKEN_ISSUED);
    assert_eq!(issued.correlation_id.as_deref(), Some(TRACE_ID));
    assert_eq!((issued.actor.as_deref(), issued.subject.as_deref()), (Some("web"), Some(user.as_str())));
    assert_eq!(issued.data["grant_type"], "authorization_code");
    assert_eq!(find(event_types::TOKEN_REFRESHED).data["grant_type"], "refresh_token");
    assert_eq!(find(event_types::REFRESH_REUSE_DETECTED).subject.as_deref(), Some(user.as_str()));
    assert_eq!(find(event_types::CODE_REPLAY_DETECTED).data["refresh_families_revoked"], 0);
    let revocation = find(event_types::TOKEN_REVOKED);
    assert_eq!(revocation.correlation_id.as_deref(), Some("audit-test-42"));
    assert_eq!(revocation.data["token_type"], "access_token");
    // The pipeline's counters are in /metrics.
    let metrics = reqwest::get(world.server.url("/metrics")).await.unwrap().text().await.unwrap();
    let written = metric(&metrics, "zenoauth_audit_events_written_total");
    assert!(written >= events.len() as f64, "{written} < {}", events.len());
    assert_eq!(metric(&metrics, "zenoauth_audit_events_dropped_total"), 0.0);
    let _ = hidden_field;
}

on_both_databases!(the_provider_audits_logins_tokens_and_abuse_with_request_context);

/// The value of an unlabelled metric in OpenMetrics text.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// A fresh UUIDv7-based id (time and randomness injected, as everywhere).
fn new_id<T: From<uuid::Uuid>>() -> T {
    let random = zenoauth_crypto::OsRandom::new();
    zenoauth_domain::ids::uuid_v7_at(OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap(), &random).into()
}

struct Pipeline {
    database: MemoryDatabase,
    organization: zenoauth_domain::model::Organization,
    metrics: Arc<SecurityMetrics>,
    pipeline: AuditPipeline,
    next: std::sync::atomic::AtomicU32,
}

async fn pipeline(settings: AuditSettings) -> Pipeline {
    let database = MemoryDatabase::new();
    let stores = database.stores();
    let now = OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
    let organization = zenoauth_domain::model::Organization {
        id: new_id(),
        slug: zenoauth_domain::values::Slug::parse("acme").unwrap(),
        name: zenoauth_domain::values::DisplayName::parse("Acme").unwrap(),
        settings: json!({}),
        created_at: now,
        updated_at: now,
    };
    stores.organizations.create(&organization).await.unwrap();
    let metrics = Arc::new(SecurityMetrics::default());
    let pipeline = AuditPipeline::start(stores.audit.clone(), settings, metrics.clone());
    Pipeline { database, organization, metrics, pipeline, next: std::sync::atomic::AtomicU32::new(0) }
}

impl Pipeline {
    fn record(&self, count: u32) {
        for _ in 0..count {
            let number = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let id: AuditEventId = new_id();
            let at = OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
            let data = json!({"number": number});
            self.pipeline.record(audit_event(id, self.organization.id, at, "test.event", None, None, data));
        }
    }

    async fn stored(&self) -> usize {
        audit_events(&self.database.stores(), &self.organization).await.len()
    }

    async fn wait_until(&self, what: &str, condition: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn small(buffer: usize, batch: usize) -> AuditSettings {
    AuditSettings { buffer, batch, backoff: Duration::from_millis(10), max_backoff: Duration::from_millis(50) }
}

#[tokio::test]
async fn events_wait_out_a_database_outage_and_are_written_when_it_ends() {
    let audit = pipeline(small(100, 8)).await;
    audit.database.faults().fail_always(true);
    audit.record(20);
    audit.wait_until("failed writes", |audit| audit.metrics.audit_write_failures.get() >= 3).await;
    assert_eq!(audit.metrics.audit_written.get(), 0);
    audit.database.faults().fail_always(false);
    audit.wait_until("the backlog to be written", |audit| audit.metrics.audit_written.get() == 20).await;
    assert_eq!(audit.stored().await, 20);
    assert_eq!(audit.metrics.audit_dropped.get(), 0, "an outage shorter than the buffer loses nothing");
    assert_eq!(audit.metrics.audit_queued.get(), 0);
}

#[tokio::test]
async fn a_full_buffer_drops_counts_and_logs_instead_of_blocking() {
    // The writer holds one batch (of at most 2) while retrying; the buffer holds 4 more.
    let audit = pipeline(small(4, 2)).await;
    audit.database.faults().fail_always(true);
    audit.record(1);
    audit.wait_until("the writer to hold the first event", |audit| audit.metrics.audit_write_failures.get() >= 1).await;
    let started = Instant::now();
    audit.record(10);
    assert!(started.elapsed() < Duration::from_millis(100), "record never waits for the database");
    assert_eq!(audit.metrics.audit_dropped.get(), 6, "4 buffered, 6 dropped");
    assert_eq!(audit.pipeline.queued(), 4);
    // Healed and shut down: everything accepted reaches the database.
    audit.database.faults().fail_always(false);
    audit.pipeline.shutdown(Duration::from_secs(5)).await;
    assert_eq!(audit.stored().await, 5);
    assert_eq!(audit.metrics.audit_written.get(), 5);
    // After shutdown nothing is accepted, and that is counted too.
    audit.record(1);
    assert_eq!(audit.metrics.audit_dropped.get(), 7);
}

#[tokio::test]
async fn shutdown_flushes_the_buffer_and_counts_what_the_database_refused() {
    let audit = pipeline(small(1000, 1000)).await;
    audit.database.faults().set_latency(Duration::from_millis(20));
    audit.record(300);
    audit.pipeline.shutdown(Duration::from_secs(5)).await;
    assert_eq!(audit.stored().await, 300, "graceful shutdown writes what was buffered");
    assert_eq!(audit.metrics.audit_dropped.get(), 0);
    // A database that stays down at shutdown: the events are dropped, counted and logged.
    let down = pipeline(small(1000, 10)).await;
    down.database.faults().fail_always(true);
    down.record(25);
    down.pipeline.shutdown(Duration::from_secs(1)).await;
    assert_eq!(down.metrics.audit_dropped.get(), 25);
    assert_eq!(down.metrics.audit_written.get(), 0);
}

#[tokio::test]
async fn a_batch_refused_for_its_content_is_written_event_by_event() {
    let audit = pipeline(small(100, 50)).await;
    // An event of an organization that does not exist poisons its batch.
    let stranger = audit_event(
        new_id(),
        new_id(),
        OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap(),
        "test.event",
        None,
        None,
        json!({}),
    );
    audit.database.faults().set_latency(Duration::from_millis(50));
    audit.record(1);
    audit.pipeline.record(stranger);
    audit.record(3);
    audit.database.faults().set_latency(Duration::ZERO);
    audit.pipeline.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        audit.stored().await,
        4,
        "the good events are kept: {:?}",
        types(&audit_events(&audit.database.stores(), &audit.organization).await)
    );
    assert_eq!(audit.metrics.audit_dropped.get(), 1);
}
