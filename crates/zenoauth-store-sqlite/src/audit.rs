//! [`AuditLog`] over the `audit_events` table.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use zenoauth_domain::ids::{AuditEventId, OrganizationId};
use zenoauth_domain::model::AuditEvent;
use zenoauth_domain::ports::{AuditLog, AuditQuery, PageRequest};
use zenoauth_domain::{Error, Result};

use crate::convert::{classify, column, instant, json, json_text, micros, unavailable, uuid, WriteFailure};

const COLUMNS: &str =
    "id, organization_id, occurred_at, event_type, actor, subject, correlation_id, ip, user_agent, data";

const UNIQUES: &[(&str, &str)] = &[("audit_events.id", "audit_event_id")];

#[derive(Debug, Clone)]
pub(crate) struct SqliteAuditLog {
    pool: SqlitePool,
}

impl SqliteAuditLog {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn audit_event(row: &SqliteRow) -> Result<AuditEvent> {
    Ok(AuditEvent {
        id: AuditEventId::from_uuid(uuid(row, "id")?),
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        occurred_at: instant(row, "occurred_at")?,
        event_type: column(row, "event_type")?,
        actor: column(row, "actor")?,
        subject: column(row, "subject")?,
        correlation_id: column(row, "correlation_id")?,
        ip: column(row, "ip")?,
        user_agent: column(row, "user_agent")?,
        data: json(row, "data")?,
    })
}

#[async_trait]
impl AuditLog for SqliteAuditLog {
    async fn append(&self, events: &[AuditEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let written = async {
            let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            for event in events {
                sqlx::query(
                    "INSERT INTO audit_events (id, organization_id, occurred_at, event_type, actor, subject, \
                     correlation_id, ip, user_agent, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(event.id.as_uuid())
                .bind(event.organization_id.as_uuid())
                .bind(micros(event.occurred_at))
                .bind(event.event_type.as_str())
                .bind(event.actor.as_deref())
                .bind(event.subject.as_deref())
                .bind(event.correlation_id.as_deref())
                .bind(event.ip.as_deref())
                .bind(event.user_agent.as_deref())
                .bind(json_text(&event.data))
                .execute(&mut *transaction)
                .await?;
            }
            transaction.commit().await
        }
        .await;
        written.map_err(|error| match classify(error, UNIQUES) {
            WriteFailure::Conflict(name) => Error::Conflict(name),
            WriteFailure::MissingParent => Error::NotFound("organization"),
            WriteFailure::Other(error) => error,
        })
    }

    async fn list(
        &self,
        organization: OrganizationId,
        query: &AuditQuery,
        page: &PageRequest,
    ) -> Result<Vec<AuditEvent>> {
        let mut sql =
            QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM audit_events WHERE organization_id = "));
        sql.push_bind(organization.as_uuid());
        if let Some(after) = page.after() {
            sql.push(" AND id > ").push_bind(after);
        }
        if let Some(actor) = &query.actor {
            sql.push(" AND actor = ").push_bind(actor.clone());
        }
        if let Some(subject) = &query.subject {
            sql.push(" AND subject = ").push_bind(subject.clone());
        }
        if let Some(event_type) = &query.event_type {
            sql.push(" AND event_type = ").push_bind(event_type.clone());
        }
        if let Some(from) = query.from {
            sql.push(" AND occurred_at >= ").push_bind(micros(from));
        }
        if let Some(until) = query.until {
            sql.push(" AND occurred_at < ").push_bind(micros(until));
        }
        sql.push(" ORDER BY id LIMIT ").push_bind(i64::from(page.limit()));
        let rows = sql.build().fetch_all(&self.pool).await.map_err(unavailable)?;
        rows.iter().map(audit_event).collect()
    }
}
