//! [`RefreshTokenStore`] over `refresh_token_families` and `refresh_tokens`.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{SqliteConnection, SqlitePool};
use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::ids::{
    ApplicationId, AuthorizationCodeId, OrganizationId, RefreshTokenFamilyId, SessionId, UserId,
};
use zenoauth_domain::model::{RefreshRotation, RefreshToken, RefreshTokenFamily};
use zenoauth_domain::ports::RefreshTokenStore;
use zenoauth_domain::values::{ScopeSet, SecretDigest};
use zenoauth_domain::{Error, Result};

use crate::convert::{
    as_stored, classify, digest, instant, micros, optional_instant, optional_micros, optional_uuid, parsed,
    unavailable, uuid, write_error, Parent,
};

/// A token joined with its family; family columns are prefixed `family_`
/// where the names would clash.
const JOINED: &str = "SELECT t.token_digest, t.family_id, t.organization_id, t.created_at, t.expires_at, \
                      t.rotated_at, f.application_id, f.user_id, f.session_id, f.authorization_code_id, f.scope, \
                      f.auth_time, f.created_at AS family_created_at, f.expires_at AS family_expires_at, \
                      f.revoked_at AS family_revoked_at \
                      FROM refresh_tokens AS t \
                      JOIN refresh_token_families AS f ON f.organization_id = t.organization_id AND f.id = t.family_id \
                      WHERE t.organization_id = ? AND t.token_digest = ?";

const UNIQUES: &[(&str, &str)] = &[
    ("refresh_tokens.organization_id, refresh_tokens.token_digest", "refresh_token"),
    ("refresh_token_families.id", "refresh_token_family_id"),
    ("refresh_token_families.organization_id, refresh_token_families.id", "refresh_token_family_id"),
];

#[derive(Debug, Clone)]
pub(crate) struct SqliteRefreshTokenStore {
    pool: SqlitePool,
}

impl SqliteRefreshTokenStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn token_and_family(row: &SqliteRow) -> Result<(RefreshToken, RefreshTokenFamily)> {
    let organization_id = OrganizationId::from_uuid(uuid(row, "organization_id")?);
    let family_id = RefreshTokenFamilyId::from_uuid(uuid(row, "family_id")?);
    let token = RefreshToken {
        token_digest: digest(row, "token_digest")?,
        family_id,
        organization_id,
        created_at: instant(row, "created_at")?,
        expires_at: instant(row, "expires_at")?,
        rotated_at: optional_instant(row, "rotated_at")?,
    };
    let family = RefreshTokenFamily {
        id: family_id,
        organization_id,
        application_id: ApplicationId::from_uuid(uuid(row, "application_id")?),
        user_id: optional_uuid(row, "user_id")?.map(UserId::from_uuid),
        session_id: optional_uuid(row, "session_id")?.map(SessionId::from_uuid),
        authorization_code_id: optional_uuid(row, "authorization_code_id")?.map(AuthorizationCodeId::from_uuid),
        scope: parsed(row, "scope", ScopeSet::parse)?,
        auth_time: optional_instant(row, "auth_time")?,
        created_at: instant(row, "family_created_at")?,
        expires_at: instant(row, "family_expires_at")?,
        revoked_at: optional_instant(row, "family_revoked_at")?,
    };
    Ok((token, family))
}

async fn insert_token(connection: &mut SqliteConnection, token: &RefreshToken) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_digest, family_id, organization_id, created_at, expires_at, rotated_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(token.token_digest.as_bytes().as_slice())
    .bind(token.family_id.as_uuid())
    .bind(token.organization_id.as_uuid())
    .bind(micros(token.created_at))
    .bind(micros(token.expires_at))
    .bind(optional_micros(token.rotated_at))
    .execute(connection)
    .await
    .map(drop)
}

async fn insert_family(connection: &mut SqliteConnection, family: &RefreshTokenFamily) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_token_families (id, organization_id, application_id, user_id, session_id, \
         authorization_code_id, scope, auth_time, created_at, expires_at, revoked_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(family.id.as_uuid())
    .bind(family.organization_id.as_uuid())
    .bind(family.application_id.as_uuid())
    .bind(family.user_id.map(|id| id.as_uuid()))
    .bind(family.session_id.map(|id| id.as_uuid()))
    .bind(family.authorization_code_id.map(|id| id.as_uuid()))
    .bind(family.scope.to_string())
    .bind(optional_micros(family.auth_time))
    .bind(micros(family.created_at))
    .bind(micros(family.expires_at))
    .bind(optional_micros(family.revoked_at))
    .execute(connection)
    .await
    .map(drop)
}

impl SqliteRefreshTokenStore {
    /// Revokes the not-yet-revoked families matching `column = value`; returns how many.
    async fn revoke_where(
        &self,
        organization: OrganizationId,
        column: &'static str,
        value: Uuid,
        now: OffsetDateTime,
    ) -> Result<u64> {
        let sql = format!(
            "UPDATE refresh_token_families SET revoked_at = ? \
             WHERE organization_id = ? AND {column} = ? AND revoked_at IS NULL"
        );
        sqlx::query(&sql)
            .bind(micros(now))
            .bind(organization.as_uuid())
            .bind(value)
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(unavailable)
    }
}

#[async_trait]
impl RefreshTokenStore for SqliteRefreshTokenStore {
    async fn create_family(&self, family: &RefreshTokenFamily, first: &RefreshToken) -> Result<()> {
        let written = async {
            let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            insert_family(&mut transaction, family).await?;
            insert_token(&mut transaction, first).await?;
            transaction.commit().await
        }
        .await;
        match written {
            Ok(()) => Ok(()),
            Err(error) => {
                let parents = [
                    Parent { name: "application", table: "applications", id: Some(family.application_id.as_uuid()) },
                    Parent { name: "user", table: "users", id: family.user_id.map(|id| id.as_uuid()) },
                    Parent { name: "session", table: "sessions", id: family.session_id.map(|id| id.as_uuid()) },
                    Parent {
                        name: "authorization_code",
                        table: "authorization_codes",
                        id: family.authorization_code_id.map(|id| id.as_uuid()),
                    },
                ];
                Err(write_error(
                    classify(error, UNIQUES),
                    &self.pool,
                    family.organization_id.as_uuid(),
                    &parents,
                    "refresh_token_family",
                )
                .await)
            }
        }
    }

    async fn find(
        &self,
        organization: OrganizationId,
        token_digest: &SecretDigest,
    ) -> Result<Option<(RefreshToken, RefreshTokenFamily)>> {
        let row = sqlx::query(JOINED)
            .bind(organization.as_uuid())
            .bind(token_digest.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(token_and_family).transpose()
    }

    async fn rotate(
        &self,
        organization: OrganizationId,
        presented: &SecretDigest,
        successor: &SecretDigest,
        successor_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<RefreshRotation> {
        // IMMEDIATE takes the write lock up front: concurrent rotations of one
        // token queue here, and each sees the previous one's rotated_at.
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(unavailable)?;
        let row = sqlx::query(JOINED)
            .bind(organization.as_uuid())
            .bind(presented.as_bytes().as_slice())
            .fetch_optional(&mut *transaction)
            .await
            .map_err(unavailable)?;
        let Some(row) = row else { return Err(Error::InvalidGrant) };
        let (token, mut family) = token_and_family(&row)?;
        if family.expires_at <= now || token.expires_at <= now {
            return Err(Error::InvalidGrant);
        }
        if token.rotated_at.is_some() {
            // Reuse of a rotated token: revoke the family, unless an earlier
            // reuse (or an explicit revocation) already did, whose time stays.
            if family.revoked_at.is_none() {
                sqlx::query("UPDATE refresh_token_families SET revoked_at = ? WHERE organization_id = ? AND id = ?")
                    .bind(micros(now))
                    .bind(organization.as_uuid())
                    .bind(family.id.as_uuid())
                    .execute(&mut *transaction)
                    .await
                    .map_err(unavailable)?;
                transaction.commit().await.map_err(unavailable)?;
                family.revoked_at = Some(as_stored(now));
            }
            return Ok(RefreshRotation::ReuseDetected(family));
        }
        if family.revoked_at.is_some() {
            return Err(Error::InvalidGrant);
        }
        sqlx::query("UPDATE refresh_tokens SET rotated_at = ? WHERE organization_id = ? AND token_digest = ?")
            .bind(micros(now))
            .bind(organization.as_uuid())
            .bind(presented.as_bytes().as_slice())
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        let next = RefreshToken {
            token_digest: *successor,
            family_id: family.id,
            organization_id: organization,
            created_at: now,
            expires_at: successor_expires_at,
            rotated_at: None,
        };
        if let Err(error) = insert_token(&mut transaction, &next).await {
            return Err(write_error(
                classify(error, UNIQUES),
                &self.pool,
                organization.as_uuid(),
                &[],
                "refresh_token",
            )
            .await);
        }
        transaction.commit().await.map_err(unavailable)?;
        Ok(RefreshRotation::Rotated(family))
    }

    async fn revoke_family(
        &self,
        organization: OrganizationId,
        family: RefreshTokenFamilyId,
        now: OffsetDateTime,
    ) -> Result<()> {
        let revoked = self.revoke_where(organization, "id", family.as_uuid(), now).await?;
        if revoked == 0 {
            // Revoking a revoked family again succeeds; an unknown one does not.
            let exists = sqlx::query("SELECT 1 FROM refresh_token_families WHERE organization_id = ? AND id = ?")
                .bind(organization.as_uuid())
                .bind(family.as_uuid())
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
            if exists.is_none() {
                return Err(Error::NotFound("refresh_token_family"));
            }
        }
        Ok(())
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
        sqlx::query(
            "UPDATE refresh_token_families SET revoked_at = ? \
             WHERE organization_id = ? AND user_id = ? AND application_id = ? AND revoked_at IS NULL",
        )
        .bind(micros(now))
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .bind(application.as_uuid())
        .execute(&self.pool)
        .await
        .map(|done| done.rows_affected())
        .map_err(unavailable)
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        sqlx::query("DELETE FROM refresh_token_families WHERE expires_at <= ?")
            .bind(micros(now))
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(unavailable)
    }
}
