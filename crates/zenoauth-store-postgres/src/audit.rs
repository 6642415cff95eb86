//! `AuditLog` over the `audit_events` table.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder};
use zenoauth_domain::ids::{AuditEventId, OrganizationId};
use zenoauth_domain::model::AuditEvent;
use zenoauth_domain::ports::{AuditLog, AuditQuery, PageRequest};
use zenoauth_domain::Result;

use crate::error::db_error;
use crate::rows::{after, limit, read_all, RowReader};

const COLUMNS: &str =
    "id, organization_id, occurred_at, event_type, actor, subject, correlation_id, ip, user_agent, data";

/// Events per `INSERT`: ten parameters each, well under PostgreSQL's 65 535.
const EVENTS_PER_STATEMENT: usize = 1000;

#[derive(Debug, Clone)]
pub(crate) struct PgAuditLog {
    pool: PgPool,
}

impl PgAuditLog {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn read_event(row: &PgRow) -> Result<AuditEvent> {
    let row = RowReader::new(row, "audit_events");
    Ok(AuditEvent {
        id: AuditEventId::from_uuid(row.get("id")?),
        organization_id: OrganizationId::from_uuid(row.get("organization_id")?),
        occurred_at: row.get("occurred_at")?,
        event_type: row.get("event_type")?,
        actor: row.get("actor")?,
        subject: row.get("subject")?,
        correlation_id: row.get("correlation_id")?,
        ip: row.get("ip")?,
        user_agent: row.get("user_agent")?,
        data: row.get("data")?,
    })
}

#[async_trait]
impl AuditLog for PgAuditLog {
    async fn append(&self, events: &[AuditEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut transaction = self.pool.begin().await.map_err(db_error)?;
        for chunk in events.chunks(EVENTS_PER_STATEMENT) {
            let mut builder: QueryBuilder<'_, Postgres> =
                QueryBuilder::new(format!("INSERT INTO audit_events ({COLUMNS}) "));
            builder.push_values(chunk, |mut values, event| {
                values
                    .push_bind(event.id.as_uuid())
                    .push_bind(event.organization_id.as_uuid())
                    .push_bind(event.occurred_at)
                    .push_bind(event.event_type.as_str())
                    .push_bind(event.actor.as_deref())
                    .push_bind(event.subject.as_deref())
                    .push_bind(event.correlation_id.as_deref())
                    .push_bind(event.ip.as_deref())
                    .push_bind(event.user_agent.as_deref())
                    .push_bind(&event.data);
            });
            builder.build().execute(&mut *transaction).await.map_err(db_error)?;
        }
        transaction.commit().await.map_err(db_error)
    }

    async fn list(
        &self,
        organization: OrganizationId,
        query: &AuditQuery,
        page: &PageRequest,
    ) -> Result<Vec<AuditEvent>> {
        // Only the filters given become SQL, so each shape gets its own plan.
        let mut builder: QueryBuilder<'_, Postgres> =
            QueryBuilder::new(format!("SELECT {COLUMNS} FROM audit_events WHERE organization_id = "));
        builder.push_bind(organization.as_uuid());
        builder.push(" AND id > ");
        builder.push_bind(after(page));
        if let Some(actor) = &query.actor {
            builder.push(" AND actor = ");
            builder.push_bind(actor.as_str());
        }
        if let Some(subject) = &query.subject {
            builder.push(" AND subject = ");
            builder.push_bind(subject.as_str());
        }
        if let Some(event_type) = &query.event_type {
            builder.push(" AND event_type = ");
            builder.push_bind(event_type.as_str());
        }
        if let Some(from) = query.from {
            builder.push(" AND occurred_at >= ");
            builder.push_bind(from);
        }
        if let Some(until) = query.until {
            builder.push(" AND occurred_at < ");
            builder.push_bind(until);
        }
        builder.push(" ORDER BY id LIMIT ");
        builder.push_bind(limit(page));
        let rows = builder.build().fetch_all(&self.pool).await.map_err(db_error)?;
        read_all(&rows, read_event)
    }
}
