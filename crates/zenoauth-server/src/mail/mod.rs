//! Outgoing mail (issue 5): messages are written to the durable outbox
//! ([`zenoauth_domain::ports::MailOutbox`]) in the request, and a
//! background worker ([`worker::MailWorker`]) sends them over SMTP with
//! lettre (tokio, rustls with the aws-lc-rs provider), retrying with
//! exponential backoff. A message is claimed under a lease before it is
//! sent, so several instances never send it at once, and a crashed
//! instance's claims are taken over when their lease ends: delivery is
//! at least once. With no SMTP server configured, messages stay queued
//! and a warning is logged; they go out once one is configured.
//!
//! [`templates`] holds the words of every mail; [`Mailer`] is what request
//! handlers use to queue one.

pub mod templates;
pub mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration as StdDuration;

use secrecy::SecretString;
use time::{Duration, OffsetDateTime};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use zenoauth_domain::email::{Backoff, OutboxMessage};
use zenoauth_domain::ids::{IdGenerator, OrganizationId, UserId};
use zenoauth_domain::ports::{Clock, MailOutbox, RandomSource};
use zenoauth_domain::values::Email;

/// How mail is sent and how long account links live.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `smtp://`, `smtp://…?tls=required` (STARTTLS) or `smtps://` (implicit
    /// TLS), with optional `user:password@`. `None`: nothing is sent.
    pub smtp_url: Option<SecretString>,
    /// The `From:` header, e.g. `ZenoAuth <noreply@example.com>`.
    pub from: String,
    /// How often the worker looks for due messages (it is also woken at once
    /// when a message is queued by this instance).
    pub poll_interval: StdDuration,
    /// How long a claimed message is reserved for its sender; longer than
    /// any SMTP exchange (lettre's timeout is 60 s).
    pub lease: Duration,
    pub backoff: Backoff,
    /// Messages claimed per round.
    pub batch_size: u32,
    pub verification_link_lifetime: Duration,
    pub reset_link_lifetime: Duration,
    pub invitation_link_lifetime: Duration,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "ZenoAuth <noreply@localhost>".to_owned(),
            poll_interval: StdDuration::from_secs(5),
            lease: Duration::minutes(5),
            backoff: Backoff::default(),
            batch_size: 20,
            verification_link_lifetime: Duration::hours(24),
            reset_link_lifetime: Duration::minutes(30),
            invitation_link_lifetime: Duration::days(7),
        }
    }
}

/// At most one password-reset mail per user per this interval (or per
/// reset-link lifetime, if that is shorter): further "forgot password"
/// requests for the address get the same answer and send nothing.
pub const RESET_MAIL_INTERVAL: Duration = Duration::minutes(5);

/// "Forgot password" requests looked up in the background at once; past
/// that, requests are answered alike and dropped (the per-IP rate limit
/// keeps honest users well below it).
pub const RESET_LOOKUPS: usize = 8;

/// Queues mail into the outbox and wakes the local worker.
#[derive(Clone)]
pub struct Mailer {
    outbox: Arc<dyn MailOutbox>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    wake: Arc<Notify>,
    /// When each user was last sent a reset mail (this instance; recent only).
    resets: Arc<Mutex<HashMap<(OrganizationId, UserId), OffsetDateTime>>>,
    reset_lookups: Arc<Semaphore>,
    pub settings: MailSettings,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").finish_non_exhaustive()
    }
}

impl Mailer {
    pub fn new(
        outbox: Arc<dyn MailOutbox>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
        settings: MailSettings,
    ) -> Self {
        Self {
            outbox,
            clock,
            random,
            wake: Arc::new(Notify::new()),
            resets: Arc::new(Mutex::new(HashMap::new())),
            reset_lookups: Arc::new(Semaphore::new(RESET_LOOKUPS)),
            settings,
        }
    }

    /// A slot for one background "forgot password" lookup, `None` when
    /// [`RESET_LOOKUPS`] are already running.
    pub fn reset_lookup_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.reset_lookups.clone().try_acquire_owned().ok()
    }

    /// Whether a reset mail may go to `user` now; if so, the mail counts as
    /// sent (call [`Self::release_reset`] if queueing it fails).
    pub fn reserve_reset(&self, organization: OrganizationId, user: UserId) -> bool {
        let now = self.clock.now();
        let window = RESET_MAIL_INTERVAL.min(self.settings.reset_link_lifetime);
        let mut resets = self.resets.lock().unwrap_or_else(PoisonError::into_inner);
        resets.retain(|_, sent| now - *sent < window);
        if resets.contains_key(&(organization, user)) {
            return false;
        }
        resets.insert((organization, user), now);
        true
    }

    /// Forgets a reservation whose mail could not be queued.
    pub fn release_reset(&self, organization: OrganizationId, user: UserId) {
        self.resets.lock().unwrap_or_else(PoisonError::into_inner).remove(&(organization, user));
    }

    /// Writes the message to the outbox (durably, before this returns) and
    /// wakes the worker.
    pub async fn queue(
        &self,
        organization: zenoauth_domain::ids::OrganizationId,
        recipient: &Email,
        mail: &templates::Mail,
    ) -> zenoauth_domain::Result<()> {
        let ids = IdGenerator::new(self.clock.clone(), self.random.clone());
        let message = OutboxMessage::new(
            ids.uuid(),
            organization,
            recipient.clone(),
            &mail.subject,
            &mail.body,
            self.clock.now(),
        );
        self.outbox.enqueue(&message).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// The signal the worker waits on between rounds.
    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}
