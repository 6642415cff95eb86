//! `RevocationStore` over the `revocations` table, keyed by (organization, jti).

use async_trait::async_trait;
use sqlx::PgPool;
use time::OffsetDateTime;
use zenoauth_domain::ids::OrganizationId;
use zenoauth_domain::model::Revocation;
use zenoauth_domain::ports::RevocationStore;
use zenoauth_domain::Result;

use crate::error::db_error;

#[derive(Debug, Clone)]
pub(crate) struct PgRevocationStore {
    pool: PgPool,
}

impl PgRevocationStore {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl RevocationStore for PgRevocationStore {
    async fn revoke(&self, revocation: &Revocation) -> Result<()> {
        // Idempotent; a later expiry wins so the entry lives as long as any copy of the token.
        sqlx::query(
            "INSERT INTO revocations (organization_id, jti, revoked_at, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (organization_id, jti)
             DO UPDATE SET expires_at = GREATEST(revocations.expires_at, EXCLUDED.expires_at)",
        )
        .bind(revocation.organization_id.as_uuid())
        .bind(revocation.jti.as_str())
        .bind(revocation.revoked_at)
        .bind(revocation.expires_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn is_revoked(&self, organization: OrganizationId, jti: &str) -> Result<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM revocations WHERE organization_id = $1 AND jti = $2)")
            .bind(organization.as_uuid())
            .bind(jti)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        let result = sqlx::query("DELETE FROM revocations WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected())
    }
}
