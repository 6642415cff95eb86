//! `MailOutbox` over `mail_outbox` and `AccountTokenStore` over
//! `account_tokens`. SQLite has one writer at a time, so each claim (an
//! `UPDATE … RETURNING` of the due ids) and each consumption (a `DELETE …
//! RETURNING`) is atomic.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::SqlitePool;
use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::email::{AccountToken, AccountTokenPurpose, OutboxMessage, OutboxState};
use zenoauth_domain::ids::{OrganizationId, UserId};
use zenoauth_domain::ports::{AccountTokenStore, MailOutbox};
use zenoauth_domain::values::{Email, SecretDigest};
use zenoauth_domain::Result;

use crate::convert::{
    classify, column, corrupt, digest, instant, micros, optional_micros, parsed, unavailable, uuid, write_error, Parent,
};

const OUTBOX_COLUMNS: &str =
    "id, organization_id, recipient, subject, body, state, attempts, next_attempt_at, last_error, created_at";
const TOKEN_COLUMNS: &str =
    "token_digest, organization_id, user_id, purpose, email, password_stamp, created_at, expires_at";

fn read_message(row: &SqliteRow) -> Result<OutboxMessage> {
    let attempts: i64 = column(row, "attempts")?;
    Ok(OutboxMessage {
        id: uuid(row, "id")?,
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        recipient: parsed(row, "recipient", Email::parse)?,
        subject: column(row, "subject")?,
        body: column(row, "body")?,
        state: parsed(row, "state", OutboxState::parse)?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at: instant(row, "next_attempt_at")?,
        last_error: column(row, "last_error")?,
        created_at: instant(row, "created_at")?,
    })
}

fn read_token(row: &SqliteRow) -> Result<AccountToken> {
    let stamp: Option<Vec<u8>> = column(row, "password_stamp")?;
    Ok(AccountToken {
        token_digest: digest(row, "token_digest")?,
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        user_id: UserId::from_uuid(uuid(row, "user_id")?),
        purpose: parsed(row, "purpose", AccountTokenPurpose::parse)?,
        email: parsed(row, "email", Email::parse)?,
        password_stamp: stamp
            .map(|bytes| SecretDigest::from_slice(&bytes))
            .transpose()
            .map_err(|error| corrupt("password_stamp", error))?,
        created_at: instant(row, "created_at")?,
        expires_at: instant(row, "expires_at")?,
    })
}

#[derive(Debug, Clone)]
pub(crate) struct SqliteMailOutbox {
    pool: SqlitePool,
}

impl SqliteMailOutbox {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl MailOutbox for SqliteMailOutbox {
    async fn enqueue(&self, message: &OutboxMessage) -> Result<()> {
        let result =
            sqlx::query(&format!("INSERT INTO mail_outbox ({OUTBOX_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
                .bind(message.id)
                .bind(message.organization_id.as_uuid())
                .bind(message.recipient.as_str())
                .bind(&message.subject)
                .bind(&message.body)
                .bind(message.state.as_str())
                .bind(i64::from(message.attempts))
                .bind(micros(message.next_attempt_at))
                .bind(&message.last_error)
                .bind(micros(message.created_at))
                .execute(&self.pool)
                .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => Err(write_error(
                classify(error, &[("mail_outbox.id", "outbox_message_id")]),
                &self.pool,
                message.organization_id.as_uuid(),
                &[],
                "organization",
            )
            .await),
        }
    }

    async fn find(&self, id: Uuid) -> Result<Option<OutboxMessage>> {
        let row = sqlx::query(&format!("SELECT {OUTBOX_COLUMNS} FROM mail_outbox WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
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
            "UPDATE mail_outbox SET claim_token = ?2, leased_until = ?3
             WHERE id IN (
                 SELECT id FROM mail_outbox
                 WHERE state = 'pending' AND next_attempt_at <= ?1 AND (leased_until IS NULL OR leased_until <= ?1)
                 ORDER BY next_attempt_at, id LIMIT ?4)
             RETURNING {OUTBOX_COLUMNS}"
        ))
        .bind(micros(now))
        .bind(claim)
        .bind(micros(lease_until))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        let mut messages = rows.iter().map(read_message).collect::<Result<Vec<_>>>()?;
        messages.sort_by_key(|message| (message.next_attempt_at, message.id));
        Ok(messages)
    }

    async fn complete(&self, id: Uuid, claim: Uuid) -> Result<bool> {
        let result = sqlx::query("DELETE FROM mail_outbox WHERE id = ? AND claim_token = ?")
            .bind(id)
            .bind(claim)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn fail(&self, id: Uuid, claim: Uuid, error: &str, next_attempt_at: Option<OffsetDateTime>) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE mail_outbox SET attempts = MIN(attempts, 2147483646) + 1, last_error = ?3,
                 claim_token = NULL, leased_until = NULL,
                 next_attempt_at = COALESCE(?4, next_attempt_at),
                 state = CASE WHEN ?4 IS NULL THEN 'failed' ELSE 'pending' END
             WHERE id = ?1 AND claim_token = ?2",
        )
        .bind(id)
        .bind(claim)
        .bind(error)
        .bind(optional_micros(next_attempt_at))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SqliteAccountTokenStore {
    pool: SqlitePool,
}

impl SqliteAccountTokenStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl AccountTokenStore for SqliteAccountTokenStore {
    async fn create(&self, token: &AccountToken) -> Result<()> {
        let result =
            sqlx::query(&format!("INSERT INTO account_tokens ({TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"))
                .bind(token.token_digest.as_bytes().as_slice())
                .bind(token.organization_id.as_uuid())
                .bind(token.user_id.as_uuid())
                .bind(token.purpose.as_str())
                .bind(token.email.as_str())
                .bind(token.password_stamp.as_ref().map(|stamp| stamp.as_bytes().to_vec()))
                .bind(micros(token.created_at))
                .bind(micros(token.expires_at))
                .execute(&self.pool)
                .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => {
                let parents = [Parent { name: "user", table: "users", id: Some(token.user_id.as_uuid()) }];
                Err(write_error(
                    classify(error, &[("account_tokens.token_digest", "account_token")]),
                    &self.pool,
                    token.organization_id.as_uuid(),
                    &parents,
                    "user",
                )
                .await)
            }
        }
    }

    async fn find(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<Option<AccountToken>> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM account_tokens WHERE organization_id = ? AND token_digest = ? AND expires_at > ?"
        ))
        .bind(organization.as_uuid())
        .bind(token_digest.as_bytes().as_slice())
        .bind(micros(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
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
             WHERE organization_id = ? AND token_digest = ? AND purpose = ? AND expires_at > ?
             RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(organization.as_uuid())
        .bind(token_digest.as_bytes().as_slice())
        .bind(purpose.as_str())
        .bind(micros(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(read_token).transpose()
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        let result = sqlx::query("DELETE FROM account_tokens WHERE expires_at <= ?")
            .bind(micros(now))
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }
}
