//! `AuthorizationCodeStore` over the `authorization_codes` table. Redemption
//! is one conditional `UPDATE`, so PostgreSQL's row lock decides which of
//! concurrent callers consumes the code.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::PgPool;
use time::OffsetDateTime;
use zenoauth_domain::ids::{ApplicationId, AuthorizationCodeId, OrganizationId, SessionId, UserId};
use zenoauth_domain::model::{AuthorizationCode, CodeChallenge, CodeRedemption};
use zenoauth_domain::ports::AuthorizationCodeStore;
use zenoauth_domain::values::{RedirectUri, SecretDigest};
use zenoauth_domain::{Error, Result};

use crate::error::db_error;
use crate::rows::{scope_array, RowReader};

const COLUMNS: &str = "id, organization_id, code_digest, application_id, user_id, session_id, redirect_uri, scope, \
                       code_challenge, nonce, auth_time, created_at, expires_at, consumed_at";

#[derive(Debug, Clone)]
pub(crate) struct PgAuthorizationCodeStore {
    pool: PgPool,
}

impl PgAuthorizationCodeStore {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn read_code(row: &PgRow) -> Result<AuthorizationCode> {
    let row = RowReader::new(row, "authorization_codes");
    Ok(AuthorizationCode {
        id: AuthorizationCodeId::from_uuid(row.get("id")?),
        organization_id: OrganizationId::from_uuid(row.get("organization_id")?),
        code_digest: row.digest("code_digest")?,
        application_id: ApplicationId::from_uuid(row.get("application_id")?),
        user_id: UserId::from_uuid(row.get("user_id")?),
        session_id: row.get::<Option<uuid::Uuid>>("session_id")?.map(SessionId::from_uuid),
        redirect_uri: row.parse("redirect_uri", RedirectUri::parse)?,
        scope: row.scopes("scope")?,
        code_challenge: row.parse("code_challenge", CodeChallenge::parse_s256)?,
        nonce: row.get("nonce")?,
        auth_time: row.get("auth_time")?,
        created_at: row.get("created_at")?,
        expires_at: row.get("expires_at")?,
        consumed_at: row.get("consumed_at")?,
    })
}

#[async_trait]
impl AuthorizationCodeStore for PgAuthorizationCodeStore {
    async fn create(&self, code: &AuthorizationCode) -> Result<()> {
        sqlx::query(
            "INSERT INTO authorization_codes (id, organization_id, code_digest, application_id, user_id, session_id,
                                              redirect_uri, scope, code_challenge, nonce, auth_time, created_at,
                                              expires_at, consumed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(code.id.as_uuid())
        .bind(code.organization_id.as_uuid())
        .bind(&code.code_digest.as_bytes()[..])
        .bind(code.application_id.as_uuid())
        .bind(code.user_id.as_uuid())
        .bind(code.session_id.map(|id| id.as_uuid()))
        .bind(code.redirect_uri.as_str())
        .bind(scope_array(&code.scope))
        .bind(code.code_challenge.as_str())
        .bind(code.nonce.as_deref())
        .bind(code.auth_time)
        .bind(code.created_at)
        .bind(code.expires_at)
        .bind(code.consumed_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn redeem(
        &self,
        organization: OrganizationId,
        code_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<CodeRedemption> {
        // Concurrent UPDATEs of one row serialise on its lock; the losers
        // re-check `consumed_at IS NULL` against the winner's row and match nothing.
        let redeemed = sqlx::query(&format!(
            "UPDATE authorization_codes SET consumed_at = $3
             WHERE organization_id = $1 AND code_digest = $2 AND consumed_at IS NULL AND expires_at > $3
             RETURNING {COLUMNS}"
        ))
        .bind(organization.as_uuid())
        .bind(&code_digest.as_bytes()[..])
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        if let Some(row) = redeemed {
            return Ok(CodeRedemption::Redeemed(read_code(&row)?));
        }
        // Not redeemed by us: already consumed (a replay), expired or unknown.
        let existing = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM authorization_codes WHERE organization_id = $1 AND code_digest = $2"
        ))
        .bind(organization.as_uuid())
        .bind(&code_digest.as_bytes()[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        match existing.as_ref().map(read_code).transpose()? {
            Some(code) if code.consumed_at.is_some() => Ok(CodeRedemption::Replayed(code)),
            _ => Err(Error::InvalidGrant),
        }
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        let result = sqlx::query("DELETE FROM authorization_codes WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected())
    }

    async fn record_access_token(
        &self,
        organization: OrganizationId,
        code: AuthorizationCodeId,
        jti: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        let result = sqlx::query(
            "UPDATE authorization_codes SET access_token_jti = $1, access_token_expires_at = $2
             WHERE organization_id = $3 AND id = $4",
        )
        .bind(jti)
        .bind(expires_at)
        .bind(organization.as_uuid())
        .bind(code.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        crate::rows::expect_one(result.rows_affected(), "authorization_code")
    }

    async fn issued_access_token(
        &self,
        organization: OrganizationId,
        code: AuthorizationCodeId,
    ) -> Result<Option<(String, OffsetDateTime)>> {
        let row: Option<(Option<String>, Option<OffsetDateTime>)> = sqlx::query_as(
            "SELECT access_token_jti, access_token_expires_at FROM authorization_codes
             WHERE organization_id = $1 AND id = $2",
        )
        .bind(organization.as_uuid())
        .bind(code.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(match row {
            Some((Some(jti), Some(expires_at))) => Some((jti, expires_at)),
            _ => None,
        })
    }
}
