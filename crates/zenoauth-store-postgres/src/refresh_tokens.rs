//! `RefreshTokenStore` over `refresh_token_families` and `refresh_tokens`.
//! Rotation locks the family row (`SELECT … FOR UPDATE`), so concurrent
//! rotations of one token run one after another: the first rotates, the others
//! find the token rotated and revoke the family.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;
use zenoauth_domain::ids::{
    ApplicationId, AuthorizationCodeId, OrganizationId, RefreshTokenFamilyId, SessionId, UserId,
};
use zenoauth_domain::model::{RefreshRotation, RefreshToken, RefreshTokenFamily};
use zenoauth_domain::ports::RefreshTokenStore;
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::{Error, Result};

use crate::error::db_error;
use crate::rows::{expect_one, scope_array, RowReader};

const FAMILY_COLUMNS: &str = "f.id, f.organization_id, f.application_id, f.user_id, f.session_id, \
                              f.authorization_code_id, f.scope, f.auth_time, f.created_at, f.expires_at, f.revoked_at";
const TOKEN_COLUMNS: &str = "t.token_digest, t.family_id, t.organization_id AS token_organization_id, \
                             t.created_at AS token_created_at, t.expires_at AS token_expires_at, t.rotated_at";

#[derive(Debug, Clone)]
pub(crate) struct PgRefreshTokenStore {
    pool: PgPool,
}

impl PgRefreshTokenStore {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn read_family(row: &PgRow) -> Result<RefreshTokenFamily> {
    let row = RowReader::new(row, "refresh_token_families");
    Ok(RefreshTokenFamily {
        id: RefreshTokenFamilyId::from_uuid(row.get("id")?),
        organization_id: OrganizationId::from_uuid(row.get("organization_id")?),
        application_id: ApplicationId::from_uuid(row.get("application_id")?),
        user_id: row.get::<Option<uuid::Uuid>>("user_id")?.map(UserId::from_uuid),
        session_id: row.get::<Option<uuid::Uuid>>("session_id")?.map(SessionId::from_uuid),
        authorization_code_id: row
            .get::<Option<uuid::Uuid>>("authorization_code_id")?
            .map(AuthorizationCodeId::from_uuid),
        scope: row.scopes("scope")?,
        auth_time: row.get("auth_time")?,
        created_at: row.get("created_at")?,
        expires_at: row.get("expires_at")?,
        revoked_at: row.get("revoked_at")?,
    })
}

fn read_token(row: &PgRow) -> Result<RefreshToken> {
    let row = RowReader::new(row, "refresh_tokens");
    Ok(RefreshToken {
        token_digest: row.digest("token_digest")?,
        family_id: RefreshTokenFamilyId::from_uuid(row.get("family_id")?),
        organization_id: OrganizationId::from_uuid(row.get("token_organization_id")?),
        created_at: row.get("token_created_at")?,
        expires_at: row.get("token_expires_at")?,
        rotated_at: row.get("rotated_at")?,
    })
}

async fn insert_token(transaction: &mut Transaction<'_, Postgres>, token: &RefreshToken) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_digest, family_id, organization_id, created_at, expires_at, rotated_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&token.token_digest.as_bytes()[..])
    .bind(token.family_id.as_uuid())
    .bind(token.organization_id.as_uuid())
    .bind(token.created_at)
    .bind(token.expires_at)
    .bind(token.rotated_at)
    .execute(&mut **transaction)
    .await
    .map_err(db_error)?;
    Ok(())
}

impl PgRefreshTokenStore {
    /// Revokes, at `now`, the unrevoked families of the organization whose
    /// `column` equals `value`; returns how many it revoked.
    async fn revoke_where(
        &self,
        organization: OrganizationId,
        column: &'static str,
        value: uuid::Uuid,
        now: OffsetDateTime,
    ) -> Result<u64> {
        let result = sqlx::query(&format!(
            "UPDATE refresh_token_families SET revoked_at = $3
             WHERE organization_id = $1 AND {column} = $2 AND revoked_at IS NULL"
        ))
        .bind(organization.as_uuid())
        .bind(value)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(result.rows_affected())
    }
}

#[async_trait]
impl RefreshTokenStore for PgRefreshTokenStore {
    async fn create_family(&self, family: &RefreshTokenFamily, first: &RefreshToken) -> Result<()> {
        let mut transaction = self.pool.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO refresh_token_families (id, organization_id, application_id, user_id, session_id,
                                                 authorization_code_id, scope, auth_time, created_at, expires_at,
                                                 revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(family.id.as_uuid())
        .bind(family.organization_id.as_uuid())
        .bind(family.application_id.as_uuid())
        .bind(family.user_id.map(|id| id.as_uuid()))
        .bind(family.session_id.map(|id| id.as_uuid()))
        .bind(family.authorization_code_id.map(|id| id.as_uuid()))
        .bind(scope_array(&family.scope))
        .bind(family.auth_time)
        .bind(family.created_at)
        .bind(family.expires_at)
        .bind(family.revoked_at)
        .execute(&mut *transaction)
        .await
        .map_err(db_error)?;
        insert_token(&mut transaction, first).await?;
        transaction.commit().await.map_err(db_error)
    }

    async fn find(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
    ) -> Result<Option<(RefreshToken, RefreshTokenFamily)>> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS}, {FAMILY_COLUMNS}
             FROM refresh_tokens t
             JOIN refresh_token_families f ON f.organization_id = t.organization_id AND f.id = t.family_id
             WHERE t.organization_id = $1 AND t.token_digest = $2"
        ))
        .bind(organization.as_uuid())
        .bind(&token_digest.as_bytes()[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.map(|row| Ok((read_token(&row)?, read_family(&row)?))).transpose()
    }

    async fn rotate(
        &self,
        organization: OrganizationId,
        presented: &SecretDigest,
        successor: &SecretDigest,
        successor_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<RefreshRotation> {
        let mut transaction = self.pool.begin().await.map_err(db_error)?;
        // Lock the family first: a concurrent rotation of any of its tokens
        // waits here until this transaction ends.
        let family_row = sqlx::query(&format!(
            "SELECT {FAMILY_COLUMNS}
             FROM refresh_token_families f
             JOIN refresh_tokens t ON t.organization_id = f.organization_id AND t.family_id = f.id
             WHERE t.organization_id = $1 AND t.token_digest = $2
             FOR UPDATE OF f"
        ))
        .bind(organization.as_uuid())
        .bind(&presented.as_bytes()[..])
        .fetch_optional(&mut *transaction)
        .await
        .map_err(db_error)?;
        let Some(family_row) = family_row else {
            return Err(Error::InvalidGrant);
        };
        let mut family = read_family(&family_row)?;
        // A new statement under the lock sees whatever the previous holder committed.
        let token_row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM refresh_tokens t WHERE t.organization_id = $1 AND t.token_digest = $2"
        ))
        .bind(organization.as_uuid())
        .bind(&presented.as_bytes()[..])
        .fetch_optional(&mut *transaction)
        .await
        .map_err(db_error)?;
        let Some(token_row) = token_row else {
            return Err(Error::InvalidGrant);
        };
        let token = read_token(&token_row)?;

        if token.rotated_at.is_some() {
            // Reuse of a rotated token: someone holds a stolen copy. End the
            // family; a family revoked earlier keeps its first revocation time.
            if family.revoked_at.is_none() {
                sqlx::query("UPDATE refresh_token_families SET revoked_at = $3 WHERE organization_id = $1 AND id = $2")
                    .bind(organization.as_uuid())
                    .bind(family.id.as_uuid())
                    .bind(now)
                    .execute(&mut *transaction)
                    .await
                    .map_err(db_error)?;
                transaction.commit().await.map_err(db_error)?;
                family.revoked_at = Some(now);
            }
            return Ok(RefreshRotation::ReuseDetected(family));
        }
        if family.revoked_at.is_some() || family.expires_at <= now {
            return Err(Error::InvalidGrant);
        }
        if token.expires_at <= now {
            return Err(Error::InvalidGrant);
        }

        sqlx::query("UPDATE refresh_tokens SET rotated_at = $3 WHERE organization_id = $1 AND token_digest = $2")
            .bind(organization.as_uuid())
            .bind(&presented.as_bytes()[..])
            .bind(now)
            .execute(&mut *transaction)
            .await
            .map_err(db_error)?;
        let successor = RefreshToken {
            token_digest: *successor,
            family_id: family.id,
            organization_id: organization,
            created_at: now,
            expires_at: successor_expires_at,
            rotated_at: None,
        };
        insert_token(&mut transaction, &successor).await?;
        transaction.commit().await.map_err(db_error)?;
        Ok(RefreshRotation::Rotated(family))
    }

    async fn revoke_family(
        &self,
        organization: OrganizationId,
        family: RefreshTokenFamilyId,
        now: OffsetDateTime,
    ) -> Result<()> {
        // Revoking a revoked family keeps the first revocation time.
        let result = sqlx::query(
            "UPDATE refresh_token_families SET revoked_at = COALESCE(revoked_at, $3)
             WHERE organization_id = $1 AND id = $2",
        )
        .bind(organization.as_uuid())
        .bind(family.as_uuid())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        expect_one(result.rows_affected(), "refresh_token_family")
    }

    async fn revoke_for_code(
        &self,
        organization: OrganizationId,
        code: AuthorizationCodeId,
        now: OffsetDateTime,
    ) -> Result<u64> {
        self.revoke_where(organization, "authorization_code_id", code.as_uuid(), now).await
    }

    async fn revoke_for_session(
        &self,
        organization: OrganizationId,
        session: SessionId,
        now: OffsetDateTime,
    ) -> Result<u64> {
        self.revoke_where(organization, "session_id", session.as_uuid(), now).await
    }

    async fn revoke_for_user(&self, organization: OrganizationId, user: UserId, now: OffsetDateTime) -> Result<u64> {
        self.revoke_where(organization, "user_id", user.as_uuid(), now).await
    }

    async fn revoke_for_user_application(
        &self,
        organization: OrganizationId,
        user: UserId,
        application: ApplicationId,
        now: OffsetDateTime,
    ) -> Result<u64> {
        let result = sqlx::query(
            "UPDATE refresh_token_families SET revoked_at = $4
             WHERE organization_id = $1 AND user_id = $2 AND application_id = $3 AND revoked_at IS NULL",
        )
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .bind(application.as_uuid())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(result.rows_affected())
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        // Tokens cascade from their family.
        let result = sqlx::query("DELETE FROM refresh_token_families WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected())
    }
}
