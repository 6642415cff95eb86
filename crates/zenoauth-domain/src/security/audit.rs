//! Audit events emitted by the use cases: their type names, a constructor,
//! and an in-memory sink for tests.
//!
//! Use cases fill in what they know (organization, type, actor, subject,
//! details); the request's correlation id, IP and user agent are the
//! sink's to add (the server knows the request, the domain does not).

use std::sync::{Mutex, PoisonError};

use serde_json::Value as Json;
use time::OffsetDateTime;

use crate::ids::{AuditEventId, OrganizationId};
use crate::model::AuditEvent;
use crate::ports::AuditSink;

/// The dotted event types (the `event_type` column).
pub mod event_types {
    /// A password login succeeded; subject = the user.
    pub const LOGIN_SUCCEEDED: &str = "login.succeeded";
    /// A password login failed (unknown user, wrong password, inactive or
    /// locked account; `data.reason` says which — never shown to the client).
    pub const LOGIN_FAILED: &str = "login.failed";
    /// An account or source address was locked; subject = the counter key.
    pub const LOGIN_LOCKED: &str = "login.locked";
    /// An administrator lifted a lock.
    pub const LOGIN_UNLOCKED: &str = "login.unlocked";
    /// Tokens were issued (authorization code or client credentials grant).
    pub const TOKEN_ISSUED: &str = "token.issued";
    /// A refresh token was exchanged for new tokens.
    pub const TOKEN_REFRESHED: &str = "token.refreshed";
    /// A client revoked a token (RFC 7009).
    pub const TOKEN_REVOKED: &str = "token.revoked";
    /// An authorization code was presented again; what it issued is revoked.
    pub const CODE_REPLAY_DETECTED: &str = "token.code_replay_detected";
    /// A rotated refresh token was presented again; its family is revoked.
    pub const REFRESH_REUSE_DETECTED: &str = "token.refresh_reuse_detected";
    /// A login session ended (RP-initiated logout).
    pub const LOGOUT: &str = "session.logout";
}

/// A new event without request context (the sink adds it).
pub fn audit_event(
    id: AuditEventId,
    organization: OrganizationId,
    occurred_at: OffsetDateTime,
    event_type: &str,
    actor: Option<String>,
    subject: Option<String>,
    data: Json,
) -> AuditEvent {
    AuditEvent {
        id,
        organization_id: organization,
        occurred_at,
        event_type: event_type.to_owned(),
        actor,
        subject,
        correlation_id: None,
        ip: None,
        user_agent: None,
        data,
    }
}

/// Keeps every event in memory, in order (tests, tools).
#[derive(Debug, Default)]
pub struct RecordingAuditSink {
    events: Mutex<Vec<AuditEvent>>,
}

impl RecordingAuditSink {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event recorded so far.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The types of the events recorded so far, in order.
    pub fn event_types(&self) -> Vec<String> {
        self.events().into_iter().map(|event| event.event_type).collect()
    }
}

impl AuditSink for RecordingAuditSink {
    fn record(&self, event: AuditEvent) {
        self.events.lock().unwrap_or_else(PoisonError::into_inner).push(event);
    }
}
