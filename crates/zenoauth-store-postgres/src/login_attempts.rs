//! `LoginAttemptStore` over the `login_attempts` table: one atomic upsert per
//! failure, so concurrent failures on every instance are each counted once.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::PgPool;
use time::OffsetDateTime;
use zenoauth_domain::ids::OrganizationId;
use zenoauth_domain::model::LoginAttempts;
use zenoauth_domain::ports::LoginAttemptStore;
use zenoauth_domain::{Error, Result};

use crate::error::db_error;
use crate::rows::RowReader;

const COLUMNS: &str = "organization_id, attempt_key, failures, window_started_at, last_failed_at, locked_until";

#[derive(Debug, Clone)]
pub(crate) struct PgLoginAttemptStore {
    pool: PgPool,
}

impl PgLoginAttemptStore {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn read_attempts(row: &PgRow) -> Result<LoginAttempts> {
    let row = RowReader::new(row, "login_attempts");
    let failures: i32 = row.get("failures")?;
    Ok(LoginAttempts {
        organization_id: OrganizationId::from_uuid(row.get("organization_id")?),
        key: row.get("attempt_key")?,
        failures: u32::try_from(failures).unwrap_or(0),
        window_started_at: row.get("window_started_at")?,
        last_failed_at: row.get("last_failed_at")?,
        locked_until: row.get("locked_until")?,
    })
}

#[async_trait]
impl LoginAttemptStore for PgLoginAttemptStore {
    async fn find(&self, organization: OrganizationId, key: &str) -> Result<Option<LoginAttempts>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM login_attempts WHERE organization_id = $1 AND attempt_key = $2"
        ))
        .bind(organization.as_uuid())
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(read_attempts).transpose()
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
        // `restart`: the window has passed or the previous lock has ended.
        let restart = "(a.window_started_at < $4 OR a.locked_until <= $3)";
        let result = sqlx::query(&format!(
            "INSERT INTO login_attempts AS a ({COLUMNS})
             VALUES ($1, $2, 1, $3, $3, CASE WHEN 1 >= $5 THEN $6 ELSE NULL END)
             ON CONFLICT (organization_id, attempt_key) DO UPDATE SET
                 failures = CASE WHEN {restart} THEN 1 ELSE LEAST(a.failures, 2147483646) + 1 END,
                 window_started_at = CASE WHEN {restart} THEN $3 ELSE a.window_started_at END,
                 last_failed_at = $3,
                 locked_until = CASE
                     WHEN a.locked_until > $3 THEN a.locked_until
                     WHEN (CASE WHEN {restart} THEN 1 ELSE LEAST(a.failures, 2147483646) + 1 END) >= $5 THEN $6
                     ELSE NULL END
             RETURNING {COLUMNS}"
        ))
        .bind(organization.as_uuid())
        .bind(key)
        .bind(now)
        .bind(window_start)
        .bind(i64::from(lock_threshold))
        .bind(lock_until)
        .fetch_one(&self.pool)
        .await;
        match result {
            Ok(row) => read_attempts(&row),
            Err(sqlx::Error::Database(error)) if error.is_foreign_key_violation() => {
                Err(Error::NotFound("organization"))
            }
            Err(error) => Err(db_error(error)),
        }
    }

    async fn clear(&self, organization: OrganizationId, key: &str) -> Result<bool> {
        let result = sqlx::query("DELETE FROM login_attempts WHERE organization_id = $1 AND attempt_key = $2")
            .bind(organization.as_uuid())
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected() > 0)
    }

    async fn delete_stale(&self, before: OffsetDateTime) -> Result<u64> {
        let result = sqlx::query(
            "DELETE FROM login_attempts WHERE last_failed_at < $1 AND (locked_until IS NULL OR locked_until <= $1)",
        )
        .bind(before)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(result.rows_affected())
    }
}
