//! Account-security middleware and state (issue 5): the request context
//! that audit events carry ([`context`]) with the client address behind
//! trusted proxies ([`client_ip`]), the batched audit writer's sink
//! (`crate::audit_pipeline`), rate limiting and the form-field cap
//! ([`rate_limit`]), admission control for password hashing
//! ([`admission`]), hardening headers ([`headers`]), and the accept loop
//! with header-size and slow-client limits ([`connections`]).
//! docs/security.md describes the model.

pub mod admission;
pub mod client_ip;
pub mod connections;
pub mod context;
pub mod headers;
pub mod metrics;
pub mod rate_limit;
pub mod tls;

use std::sync::Arc;

use zenoauth_crypto::Argon2Hasher;
use zenoauth_domain::ports::{AuditLog, AuditSink};

use self::admission::AdmittedHasher;
use self::client_ip::{ForwardedHeader, TrustedProxies};
use self::connections::ConnectionLimits;
use self::metrics::SecurityMetrics;
use self::rate_limit::{RateLimiter, RateLimits, DEFAULT_MAX_FORM_FIELDS};
use crate::audit_pipeline::{AuditPipeline, AuditSettings};

/// The operator's security settings (the `[security]` configuration section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecuritySettings {
    pub rate_limits: RateLimits,
    /// Reverse proxies whose forwarding header is believed ([`client_ip`]).
    pub trusted_proxies: TrustedProxies,
    /// The one forwarding header they append, and the only one read.
    pub forwarded_header: ForwardedHeader,
    pub max_form_fields: usize,
    /// Logins that may wait for a password hash beyond those running.
    pub max_queued_hashes: usize,
    pub connections: ConnectionLimits,
    pub audit: AuditSettings,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            rate_limits: RateLimits::default(),
            trusted_proxies: TrustedProxies::default(),
            forwarded_header: ForwardedHeader::default(),
            max_form_fields: DEFAULT_MAX_FORM_FIELDS,
            max_queued_hashes: 32,
            connections: ConnectionLimits::default(),
            audit: AuditSettings::default(),
        }
    }
}

/// What the security middleware and handlers share. Cheap to clone.
#[derive(Clone)]
pub struct SecurityState {
    pub settings: SecuritySettings,
    pub metrics: Arc<SecurityMetrics>,
    pub rate_limiter: Arc<RateLimiter>,
    /// The password hasher behind its admission queue; use cases get this one.
    pub hasher: Arc<AdmittedHasher>,
    pub audit: AuditPipeline,
}

impl std::fmt::Debug for SecurityState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecurityState").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl SecurityState {
    /// Builds the limiter and the hashing queue, and starts the audit writer
    /// over `audit_log` (on the current tokio runtime).
    pub fn start(
        settings: SecuritySettings,
        metrics: Arc<SecurityMetrics>,
        hasher: Arc<Argon2Hasher>,
        audit_log: Arc<dyn AuditLog>,
    ) -> Self {
        Self {
            rate_limiter: Arc::new(RateLimiter::new(settings.rate_limits)),
            hasher: Arc::new(AdmittedHasher::new(hasher, settings.max_queued_hashes, metrics.clone())),
            audit: AuditPipeline::start(audit_log, settings.audit, metrics.clone()),
            settings,
            metrics,
        }
    }

    /// The sink use cases record audit events into.
    pub fn audit_sink(&self) -> Arc<dyn AuditSink> {
        Arc::new(self.audit.clone())
    }
}

/// How often stale failed-login counters are deleted.
pub const LOGIN_ATTEMPTS_HOUSEKEEPING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Counters untouched this long (and not locked) are deleted: longer than
/// any lockout window or lock an organization can configure (24 h each).
pub const LOGIN_ATTEMPTS_RETENTION: time::Duration = time::Duration::hours(48);

/// Deletes stale failed-login counters every `interval`, forever (an attack
/// with random emails would otherwise grow the table without bound).
pub async fn forget_stale_login_attempts(
    attempts: Arc<dyn zenoauth_domain::ports::LoginAttemptStore>,
    clock: Arc<dyn zenoauth_domain::ports::Clock>,
    interval: std::time::Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        match attempts.delete_stale(clock.now() - LOGIN_ATTEMPTS_RETENTION).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "deleted stale failed-login counters"),
            Err(error) => tracing::warn!(error = %error, "cannot delete stale failed-login counters"),
        }
    }
}
