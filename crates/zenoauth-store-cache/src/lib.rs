//! Caching decorators around the store ports on the hot paths, and their
//! invalidation across instances. [`CachedStores::new`] wraps a `Stores`
//! and hands back a `Stores` whose organizations (by slug), applications (by
//! client_id), signing keys (list and active key per organization), sessions
//! (by token digest), revocation checks (by jti) and role assignments are
//! served from bounded moka caches with a TTL; every other port is passed
//! through untouched. Writes through the decorators evict locally and then
//! publish `<kind>:<organization>:<key>` on an [`InvalidationBus`]
//! (PostgreSQL LISTEN/NOTIFY in production; none for a single process), and
//! [`CachedStores::listen`] applies what other instances publish. While the
//! listener is not connected nothing is served from the caches, and they are
//! emptied whenever it (re)connects, so a missed message can never keep a
//! stale entry alive. Absent rows are never cached.

mod caches;
mod decorators;
mod message;

use std::sync::Arc;
use std::time::Duration;

use zenoauth_domain::ports::{InvalidationBus, Stores};

pub use caches::{CacheFigures, CacheName, CacheSettings, CacheStats};
pub use message::{Invalidation, Kind, Scope};

use caches::Caches;
use decorators::{
    CachedApplications, CachedClientSecrets, CachedOrganizations, CachedRevocations, CachedRoles, CachedSessions,
    CachedSigningKeys, CachedUsers,
};

/// Longest pause between two attempts to (re)connect the listener.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(5);
const FIRST_RECONNECT_DELAY: Duration = Duration::from_millis(100);

/// The cached view of a `Stores`; cheap to clone (clones share the caches).
#[derive(Clone, Debug)]
pub struct CachedStores {
    stores: Stores,
    caches: Arc<Caches>,
}

impl CachedStores {
    /// Wraps `inner`. With a `bus`, entries are served only while
    /// [`CachedStores::listen`] is connected; without one (a single process
    /// owns the database: SQLite, memory) they are served at once.
    pub fn new(inner: Stores, settings: CacheSettings, bus: Option<Arc<dyn InvalidationBus>>) -> Self {
        let caches = Arc::new(Caches::new(&settings, bus));
        let stores = Stores {
            organizations: Arc::new(CachedOrganizations { inner: inner.organizations.clone(), caches: caches.clone() }),
            users: Arc::new(CachedUsers { inner: inner.users.clone(), caches: caches.clone() }),
            applications: Arc::new(CachedApplications { inner: inner.applications.clone(), caches: caches.clone() }),
            sessions: Arc::new(CachedSessions { inner: inner.sessions.clone(), caches: caches.clone() }),
            revocations: Arc::new(CachedRevocations { inner: inner.revocations.clone(), caches: caches.clone() }),
            signing_keys: Arc::new(CachedSigningKeys { inner: inner.signing_keys.clone(), caches: caches.clone() }),
            roles: Arc::new(CachedRoles { inner: inner.roles.clone(), caches: caches.clone() }),
            client_secrets: Arc::new(CachedClientSecrets {
                inner: inner.client_secrets.clone(),
                caches: caches.clone(),
            }),
            // Not cached: authorization codes, refresh tokens, consents,
            // client assertions, audit, login attempts, passkeys (counters and
            // single-use ceremonies must be read fresh), and any port added later.
            ..inner
        };
        Self { stores, caches }
    }

    /// The decorated ports.
    pub fn stores(&self) -> Stores {
        self.stores.clone()
    }

    pub fn stats(&self) -> CacheStats {
        self.caches.stats()
    }

    /// As [`CachedStores::stats`], after moka's pending housekeeping (exact entry counts).
    pub async fn settled_stats(&self) -> CacheStats {
        self.caches.settle().await;
        self.caches.stats()
    }

    /// Applies an invalidation as if it came from the bus (tests, tools).
    pub fn apply(&self, invalidation: &Invalidation) {
        self.caches.apply(invalidation);
    }

    /// Applies a message received from the bus; one it cannot read empties every cache.
    pub fn apply_message(&self, message: &str) {
        match Invalidation::parse(message) {
            Some(invalidation) => self.caches.apply(&invalidation),
            None => {
                tracing::warn!(message, "unreadable cache invalidation; emptying every cache");
                self.caches.flush();
            }
        }
    }

    /// Listens on the bus for as long as the returned future is polled
    /// (spawn it): evicts what other instances announce, and reconnects
    /// with backoff when the connection drops. Entries are served only
    /// while connected, starting from empty caches each time. Returns at
    /// once without a bus.
    pub async fn listen(self) {
        let Some(bus) = self.caches.bus().cloned() else { return };
        let mut delay = FIRST_RECONNECT_DELAY;
        loop {
            match bus.subscribe().await {
                Ok(mut subscription) => {
                    self.caches.start_serving();
                    tracing::debug!("cache invalidation listener connected");
                    delay = FIRST_RECONNECT_DELAY;
                    let error = loop {
                        match subscription.next().await {
                            Ok(message) => self.apply_message(&message),
                            Err(error) => break error,
                        }
                    };
                    self.caches.stop_serving();
                    tracing::warn!(%error, "cache invalidation listener lost; caches bypassed until it reconnects");
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot start the cache invalidation listener; retrying");
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_RECONNECT_DELAY);
        }
    }

    /// Whether a bus announces writes to other instances.
    pub fn has_bus(&self) -> bool {
        self.caches.has_bus()
    }
}
