//! [`SigningKeyRepository`] over the `signing_keys` table.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::SqlitePool;
use time::OffsetDateTime;
use zenoauth_domain::ids::{OrganizationId, SigningKeyId};
use zenoauth_domain::model::{KeyState, SigningAlgorithm, SigningKey};
use zenoauth_domain::ports::SigningKeyRepository;
use zenoauth_domain::{Error, Result};

use crate::convert::{
    classify, column, instant, json, json_text, micros, optional_instant, optional_micros, parsed, unavailable, uuid,
    WriteFailure,
};

const COLUMNS: &str =
    "id, organization_id, algorithm, state, public_jwk, encrypted_private_key, created_at, retired_at, expires_at";

const UNIQUES: &[(&str, &str)] = &[("signing_keys.id", "signing_key_id")];

#[derive(Debug, Clone)]
pub(crate) struct SqliteSigningKeyRepository {
    pool: SqlitePool,
}

impl SqliteSigningKeyRepository {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn signing_key(row: &SqliteRow) -> Result<SigningKey> {
    Ok(SigningKey {
        id: SigningKeyId::from_uuid(uuid(row, "id")?),
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        algorithm: parsed(row, "algorithm", SigningAlgorithm::parse)?,
        state: parsed(row, "state", KeyState::parse)?,
        public_jwk: json(row, "public_jwk")?,
        encrypted_private_key: column(row, "encrypted_private_key")?,
        created_at: instant(row, "created_at")?,
        retired_at: optional_instant(row, "retired_at")?,
        expires_at: optional_instant(row, "expires_at")?,
    })
}

#[async_trait]
impl SigningKeyRepository for SqliteSigningKeyRepository {
    async fn create(&self, key: &SigningKey) -> Result<()> {
        sqlx::query(
            "INSERT INTO signing_keys (id, organization_id, algorithm, state, public_jwk, encrypted_private_key, \
             created_at, retired_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(key.id.as_uuid())
        .bind(key.organization_id.as_uuid())
        .bind(key.algorithm.as_str())
        .bind(key.state.as_str())
        .bind(json_text(&key.public_jwk))
        .bind(key.encrypted_private_key.as_slice())
        .bind(micros(key.created_at))
        .bind(optional_micros(key.retired_at))
        .bind(optional_micros(key.expires_at))
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(|error| match classify(error, UNIQUES) {
            WriteFailure::Conflict(name) => Error::Conflict(name),
            WriteFailure::MissingParent => Error::NotFound("organization"),
            WriteFailure::Other(error) => error,
        })
    }

    async fn list(&self, organization: OrganizationId) -> Result<Vec<SigningKey>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM signing_keys WHERE organization_id = ? ORDER BY created_at DESC, id DESC"
        ))
        .bind(organization.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(signing_key).collect()
    }

    async fn find_active(
        &self,
        organization: OrganizationId,
        algorithm: SigningAlgorithm,
    ) -> Result<Option<SigningKey>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM signing_keys WHERE organization_id = ? AND algorithm = ? AND state = 'active' \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(organization.as_uuid())
        .bind(algorithm.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(signing_key).transpose()
    }

    async fn activate(&self, organization: OrganizationId, id: SigningKeyId) -> Result<()> {
        let result = sqlx::query(
            "UPDATE signing_keys SET state = 'active' \
             WHERE organization_id = ? AND id = ? AND state IN ('pending', 'active')",
        )
        .bind(organization.as_uuid())
        .bind(id.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        if result.rows_affected() == 0 {
            return Err(Error::NotFound("signing_key"));
        }
        Ok(())
    }

    async fn retire(
        &self,
        organization: OrganizationId,
        id: SigningKeyId,
        retired_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        let result = sqlx::query(
            "UPDATE signing_keys SET state = 'retired', retired_at = ?, expires_at = ? \
             WHERE organization_id = ? AND id = ?",
        )
        .bind(micros(retired_at))
        .bind(micros(expires_at))
        .bind(organization.as_uuid())
        .bind(id.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        if result.rows_affected() == 0 {
            return Err(Error::NotFound("signing_key"));
        }
        Ok(())
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        sqlx::query("DELETE FROM signing_keys WHERE state = 'retired' AND expires_at <= ?")
            .bind(micros(now))
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(unavailable)
    }
}
