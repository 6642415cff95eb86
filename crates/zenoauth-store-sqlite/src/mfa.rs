//! [`MfaStore`] over `mfa_totp_credentials` and `mfa_recovery_codes`: the
//! replay check and single use of recovery codes are conditional updates.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::SqlitePool;
use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::ids::{OrganizationId, UserId};
use zenoauth_domain::mfa::TotpCredential;
use zenoauth_domain::ports::MfaStore;
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::{Error, Result};

use crate::convert::{
    classify, column, instant, micros, optional_instant, optional_micros, unavailable, uuid, WriteFailure,
};

const COLUMNS: &str = "id, organization_id, user_id, encrypted_secret, confirmed_at, last_used_step, created_at";
const UNIQUES: &[(&str, &str)] = &[
    ("mfa_totp_credentials.organization_id, mfa_totp_credentials.user_id", "mfa_totp"),
    ("mfa_totp_credentials.id", "mfa_credential_id"),
];

#[derive(Debug, Clone)]
pub(crate) struct SqliteMfaStore {
    pool: SqlitePool,
}

impl SqliteMfaStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn read_totp(row: &SqliteRow) -> Result<TotpCredential> {
    Ok(TotpCredential {
        id: uuid(row, "id")?,
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        user_id: UserId::from_uuid(uuid(row, "user_id")?),
        encrypted_secret: column(row, "encrypted_secret")?,
        confirmed_at: optional_instant(row, "confirmed_at")?,
        last_used_step: column(row, "last_used_step")?,
        created_at: instant(row, "created_at")?,
    })
}

fn write_error(error: sqlx::Error) -> Error {
    match classify(error, UNIQUES) {
        WriteFailure::Conflict(name) => Error::Conflict(name),
        WriteFailure::MissingParent => Error::NotFound("user"),
        WriteFailure::Other(error) => error,
    }
}

async fn user_exists(
    connection: &mut sqlx::SqliteConnection,
    organization: OrganizationId,
    user: UserId,
) -> Result<bool> {
    let row = sqlx::query("SELECT 1 FROM users WHERE organization_id = ? AND id = ?")
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(connection)
        .await
        .map_err(unavailable)?;
    Ok(row.is_some())
}

#[async_trait]
impl MfaStore for SqliteMfaStore {
    async fn put_totp(&self, credential: &TotpCredential) -> Result<()> {
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(unavailable)?;
        if !user_exists(&mut transaction, credential.organization_id, credential.user_id).await? {
            return Err(Error::NotFound("user"));
        }
        sqlx::query(
            "DELETE FROM mfa_totp_credentials WHERE organization_id = ? AND user_id = ? AND confirmed_at IS NULL",
        )
        .bind(credential.organization_id.as_uuid())
        .bind(credential.user_id.as_uuid())
        .execute(&mut *transaction)
        .await
        .map_err(unavailable)?;
        sqlx::query(&format!("INSERT INTO mfa_totp_credentials ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"))
            .bind(credential.id)
            .bind(credential.organization_id.as_uuid())
            .bind(credential.user_id.as_uuid())
            .bind(&credential.encrypted_secret)
            .bind(optional_micros(credential.confirmed_at))
            .bind(credential.last_used_step)
            .bind(micros(credential.created_at))
            .execute(&mut *transaction)
            .await
            .map_err(write_error)?;
        transaction.commit().await.map_err(unavailable)
    }

    async fn find_totp(&self, organization: OrganizationId, user: UserId) -> Result<Option<TotpCredential>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mfa_totp_credentials WHERE organization_id = ? AND user_id = ?"
        ))
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
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
            "UPDATE mfa_totp_credentials SET confirmed_at = ?, last_used_step = ? \
             WHERE organization_id = ? AND id = ? AND confirmed_at IS NULL",
        )
        .bind(micros(now))
        .bind(step)
        .bind(organization.as_uuid())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn use_totp_step(&self, organization: OrganizationId, id: Uuid, step: i64) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE mfa_totp_credentials SET last_used_step = ?1 \
             WHERE organization_id = ?2 AND id = ?3 AND confirmed_at IS NOT NULL \
               AND (last_used_step IS NULL OR last_used_step < ?1)",
        )
        .bind(step)
        .bind(organization.as_uuid())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn replace_recovery_codes(
        &self,
        organization: OrganizationId,
        user: UserId,
        digests: &[SecretDigest],
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(unavailable)?;
        if !user_exists(&mut transaction, organization, user).await? {
            return Err(Error::NotFound("user"));
        }
        sqlx::query("DELETE FROM mfa_recovery_codes WHERE organization_id = ? AND user_id = ?")
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        for digest in digests {
            sqlx::query(
                "INSERT INTO mfa_recovery_codes (organization_id, user_id, code_digest, created_at) \
                 VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .bind(digest.as_bytes().as_slice())
            .bind(micros(now))
            .execute(&mut *transaction)
            .await
            .map_err(write_error)?;
        }
        transaction.commit().await.map_err(unavailable)
    }

    async fn use_recovery_code(
        &self,
        organization: OrganizationId,
        user: UserId,
        digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE mfa_recovery_codes SET used_at = ? \
             WHERE organization_id = ? AND user_id = ? AND code_digest = ? AND used_at IS NULL",
        )
        .bind(micros(now))
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .bind(digest.as_bytes().as_slice())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn count_recovery_codes(&self, organization: OrganizationId, user: UserId) -> Result<u32> {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM mfa_recovery_codes WHERE organization_id = ? AND user_id = ? AND used_at IS NULL",
        )
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .fetch_one(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn delete_for_user(&self, organization: OrganizationId, user: UserId) -> Result<bool> {
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(unavailable)?;
        let totp = sqlx::query("DELETE FROM mfa_totp_credentials WHERE organization_id = ? AND user_id = ?")
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        let codes = sqlx::query("DELETE FROM mfa_recovery_codes WHERE organization_id = ? AND user_id = ?")
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        transaction.commit().await.map_err(unavailable)?;
        Ok(totp.rows_affected() + codes.rows_affected() > 0)
    }
}
