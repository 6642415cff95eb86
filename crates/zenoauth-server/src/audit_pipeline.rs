//! The audit pipeline: use cases [`record`](AuditSink::record) events
//! without waiting; a background writer appends them to the
//! [`AuditLog`] in batches, off the request path.
//!
//! **What happens when the database cannot take them.** `record` must never
//! block a request (a login must not hang because the audit table is
//! slow), so back-pressure is not an option for it. Instead:
//! 1. events wait in a bounded buffer ([`AuditSettings::buffer`] events)
//!    while the writer retries the failed batch with exponential backoff
//!    (100 ms doubling to 5 s) — an outage shorter than the buffer lasts
//!    loses nothing;
//! 2. when the buffer is full, or the writer has stopped, the event is
//!    **dropped, counted and logged**: `zenoauth_audit_events_dropped_total`
//!    goes up and the whole event is written to the log at `error` level
//!    (target `zenoauth::audit`), so it survives in the log pipeline and the
//!    loss is visible and alertable. Nothing is ever dropped silently.
//!
//! A batch the database refuses for its content (not for being
//! unreachable) is retried event by event, so one bad event cannot wedge
//! the pipeline; the ones refused again are dropped as above. On graceful
//! shutdown [`AuditPipeline::shutdown`] stops intake, writes what is
//! buffered (within a deadline), and logs as dropped whatever it could not.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use zenoauth_domain::model::AuditEvent;
use zenoauth_domain::ports::{AuditLog, AuditSink};
use zenoauth_domain::Error;

use crate::http::security::context;
use crate::http::security::metrics::SecurityMetrics;

/// Sizes of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditSettings {
    /// Events that may wait for the writer.
    pub buffer: usize,
    /// Most events written in one `append`.
    pub batch: usize,
    /// First retry delay after a failed write (doubles up to `max_backoff`).
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self { buffer: 10_000, batch: 256, backoff: Duration::from_millis(100), max_backoff: Duration::from_secs(5) }
    }
}

/// Stops the writer (with the flush deadline) and waits for it.
type WriterHandle = (oneshot::Sender<Duration>, JoinHandle<()>);

/// The sink handed to use cases, and the handle that stops the writer.
/// Cheap to clone (clones share one writer).
#[derive(Clone)]
pub struct AuditPipeline {
    sender: mpsc::Sender<AuditEvent>,
    metrics: Arc<SecurityMetrics>,
    writer: Arc<Mutex<Option<WriterHandle>>>,
}

impl std::fmt::Debug for AuditPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditPipeline").field("capacity", &self.sender.max_capacity()).finish_non_exhaustive()
    }
}

impl AuditPipeline {
    /// Starts the writer on the current tokio runtime. Without a runtime
    /// (never the case in the server) events are dropped, counted and logged.
    pub fn start(log: Arc<dyn AuditLog>, settings: AuditSettings, metrics: Arc<SecurityMetrics>) -> Self {
        let (sender, receiver) = mpsc::channel(settings.buffer.max(1));
        let (stop, stopped) = oneshot::channel();
        let writer = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let task = Writer { log, settings, metrics: metrics.clone() };
                Some((stop, runtime.spawn(task.run(receiver, stopped))))
            }
            Err(_) => None,
        };
        Self { sender, metrics, writer: Arc::new(Mutex::new(writer)) }
    }

    /// Stops taking events, writes the buffered ones (giving up after
    /// `deadline`, logging the rest as dropped) and waits for the writer.
    pub async fn shutdown(&self, deadline: Duration) {
        let writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some((stop, task)) = writer else { return };
        let _ = stop.send(deadline);
        // The writer bounds its own final flush by the deadline; this is a backstop.
        if tokio::time::timeout(deadline + Duration::from_secs(1), task).await.is_err() {
            tracing::error!(target: "zenoauth::audit", "the audit writer did not stop in time");
        }
    }

    /// Events waiting for the writer.
    pub fn queued(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }
}

impl AuditSink for AuditPipeline {
    fn record(&self, mut event: AuditEvent) {
        if let Some(request) = context::current() {
            event.correlation_id = event.correlation_id.or(request.correlation_id);
            event.ip = event.ip.or(request.ip.map(|ip| ip.to_string()));
            event.user_agent = event.user_agent.or(request.user_agent);
        }
        match self.sender.try_send(event) {
            Ok(()) => self.metrics.audit_queued.inc(),
            Err(mpsc::error::TrySendError::Full(event)) => drop_event(&self.metrics, &event, "the buffer is full"),
            Err(mpsc::error::TrySendError::Closed(event)) => {
                drop_event(&self.metrics, &event, "the writer has stopped")
            }
        };
    }
}

/// Counts and logs an event that will not reach the database, with all of
/// its content, so the log keeps it.
fn drop_event(metrics: &SecurityMetrics, event: &AuditEvent, reason: &str) {
    metrics.audit_dropped.inc();
    tracing::error!(
        target: "zenoauth::audit",
        reason,
        event_id = %event.id,
        organization_id = %event.organization_id,
        occurred_at = %event.occurred_at,
        event_type = %event.event_type,
        actor = event.actor.as_deref().unwrap_or("-"),
        subject = event.subject.as_deref().unwrap_or("-"),
        correlation_id = event.correlation_id.as_deref().unwrap_or("-"),
        ip = event.ip.as_deref().unwrap_or("-"),
        user_agent = event.user_agent.as_deref().unwrap_or("-"),
        data = %event.data,
        "audit event dropped: {reason}"
    );
}

struct Writer {
    log: Arc<dyn AuditLog>,
    settings: AuditSettings,
    metrics: Arc<SecurityMetrics>,
}

impl Writer {
    async fn run(self, mut receiver: mpsc::Receiver<AuditEvent>, mut stop: oneshot::Receiver<Duration>) {
        let mut batch = Vec::with_capacity(self.settings.batch);
        let deadline = loop {
            tokio::select! {
                biased;
                stopped = &mut stop => break stopped.ok(),
                received = receiver.recv_many(&mut batch, self.settings.batch) => {
                    if received == 0 {
                        return;
                    }
                }
            }
            self.metrics.audit_queued.dec_by(batch.len());
            if let Err(stopped) = self.write_with_retry(&mut batch, &mut stop).await {
                break stopped;
            }
        };
        // Dropped without `shutdown` (tests): a default deadline.
        let deadline = deadline.unwrap_or(Duration::from_secs(5));
        self.final_flush(receiver, batch, deadline).await;
    }

    /// Writes `batch`, retrying while the store is unavailable. `Err` with
    /// the shutdown deadline when shutdown began before it succeeded (the
    /// batch is kept).
    async fn write_with_retry(
        &self,
        batch: &mut Vec<AuditEvent>,
        stop: &mut oneshot::Receiver<Duration>,
    ) -> Result<(), Option<Duration>> {
        let mut backoff = self.settings.backoff;
        loop {
            match self.write(batch).await {
                Ok(()) => return Ok(()),
                Err(error) => {
                    self.metrics.audit_write_failures.inc();
                    tracing::warn!(
                        target: "zenoauth::audit",
                        error = %error,
                        events = batch.len(),
                        retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                        "cannot write audit events; retrying"
                    );
                }
            }
            tokio::select! {
                biased;
                stopped = &mut *stop => return Err(stopped.ok()),
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(self.settings.max_backoff);
        }
    }

    /// Appends the batch; a batch refused for its content is written event
    /// by event and the refused ones dropped. `Err` only while unavailable
    /// (the batch is then left as it was).
    async fn write(&self, batch: &mut Vec<AuditEvent>) -> Result<(), Error> {
        if batch.is_empty() {
            return Ok(());
        }
        match self.log.append(batch).await {
            Ok(()) => {
                self.metrics.audit_written.inc_by(batch.len());
                batch.clear();
                Ok(())
            }
            Err(Error::Unavailable(source)) => Err(Error::Unavailable(source)),
            Err(_) => {
                for event in std::mem::take(batch) {
                    match self.log.append(std::slice::from_ref(&event)).await {
                        Ok(()) => self.metrics.audit_written.inc(),
                        Err(error) => drop_event(&self.metrics, &event, &format!("the store refused it ({error})")),
                    }
                }
                Ok(())
            }
        }
    }

    /// On shutdown: stop intake, write what is left within one deadline.
    async fn final_flush(
        &self,
        mut receiver: mpsc::Receiver<AuditEvent>,
        mut pending: Vec<AuditEvent>,
        within: Duration,
    ) {
        receiver.close();
        while let Ok(event) = receiver.try_recv() {
            self.metrics.audit_queued.dec();
            pending.push(event);
        }
        let deadline = tokio::time::Instant::now() + within;
        let mut backoff = self.settings.backoff;
        while !pending.is_empty() {
            let take = pending.len().min(self.settings.batch);
            let mut batch: Vec<AuditEvent> = pending.drain(..take).collect();
            loop {
                match self.write(&mut batch).await {
                    Ok(()) => break,
                    Err(error) if tokio::time::Instant::now() + backoff < deadline => {
                        self.metrics.audit_write_failures.inc();
                        tracing::warn!(target: "zenoauth::audit", error = %error, "audit flush failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(self.settings.max_backoff);
                    }
                    Err(_) => {
                        for event in batch.iter().chain(pending.iter()) {
                            drop_event(&self.metrics, event, "the database was unavailable at shutdown");
                        }
                        return;
                    }
                }
            }
        }
        tracing::debug!(target: "zenoauth::audit", "audit events flushed");
    }
}
