//! `SigningKeyRepository` over the `signing_keys` table. The private key is
//! stored as the opaque ciphertext the signer produced.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::PgPool;
use time::OffsetDateTime;
use zenoauth_domain::ids::{OrganizationId, SigningKeyId};
use zenoauth_domain::model::{KeyState, SigningAlgorithm, SigningKey};
use zenoauth_domain::ports::SigningKeyRepository;
use zenoauth_domain::Result;

use crate::error::db_error;
use crate::rows::{expect_one, read_all, RowReader};

const COLUMNS: &str = "id, organization_id, algorithm, state, public_jwk, encrypted_private_key, created_at, \
                       retired_at, expires_at";

#[derive(Debug, Clone)]
pub(crate) struct PgSigningKeyRepository {
    pool: PgPool,
}

impl PgSigningKeyRepository {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn read_key(row: &PgRow) -> Result<SigningKey> {
    let row = RowReader::new(row, "signing_keys");
    Ok(SigningKey {
        id: SigningKeyId::from_uuid(row.get("id")?),
        organization_id: OrganizationId::from_uuid(row.get("organization_id")?),
        algorithm: row.parse("algorithm", SigningAlgorithm::parse)?,
        state: row.parse("state", KeyState::parse)?,
        public_jwk: row.get("public_jwk")?,
        encrypted_private_key: row.get("encrypted_private_key")?,
        created_at: row.get("created_at")?,
        retired_at: row.get("retired_at")?,
        expires_at: row.get("expires_at")?,
    })
}

#[async_trait]
impl SigningKeyRepository for PgSigningKeyRepository {
    async fn create(&self, key: &SigningKey) -> Result<()> {
        sqlx::query(
            "INSERT INTO signing_keys (id, organization_id, algorithm, state, public_jwk, encrypted_private_key,
                                       created_at, retired_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(key.id.as_uuid())
        .bind(key.organization_id.as_uuid())
        .bind(key.algorithm.as_str())
        .bind(key.state.as_str())
        .bind(&key.public_jwk)
        .bind(key.encrypted_private_key.as_slice())
        .bind(key.created_at)
        .bind(key.retired_at)
        .bind(key.expires_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn list(&self, organization: OrganizationId) -> Result<Vec<SigningKey>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM signing_keys WHERE organization_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(organization.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        read_all(&rows, read_key)
    }

    async fn find_active(
        &self,
        organization: OrganizationId,
        algorithm: SigningAlgorithm,
    ) -> Result<Option<SigningKey>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM signing_keys
             WHERE organization_id = $1 AND algorithm = $2 AND state = 'active'
             ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(organization.as_uuid())
        .bind(algorithm.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(read_key).transpose()
    }

    async fn activate(&self, organization: OrganizationId, id: SigningKeyId) -> Result<()> {
        let result = sqlx::query(
            "UPDATE signing_keys SET state = 'active'
             WHERE organization_id = $1 AND id = $2 AND state IN ('pending', 'active')",
        )
        .bind(organization.as_uuid())
        .bind(id.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        expect_one(result.rows_affected(), "signing_key")
    }

    async fn retire(
        &self,
        organization: OrganizationId,
        id: SigningKeyId,
        retired_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        let result = sqlx::query(
            "UPDATE signing_keys SET state = 'retired', retired_at = $3, expires_at = $4
             WHERE organization_id = $1 AND id = $2",
        )
        .bind(organization.as_uuid())
        .bind(id.as_uuid())
        .bind(retired_at)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        expect_one(result.rows_affected(), "signing_key")
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        let result = sqlx::query("DELETE FROM signing_keys WHERE state = 'retired' AND expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected())
    }
}
