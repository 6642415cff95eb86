//! [`ConsentStore`] over the `consents` table and [`ClientAssertionStore`]
//! over `client_assertion_jtis`.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::SqlitePool;
use time::OffsetDateTime;
use zenoauth_domain::ids::{ApplicationId, OrganizationId, UserId};
use zenoauth_domain::model::Consent;
use zenoauth_domain::ports::{ClientAssertionStore, ConsentStore};
use zenoauth_domain::values::{ClientId, ScopeSet};
use zenoauth_domain::{Error, Result};

use crate::convert::{classify, instant, micros, parsed, unavailable, uuid, write_error, Parent, WriteFailure};

const COLUMNS: &str = "organization_id, user_id, application_id, scope, granted_at";

#[derive(Debug, Clone)]
pub(crate) struct SqliteConsentStore {
    pool: SqlitePool,
}

impl SqliteConsentStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn consent(row: &SqliteRow) -> Result<Consent> {
    Ok(Consent {
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        user_id: UserId::from_uuid(uuid(row, "user_id")?),
        application_id: ApplicationId::from_uuid(uuid(row, "application_id")?),
        scope: parsed(row, "scope", ScopeSet::parse)?,
        granted_at: instant(row, "granted_at")?,
    })
}

#[async_trait]
impl ConsentStore for SqliteConsentStore {
    async fn find(
        &self,
        organization: OrganizationId,
        user: UserId,
        application: ApplicationId,
    ) -> Result<Option<Consent>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM consents WHERE organization_id = ? AND user_id = ? AND application_id = ?"
        ))
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .bind(application.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(consent).transpose()
    }

    async fn save(&self, consent: &Consent) -> Result<()> {
        let result = sqlx::query(
            "INSERT INTO consents (organization_id, user_id, application_id, scope, granted_at) \
             VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (organization_id, user_id, application_id) \
             DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
        )
        .bind(consent.organization_id.as_uuid())
        .bind(consent.user_id.as_uuid())
        .bind(consent.application_id.as_uuid())
        .bind(consent.scope.to_string())
        .bind(micros(consent.granted_at))
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => {
                let parents = [
                    Parent { name: "user", table: "users", id: Some(consent.user_id.as_uuid()) },
                    Parent { name: "application", table: "applications", id: Some(consent.application_id.as_uuid()) },
                ];
                Err(write_error(classify(error, &[]), &self.pool, consent.organization_id.as_uuid(), &parents, "user")
                    .await)
            }
        }
    }

    async fn delete(&self, organization: OrganizationId, user: UserId, application: ApplicationId) -> Result<bool> {
        sqlx::query("DELETE FROM consents WHERE organization_id = ? AND user_id = ? AND application_id = ?")
            .bind(organization.as_uuid())
            .bind(user.as_uuid())
            .bind(application.as_uuid())
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected() > 0)
            .map_err(unavailable)
    }

    async fn list_for_user(&self, organization: OrganizationId, user: UserId) -> Result<Vec<Consent>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM consents WHERE organization_id = ? AND user_id = ? ORDER BY application_id"
        ))
        .bind(organization.as_uuid())
        .bind(user.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(consent).collect()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SqliteClientAssertionStore {
    pool: SqlitePool,
}

impl SqliteClientAssertionStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl ClientAssertionStore for SqliteClientAssertionStore {
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
            "INSERT INTO client_assertion_jtis (organization_id, client_id, jti, expires_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (organization_id, client_id, jti) \
             DO UPDATE SET expires_at = excluded.expires_at WHERE client_assertion_jtis.expires_at <= ?",
        )
        .bind(organization.as_uuid())
        .bind(client_id.as_str())
        .bind(jti)
        .bind(micros(expires_at))
        .bind(micros(now))
        .execute(&self.pool)
        .await;
        match result {
            Ok(done) => Ok(done.rows_affected() == 1),
            Err(error) => Err(match classify(error, &[]) {
                WriteFailure::MissingParent => Error::NotFound("organization"),
                WriteFailure::Conflict(name) => Error::Conflict(name),
                WriteFailure::Other(error) => error,
            }),
        }
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64> {
        sqlx::query("DELETE FROM client_assertion_jtis WHERE expires_at <= ?")
            .bind(micros(now))
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(unavailable)
    }
}
