//! The durable outbox against a real SMTP sink on loopback: mail queued
//! while the SMTP server is down goes out once it is up; nothing is lost
//! across a restart; a crashed sender's claims are taken over after their
//! lease; two senders never send one message twice.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use zenoauth_crypto::OsRandom;
use zenoauth_domain::email::OutboxState;
use zenoauth_domain::ids::IdGenerator;
use zenoauth_domain::model::Organization;
use zenoauth_domain::ports::{Clock, RandomSource, Stores};
use zenoauth_domain::values::{DisplayName, Email, Slug};
use zenoauth_server::clock::SystemClock;
use zenoauth_server::mail::templates::Mail;
use zenoauth_server::mail::{MailSettings, Mailer};

use crate::email_support::{closed_port, start_worker, test_mail_settings, SmtpSink, Stop};

/// A claim id, as a sender would make one.
fn claim_id() -> uuid::Uuid {
    let (clock, random) = ports();
    IdGenerator::new(clock, random).uuid()
}

fn ports() -> (Arc<dyn Clock>, Arc<dyn RandomSource>) {
    (Arc::new(SystemClock), Arc::new(OsRandom::new()))
}

async fn organization(stores: &Stores) -> Organization {
    let (clock, random) = ports();
    let ids = IdGenerator::new(clock.clone(), random);
    let organization = Organization {
        id: ids.next(),
        slug: Slug::parse("outbox").unwrap(),
        name: DisplayName::parse("Outbox Test").unwrap(),
        settings: json!({}),
        created_at: clock.now(),
        updated_at: clock.now(),
    };
    stores.organizations.create(&organization).await.unwrap();
    organization
}

async fn queue(stores: &Stores, organization: &Organization, to: &str, subject: &str) {
    let (clock, random) = ports();
    let mailer = Mailer::new(stores.mail_outbox.clone(), clock, random, MailSettings::default());
    let mail = Mail { subject: subject.to_owned(), body: format!("Hello {to}\n") };
    mailer.queue(organization.id, &Email::parse(to).unwrap(), &mail).await.unwrap();
}

#[tokio::test]
async fn mail_queued_while_smtp_is_down_is_delivered_once_it_is_up() {
    let (stores, _directory) = crate::oidc_support::sqlite_stores().await;
    let organization = organization(&stores).await;
    let down = closed_port().await;
    let (clock, random) = ports();
    let _worker = Stop(start_worker(&stores, clock, random, test_mail_settings(&format!("smtp://{down}"))));
    queue(&stores, &organization, "late@example.com", "Delayed").await;
    // Attempts fail (connection refused) and are rescheduled, not dropped.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let sink = SmtpSink::start_at(down).await;
    let mail = sink.next().await;
    assert_eq!(mail.to, vec!["late@example.com".to_owned()]);
    assert_eq!(mail.subject(), "Delayed");
    assert!(mail.body().contains("Hello late@example.com"));
    assert!(sink.try_next(Duration::from_millis(700)).await.is_none(), "sent exactly once");
}

#[tokio::test]
async fn nothing_is_lost_across_a_restart() {
    let directory = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", directory.path().join("outbox.db").display());
    {
        // First life: no SMTP configured; the mail is only queued.
        let database = zenoauth_store_sqlite::SqliteDatabase::connect(&url, 2).await.unwrap();
        database.migrate().await.unwrap();
        let stores = database.stores();
        let organization = organization(&stores).await;
        let (clock, random) = ports();
        let unconfigured = MailSettings::default();
        let _idle = Stop(start_worker(&stores, clock, random, unconfigured));
        queue(&stores, &organization, "survivor@example.com", "Survives restarts").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Second life: same database file, SMTP up.
    let database = zenoauth_store_sqlite::SqliteDatabase::connect(&url, 2).await.unwrap();
    database.migrate().await.unwrap();
    let stores = database.stores();
    let sink = SmtpSink::start().await;
    let (clock, random) = ports();
    let _worker = Stop(start_worker(&stores, clock, random, test_mail_settings(&sink.url())));
    let mail = sink.next().await;
    assert_eq!(mail.subject(), "Survives restarts");
    assert_eq!(mail.to, vec!["survivor@example.com".to_owned()]);
}

#[tokio::test]
async fn a_crashed_senders_claim_is_taken_over_after_its_lease() {
    let (stores, _directory) = crate::oidc_support::sqlite_stores().await;
    let organization = organization(&stores).await;
    queue(&stores, &organization, "orphan@example.com", "Orphaned").await;
    // An instance claims the message for one second, then dies without sending.
    let (clock, random) = ports();
    let now = clock.now();
    let claimed = stores.mail_outbox.claim_due(now, claim_id(), now + time::Duration::seconds(1), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let sink = SmtpSink::start().await;
    let _worker = Stop(start_worker(&stores, clock, random, test_mail_settings(&sink.url())));
    assert!(sink.try_next(Duration::from_millis(500)).await.is_none(), "leased to the crashed instance");
    assert_eq!(sink.next().await.subject(), "Orphaned");
}

#[tokio::test]
async fn two_senders_never_send_one_message_twice() {
    let (stores, _directory) = crate::oidc_support::sqlite_stores().await;
    let organization = organization(&stores).await;
    for index in 0..12 {
        queue(&stores, &organization, &format!("user{index}@example.com"), &format!("Message {index}")).await;
    }
    let sink = SmtpSink::start().await;
    let (clock, random) = ports();
    let _first = Stop(start_worker(&stores, clock.clone(), random.clone(), test_mail_settings(&sink.url())));
    let _second = Stop(start_worker(&stores, clock, random, test_mail_settings(&sink.url())));
    let mut subjects = Vec::new();
    for _ in 0..12 {
        subjects.push(sink.next().await.subject());
    }
    assert!(sink.try_next(Duration::from_millis(700)).await.is_none(), "no duplicates");
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 12);
}

#[tokio::test]
async fn a_permanent_refusal_gives_up_at_once_and_keeps_the_message_as_failed() {
    let (stores, _directory) = crate::oidc_support::sqlite_stores().await;
    let organization = organization(&stores).await;
    let (clock, random) = ports();
    let mailer = Mailer::new(stores.mail_outbox.clone(), clock.clone(), random.clone(), MailSettings::default());
    let mail = Mail { subject: "Refused".to_owned(), body: "y".to_owned() };
    mailer.queue(organization.id, &Email::parse("rejected@example.com").unwrap(), &mail).await.unwrap();
    let now = clock.now();
    let id = {
        // Peek at the id by claiming with a lease that has already ended.
        let claimed = stores.mail_outbox.claim_due(now, claim_id(), now, 1).await.unwrap();
        claimed[0].id
    };
    queue(&stores, &organization, "fine@example.com", "Accepted").await;
    let sink = SmtpSink::start().await;
    let _worker = Stop(start_worker(&stores, clock, random, test_mail_settings(&sink.url())));
    assert_eq!(sink.next().await.subject(), "Accepted");
    for _ in 0..50 {
        let stored = stores.mail_outbox.find(id).await.unwrap().unwrap();
        if stored.state == OutboxState::Failed {
            assert_eq!(stored.attempts, 1, "not retried");
            assert!(stored.last_error.unwrap().contains("550"));
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the refused message was not given up");
}
