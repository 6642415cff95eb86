//! `MfaStore` over `mfa_totp_credentials` and `mfa_recovery_codes`: the
//! replay check and single use of recovery codes are conditional updates,
//! atomic across instances.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::ids::{OrganizationId, UserId};
use zenoauth_domain::mfa::TotpCredential;
use zenoauth_domain::ports::MfaStore;
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::{Error, Result};

use crate::error::db_error;
use crate::rows::RowReader;

const COLUMNS: &str = "id, organization_id, user_id, encrypted_secret, confirmed_at, last_used_step, created_at";

#[derive(Debug, Clone)]
pub(crate) struct PgMfaStore {
    pool: PgPool,
}

impl PgMfaStore {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn read_totp(row: &PgRow) -> Result<TotpCredential> {
    let row = RowReader::new(row, "mfa_totp_credentials");
    Ok(TotpCredential {
        id: row.get("id")?,
        organization_id: OrganizationId::from_uuid(row.get("organization_id")?),
        user_id: UserId::from_uuid(row.get("user_id")?),
        encrypted_secret: row.get("encrypted_secret")?,
        confirmed_at: row.get("confirmed_at")?,
        last_used_step: row.get("last_used_step")?,
        created_at: row.get("created_at")?,
    })
}

/// This module's constraints, then the shared mapping.
fn mfa_error(error: sqlx::Error) -> Error {
    if let sqlx::Error::Database(database_error) = &error {
        match database_error.constraint() {
            Some("mfa_totp_credentials_user_key") => return Error::Conflict("mfa_totp"),
            Some("mfa_totp_credentials_pkey") => return Error::Conflict("mfa_credential_id"),
            Some(
                "mfa_totp_credentials_user_fkey"
                | "mfa_recovery_codes_user_fkey"
                | "mfa_totp_credentials_organization_fkey"
                | "mfa_recovery_codes_organization_fkey",
            ) => return Error::NotFound("user"),
            _ => {}
        }
    }
    db_error(error)
}

#[async_trait]
impl MfaStore for PgMfaStore {
    async fn put_totp(&self, credential: &TotpCredential) -> Result<()> {
        let mut transaction = self.pool.begin().await.map_err(db_error)?;
        sqlx::query(
            "DELETE FROM mfa_totp_credentials WHERE organization_id = $1 AND user_id = $2 AND confirmed_at IS NULL",
        )
        .bind(credential.organization_id.as_uuid())
        .bind(credential.user_id.as_uuid())
        .execute(&mut *transaction)
        .await
        .map_err(db_error)?;
        sqlx::query(&format!("INSERT INTO mfa_totp_credentials ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
            .bind(credential.id)
            .bind(credential.organization_id.as_uuid())
            .bind(credential.user_id.as_uuid())
            .bind(&credential.encrypted_secret)
            .bind(credential.confirmed_at)
            .bind(credential.last_used_step)
            .bind(credential.created_at)
            .execute(&mut *transaction)
            .await
            .map_err(mfa_error)?;
        transaction.commit().await.map_err(db_error)
    }

    async fn find_totp(&self, organization: OrganizationId, user: UserId) -> Result<Option<TotpCredential>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mfa_totp_credentials WHERE organization_id = $1 AND user_id = $2"
        ))
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(read_totp).transpose()
    }

    async fn confirm_totp(
        &self,
        organization: OrganizationId,
        id: Uuid,
        step: i64,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE mfa_totp_credentials SET confirmed_at = $3, last_used_step = $4
             WHERE organization_id = $1 AND id = $2 AND confirmed_at IS NULL",
        )
        .bind(organization.as_uuid())
        .bind(id)
        .bind(now)
        .bind(step)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn use_totp_step(&self, organization: OrganizationId, id: Uuid, step: i64) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE mfa_totp_credentials SET last_used_step = $3
             WHERE organization_id = $1 AND id = $2 AND confirmed_at IS NOT NULL
               AND (last_used_step IS NULL OR last_used_step < $3)",
        )
        .bind(organization.as_uuid())
        .bind(id)
        .bind(step)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn replace_recovery_codes(
        &self,
        organization: OrganizationId,
        user: UserId,
        digests: &[SecretDigest],
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut transaction = self.pool.begin().await.map_err(db_error)?;
        let exists: Option<Uuid> = sqlx::query_scalar("SELECT id FROM users WHERE organization_id = $1 AND id = $2")
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(&mut *transaction)
            .await
            .map_err(db_error)?;
        if exists.is_none() {
            return Err(Error::NotFound("user"));
        }
        sqlx::query("DELETE FROM mfa_recovery_codes WHERE organization_id = $1 AND user_id = $2")
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .execute(&mut *transaction)
            .await
            .map_err(db_error)?;
        for digest in digests {
            sqlx::query(
                "INSERT INTO mfa_recovery_codes (organization_id, user_id, code_digest, created_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .bind(&digest.as_bytes()[..])
            .bind(now)
            .execute(&mut *transaction)
            .await
            .map_err(mfa_error)?;
        }
        transaction.commit().await.map_err(db_error)
    }

    async fn use_recovery_code(
        &self,
        organization: OrganizationId,
        user: UserId,
        digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE mfa_recovery_codes SET used_at = $4
             WHERE organization_id = $1 AND user_id = $2 AND code_digest = $3 AND used_at IS NULL",
        )
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .bind(&digest.as_bytes()[..])
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn count_recovery_codes(&self, organization: OrganizationId, user: UserId) -> Result<u32> {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM mfa_recovery_codes WHERE organization_id = $1 AND user_id = $2 AND used_at IS NULL",
        )
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn delete_for_user(&self, organization: OrganizationId, user: UserId) -> Result<bool> {
        let mut transaction = self.pool.begin().await.map_err(db_error)?;
        let totp = sqlx::query("DELETE FROM mfa_totp_credentials WHERE organization_id = $1 AND user_id = $2")
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .execute(&mut *transaction)
            .await
            .map_err(db_error)?;
        let codes = sqlx::query("DELETE FROM mfa_recovery_codes WHERE organization_id = $1 AND user_id = $2")
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .execute(&mut *transaction)
            .await
            .map_err(db_error)?;
        transaction.commit().await.map_err(db_error)?;
        Ok(totp.rows_affected() + codes.rows_affected() > 0)
    }
}
