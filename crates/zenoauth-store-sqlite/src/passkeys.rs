//! [`PasskeyStore`] over `passkey_credentials` and `passkey_ceremonies`: a
//! ceremony is taken by one `DELETE … RETURNING`, so it is used at most once.

use async_trait::async_trait;
use serde_json::Value as Json;
use sqlx::sqlite::SqliteRow;
use sqlx::SqlitePool;
use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::ids::{OrganizationId, SessionId, UserId};
use zenoauth_domain::mfa::passkeys::{CeremonyPurpose, PasskeyCeremony, PasskeyCredential, PasskeyName};
use zenoauth_domain::ports::PasskeyStore;
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::{Error, Result};

use crate::convert::{
    classify, column, corrupt, digest, instant, json, json_text, micros, optional_instant, optional_micros,
    optional_uuid, parsed, unavailable, uuid, WriteFailure,
};

const COLUMNS: &str = "id, organization_id, user_id, credential_id, name, passkey, backup_eligible, backup_state, \
                       sign_count, created_at, last_used_at";
const CEREMONY_COLUMNS: &str =
    "handle_digest, organization_id, purpose, user_id, session_id, name, state, created_at, expires_at";
const UNIQUES: &[(&str, &str)] = &[
    ("passkey_credentials.organization_id, passkey_credentials.credential_id", "passkey_credential"),
    ("passkey_credentials.id", "passkey_credential"),
    ("passkey_ceremonies.handle_digest", "passkey_ceremony"),
];

#[derive(Debug, Clone)]
pub(crate) struct SqlitePasskeyStore {
    pool: SqlitePool,
}

impl SqlitePasskeyStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn read_credential(row: &SqliteRow) -> Result<PasskeyCredential> {
    let sign_count = column::<i64>(row, "sign_count")?;
    Ok(PasskeyCredential {
        id: uuid(row, "id")?,
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        user_id: UserId::from_uuid(uuid(row, "user_id")?),
        credential_id: column(row, "credential_id")?,
        name: parsed(row, "name", PasskeyName::parse)?,
        passkey: json(row, "passkey")?,
        backup_eligible: column(row, "backup_eligible")?,
        backup_state: column(row, "backup_state")?,
        sign_count: u32::try_from(sign_count).map_err(|error| corrupt("sign_count", error))?,
        created_at: instant(row, "created_at")?,
        last_used_at: optional_instant(row, "last_used_at")?,
    })
}

fn read_ceremony(row: &SqliteRow) -> Result<PasskeyCeremony> {
    let purpose = column::<String>(row, "purpose")?;
    Ok(PasskeyCeremony {
        handle_digest: digest(row, "handle_digest")?,
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        purpose: CeremonyPurpose::parse(&purpose).ok_or_else(|| corrupt("purpose", "unknown purpose"))?,
        user_id: optional_uuid(row, "user_id")?.map(UserId::from_uuid),
        session_id: optional_uuid(row, "session_id")?.map(SessionId::from_uuid),
        name: column(row, "name")?,
        state: json(row, "state")?,
        created_at: instant(row, "created_at")?,
        expires_at: instant(row, "expires_at")?,
    })
}

fn write_error(error: sqlx::Error, parent: &'static str) -> Error {
    match classify(error, UNIQUES) {
        WriteFailure::Conflict(name) => Error::Conflict(name),
        WriteFailure::MissingParent => Error::NotFound(parent),
        WriteFailure::Other(error) => error,
    }
}

#[async_trait]
impl PasskeyStore for SqlitePasskeyStore {
    async fn create_credential(&self, credential: &PasskeyCredential) -> Result<()> {
        sqlx::query(&format!("INSERT INTO passkey_credentials ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
            .bind(credential.id)
            .bind(credential.organization_id.as_uuid())
            .bind(credential.user_id.as_uuid())
            .bind(&credential.credential_id)
            .bind(credential.name.as_str())
            .bind(json_text(&credential.passkey))
            .bind(credential.backup_eligible)
            .bind(credential.backup_state)
            .bind(i64::from(credential.sign_count))
            .bind(micros(credential.created_at))
            .bind(optional_micros(credential.last_used_at))
            .execute(&self.pool)
            .await
            .map_err(|error| write_error(error, "user"))?;
        Ok(())
    }

    async fn list_credentials(&self, organization: OrganizationId, user: UserId) -> Result<Vec<PasskeyCredential>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM passkey_credentials WHERE organization_id = ? AND user_id = ? \
             ORDER BY created_at, id"
        ))
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(read_credential).collect()
    }

    async fn find_credential(
        &self,
        organization: OrganizationId,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyCredential>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM passkey_credentials WHERE organization_id = ? AND credential_id = ?"
        ))
        .bind(organization.as_uuid())
        .bind(credential_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
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
            "UPDATE passkey_credentials SET passkey = ?1, sign_count = ?2, backup_state = ?3, last_used_at = ?4 \
             WHERE organization_id = ?5 AND id = ?6 AND (sign_count < ?2 OR ?2 = 0)",
        )
        .bind(json_text(passkey))
        .bind(i64::from(sign_count))
        .bind(backup_state)
        .bind(micros(now))
        .bind(organization.as_uuid())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn rename_credential(
        &self,
        organization: OrganizationId,
        user: UserId,
        id: Uuid,
        name: &PasskeyName,
    ) -> Result<bool> {
        let result =
            sqlx::query("UPDATE passkey_credentials SET name = ? WHERE organization_id = ? AND user_id = ? AND id = ?")
                .bind(name.as_str())
                .bind(organization.as_uuid())
                .bind(user.as_uuid())
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn delete_credential(&self, organization: OrganizationId, user: UserId, id: Uuid) -> Result<bool> {
        let result =
            sqlx::query("DELETE FROM passkey_credentials WHERE organization_id = ? AND user_id = ? AND id = ?")
                .bind(organization.as_uuid())
                .bind(user.as_uuid())
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn put_ceremony(&self, ceremony: &PasskeyCeremony) -> Result<()> {
        let parent = if ceremony.user_id.is_some() { "user" } else { "organization" };
        sqlx::query(&format!("INSERT INTO passkey_ceremonies ({CEREMONY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"))
            .bind(&ceremony.handle_digest.as_bytes()[..])
            .bind(ceremony.organization_id.as_uuid())
            .bind(ceremony.purpose.as_str())
            .bind(ceremony.user_id.map(|user| user.as_uuid()))
            .bind(ceremony.session_id.map(|session| session.as_uuid()))
            .bind(ceremony.name.as_deref())
            .bind(json_text(&ceremony.state))
            .bind(micros(ceremony.created_at))
            .bind(micros(ceremony.expires_at))
            .execute(&self.pool)
            .await
            .map_err(|error| write_error(error, parent))?;
        Ok(())
    }

    async fn take_ceremony(
        &self,
        organization: OrganizationId,
        handle_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<PasskeyCeremony>> {
        let row = sqlx::query(&format!(
            "DELETE FROM passkey_ceremonies WHERE organization_id = ? AND handle_digest = ? \
             RETURNING {CEREMONY_COLUMNS}"
        ))
        .bind(organization.as_uuid())
        .bind(&handle_digest.as_bytes()[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        let ceremony = row.as_ref().map(read_ceremony).transpose()?;
        Ok(ceremony.filter(|ceremony| ceremony.expires_at > now))
    }

    async fn delete_expired_ceremonies(&self, now: OffsetDateTime) -> Result<u64> {
        let result = sqlx::query("DELETE FROM passkey_ceremonies WHERE expires_at <= ?")
            .bind(micros(now))
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }
}
