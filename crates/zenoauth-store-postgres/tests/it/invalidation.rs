//! The LISTEN/NOTIFY invalidation bus: what one publishes, every subscriber
//! (on its own connection) receives; a lost connection is reported, not hidden.

use std::time::Duration;

use sqlx::PgPool;
use zenoauth_domain::ports::InvalidationBus;
use zenoauth_store_postgres::{PgDatabase, INVALIDATION_CHANNEL};

#[sqlx::test(migrations = false)]
async fn published_messages_reach_every_subscriber(pool: PgPool) {
    let bus = PgDatabase::from_pool(pool.clone()).invalidation_bus();
    let mut first = bus.subscribe().await.unwrap();
    let mut second = PgDatabase::from_pool(pool).invalidation_bus().subscribe().await.unwrap();

    bus.publish("app:0190a000-0000-7000-8000-000000000001:web").await.unwrap();
    bus.publish("revocation:*:").await.unwrap();
    for subscription in [&mut first, &mut second] {
        for expected in ["app:0190a000-0000-7000-8000-000000000001:web", "revocation:*:"] {
            let received = tokio::time::timeout(Duration::from_secs(5), subscription.next()).await.unwrap();
            assert_eq!(received.unwrap(), expected);
        }
    }
}

#[sqlx::test(migrations = false)]
async fn a_lost_connection_is_reported(pool: PgPool) {
    let bus = PgDatabase::from_pool(pool.clone()).invalidation_bus();
    let mut subscription = bus.subscribe().await.unwrap();
    // Kill the listening backend, as a database restart or a proxy would.
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE pid <> pg_backend_pid() AND datname = current_database() AND query ILIKE $1",
    )
    .bind(format!("%LISTEN%{INVALIDATION_CHANNEL}%"))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(killed, 1);
    let outcome = tokio::time::timeout(Duration::from_secs(5), subscription.next()).await.unwrap();
    assert!(outcome.is_err(), "{outcome:?}");
}

#[sqlx::test(migrations = false)]
async fn an_oversized_message_is_refused(pool: PgPool) {
    let bus = PgDatabase::from_pool(pool).invalidation_bus();
    assert!(bus.publish(&"x".repeat(8000)).await.is_err());
}
