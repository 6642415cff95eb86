//! `SessionStore` over the `sessions` table.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::PgPool;
use time::OffsetDateTime;
use zenoauth_domain::ids::{OrganizationId, SessionId, UserId};
use zenoauth_domain::model::Session;
use zenoauth_domain::ports::SessionStore;
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::{Error, Result};

use crate::error::db_error;
use crate::rows::{expect_one, read_all, RowReader};

const COLUMNS: &str =
    "id, organization_id, user_id, token_digest, authenticated_at, created_at, expires_at, last_seen_at, metadata";

#[derive(Debug, Clone)]
pub(crate) struct PgSessionStore {
    pool: PgPool,
}

impl PgSessionStore {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn read_session(row: &PgRow) -> Result<Session> {
    let row = RowReader::new(row, "sessions");
    Ok(Session {
        id: SessionId::from_uuid(row.get("id")?),
        organization_id: OrganizationId::from_uuid(row.get("organization_id")?),
        user_id: UserId::from_uuid(row.get("user_id")?),
        token_digest: row.digest("token_digest")?,
        authenticated_at: row.get("authenticated_at")?,
        created_at: row.get("created_at")?,
        expires_at: row.get("expires_at")?,
        last_seen_at: row.get("last_seen_at")?,
        metadata: row.get("metadata")?,
    })
}

#[async_trait]
impl SessionStore for PgSessionStore {
    async fn create(&self, session: &Session) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id, organization_id, user_id, token_digest, authenticated_at, created_at,
                                   expires_at, last_seen_at, metadata)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(session.id.as_uuid())
        .bind(session.organization_id.as_uuid())
        .bind(session.user_id.as_uuid())
        .bind(&session.token_digest.as_bytes()[..])
        .bind(session.authenticated_at)
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(session.last_seen_at)
        .bind(&session.metadata)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn find_by_token_digest(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<Session>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM sessions WHERE organization_id = $1 AND token_digest = $2 AND expires_at > $3"
        ))
        .bind(organization.as_uuid())
        .bind(&token_digest.as_bytes()[..])
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(read_session).transpose()
    }

    async fn get(&self, organization: OrganizationId, id: SessionId) -> Result<Session> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM sessions WHERE organization_id = $1 AND id = $2"))
            .bind(organization.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(read_session).transpose()?.ok_or(Error::NotFound("session"))
    }

    async fn list_for_user(
        &self,
        organization: OrganizationId,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<Session>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM sessions
             WHERE organization_id = $1 AND user_id = $2 AND expires_at > $3
             ORDER BY created_at, id"
        ))
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        read_all(&rows, read_session)
    }

    async fn delete(&self, organization: OrganizationId, id: SessionId) -> Result<()> {
        let result = sqlx::query("DELETE FROM sessions WHERE organization_id = $1 AND id = $2")
            .bind(organization.as_uuid())
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        expect_one(result.rows_affected(), "session")
    }

    async fn delete_for_user(&self, organization: OrganizationId, user: UserId) -> Result<u64> {
        let result = sqlx::query("DELETE FROM sessions WHERE organization_id = $1 AND user_id = $2")
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected())
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        let result = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected())
    }

    async fn touch(&self, organization: OrganizationId, id: SessionId, last_seen_at: OffsetDateTime) -> Result<()> {
        let result = sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE organization_id = $2 AND id = $3")
            .bind(last_seen_at)
            .bind(organization.as_uuid())
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        expect_one(result.rows_affected(), "session")
    }
}
