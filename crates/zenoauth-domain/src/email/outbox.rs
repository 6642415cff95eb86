//! The outbox: messages waiting to be sent, kept in the database so that
//! nothing is lost when the SMTP server is down or the process restarts.
//! A sender claims due messages under a lease (so several instances never
//! send one message at the same time), then completes or reschedules them.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::ids::OrganizationId;
use crate::values::Email;

/// Whether a message still waits to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    /// Waiting for its next attempt (or being attempted under a lease).
    Pending,
    /// Given up after the last allowed attempt; kept for inspection.
    Failed,
}

impl OutboxState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Result<Self, crate::ValidationError> {
        match text {
            "pending" => Ok(Self::Pending),
            "failed" => Ok(Self::Failed),
            _ => Err(crate::ValidationError::new("state", "must be pending or failed")),
        }
    }
}

/// One message to send. Sent messages are deleted (their links are secrets).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    pub recipient: Email,
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    pub state: OutboxState,
    /// Failed attempts so far.
    pub attempts: u32,
    pub next_attempt_at: OffsetDateTime,
    /// Why the last attempt failed (one line, no secrets).
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
}

impl OutboxMessage {
    /// A new pending message, due at once.
    pub fn new(
        id: Uuid,
        organization_id: OrganizationId,
        recipient: Email,
        subject: &str,
        body: &str,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            organization_id,
            recipient,
            subject: subject.to_owned(),
            body: body.to_owned(),
            state: OutboxState::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
        }
    }
}

/// Exponential backoff between attempts: `initial × 2^(failures-1)`, capped
/// at `max`, and no more attempts once `max_attempts` have failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub max_attempts: u32,
}

impl Default for Backoff {
    /// 30 s, doubling up to 1 h, for 25 attempts (about a day in all).
    fn default() -> Self {
        Self { initial: Duration::seconds(30), max: Duration::hours(1), max_attempts: 25 }
    }
}

impl Backoff {
    /// When to try again after the `failures`-th failed attempt (1-based),
    /// or `None` to give up.
    pub fn next_attempt(&self, failures: u32, now: OffsetDateTime) -> Option<OffsetDateTime> {
        if failures >= self.max_attempts {
            return None;
        }
        let exponent = failures.saturating_sub(1).min(30);
        let delay = self.initial.checked_mul(1_i32 << exponent).unwrap_or(self.max).min(self.max);
        Some(now + delay)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_then_gives_up() {
        let backoff = Backoff { initial: Duration::seconds(10), max: Duration::seconds(60), max_attempts: 5 };
        let now = datetime!(2026-01-01 00:00 UTC);
        let delays: Vec<_> = (1..=4).map(|failures| backoff.next_attempt(failures, now).unwrap() - now).collect();
        assert_eq!(
            delays,
            [Duration::seconds(10), Duration::seconds(20), Duration::seconds(40), Duration::seconds(60)]
        );
        assert_eq!(backoff.next_attempt(5, now), None);
    }

    #[test]
    fn huge_failure_counts_do_not_overflow() {
        let backoff = Backoff { max_attempts: u32::MAX, ..Backoff::default() };
        let now = datetime!(2026-01-01 00:00 UTC);
        assert_eq!(backoff.next_attempt(1000, now), Some(now + Duration::hours(1)));
    }
}
