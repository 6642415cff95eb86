//! `PasskeyStore` over `passkey_credentials` and `passkey_ceremonies`:
//! taking a ceremony is one `DELETE … RETURNING`, so it is single use across
//! instances.

use async_trait::async_trait;
use serde_json::Value as Json;
use sqlx::postgres::PgRow;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::ids::{OrganizationId, SessionId, UserId};
use zenoauth_domain::mfa::passkeys::{CeremonyPurpose, PasskeyCeremony, PasskeyCredential, PasskeyName};
use zenoauth_domain::ports::PasskeyStore;
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::{Error, Result};

use crate::error::{corrupt, db_error};
use crate::rows::{read_all, RowReader};

const COLUMNS: &str = "id, organization_id, user_id, credential_id, name, passkey, backup_eligible, backup_state, \
                       sign_count, created_at, last_used_at";
const CEREMONY_COLUMNS: &str =
    "handle_digest, organization_id, purpose, user_id, session_id, name, state, created_at, expires_at";

#[derive(Debug, Clone)]
pub(crate) struct PgPasskeyStore {
    pool: PgPool,
}

impl PgPasskeyStore {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn read_credential(row: &PgRow) -> Result<PasskeyCredential> {
    let row = RowReader::new(row, "passkey_credentials");
    let sign_count: i64 = row.get("sign_count")?;
    Ok(PasskeyCredential {
        id: row.get("id")?,
        organization_id: OrganizationId::from_uuid(row.get("organization_id")?),
        user_id: UserId::from_uuid(row.get("user_id")?),
        credential_id: row.get("credential_id")?,
        name: row.parse("name", PasskeyName::parse)?,
        passkey: row.get("passkey")?,
        backup_eligible: row.get("backup_eligible")?,
        backup_state: row.get("backup_state")?,
        sign_count: u32::try_from(sign_count).map_err(|error| corrupt("passkey_credentials", "sign_count", error))?,
        created_at: row.get("created_at")?,
        last_used_at: row.get("last_used_at")?,
    })
}

fn read_ceremony(row: &PgRow) -> Result<PasskeyCeremony> {
    let row = RowReader::new(row, "passkey_ceremonies");
    let purpose: &str = row.get("purpose")?;
    let user: Option<Uuid> = row.get("user_id")?;
    let session: Option<Uuid> = row.get("session_id")?;
    Ok(PasskeyCeremony {
        handle_digest: row.digest("handle_digest")?,
        organization_id: OrganizationId::from_uuid(row.get("organization_id")?),
        purpose: CeremonyPurpose::parse(purpose)
            .ok_or_else(|| corrupt("passkey_ceremonies", "purpose", "unknown purpose"))?,
        user_id: user.map(UserId::from_uuid),
        session_id: session.map(SessionId::from_uuid),
        name: row.get("name")?,
        state: row.get("state")?,
        created_at: row.get("created_at")?,
        expires_at: row.get("expires_at")?,
    })
}

/// This module's constraints, then the shared mapping.
fn passkey_error(error: sqlx::Error) -> Error {
    if let sqlx::Error::Database(database_error) = &error {
        match database_error.constraint() {
            Some("passkey_credentials_credential_key" | "passkey_credentials_pkey") => {
                return Error::Conflict("passkey_credential")
            }
            Some("passkey_ceremonies_pkey") => return Error::Conflict("passkey_ceremony"),
            Some("passkey_credentials_user_fkey" | "passkey_ceremonies_user_fkey") => return Error::NotFound("user"),
            Some("passkey_credentials_organization_fkey" | "passkey_ceremonies_organization_fkey") => {
                return Error::NotFound("organization")
            }
            _ => {}
        }
    }
    db_error(error)
}

#[async_trait]
impl PasskeyStore for PgPasskeyStore {
    async fn create_credential(&self, credential: &PasskeyCredential) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO passkey_credentials ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(credential.id)
        .bind(credential.organization_id.as_uuid())
        .bind(credential.user_id.as_uuid())
        .bind(&credential.credential_id)
        .bind(credential.name.as_str())
        .bind(&credential.passkey)
        .bind(credential.backup_eligible)
        .bind(credential.backup_state)
        .bind(i64::from(credential.sign_count))
        .bind(credential.created_at)
        .bind(credential.last_used_at)
        .execute(&self.pool)
        .await
        .map_err(passkey_error)?;
        Ok(())
    }

    async fn list_credentials(&self, organization: OrganizationId, user: UserId) -> Result<Vec<PasskeyCredential>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM passkey_credentials WHERE organization_id = $1 AND user_id = $2 \
             ORDER BY created_at, id"
        ))
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        read_all(&rows, read_credential)
    }

    async fn find_credential(
        &self,
        organization: OrganizationId,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyCredential>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM passkey_credentials WHERE organization_id = $1 AND credential_id = $2"
        ))
        .bind(organization.as_uuid())
        .bind(credential_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(read_credential).transpose()
    }

    async fn record_use(
        &self,
        organization: OrganizationId,
        id: Uuid,
        passkey: &Json,
        sign_count: u32,
        backup_state: bool,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE passkey_credentials SET passkey = $1, sign_count = $2, backup_state = $3, last_used_at = $4 \
             WHERE organization_id = $5 AND id = $6 AND (sign_count < $2 OR $2 = 0)",
        )
        .bind(passkey)
        .bind(i64::from(sign_count))
        .bind(backup_state)
        .bind(now)
        .bind(organization.as_uuid())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn rename_credential(
        &self,
        organization: OrganizationId,
        user: UserId,
        id: Uuid,
        name: &PasskeyName,
    ) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE passkey_credentials SET name = $1 WHERE organization_id = $2 AND user_id = $3 AND id = $4",
        )
        .bind(name.as_str())
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn delete_credential(&self, organization: OrganizationId, user: UserId, id: Uuid) -> Result<bool> {
        let result =
            sqlx::query("DELETE FROM passkey_credentials WHERE organization_id = $1 AND user_id = $2 AND id = $3")
                .bind(organization.as_uuid())
                .bind(user.as_uuid())
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn put_ceremony(&self, ceremony: &PasskeyCeremony) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO passkey_ceremonies ({CEREMONY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&ceremony.handle_digest.as_bytes()[..])
        .bind(ceremony.organization_id.as_uuid())
        .bind(ceremony.purpose.as_str())
        .bind(ceremony.user_id.map(|user| user.as_uuid()))
        .bind(ceremony.session_id.map(|session| session.as_uuid()))
        .bind(ceremony.name.as_deref())
        .bind(&ceremony.state)
        .bind(ceremony.created_at)
        .bind(ceremony.expires_at)
        .execute(&self.pool)
        .await
        .map_err(passkey_error)?;
        Ok(())
    }

    async fn take_ceremony(
        &self,
        organization: OrganizationId,
        handle_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<PasskeyCeremony>> {
        let row = sqlx::query(&format!(
            "DELETE FROM passkey_ceremonies WHERE organization_id = $1 AND handle_digest = $2 \
             RETURNING {CEREMONY_COLUMNS}"
        ))
        .bind(organization.as_uuid())
        .bind(&handle_digest.as_bytes()[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let ceremony = row.as_ref().map(read_ceremony).transpose()?;
        Ok(ceremony.filter(|ceremony| ceremony.expires_at > now))
    }

    async fn delete_expired_ceremonies(&self, now: OffsetDateTime) -> Result<u64> {
        let result = sqlx::query("DELETE FROM passkey_ceremonies WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected())
    }
}
