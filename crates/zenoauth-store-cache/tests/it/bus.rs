//! The caches with an invalidation bus: writes publish, the listener
//! applies, and nothing is served while the listener is not connected.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use zenoauth_domain::ports::{InvalidationBus, InvalidationSubscription};
use zenoauth_domain::{Error, Result};
use zenoauth_store_cache::{CacheName, CacheSettings, CachedStores};
use zenoauth_store_memory::MemoryDatabase;
use zenoauth_store_tests::fixture::{at, Fixture};

/// An in-process bus: published messages are recorded; the test feeds the
/// subscriber by hand (`Err` = connection lost).
#[derive(Default)]
struct FakeBus {
    published: Mutex<Vec<String>>,
    feeds: Mutex<Vec<mpsc::UnboundedSender<Result<String>>>>,
}

struct FakeSubscription(mpsc::UnboundedReceiver<Result<String>>);

#[async_trait]
impl InvalidationBus for FakeBus {
    async fn publish(&self, message: &str) -> Result<()> {
        self.published.lock().unwrap().push(message.to_owned());
        Ok(())
    }

    async fn subscribe(&self) -> Result<Box<dyn InvalidationSubscription>> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.feeds.lock().unwrap().push(sender);
        Ok(Box::new(FakeSubscription(receiver)))
    }
}

#[async_trait]
impl InvalidationSubscription for FakeSubscription {
    async fn next(&mut self) -> Result<String> {
        self.0.recv().await.unwrap_or_else(|| Err(Error::unavailable("feed closed")))
    }
}

impl FakeBus {
    fn subscriptions(&self) -> usize {
        self.feeds.lock().unwrap().len()
    }

    fn send(&self, message: Result<String>) {
        self.feeds.lock().unwrap().last().unwrap().send(message).unwrap();
    }
}

async fn until(mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "condition not reached within 5 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn writes_publish_and_the_listener_evicts_and_reconnects() {
    let fixture = Fixture::new("writes_publish_and_the_listener_evicts_and_reconnects");
    let inner = MemoryDatabase::new().stores();
    let bus = Arc::new(FakeBus::default());
    let cached = CachedStores::new(inner.clone(), CacheSettings::default(), Some(bus.clone()));
    let stores = cached.stores();
    let organization = fixture.create_organization(&inner).await;

    // Not serving before the listener is connected.
    stores.revocations.is_revoked(organization.id, "jti").await.unwrap();
    assert!(!cached.stats().serving);
    assert_eq!(cached.stats().bypassed, 1);

    let listener = tokio::spawn(cached.clone().listen());
    until(|| bus.subscriptions() == 1 && cached.stats().serving).await;

    // A write publishes what it changed.
    stores.revocations.revoke(&fixture.revocation(&organization, "jti", at(60))).await.unwrap();
    assert_eq!(*bus.published.lock().unwrap(), vec![format!("revocation:{}:jti", organization.id)]);

    // Another instance's write arrives as a message and evicts.
    assert!(!stores.revocations.is_revoked(organization.id, "other").await.unwrap());
    inner.revocations.revoke(&fixture.revocation(&organization, "other", at(60))).await.unwrap();
    assert!(!stores.revocations.is_revoked(organization.id, "other").await.unwrap(), "served from cache");
    bus.send(Ok(format!("revocation:{}:other", organization.id)));
    until(|| cached.stats().invalidations >= 2).await;
    assert!(stores.revocations.is_revoked(organization.id, "other").await.unwrap());

    // The connection drops: nothing is served until the listener is back, from empty caches.
    assert!(!stores.revocations.is_revoked(organization.id, "third").await.unwrap());
    let flushes = cached.stats().flushes;
    bus.send(Err(Error::unavailable("connection reset")));
    until(|| bus.subscriptions() == 2 && cached.stats().serving).await;
    assert!(cached.stats().flushes >= flushes + 2, "flushed on loss and on reconnect");
    inner.revocations.revoke(&fixture.revocation(&organization, "third", at(60))).await.unwrap();
    assert!(stores.revocations.is_revoked(organization.id, "third").await.unwrap(), "nothing stale survived");
    let revocations = cached.stats().caches.into_iter().find(|figures| figures.name == CacheName::Revocations).unwrap();
    assert!(revocations.hits >= 1);
    listener.abort();
}

#[tokio::test]
async fn disabled_caches_still_publish() {
    let fixture = Fixture::new("disabled_caches_still_publish");
    let inner = MemoryDatabase::new().stores();
    let bus = Arc::new(FakeBus::default());
    let cached = CachedStores::new(inner.clone(), CacheSettings::disabled(), Some(bus.clone()));
    let organization = fixture.create_organization(&inner).await;
    let application = fixture.create_application(&inner, &organization, "web").await;
    cached.stores().applications.update(&application).await.unwrap();
    assert_eq!(*bus.published.lock().unwrap(), vec![format!("app:{}:web", organization.id)]);
}
