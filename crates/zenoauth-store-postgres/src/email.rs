//! `MailOutbox` over `mail_outbox` (claims with `FOR UPDATE SKIP LOCKED`, so
//! concurrent instances never claim one message twice) and
//! `AccountTokenStore` over `account_tokens` (consumed by one atomic DELETE).

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::email::{AccountToken, AccountTokenPurpose, OutboxMessage, OutboxState};
use zenoauth_domain::ids::{OrganizationId, UserId};
use zenoauth_domain::ports::{AccountTokenStore, MailOutbox};
use zenoauth_domain::values::{Email, SecretDigest};
use zenoauth_domain::Result;

use crate::error::db_error;
use crate::rows::RowReader;

const OUTBOX_COLUMNS: &str =
    "id, organization_id, recipient, subject, body, state, attempts, next_attempt_at, last_error, created_at";
const TOKEN_COLUMNS: &str =
    "token_digest, organization_id, user_id, purpose, email, password_stamp, created_at, expires_at";

fn read_message(row: &PgRow) -> Result<OutboxMessage> {
    let row = RowReader::new(row, "mail_outbox");
    let attempts: i32 = row.get("attempts")?;
    Ok(OutboxMessage {
        id: row.get("id")?,
        organization_id: OrganizationId::from_uuid(row.get("organization_id")?),
        recipient: row.parse("recipient", Email::parse)?,
        subject: row.get("subject")?,
        body: row.get("body")?,
        state: row.parse("state", OutboxState::parse)?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        next_attempt_at: row.get("next_attempt_at")?,
        last_error: row.get("last_error")?,
        created_at: row.get("created_at")?,
    })
}

fn read_token(row: &PgRow) -> Result<AccountToken> {
    let row = RowReader::new(row, "account_tokens");
    Ok(AccountToken {
        token_digest: row.digest("token_digest")?,
        organization_id: OrganizationId::from_uuid(row.get("organization_id")?),
        user_id: UserId::from_uuid(row.get("user_id")?),
        purpose: row.parse("purpose", AccountTokenPurpose::parse)?,
        email: row.parse("email", Email::parse)?,
        password_stamp: row.optional_digest("password_stamp")?,
        created_at: row.get("created_at")?,
        expires_at: row.get("expires_at")?,
    })
}

#[derive(Debug, Clone)]
pub(crate) struct PgMailOutbox {
    pool: PgPool,
}

impl PgMailOutbox {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl MailOutbox for PgMailOutbox {
    async fn enqueue(&self, message: &OutboxMessage) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO mail_outbox ({OUTBOX_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(message.id)
        .bind(message.organization_id.as_uuid())
        .bind(message.recipient.as_str())
        .bind(&message.subject)
        .bind(&message.body)
        .bind(message.state.as_str())
        .bind(i32::try_from(message.attempts).unwrap_or(i32::MAX))
        .bind(message.next_attempt_at)
        .bind(&message.last_error)
        .bind(message.created_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn find(&self, id: Uuid) -> Result<Option<OutboxMessage>> {
        let row = sqlx::query(&format!("SELECT {OUTBOX_COLUMNS} FROM mail_outbox WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(read_message).transpose()
    }

    async fn claim_due(
        &self,
        now: OffsetDateTime,
        claim: Uuid,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        let rows = sqlx::query(&format!(
            "WITH due AS (
                 SELECT id FROM mail_outbox
                 WHERE state = 'pending' AND next_attempt_at <= $1 AND (leased_until IS NULL OR leased_until <= $1)
                 ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
             UPDATE mail_outbox AS m SET claim_token = $2, leased_until = $3 FROM due WHERE m.id = due.id
             RETURNING {}",
            OUTBOX_COLUMNS.split(", ").map(|column| format!("m.{column}")).collect::<Vec<_>>().join(", ")
        ))
        .bind(now)
        .bind(claim)
        .bind(lease_until)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let mut messages = rows.iter().map(read_message).collect::<Result<Vec<_>>>()?;
        messages.sort_by_key(|message| (message.next_attempt_at, message.id));
        Ok(messages)
    }

    async fn complete(&self, id: Uuid, claim: Uuid) -> Result<bool> {
        let result = sqlx::query("DELETE FROM mail_outbox WHERE id = $1 AND claim_token = $2")
            .bind(id)
            .bind(claim)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn fail(&self, id: Uuid, claim: Uuid, error: &str, next_attempt_at: Option<OffsetDateTime>) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE mail_outbox SET attempts = LEAST(attempts, 2147483646) + 1, last_error = $3,
                 claim_token = NULL, leased_until = NULL,
                 next_attempt_at = COALESCE($4, next_attempt_at),
                 state = CASE WHEN $4::timestamptz IS NULL THEN 'failed' ELSE 'pending' END
             WHERE id = $1 AND claim_token = $2",
        )
        .bind(id)
        .bind(claim)
        .bind(error)
        .bind(next_attempt_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(result.rows_affected() == 1)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PgAccountTokenStore {
    pool: PgPool,
}

impl PgAccountTokenStore {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl AccountTokenStore for PgAccountTokenStore {
    async fn create(&self, token: &AccountToken) -> Result<()> {
        sqlx::query(&format!("INSERT INTO account_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
            .bind(token.token_digest.as_bytes().as_slice())
            .bind(token.organization_id.as_uuid())
            .bind(token.user_id.as_uuid())
            .bind(token.purpose.as_str())
            .bind(token.email.as_str())
            .bind(token.password_stamp.as_ref().map(|stamp| stamp.as_bytes().to_vec()))
            .bind(token.created_at)
            .bind(token.expires_at)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn find(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<AccountToken>> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM account_tokens
             WHERE organization_id = $1 AND token_digest = $2 AND expires_at > $3"
        ))
        .bind(organization.as_uuid())
        .bind(token_digest.as_bytes().as_slice())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(read_token).transpose()
    }

    async fn consume(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
        purpose: AccountTokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<AccountToken>> {
        let row = sqlx::query(&format!(
            "DELETE FROM account_tokens
             WHERE organization_id = $1 AND token_digest = $2 AND purpose = $3 AND expires_at > $4
             RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(organization.as_uuid())
        .bind(token_digest.as_bytes().as_slice())
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(read_token).transpose()
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        let result = sqlx::query("DELETE FROM account_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected())
    }
}
