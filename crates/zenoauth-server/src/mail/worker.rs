//! The background sender: claims due outbox messages under a lease, sends
//! each over SMTP, then deletes it (sent) or reschedules it with
//! exponential backoff (failed; a permanent SMTP refusal, 5xx, gives up at
//! once). Store errors are logged and retried on the next round.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use tokio::task::JoinHandle;
use zenoauth_domain::email::OutboxMessage;
use zenoauth_domain::ids::IdGenerator;
use zenoauth_domain::ports::{Clock, MailOutbox, RandomSource};

use super::{MailSettings, Mailer};

/// Why SMTP could not be set up from the settings.
#[derive(Debug, thiserror::Error)]
pub enum MailSetupError {
    #[error("mail.smtp_url is not usable: {0}")]
    SmtpUrl(String),
    #[error("mail.from is not a mailbox (e.g. `ZenoAuth <noreply@example.com>`): {0}")]
    From(String),
}

/// The SMTP side: a lettre transport and the sender's mailbox.
#[derive(Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSender").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

/// Whether a failure is worth retrying.
#[derive(Debug)]
pub struct SendFailure {
    pub permanent: bool,
    /// One line, without secrets.
    pub reason: String,
}

impl SmtpSender {
    /// `Ok(None)` when no SMTP URL is configured.
    pub fn from_settings(settings: &MailSettings) -> Result<Option<Self>, MailSetupError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|error: lettre::address::AddressError| MailSetupError::From(error.to_string()))?;
        let Some(url) = &settings.smtp_url else { return Ok(None) };
        // The URL may hold a password: errors name the problem, never the URL.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret().trim())
            .map_err(|error| MailSetupError::SmtpUrl(error.to_string()))?
            .timeout(Some(StdDuration::from_secs(30)))
            .build();
        Ok(Some(Self { transport, from }))
    }

    pub async fn send(&self, message: &OutboxMessage) -> Result<(), SendFailure> {
        let to: Mailbox = message.recipient.as_str().parse().map_err(|error: lettre::address::AddressError| {
            SendFailure { permanent: true, reason: error.to_string() }
        })?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(message.body.clone())
            .map_err(|error| SendFailure { permanent: true, reason: error.to_string() })?;
        match self.transport.send(email).await {
            Ok(_) => Ok(()),
            Err(error) => Err(SendFailure {
                permanent: error.is_permanent(),
                reason: error.to_string().lines().next().unwrap_or("send failed").chars().take(300).collect(),
            }),
        }
    }
}

/// Drains the outbox.
pub struct MailWorker {
    outbox: Arc<dyn MailOutbox>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    settings: MailSettings,
    sender: Option<SmtpSender>,
    wake: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for MailWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailWorker").field("sender", &self.sender).finish_non_exhaustive()
    }
}

impl MailWorker {
    pub fn new(
        outbox: Arc<dyn MailOutbox>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn RandomSource>,
        mailer: &Mailer,
    ) -> Result<Self, MailSetupError> {
        let sender = SmtpSender::from_settings(&mailer.settings)?;
        Ok(Self { outbox, clock, random, settings: mailer.settings.clone(), sender, wake: mailer.wake_signal() })
    }

    /// Runs until the task is aborted. Without SMTP, logs a warning and
    /// leaves every message queued.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(self) {
        let Some(sender) = self.sender.clone() else {
            tracing::warn!("mail.smtp_url is not set: mail is queued in the outbox but not sent");
            return;
        };
        loop {
            let claimed = self.round(&sender).await;
            if claimed < self.settings.batch_size {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.settings.poll_interval) => {}
                }
            }
        }
    }

    /// One round: claims and sends up to a batch; returns how many were claimed.
    pub async fn round(&self, sender: &SmtpSender) -> u32 {
        let ids = IdGenerator::new(self.clock.clone(), self.random.clone());
        let claim = ids.uuid();
        let now = self.clock.now();
        let messages =
            match self.outbox.claim_due(now, claim, now + self.settings.lease, self.settings.batch_size).await {
                Ok(messages) => messages,
                Err(error) => {
                    tracing::warn!(error = %error, "cannot read the mail outbox; retrying");
                    return 0;
                }
            };
        let claimed = u32::try_from(messages.len()).unwrap_or(u32::MAX);
        for message in messages {
            self.deliver(sender, claim, &message).await;
        }
        claimed
    }

    async fn deliver(&self, sender: &SmtpSender, claim: uuid::Uuid, message: &OutboxMessage) {
        match sender.send(message).await {
            Ok(()) => {
                tracing::info!(message_id = %message.id, "mail sent");
                if let Err(error) = self.outbox.complete(message.id, claim).await {
                    // Sent but not marked: it will be sent again once the lease ends.
                    tracing::warn!(message_id = %message.id, error = %error, "cannot mark sent mail");
                }
            }
            Err(failure) => {
                let failures = message.attempts.saturating_add(1);
                let next = if failure.permanent {
                    None
                } else {
                    self.settings.backoff.next_attempt(failures, self.clock.now())
                };
                match next {
                    Some(at) => tracing::warn!(message_id = %message.id, attempt = failures, retry_at = %at,
                        reason = %failure.reason, "mail not sent; will retry"),
                    None => tracing::error!(message_id = %message.id, attempt = failures,
                        reason = %failure.reason, "mail not sent; giving up"),
                }
                if let Err(error) = self.outbox.fail(message.id, claim, &failure.reason, next).await {
                    tracing::warn!(message_id = %message.id, error = %error, "cannot record the mail failure");
                }
            }
        }
    }
}
