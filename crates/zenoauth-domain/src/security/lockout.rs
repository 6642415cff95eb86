//! Brute-force defence for password logins.
//!
//! Failures are counted in the database (the [`LoginAttemptStore`] port, so
//! every instance shares them) under two keys per attempt: the account (the
//! normalised email as typed, whether or not such a user exists — so the
//! counters reveal nothing about which accounts exist) and the source
//! address. Past [`LockoutPolicy::delay_after`] failures each further
//! failure is answered after a growing delay (the server sleeps); at
//! [`LockoutPolicy::account_threshold`] failures within the window the
//! account locks for [`LockoutPolicy::lock_duration`], and at
//! [`LockoutPolicy::address_threshold`] the address does. While locked,
//! every login for that key fails — even with the right password — with the
//! same answer, after the same password-hashing work, as a wrong password.
//! Each lock is audited once; an administrator can lift it
//! ([`LoginLockout::unlock_account`]).

use std::sync::Arc;

use serde_json::{json, Value as Json};
use time::{Duration, OffsetDateTime};

use super::audit::{audit_event, event_types};
use crate::error::{Result, ValidationError};
use crate::ids::{IdGenerator, OrganizationId};
use crate::model::{LoginAttempts, Organization};
use crate::ports::{AuditSink, Clock, LoginAttemptStore, RandomSource};
use crate::values::Email;

/// The counter key of an account: `account:` and the normalised email as
/// typed (lower-cased, trimmed, at most 254 characters).
pub fn account_key(email: &str) -> String {
    let normalised = match Email::parse(email) {
        Ok(email) => email.as_str().to_owned(),
        Err(_) => email.trim().to_lowercase().chars().take(254).collect(),
    };
    format!("account:{normalised}")
}

/// The counter key of a source address: `ip:` and the address (at most 64 characters).
pub fn address_key(address: &str) -> String {
    format!("ip:{}", address.chars().take(64).collect::<String>())
}

/// An organization's brute-force settings, with defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures of one account within `window` that lock it.
    pub account_threshold: u32,
    /// Failures from one source address within `window` that lock it.
    pub address_threshold: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long a lock lasts.
    pub lock_duration: Duration,
    /// Failures answered without delay; later ones are slowed down.
    pub delay_after: u32,
    /// The first delay; each further failure doubles it, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            account_threshold: 5,
            address_threshold: 50,
            window: Duration::minutes(15),
            lock_duration: Duration::minutes(15),
            delay_after: 2,
            base_delay: Duration::milliseconds(250),
            max_delay: Duration::seconds(4),
        }
    }
}

impl LockoutPolicy {
    /// Reads `organization.settings`: `lockout_threshold` (default 5),
    /// `lockout_address_threshold` (50), `lockout_window_seconds` (900),
    /// `lockout_duration_seconds` (900), `login_delay_after_failures` (2),
    /// `login_delay_base_milliseconds` (250), `login_delay_max_milliseconds` (4000).
    pub fn from_organization(organization: &Organization) -> Result<Self, ValidationError> {
        let settings = &organization.settings;
        let defaults = Self::default();
        let number = |field: &'static str, default: i64, range: std::ops::RangeInclusive<i64>| match settings.get(field)
        {
            None | Some(Json::Null) => Ok(default),
            Some(value) => value
                .as_i64()
                .filter(|number| range.contains(number))
                .ok_or(ValidationError::new(field, "must be a whole number in the allowed range")),
        };
        let count = |value: i64| u32::try_from(value).unwrap_or(u32::MAX);
        Ok(Self {
            account_threshold: count(number("lockout_threshold", 5, 1..=1000)?),
            address_threshold: count(number("lockout_address_threshold", 50, 1..=100_000)?),
            window: Duration::seconds(number("lockout_window_seconds", 900, 1..=86_400)?),
            lock_duration: Duration::seconds(number("lockout_duration_seconds", 900, 1..=86_400)?),
            delay_after: count(number("login_delay_after_failures", i64::from(defaults.delay_after), 0..=1000)?),
            base_delay: Duration::milliseconds(number("login_delay_base_milliseconds", 250, 0..=10_000)?),
            max_delay: Duration::milliseconds(number("login_delay_max_milliseconds", 4000, 0..=30_000)?),
        })
    }

    /// The delay before answering the `failures`-th failure: none up to
    /// `delay_after`, then `base_delay` doubling per failure, capped.
    pub fn delay_for(&self, failures: u32) -> Duration {
        if failures <= self.delay_after || self.base_delay.is_zero() {
            return Duration::ZERO;
        }
        let doublings = (failures - self.delay_after - 1).min(20);
        let delay = self.base_delay.checked_mul(1 << doublings).unwrap_or(self.max_delay);
        delay.min(self.max_delay)
    }
}

/// What counting a failure decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureOutcome {
    /// How long to wait before answering.
    pub delay: Duration,
    /// The keys this failure locked (each audited once, here).
    pub newly_locked: Vec<String>,
}

/// The counters of one login attempt: its account key and, when known, its
/// source address key.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    organization: OrganizationId,
    policy: LockoutPolicy,
    keys: Vec<String>,
}

impl LoginThrottle {
    pub fn new(organization: OrganizationId, policy: LockoutPolicy, email: &str, address: Option<&str>) -> Self {
        let mut keys = vec![account_key(email)];
        keys.extend(address.map(address_key));
        Self { organization, policy, keys }
    }

    /// Whether the account or the address is locked at `now`.
    pub async fn is_locked(&self, store: &dyn LoginAttemptStore, now: OffsetDateTime) -> Result<bool> {
        for key in &self.keys {
            if store.find(self.organization, key).await?.is_some_and(|attempts| attempts.is_locked_at(now)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Counts a failure under every key; locks those that reach their threshold.
    pub async fn record_failure(&self, store: &dyn LoginAttemptStore, now: OffsetDateTime) -> Result<FailureOutcome> {
        let window_start = now - self.policy.window;
        let lock_until = now + self.policy.lock_duration;
        let mut outcome = FailureOutcome { delay: Duration::ZERO, newly_locked: Vec::new() };
        for (index, key) in self.keys.iter().enumerate() {
            let threshold = if index == 0 { self.policy.account_threshold } else { self.policy.address_threshold };
            let attempts =
                store.record_failure(self.organization, key, now, window_start, threshold, lock_until).await?;
            // The store locks exactly when the count reaches the threshold
            // (a running lock is never re-set, and an ended one restarts the
            // count), so this is the failure that locked the key.
            if attempts.failures == threshold && attempts.is_locked_at(now) {
                outcome.newly_locked.push(key.clone());
            }
            if index == 0 {
                outcome.delay = self.policy.delay_for(attempts.failures);
            }
        }
        Ok(outcome)
    }

    /// A successful login forgets the account's failures (not the address's:
    /// one good account must not launder an address's attempts on others).
    pub async fn record_success(&self, store: &dyn LoginAttemptStore) -> Result<()> {
        store.clear(self.organization, &self.keys[0]).await.map(|_| ())
    }

    pub fn policy(&self) -> &LockoutPolicy {
        &self.policy
    }
}

/// Lockout administration: inspect and lift locks (audited).
#[derive(Clone)]
pub struct LoginLockout {
    attempts: Arc<dyn LoginAttemptStore>,
    audit: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
    ids: IdGenerator,
}

impl std::fmt::Debug for LoginLockout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLockout").finish_non_exhaustive()
    }
}

impl LoginLockout {
    pub fn new(
        attempts: Arc<dyn LoginAttemptStore>,
        audit: Arc<dyn AuditSink>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
    ) -> Self {
        let ids = IdGenerator::new(clock.clone(), random);
        Self { attempts, audit, clock, ids }
    }

    /// The account's failure counter, if it has one.
    pub async fn account_status(&self, organization: OrganizationId, email: &Email) -> Result<Option<LoginAttempts>> {
        self.attempts.find(organization, &account_key(email.as_str())).await
    }

    /// Whether the account is locked now.
    pub async fn is_account_locked(&self, organization: OrganizationId, email: &Email) -> Result<bool> {
        let now = self.clock.now();
        Ok(self.account_status(organization, email).await?.is_some_and(|attempts| attempts.is_locked_at(now)))
    }

    /// Lifts the account's lock and forgets its failures; audited as
    /// `login.unlocked` with `actor`. `Ok(false)` when there was nothing to lift.
    pub async fn unlock_account(&self, organization: OrganizationId, email: &Email, actor: &str) -> Result<bool> {
        self.unlock(organization, account_key(email.as_str()), actor).await
    }

    /// Lifts a source address's lock (e.g. a shared office NAT).
    pub async fn unlock_address(&self, organization: OrganizationId, address: &str, actor: &str) -> Result<bool> {
        self.unlock(organization, address_key(address), actor).await
    }

    async fn unlock(&self, organization: OrganizationId, key: String, actor: &str) -> Result<bool> {
        let cleared = self.attempts.clear(organization, &key).await?;
        if cleared {
            self.audit.record(audit_event(
                self.ids.next(),
                organization,
                self.clock.now(),
                event_types::LOGIN_UNLOCKED,
                Some(actor.to_owned()),
                Some(key),
                json!({}),
            ));
        }
        Ok(cleared)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::values::{DisplayName, Slug};

    pub(crate) fn organization(settings: Json) -> Organization {
        Organization {
            id: OrganizationId::from_uuid(uuid::Uuid::nil()),
            slug: Slug::parse("acme").unwrap(),
            name: DisplayName::parse("Acme").unwrap(),
            settings,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn delay_grows_after_the_free_failures_and_is_capped() {
        let policy = LockoutPolicy::default();
        assert_eq!(policy.delay_for(1), Duration::ZERO);
        assert_eq!(policy.delay_for(2), Duration::ZERO);
        assert_eq!(policy.delay_for(3), Duration::milliseconds(250));
        assert_eq!(policy.delay_for(4), Duration::milliseconds(500));
        assert_eq!(policy.delay_for(5), Duration::seconds(1));
        assert_eq!(policy.delay_for(9), Duration::seconds(4));
        assert_eq!(policy.delay_for(u32::MAX), Duration::seconds(4));
    }

    #[test]
    fn keys_normalise_the_email_whether_or_not_it_parses() {
        assert_eq!(account_key(" Alice@Example.COM"), "account:alice@example.com");
        assert_eq!(account_key("Not An Email"), "account:not an email");
        assert_eq!(account_key(&"x".repeat(1000)).len(), "account:".len() + 254);
        assert_eq!(address_key("192.0.2.1"), "ip:192.0.2.1");
    }

    #[test]
    fn settings_are_read_and_checked() {
        let mut organization = organization(json!({}));
        assert_eq!(LockoutPolicy::from_organization(&organization).unwrap(), LockoutPolicy::default());
        organization.settings = json!({"lockout_threshold": 3, "lockout_duration_seconds": 60,
            "login_delay_base_milliseconds": 0});
        let policy = LockoutPolicy::from_organization(&organization).unwrap();
        assert_eq!((policy.account_threshold, policy.lock_duration), (3, Duration::minutes(1)));
        assert_eq!(policy.delay_for(10), Duration::ZERO);
        for bad in [json!({"lockout_threshold": 0}), json!({"lockout_window_seconds": "60"})] {
            organization.settings = bad;
            assert!(LockoutPolicy::from_organization(&organization).is_err());
        }
    }
}
