//! The caches themselves, what invalidates them, and their counters.
//!
//! Consistency rule (why a read that races a write cannot leave a stale entry
//! behind): a writer changes the store first, then bumps `epoch`, then evicts.
//! A reader that missed notes `epoch` before loading, inserts what it loaded,
//! and evicts it again if `epoch` moved meanwhile. Either the writer's
//! eviction comes after the reader's insert, or the reader sees the bump.

use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use zenoauth_domain::ids::{ApplicationId, OrganizationId, SessionId, UserId};
use zenoauth_domain::model::{Application, Organization, Session, SigningAlgorithm, SigningKey};
use zenoauth_domain::ports::InvalidationBus;
use zenoauth_domain::roles::Role;
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::Result;

use crate::message::{Invalidation, Kind, Scope};

/// Sizes and lifetimes of the caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// `false`: every read goes to the store (writes still publish invalidations).
    pub enabled: bool,
    /// How long an entry is served at most, whatever invalidations say: the
    /// staleness bound when a change reaches the database without passing
    /// through a decorator that announces it.
    pub ttl: Duration,
    /// Entries per cache (there are seven), least recently useful evicted first.
    pub max_entries: u64,
}

impl Default for CacheSettings {
    /// Enabled, 60 s, 10 000 entries per cache.
    fn default() -> Self {
        Self { enabled: true, ttl: Duration::from_secs(60), max_entries: 10_000 }
    }
}

impl CacheSettings {
    /// No caching at all (writes still announce themselves on the bus).
    pub fn disabled() -> Self {
        Self { enabled: false, ..Self::default() }
    }
}

/// The caches, by the name they carry in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheName {
    Organizations,
    Applications,
    SigningKeyLists,
    ActiveSigningKeys,
    Sessions,
    Revocations,
    Roles,
}

impl CacheName {
    pub const ALL: [CacheName; 7] = [
        Self::Organizations,
        Self::Applications,
        Self::SigningKeyLists,
        Self::ActiveSigningKeys,
        Self::Sessions,
        Self::Revocations,
        Self::Roles,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organizations => "organizations",
            Self::Applications => "applications",
            Self::SigningKeyLists => "signing_key_lists",
            Self::ActiveSigningKeys => "active_signing_keys",
            Self::Sessions => "sessions",
            Self::Revocations => "revocations",
            Self::Roles => "roles",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Organizations => 0,
            Self::Applications => 1,
            Self::SigningKeyLists => 2,
            Self::ActiveSigningKeys => 3,
            Self::Sessions => 4,
            Self::Revocations => 5,
            Self::Roles => 6,
        }
    }
}

/// Whose roles a roles entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RoleHolder {
    User(UserId),
    Application(ApplicationId),
}

/// One cache's figures at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFigures {
    pub name: CacheName,
    pub hits: u64,
    pub misses: u64,
    /// Approximate (moka counts lazily).
    pub entries: u64,
}

impl CacheFigures {
    /// Hits over lookups since start; 0 before the first lookup.
    pub fn hit_rate(&self) -> f64 {
        let lookups = self.hits + self.misses;
        if lookups == 0 {
            0.0
        } else {
            // Counts stay far below 2^52: exact as f64.
            #[allow(clippy::cast_precision_loss)]
            let rate = self.hits as f64 / lookups as f64;
            rate
        }
    }
}

/// Every cache's figures and the invalidation traffic, for `/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheStats {
    pub caches: Vec<CacheFigures>,
    /// Lookups answered by the store because the caches were not serving
    /// (disabled, or the invalidation listener was not connected).
    pub bypassed: u64,
    /// Invalidations applied (local writes and messages from the bus).
    pub invalidations: u64,
    /// Messages published on the bus, and publications that failed.
    pub published: u64,
    pub publish_failures: u64,
    /// Times every cache was emptied (listener connected or lost).
    pub flushes: u64,
    /// Whether cached entries are served now.
    pub serving: bool,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

pub(crate) struct Caches {
    pub(crate) organizations: Cache<String, Organization>,
    pub(crate) applications: Cache<(OrganizationId, String), Application>,
    pub(crate) signing_key_lists: Cache<OrganizationId, Arc<Vec<SigningKey>>>,
    pub(crate) active_signing_keys: Cache<(OrganizationId, SigningAlgorithm), SigningKey>,
    pub(crate) sessions: Cache<(OrganizationId, SecretDigest), Session>,
    pub(crate) revocations: Cache<(OrganizationId, String), bool>,
    pub(crate) roles: Cache<(OrganizationId, RoleHolder), Arc<Vec<Role>>>,
    counters: [Counters; 7],
    bypassed: AtomicU64,
    invalidations: AtomicU64,
    published: AtomicU64,
    publish_failures: AtomicU64,
    flushes: AtomicU64,
    epoch: AtomicU64,
    serving: AtomicBool,
    enabled: bool,
    bus: Option<Arc<dyn InvalidationBus>>,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches").field("serving", &self.serving).finish_non_exhaustive()
    }
}

fn build<K, V>(settings: &CacheSettings) -> Cache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(settings.max_entries)
        .time_to_live(settings.ttl)
        .support_invalidation_closures()
        .build()
}

impl Caches {
    /// With a bus, nothing is served until [`Caches::start_serving`] (the
    /// listener is connected): until then a missed message could not be noticed.
    pub(crate) fn new(settings: &CacheSettings, bus: Option<Arc<dyn InvalidationBus>>) -> Self {
        let serving = settings.enabled && bus.is_none();
        Self {
            organizations: build(settings),
            applications: build(settings),
            signing_key_lists: build(settings),
            active_signing_keys: build(settings),
            sessions: build(settings),
            revocations: build(settings),
            roles: build(settings),
            counters: Default::default(),
            bypassed: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            published: AtomicU64::new(0),
            publish_failures: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            serving: AtomicBool::new(serving),
            enabled: settings.enabled,
            bus,
        }
    }

    pub(crate) fn has_bus(&self) -> bool {
        self.bus.is_some()
    }

    pub(crate) fn bus(&self) -> Option<&Arc<dyn InvalidationBus>> {
        self.bus.as_ref()
    }

    /// The cached value for `key`, or what `load` finds (cached when found).
    /// Absent values are never cached, so a new row is seen at once.
    pub(crate) async fn read_through<K, V, F>(
        &self,
        name: CacheName,
        cache: &Cache<K, V>,
        key: K,
        load: F,
    ) -> Result<Option<V>>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        F: Future<Output = Result<Option<V>>>,
    {
        if !self.serving.load(Ordering::Acquire) {
            self.bypassed.fetch_add(1, Ordering::Relaxed);
            return load.await;
        }
        let counters = &self.counters[name.index()];
        if let Some(value) = cache.get(&key).await {
            counters.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(value));
        }
        counters.misses.fetch_add(1, Ordering::Relaxed);
        let epoch = self.epoch.load(Ordering::SeqCst);
        let loaded = load.await?;
        if let Some(value) = &loaded {
            cache.insert(key.clone(), value.clone()).await;
            if self.epoch.load(Ordering::SeqCst) != epoch || !self.serving.load(Ordering::SeqCst) {
                cache.invalidate(&key).await;
            }
        }
        Ok(loaded)
    }

    /// After a write has reached the store: evicts here, then tells the
    /// other instances. A failed publication is logged and counted; the
    /// write stands (it is committed), and the TTL bounds the staleness.
    pub(crate) async fn announce(&self, invalidations: &[Invalidation]) {
        for invalidation in invalidations {
            self.apply(invalidation);
        }
        let Some(bus) = &self.bus else { return };
        for invalidation in invalidations {
            match bus.publish(&invalidation.to_message()).await {
                Ok(()) => {
                    self.published.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => {
                    self.publish_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%error, message = %invalidation.to_message(), "cannot publish a cache invalidation");
                }
            }
        }
    }

    /// Evicts what `invalidation` names (from a local write or the bus).
    pub(crate) fn apply(&self, invalidation: &Invalidation) {
        self.invalidations.fetch_add(1, Ordering::Relaxed);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let Some(organization) = invalidation.organization else {
            // Every organization: what the message names, everywhere.
            self.clear(invalidation.kind);
            return;
        };
        match (invalidation.kind, &invalidation.scope) {
            (Kind::Organization, Scope::Key(slug)) => {
                let slug = slug.clone();
                self.predicate(&self.organizations, move |key: &String, value: &Organization| {
                    *key == slug || value.id == organization
                });
            }
            (Kind::Organization, Scope::All) => {
                // Deleted, with everything it owned.
                self.predicate(&self.organizations, move |_: &String, value: &Organization| value.id == organization);
                for kind in [Kind::Application, Kind::SigningKeys, Kind::Session, Kind::Revocation, Kind::Roles] {
                    self.apply_in_organization(kind, organization);
                }
            }
            (Kind::Application, Scope::Key(client_id)) => {
                let client_id = client_id.clone();
                self.predicate(&self.applications, move |key: &(OrganizationId, String), _: &Application| {
                    key.0 == organization && key.1 == client_id
                });
            }
            (Kind::Session, Scope::Key(id)) => {
                let id = id.clone();
                self.predicate(&self.sessions, move |key: &(OrganizationId, SecretDigest), value: &Session| {
                    key.0 == organization && value.id.to_string() == id
                });
            }
            (Kind::Revocation, Scope::Key(jti)) => {
                let jti = jti.clone();
                self.predicate(&self.revocations, move |key: &(OrganizationId, String), _: &bool| {
                    key.0 == organization && key.1 == jti
                });
            }
            (kind, _) => self.apply_in_organization(kind, organization),
        }
    }

    fn apply_in_organization(&self, kind: Kind, organization: OrganizationId) {
        match kind {
            Kind::Organization => {
                self.predicate(&self.organizations, move |_: &String, value: &Organization| value.id == organization);
            }
            Kind::Application => {
                self.predicate(&self.applications, move |key: &(OrganizationId, String), _: &Application| {
                    key.0 == organization
                });
            }
            Kind::SigningKeys => {
                self.predicate(&self.signing_key_lists, move |key: &OrganizationId, _: &Arc<Vec<SigningKey>>| {
                    *key == organization
                });
                self.predicate(
                    &self.active_signing_keys,
                    move |key: &(OrganizationId, SigningAlgorithm), _: &SigningKey| key.0 == organization,
                );
            }
            Kind::Session => {
                self.predicate(&self.sessions, move |key: &(OrganizationId, SecretDigest), _: &Session| {
                    key.0 == organization
                });
            }
            Kind::Revocation => {
                self.predicate(&self.revocations, move |key: &(OrganizationId, String), _: &bool| {
                    key.0 == organization
                });
            }
            Kind::Roles => {
                self.predicate(&self.roles, move |key: &(OrganizationId, RoleHolder), _: &Arc<Vec<Role>>| {
                    key.0 == organization
                });
            }
        }
    }

    fn clear(&self, kind: Kind) {
        match kind {
            Kind::Organization => self.flush(),
            Kind::Application => self.applications.invalidate_all(),
            Kind::SigningKeys => {
                self.signing_key_lists.invalidate_all();
                self.active_signing_keys.invalidate_all();
            }
            Kind::Session => self.sessions.invalidate_all(),
            Kind::Revocation => self.revocations.invalidate_all(),
            Kind::Roles => self.roles.invalidate_all(),
        }
    }

    fn predicate<K, V>(&self, cache: &Cache<K, V>, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static)
    where
        K: Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        // Fails only when closures are not enabled (they always are here);
        // dropping everything is then the safe answer.
        if cache.invalidate_entries_if(predicate).is_err() {
            cache.invalidate_all();
        }
    }

    /// Empties every cache.
    pub(crate) fn flush(&self) {
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.organizations.invalidate_all();
        self.applications.invalidate_all();
        self.signing_key_lists.invalidate_all();
        self.active_signing_keys.invalidate_all();
        self.sessions.invalidate_all();
        self.revocations.invalidate_all();
        self.roles.invalidate_all();
    }

    /// The listener is connected: start from empty caches and serve.
    pub(crate) fn start_serving(&self) {
        self.flush();
        self.serving.store(self.enabled, Ordering::SeqCst);
    }

    /// The listener is gone (messages may be missed): stop serving, forget everything.
    pub(crate) fn stop_serving(&self) {
        self.serving.store(false, Ordering::SeqCst);
        self.flush();
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let entries = |name: CacheName| match name {
            CacheName::Organizations => self.organizations.entry_count(),
            CacheName::Applications => self.applications.entry_count(),
            CacheName::SigningKeyLists => self.signing_key_lists.entry_count(),
            CacheName::ActiveSigningKeys => self.active_signing_keys.entry_count(),
            CacheName::Sessions => self.sessions.entry_count(),
            CacheName::Revocations => self.revocations.entry_count(),
            CacheName::Roles => self.roles.entry_count(),
        };
        let caches = CacheName::ALL
            .iter()
            .map(|&name| {
                let counters = &self.counters[name.index()];
                CacheFigures {
                    name,
                    hits: counters.hits.load(Ordering::Relaxed),
                    misses: counters.misses.load(Ordering::Relaxed),
                    entries: entries(name),
                }
            })
            .collect();
        CacheStats {
            caches,
            bypassed: self.bypassed.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            published: self.published.load(Ordering::Relaxed),
            publish_failures: self.publish_failures.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed),
            serving: self.serving.load(Ordering::Relaxed),
        }
    }

    /// Runs moka's pending maintenance (so entry counts are exact), for tests and scrapes.
    pub(crate) async fn settle(&self) {
        self.organizations.run_pending_tasks().await;
        self.applications.run_pending_tasks().await;
        self.signing_key_lists.run_pending_tasks().await;
        self.active_signing_keys.run_pending_tasks().await;
        self.sessions.run_pending_tasks().await;
        self.revocations.run_pending_tasks().await;
        self.roles.run_pending_tasks().await;
    }
}

/// A session id as it travels in messages.
pub(crate) fn session_key(id: SessionId) -> String {
    id.to_string()
}
