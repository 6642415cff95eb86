//! [`AuthorizationCodeStore`] over the `authorization_codes` table.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::SqlitePool;
use time::OffsetDateTime;
use zenoauth_domain::ids::{ApplicationId, AuthorizationCodeId, OrganizationId, SessionId, UserId};
use zenoauth_domain::model::{AuthorizationCode, CodeChallenge, CodeRedemption};
use zenoauth_domain::ports::AuthorizationCodeStore;
use zenoauth_domain::values::{RedirectUri, ScopeSet, SecretDigest};
use zenoauth_domain::{Error, Result};

use crate::convert::{
    as_stored, classify, column, digest, instant, micros, optional_instant, optional_micros, optional_uuid, parsed,
    unavailable, uuid, write_error, Parent,
};

const COLUMNS: &str = "id, organization_id, code_digest, application_id, user_id, session_id, redirect_uri, scope, \
                       code_challenge, nonce, auth_time, created_at, expires_at, consumed_at";

const UNIQUES: &[(&str, &str)] = &[
    ("authorization_codes.organization_id, authorization_codes.code_digest", "authorization_code"),
    ("authorization_codes.id", "authorization_code_id"),
    ("authorization_codes.organization_id, authorization_codes.id", "authorization_code_id"),
];

#[derive(Debug, Clone)]
pub(crate) struct SqliteAuthorizationCodeStore {
    pool: SqlitePool,
}

impl SqliteAuthorizationCodeStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn authorization_code(row: &SqliteRow) -> Result<AuthorizationCode> {
    Ok(AuthorizationCode {
        id: AuthorizationCodeId::from_uuid(uuid(row, "id")?),
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        code_digest: digest(row, "code_digest")?,
        application_id: ApplicationId::from_uuid(uuid(row, "application_id")?),
        user_id: UserId::from_uuid(uuid(row, "user_id")?),
        session_id: optional_uuid(row, "session_id")?.map(SessionId::from_uuid),
        redirect_uri: parsed(row, "redirect_uri", RedirectUri::parse)?,
        scope: parsed(row, "scope", ScopeSet::parse)?,
        code_challenge: parsed(row, "code_challenge", CodeChallenge::parse_s256)?,
        nonce: column(row, "nonce")?,
        auth_time: instant(row, "auth_time")?,
        created_at: instant(row, "created_at")?,
        expires_at: instant(row, "expires_at")?,
        consumed_at: optional_instant(row, "consumed_at")?,
    })
}

#[async_trait]
impl AuthorizationCodeStore for SqliteAuthorizationCodeStore {
    async fn create(&self, code: &AuthorizationCode) -> Result<()> {
        let result = sqlx::query(
            "INSERT INTO authorization_codes (id, organization_id, code_digest, application_id, user_id, session_id, \
             redirect_uri, scope, code_challenge, nonce, auth_time, created_at, expires_at, consumed_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(code.id.as_uuid())
        .bind(code.organization_id.as_uuid())
        .bind(code.code_digest.as_bytes().as_slice())
        .bind(code.application_id.as_uuid())
        .bind(code.user_id.as_uuid())
        .bind(code.session_id.map(|id| id.as_uuid()))
        .bind(code.redirect_uri.as_str())
        .bind(code.scope.to_string())
        .bind(code.code_challenge.as_str())
        .bind(code.nonce.as_deref())
        .bind(micros(code.auth_time))
        .bind(micros(code.created_at))
        .bind(micros(code.expires_at))
        .bind(optional_micros(code.consumed_at))
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => {
                let parents = [
                    Parent { name: "application", table: "applications", id: Some(code.application_id.as_uuid()) },
                    Parent { name: "user", table: "users", id: Some(code.user_id.as_uuid()) },
                    Parent { name: "session", table: "sessions", id: code.session_id.map(|id| id.as_uuid()) },
                ];
                Err(write_error(classify(error, UNIQUES), &self.pool, code.organization_id.as_uuid(), &parents, "user")
                    .await)
            }
        }
    }

    async fn redeem(
        &self,
        organization: OrganizationId,
        code_digest: &SecretDigest,
        now: OffsetDateTime,
    ) -> Result<CodeRedemption> {
        // IMMEDIATE takes the write lock up front: concurrent redeemers queue
        // here, and each sees the previous one's consumed_at.
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(unavailable)?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM authorization_codes WHERE organization_id = ? AND code_digest = ?"
        ))
        .bind(organization.as_uuid())
        .bind(code_digest.as_bytes().as_slice())
        .fetch_optional(&mut *transaction)
        .await
        .map_err(unavailable)?;
        let Some(row) = row else { return Err(Error::InvalidGrant) };
        let mut code = authorization_code(&row)?;
        if code.expires_at <= now {
            return Err(Error::InvalidGrant);
        }
        if code.consumed_at.is_some() {
            return Ok(CodeRedemption::Replayed(code));
        }
        sqlx::query("UPDATE authorization_codes SET consumed_at = ? WHERE organization_id = ? AND id = ?")
            .bind(micros(now))
            .bind(organization.as_uuid())
            .bind(code.id.as_uuid())
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        transaction.commit().await.map_err(unavailable)?;
        code.consumed_at = Some(as_stored(now));
        Ok(CodeRedemption::Redeemed(code))
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        sqlx::query("DELETE FROM authorization_codes WHERE expires_at <= ?")
            .bind(micros(now))
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(unavailable)
    }

    async fn record_access_token(
        &self,
        organization: OrganizationId,
        code: AuthorizationCodeId,
        jti: &str,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        let result = sqlx::query(
            "UPDATE authorization_codes SET access_token_jti = ?, access_token_expires_at = ? \
             WHERE organization_id = ? AND id = ?",
        )
        .bind(jti)
        .bind(micros(expires_at))
        .bind(organization.as_uuid())
        .bind(code.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        if result.rows_affected() == 0 {
            return Err(Error::NotFound("authorization_code"));
        }
        Ok(())
    }

    async fn issued_access_token(
        &self,
        organization: OrganizationId,
        code: AuthorizationCodeId,
    ) -> Result<Option<(String, OffsetDateTime)>> {
        let row = sqlx::query(
            "SELECT access_token_jti, access_token_expires_at FROM authorization_codes \
             WHERE organization_id = ? AND id = ?",
        )
        .bind(organization.as_uuid())
        .bind(code.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        let Some(row) = row else { return Ok(None) };
        let jti = column::<Option<String>>(&row, "access_token_jti")?;
        let expires_at = optional_instant(&row, "access_token_expires_at")?;
        Ok(jti.zip(expires_at))
    }
}
