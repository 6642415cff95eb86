//! [`RevocationStore`] over the `revocations` table.

use async_trait::async_trait;
use sqlx::SqlitePool;
use time::OffsetDateTime;
use zenoauth_domain::ids::OrganizationId;
use zenoauth_domain::model::Revocation;
use zenoauth_domain::ports::RevocationStore;
use zenoauth_domain::{Error, Result};

use crate::convert::{classify, micros, unavailable, WriteFailure};

#[derive(Debug, Clone)]
pub(crate) struct SqliteRevocationStore {
    pool: SqlitePool,
}

impl SqliteRevocationStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl RevocationStore for SqliteRevocationStore {
    async fn revoke(&self, revocation: &Revocation) -> Result<()> {
        sqlx::query(
            "INSERT INTO revocations (organization_id, jti, revoked_at, expires_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (organization_id, jti) DO NOTHING",
        )
        .bind(revocation.organization_id.as_uuid())
        .bind(revocation.jti.as_str())
        .bind(micros(revocation.revoked_at))
        .bind(micros(revocation.expires_at))
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(|error| match classify(error, &[]) {
            WriteFailure::MissingParent => Error::NotFound("organization"),
            WriteFailure::Conflict(name) => Error::Conflict(name),
            WriteFailure::Other(error) => error,
        })
    }

    async fn is_revoked(&self, organization: OrganizationId, jti: &str) -> Result<bool> {
        sqlx::query("SELECT 1 FROM revocations WHERE organization_id = ? AND jti = ?")
            .bind(organization.as_uuid())
            .bind(jti)
            .fetch_optional(&self.pool)
            .await
            .map(|row| row.is_some())
            .map_err(unavailable)
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        sqlx::query("DELETE FROM revocations WHERE expires_at <= ?")
            .bind(micros(now))
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(unavailable)
    }
}
