//! `ApplicationRepository` over the `applications` table. A public client is a
//! row whose `client_secret_digest` is NULL.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::PgPool;
use time::OffsetDateTime;
use zenoauth_domain::ids::{ApplicationId, OrganizationId};
use zenoauth_domain::model::{Application, ClientType};
use zenoauth_domain::ports::{ApplicationRepository, PageRequest};
use zenoauth_domain::values::{ClientId, DisplayName, RedirectUri};
use zenoauth_domain::{Error, Result};

use crate::error::db_error;
use crate::rows::{after, expect_one, expect_written, limit, read_all, scope_array, RowReader};

const COLUMNS: &str = "id, organization_id, client_id, name, client_secret_digest, redirect_uris, allowed_scopes, \
                       settings, created_at, updated_at";

#[derive(Debug, Clone)]
pub(crate) struct PgApplicationRepository {
    pool: PgPool,
}

impl PgApplicationRepository {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn read_application(row: &PgRow) -> Result<Application> {
    let row = RowReader::new(row, "applications");
    let client_type = match row.optional_digest("client_secret_digest")? {
        Some(secret_digest) => ClientType::Confidential { secret_digest },
        None => ClientType::Public,
    };
    Ok(Application {
        id: ApplicationId::from_uuid(row.get("id")?),
        organization_id: OrganizationId::from_uuid(row.get("organization_id")?),
        client_id: row.parse("client_id", ClientId::parse)?,
        name: row.parse("name", DisplayName::parse)?,
        client_type,
        redirect_uris: row.parse_array("redirect_uris", RedirectUri::parse)?,
        allowed_scopes: row.scopes("allowed_scopes")?,
        settings: row.get("settings")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

fn secret_digest(application: &Application) -> Option<Vec<u8>> {
    application.client_type.secret_digest().map(|digest| digest.as_bytes().to_vec())
}

fn redirect_uri_array(application: &Application) -> Vec<String> {
    application.redirect_uris.iter().map(|uri| uri.as_str().to_owned()).collect()
}

impl PgApplicationRepository {
    /// One statement: the update only applies while `updated_at` is `expected` (when given).
    async fn write(&self, application: &Application, expected: Option<OffsetDateTime>) -> Result<()> {
        let outcome = sqlx::query_as::<_, (bool, bool)>(
            "WITH target AS (SELECT 1 FROM applications WHERE organization_id = $1 AND id = $2),
                  changed AS (
                      UPDATE applications
                      SET name = $3, client_secret_digest = $4, redirect_uris = $5, allowed_scopes = $6,
                          settings = $7, updated_at = $8
                      WHERE organization_id = $1 AND id = $2 AND ($9::timestamptz IS NULL OR updated_at = $9)
                      RETURNING 1)
             SELECT EXISTS (SELECT 1 FROM target), EXISTS (SELECT 1 FROM changed)",
        )
        .bind(application.organization_id.as_uuid())
        .bind(application.id.as_uuid())
        .bind(application.name.as_str())
        .bind(secret_digest(application))
        .bind(redirect_uri_array(application))
        .bind(scope_array(&application.allowed_scopes))
        .bind(&application.settings)
        .bind(application.updated_at)
        .bind(expected)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        expect_written(outcome, "application")
    }
}

#[async_trait]
impl ApplicationRepository for PgApplicationRepository {
    async fn create(&self, application: &Application) -> Result<()> {
        sqlx::query(
            "INSERT INTO applications (id, organization_id, client_id, name, client_secret_digest, redirect_uris,
                                       allowed_scopes, settings, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(application.id.as_uuid())
        .bind(application.organization_id.as_uuid())
        .bind(application.client_id.as_str())
        .bind(application.name.as_str())
        .bind(secret_digest(application))
        .bind(redirect_uri_array(application))
        .bind(scope_array(&application.allowed_scopes))
        .bind(&application.settings)
        .bind(application.created_at)
        .bind(application.updated_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn get(&self, organization: OrganizationId, id: ApplicationId) -> Result<Application> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM applications WHERE organization_id = $1 AND id = $2"))
            .bind(organization.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(read_application).transpose()?.ok_or(Error::NotFound("application"))
    }

    async fn find_by_client_id(
        &self,
        organization: OrganizationId,
        client_id: &ClientId,
    ) -> Result<Option<Application>> {
        let row =
            sqlx::query(&format!("SELECT {COLUMNS} FROM applications WHERE organization_id = $1 AND client_id = $2"))
                .bind(organization.as_uuid())
                .bind(client_id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
        row.as_ref().map(read_application).transpose()
    }

    async fn update(&self, application: &Application) -> Result<()> {
        self.write(application, None).await
    }

    async fn update_if_unchanged(&self, application: &Application, expected_updated_at: OffsetDateTime) -> Result<()> {
        self.write(application, Some(expected_updated_at)).await
    }

    async fn delete(&self, organization: OrganizationId, id: ApplicationId) -> Result<()> {
        // Codes and refresh-token families cascade from the application.
        let result = sqlx::query("DELETE FROM applications WHERE organization_id = $1 AND id = $2")
            .bind(organization.as_uuid())
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        expect_one(result.rows_affected(), "application")
    }

    async fn list(&self, organization: OrganizationId, page: &PageRequest) -> Result<Vec<Application>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM applications WHERE organization_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(organization.as_uuid())
        .bind(after(page))
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        read_all(&rows, read_application)
    }
}
