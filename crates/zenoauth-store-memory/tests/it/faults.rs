//! The fault switches: failing the next calls, failing every call, latency;
//! and that a failed call changes nothing.

use std::time::Duration;

use serde_json::json;
use time::macros::datetime;
use zenoauth_domain::model::Organization;
use zenoauth_domain::ports::{PageRequest, Stores};
use zenoauth_domain::values::{DisplayName, Slug};
use zenoauth_domain::Error;
use zenoauth_store_memory::{InjectedFault, MemoryDatabase};

fn organization(slug: &str, id: u128) -> Organization {
    Organization {
        id: uuid::Uuid::from_u128(id).into(),
        slug: Slug::parse(slug).unwrap(),
        name: DisplayName::parse("Acme").unwrap(),
        settings: json!({}),
        created_at: datetime!(2030-01-01 00:00:00 UTC),
        updated_at: datetime!(2030-01-01 00:00:00 UTC),
    }
}

fn assert_injected<T: std::fmt::Debug>(result: zenoauth_domain::Result<T>) {
    match result {
        Err(Error::Unavailable(source)) => assert!(source.downcast_ref::<InjectedFault>().is_some()),
        other => panic!("expected an injected Unavailable, got {other:?}"),
    }
}

async fn count(stores: &Stores) -> usize {
    stores.organizations.list(&PageRequest::first(200)).await.unwrap().len()
}

#[tokio::test]
async fn fail_next_fails_exactly_that_many_calls_and_writes_nothing() {
    let database = MemoryDatabase::new();
    let stores = database.stores();
    database.faults().fail_next(2);

    assert_injected(stores.organizations.create(&organization("acme", 1)).await);
    assert_injected(
        stores.users.list(uuid::Uuid::from_u128(1).into(), &Default::default(), &PageRequest::first(1)).await,
    );
    assert_eq!(count(&stores).await, 0, "the failed create must not have written");
    stores.organizations.create(&organization("acme", 1)).await.unwrap();
    assert_eq!(count(&stores).await, 1);
}

#[tokio::test]
async fn fail_next_zero_cancels_pending_failures() {
    let database = MemoryDatabase::new();
    database.faults().fail_next(5);
    database.faults().fail_next(0);
    assert_eq!(count(&database.stores()).await, 0);
}

#[tokio::test]
async fn fail_always_fails_every_call_until_switched_off() {
    let database = MemoryDatabase::new();
    let stores = database.stores();
    database.faults().fail_always(true);
    for _ in 0..3 {
        assert_injected(stores.organizations.create(&organization("acme", 1)).await);
        assert_injected(stores.revocations.is_revoked(uuid::Uuid::from_u128(1).into(), "jti").await);
    }
    database.faults().fail_always(false);
    assert_eq!(count(&stores).await, 0);
    stores.organizations.create(&organization("acme", 1)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn latency_delays_every_call() {
    let database = MemoryDatabase::new();
    let stores = database.stores();
    database.faults().set_latency(Duration::from_millis(250));
    assert_eq!(database.faults().latency(), Duration::from_millis(250));

    let started = tokio::time::Instant::now();
    stores.organizations.create(&organization("acme", 1)).await.unwrap();
    count(&stores).await;
    assert!(started.elapsed() >= Duration::from_millis(500), "two calls took {:?}", started.elapsed());

    database.faults().set_latency(Duration::ZERO);
    let started = tokio::time::Instant::now();
    count(&stores).await;
    assert!(started.elapsed() < Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn a_slow_call_can_be_cut_short_by_a_timeout() {
    let database = MemoryDatabase::new();
    database.faults().set_latency(Duration::from_secs(30));
    let stores = database.stores();
    let outcome =
        tokio::time::timeout(Duration::from_secs(1), stores.organizations.create(&organization("acme", 1))).await;
    assert!(outcome.is_err(), "the call should still be sleeping");
    database.faults().reset();
    assert_eq!(count(&stores).await, 0, "a call cancelled before it ran must not write");
}

#[tokio::test]
async fn calls_are_counted_failed_ones_included_and_reset_keeps_the_count() {
    let database = MemoryDatabase::new();
    let stores = database.stores();
    database.faults().fail_next(1);
    assert_injected(stores.organizations.get(uuid::Uuid::from_u128(9).into()).await);
    count(&stores).await;
    assert_eq!(database.faults().calls(), 2);
    database.faults().fail_always(true);
    database.faults().reset();
    count(&stores).await;
    assert_eq!(database.faults().calls(), 3);
}

#[tokio::test]
async fn clones_share_data_and_faults() {
    let database = MemoryDatabase::new();
    let clone = database.clone();
    database.stores().organizations.create(&organization("acme", 1)).await.unwrap();
    assert_eq!(count(&clone.stores()).await, 1);
    database.faults().fail_next(1);
    assert_injected(clone.stores().organizations.get(uuid::Uuid::from_u128(1).into()).await);
    assert_eq!(count(&MemoryDatabase::new().stores()).await, 0, "a new database starts empty");
}
