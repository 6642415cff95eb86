//! The security counters in `/metrics`: audit pipeline throughput and
//! losses, rate-limit refusals, and logins turned away by hashing
//! admission control.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A monotonic counter.
#[derive(Debug, Clone, Default)]
pub struct Count(Counter);

impl Count {
    pub fn inc(&self) {
        self.0.inc();
    }

    pub fn inc_by(&self, amount: usize) {
        self.0.inc_by(u64::try_from(amount).unwrap_or(u64::MAX));
    }

    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

/// A level that goes up and down.
#[derive(Debug, Clone, Default)]
pub struct Level(Gauge);

impl Level {
    pub fn inc(&self) {
        self.0.inc();
    }

    pub fn dec(&self) {
        self.0.dec();
    }

    pub fn dec_by(&self, amount: usize) {
        self.0.dec_by(i64::try_from(amount).unwrap_or(i64::MAX));
    }

    pub fn get(&self) -> i64 {
        self.0.get()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ScopeLabels {
    /// `ip` or `client`.
    pub scope: &'static str,
}

/// Every security metric; registered once into the server's registry.
#[derive(Debug, Default)]
pub struct SecurityMetrics {
    pub audit_written: Count,
    pub audit_dropped: Count,
    pub audit_write_failures: Count,
    pub audit_queued: Level,
    pub rate_limited: Family<ScopeLabels, Counter>,
    pub logins_refused_busy: Count,
}

impl SecurityMetrics {
    /// Fresh metrics, registered into `registry`.
    pub fn registered(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "zenoauth_audit_events_written",
            "Audit events written to the database",
            metrics.audit_written.0.clone(),
        );
        registry.register(
            "zenoauth_audit_events_dropped",
            "Audit events that could not be written (buffer full or database unavailable); each is logged in full",
            metrics.audit_dropped.0.clone(),
        );
        registry.register(
            "zenoauth_audit_write_failures",
            "Failed attempts to write a batch of audit events (retried)",
            metrics.audit_write_failures.0.clone(),
        );
        registry.register(
            "zenoauth_audit_events_queued",
            "Audit events waiting for the writer",
            metrics.audit_queued.0.clone(),
        );
        registry.register(
            "zenoauth_rate_limited_requests",
            "Requests refused with 429 by the rate limiter, by bucket",
            metrics.rate_limited.clone(),
        );
        registry.register(
            "zenoauth_logins_refused_busy",
            "Logins answered 503 because the password-hashing queue was full",
            metrics.logins_refused_busy.0.clone(),
        );
        metrics
    }

    pub fn rate_limited(&self, scope: &'static str) -> u64 {
        self.rate_limited.get_or_create(&ScopeLabels { scope }).get()
    }
}
