//! [`SessionStore`] over the `sessions` table.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::SqlitePool;
use time::OffsetDateTime;
use zenoauth_domain::ids::{OrganizationId, SessionId, UserId};
use zenoauth_domain::model::Session;
use zenoauth_domain::ports::SessionStore;
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::{Error, Result};

use crate::convert::{classify, digest, instant, json, json_text, micros, unavailable, uuid, write_error, Parent};

const COLUMNS: &str =
    "id, organization_id, user_id, token_digest, authenticated_at, created_at, expires_at, last_seen_at, metadata";

const UNIQUES: &[(&str, &str)] = &[
    ("sessions.organization_id, sessions.token_digest", "session_token"),
    ("sessions.id", "session_id"),
    ("sessions.organization_id, sessions.id", "session_id"),
];

#[derive(Debug, Clone)]
pub(crate) struct SqliteSessionStore {
    pool: SqlitePool,
}

impl SqliteSessionStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn session(row: &SqliteRow) -> Result<Session> {
    Ok(Session {
        id: SessionId::from_uuid(uuid(row, "id")?),
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        user_id: UserId::from_uuid(uuid(row, "user_id")?),
        token_digest: digest(row, "token_digest")?,
        authenticated_at: instant(row, "authenticated_at")?,
        created_at: instant(row, "created_at")?,
        expires_at: instant(row, "expires_at")?,
        last_seen_at: instant(row, "last_seen_at")?,
        metadata: json(row, "metadata")?,
    })
}

#[async_trait]
impl SessionStore for SqliteSessionStore {
    async fn create(&self, session: &Session) -> Result<()> {
        let result = sqlx::query(
            "INSERT INTO sessions (id, organization_id, user_id, token_digest, authenticated_at, created_at, \
             expires_at, last_seen_at, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(session.id.as_uuid())
        .bind(session.organization_id.as_uuid())
        .bind(session.user_id.as_uuid())
        .bind(session.token_digest.as_bytes().as_slice())
        .bind(micros(session.authenticated_at))
        .bind(micros(session.created_at))
        .bind(micros(session.expires_at))
        .bind(micros(session.last_seen_at))
        .bind(json_text(&session.metadata))
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => {
                let parents = [Parent { name: "user", table: "users", id: Some(session.user_id.as_uuid()) }];
                Err(write_error(
                    classify(error, UNIQUES),
                    &self.pool,
                    session.organization_id.as_uuid(),
                    &parents,
                    "user",
                )
                .await)
            }
        }
    }

    async fn find_by_token_digest(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<Session>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM sessions WHERE organization_id = ? AND token_digest = ? AND expires_at > ?"
        ))
        .bind(organization.as_uuid())
        .bind(token_digest.as_bytes().as_slice())
        .bind(micros(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(session).transpose()
    }

    async fn get(&self, organization: OrganizationId, id: SessionId) -> Result<Session> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM sessions WHERE organization_id = ? AND id = ?"))
            .bind(organization.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(session).transpose()?.ok_or(Error::NotFound("session"))
    }

    async fn list_for_user(
        &self,
        organization: OrganizationId,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<Session>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM sessions WHERE organization_id = ? AND user_id = ? AND expires_at > ? \
             ORDER BY created_at, id"
        ))
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .bind(micros(now))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(session).collect()
    }

    async fn delete(&self, organization: OrganizationId, id: SessionId) -> Result<()> {
        let result = sqlx::query("DELETE FROM sessions WHERE organization_id = ? AND id = ?")
            .bind(organization.as_uuid())
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        if result.rows_affected() == 0 {
            return Err(Error::NotFound("session"));
        }
        Ok(())
    }

    async fn delete_for_user(&self, organization: OrganizationId, user: UserId) -> Result<u64> {
        sqlx::query("DELETE FROM sessions WHERE organization_id = ? AND user_id = ?")
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(unavailable)
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(micros(now))
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(unavailable)
    }

    async fn touch(&self, organization: OrganizationId, id: SessionId, last_seen_at: OffsetDateTime) -> Result<()> {
        let result = sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE organization_id = ? AND id = ?")
            .bind(micros(last_seen_at))
            .bind(organization.as_uuid())
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        if result.rows_affected() == 0 {
            return Err(Error::NotFound("session"));
        }
        Ok(())
    }
}
