//! Failed-login counters (the [`LoginAttemptStore`](zenoauth_domain::ports::LoginAttemptStore) semantics).

use time::OffsetDateTime;
use zenoauth_domain::ids::OrganizationId;
use zenoauth_domain::model::LoginAttempts;
use zenoauth_domain::{Error, Result};

use super::{count, State};

impl State {
    pub(crate) fn login_attempt_find(&self, organization: OrganizationId, key: &str) -> Option<LoginAttempts> {
        self.login_attempts.get(&(organization, key.to_owned())).cloned()
    }

    pub(crate) fn login_attempt_record_failure(
        &mut self,
        organization: OrganizationId,
        key: &str,
        now: OffsetDateTime,
        window_start: OffsetDateTime,
        lock_threshold: u32,
        lock_until: OffsetDateTime,
    ) -> Result<LoginAttempts> {
        if !self.organizations.contains_key(&organization) {
            return Err(Error::NotFound("organization"));
        }
        let fresh = LoginAttempts {
            organization_id: organization,
            key: key.to_owned(),
            failures: 0,
            window_started_at: now,
            last_failed_at: now,
            locked_until: None,
        };
        let attempts = self.login_attempts.entry((organization, key.to_owned())).or_insert_with(|| fresh.clone());
        let lock_ended = attempts.locked_until.is_some_and(|until| until <= now);
        if attempts.window_started_at < window_start || lock_ended {
            *attempts = fresh;
        }
        attempts.failures = attempts.failures.saturating_add(1);
        attempts.last_failed_at = now;
        if attempts.failures >= lock_threshold && !attempts.is_locked_at(now) {
            attempts.locked_until = Some(lock_until);
        }
        Ok(attempts.clone())
    }

    pub(crate) fn login_attempt_clear(&mut self, organization: OrganizationId, key: &str) -> bool {
        self.login_attempts.remove(&(organization, key.to_owned())).is_some()
    }

    pub(crate) fn login_attempt_delete_stale(&mut self, before: OffsetDateTime) -> u64 {
        let previous = self.login_attempts.len();
        self.login_attempts.retain(|_, attempts| {
            attempts.last_failed_at >= before || attempts.locked_until.is_some_and(|until| until > before)
        });
        count(previous - self.login_attempts.len())
    }
}
