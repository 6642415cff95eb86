//! `ConsentStore` over the `consents` table and `ClientAssertionStore` over
//! `client_assertion_jtis`.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::PgPool;
use time::OffsetDateTime;
use zenoauth_domain::ids::{ApplicationId, OrganizationId, UserId};
use zenoauth_domain::model::Consent;
use zenoauth_domain::ports::{ClientAssertionStore, ConsentStore};
use zenoauth_domain::values::{ClientId, ScopeSet};
use zenoauth_domain::{Error, Result};

use crate::error::db_error;
use crate::rows::{read_all, RowReader};

const COLUMNS: &str = "organization_id, user_id, application_id, scope, granted_at";

#[derive(Debug, Clone)]
pub(crate) struct PgConsentStore {
    pool: PgPool,
}

impl PgConsentStore {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn read_consent(row: &PgRow) -> Result<Consent> {
    let row = RowReader::new(row, "consents");
    Ok(Consent {
        organization_id: OrganizationId::from_uuid(row.get("organization_id")?),
        user_id: UserId::from_uuid(row.get("user_id")?),
        application_id: ApplicationId::from_uuid(row.get("application_id")?),
        scope: row.parse("scope", ScopeSet::parse)?,
        granted_at: row.get("granted_at")?,
    })
}

#[async_trait]
impl ConsentStore for PgConsentStore {
    async fn find(
        &self,
        organization: OrganizationId,
        user: UserId,
        application: ApplicationId,
    ) -> Result<Option<Consent>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM consents WHERE organization_id = $1 AND user_id = $2 AND application_id = $3"
        ))
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .bind(application.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(read_consent).transpose()
    }

    async fn save(&self, consent: &Consent) -> Result<()> {
        let result = sqlx::query(
            "INSERT INTO consents (organization_id, user_id, application_id, scope, granted_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (organization_id, user_id, application_id)
             DO UPDATE SET scope = EXCLUDED.scope, granted_at = EXCLUDED.granted_at",
        )
        .bind(consent.organization_id.as_uuid())
        .bind(consent.user_id.as_uuid())
        .bind(consent.application_id.as_uuid())
        .bind(consent.scope.to_string())
        .bind(consent.granted_at)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(error)) if error.is_foreign_key_violation() => {
                Err(Error::NotFound(match error.constraint() {
                    Some("consents_application_fkey") => "application",
                    Some("consents_organization_fkey") => "organization",
                    _ => "user",
                }))
            }
            Err(error) => Err(db_error(error)),
        }
    }

    async fn delete(&self, organization: OrganizationId, user: UserId, application: ApplicationId) -> Result<bool> {
        let result =
            sqlx::query("DELETE FROM consents WHERE organization_id = $1 AND user_id = $2 AND application_id = $3")
                .bind(organization.as_uuid())
                .bind(user.as_uuid())
                .bind(application.as_uuid())
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
        Ok(result.rows_affected() > 0)
    }

    async fn list_for_user(&self, organization: OrganizationId, user: UserId) -> Result<Vec<Consent>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM consents WHERE organization_id = $1 AND user_id = $2 ORDER BY application_id"
        ))
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        read_all(&rows, read_consent)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PgClientAssertionStore {
    pool: PgPool,
}

impl PgClientAssertionStore {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl ClientAssertionStore for PgClientAssertionStore {
    async fn record_jti(
        &self,
        organization: OrganizationId,
        client_id: &ClientId,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool> {
        // Inserted, or replacing an expired entry: first use. A live entry: replay.
        let result = sqlx::query(
            "INSERT INTO client_assertion_jtis (organization_id, client_id, jti, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (organization_id, client_id, jti)
             DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE client_assertion_jtis.expires_at <= $5",
        )
        .bind(organization.as_uuid())
        .bind(client_id.as_str())
        .bind(jti)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await;
        match result {
            Ok(done) => Ok(done.rows_affected() == 1),
            Err(sqlx::Error::Database(error)) if error.is_foreign_key_violation() => {
                Err(Error::NotFound("organization"))
            }
            Err(error) => Err(db_error(error)),
        }
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        let result = sqlx::query("DELETE FROM client_assertion_jtis WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected())
    }
}
