//! [`LoginAttemptStore`] over the `login_attempts` table: one atomic upsert
//! per failure.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::SqlitePool;
use time::OffsetDateTime;
use zenoauth_domain::ids::OrganizationId;
use zenoauth_domain::model::LoginAttempts;
use zenoauth_domain::ports::LoginAttemptStore;
use zenoauth_domain::{Error, Result};

use crate::convert::{classify, column, instant, micros, optional_instant, unavailable, uuid, WriteFailure};

const COLUMNS: &str = "organization_id, attempt_key, failures, window_started_at, last_failed_at, locked_until";

#[derive(Debug, Clone)]
pub(crate) struct SqliteLoginAttemptStore {
    pool: SqlitePool,
}

impl SqliteLoginAttemptStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn attempts(row: &SqliteRow) -> Result<LoginAttempts> {
    let failures: i64 = column(row, "failures")?;
    Ok(LoginAttempts {
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        key: column(row, "attempt_key")?,
        failures: u32::try_from(failures).unwrap_or(u32::MAX),
        window_started_at: instant(row, "window_started_at")?,
        last_failed_at: instant(row, "last_failed_at")?,
        locked_until: optional_instant(row, "locked_until")?,
    })
}

#[async_trait]
impl LoginAttemptStore for SqliteLoginAttemptStore {
    async fn find(&self, organization: OrganizationId, key: &str) -> Result<Option<LoginAttempts>> {
        let row =
            sqlx::query(&format!("SELECT {COLUMNS} FROM login_attempts WHERE organization_id = ? AND attempt_key = ?"))
                .bind(organization.as_uuid())
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
        row.as_ref().map(attempts).transpose()
    }

    async fn record_failure(
        &self,
        organization: OrganizationId,
        key: &str,
        now: OffsetDateTime,
        window_start: OffsetDateTime,
        lock_threshold: u32,
        lock_until: OffsetDateTime,
    ) -> Result<LoginAttempts> {
        // ?1 organization, ?2 key, ?3 now, ?4 window start, ?5 threshold, ?6 lock end.
        let restart = "(login_attempts.window_started_at < ?4 OR login_attempts.locked_until <= ?3)";
        let next = format!("(CASE WHEN {restart} THEN 1 ELSE MIN(login_attempts.failures, 2147483646) + 1 END)");
        let result = sqlx::query(&format!(
            "INSERT INTO login_attempts ({COLUMNS})
             VALUES (?1, ?2, 1, ?3, ?3, CASE WHEN 1 >= ?5 THEN ?6 ELSE NULL END)
             ON CONFLICT (organization_id, attempt_key) DO UPDATE SET
                 failures = {next},
                 window_started_at = CASE WHEN {restart} THEN ?3 ELSE login_attempts.window_started_at END,
                 last_failed_at = ?3,
                 locked_until = CASE
                     WHEN login_attempts.locked_until > ?3 THEN login_attempts.locked_until
                     WHEN {next} >= ?5 THEN ?6
                     ELSE NULL END
             RETURNING {COLUMNS}"
        ))
        .bind(organization.as_uuid())
        .bind(key)
        .bind(micros(now))
        .bind(micros(window_start))
        .bind(i64::from(lock_threshold))
        .bind(micros(lock_until))
        .fetch_one(&self.pool)
        .await;
        match result {
            Ok(row) => attempts(&row),
            Err(error) => Err(match classify(error, &[]) {
                WriteFailure::MissingParent => Error::NotFound("organization"),
                WriteFailure::Conflict(name) => Error::Conflict(name),
                WriteFailure::Other(error) => error,
            }),
        }
    }

    async fn clear(&self, organization: OrganizationId, key: &str) -> Result<bool> {
        sqlx::query("DELETE FROM login_attempts WHERE organization_id = ? AND attempt_key = ?")
            .bind(organization.as_uuid())
            .bind(key)
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected() > 0)
            .map_err(unavailable)
    }

    async fn delete_stale(&self, before: OffsetDateTime) -> Result<u64> {
        sqlx::query(
            "DELETE FROM login_attempts WHERE last_failed_at < ?1 AND (locked_until IS NULL OR locked_until <= ?1)",
        )
        .bind(micros(before))
        .execute(&self.pool)
        .await
        .map(|done| done.rows_affected())
        .map_err(unavailable)
    }
}
