//! [`ApplicationRepository`] over the `applications` table.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use time::OffsetDateTime;
use zenoauth_domain::ids::{ApplicationId, OrganizationId};
use zenoauth_domain::model::{Application, ClientType};
use zenoauth_domain::ports::{ApplicationRepository, PageRequest};
use zenoauth_domain::values::{ClientId, DisplayName, RedirectUri, ScopeSet, SecretDigest};
use zenoauth_domain::{Error, Result};

use crate::convert::{
    classify, column, corrupt, instant, json, json_text, micros, missing_or_stale, optional_micros, parsed,
    unavailable, uuid, write_error,
};

const COLUMNS: &str = "id, organization_id, client_id, name, client_secret_digest, redirect_uris, allowed_scopes, \
                       settings, created_at, updated_at";

const UNIQUES: &[(&str, &str)] = &[
    ("applications.organization_id, applications.client_id", "application_client_id"),
    ("applications.id", "application_id"),
    ("applications.organization_id, applications.id", "application_id"),
];

#[derive(Debug, Clone)]
pub(crate) struct SqliteApplicationRepository {
    pool: SqlitePool,
}

impl SqliteApplicationRepository {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn application(row: &SqliteRow) -> Result<Application> {
    let client_type = match column::<Option<Vec<u8>>>(row, "client_secret_digest")? {
        Some(bytes) => ClientType::Confidential {
            secret_digest: SecretDigest::from_slice(&bytes).map_err(|error| corrupt("client_secret_digest", error))?,
        },
        None => ClientType::Public,
    };
    let redirect_uris: Vec<String> =
        serde_json::from_value(json(row, "redirect_uris")?).map_err(|error| corrupt("redirect_uris", error))?;
    Ok(Application {
        id: ApplicationId::from_uuid(uuid(row, "id")?),
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        client_id: parsed(row, "client_id", ClientId::parse)?,
        name: parsed(row, "name", DisplayName::parse)?,
        client_type,
        redirect_uris: redirect_uris
            .iter()
            .map(|uri| RedirectUri::parse(uri))
            .collect::<Result<_, _>>()
            .map_err(|error| corrupt("redirect_uris", error))?,
        allowed_scopes: parsed(row, "allowed_scopes", ScopeSet::parse)?,
        settings: json(row, "settings")?,
        created_at: instant(row, "created_at")?,
        updated_at: instant(row, "updated_at")?,
    })
}

fn redirect_uris_text(application: &Application) -> String {
    let uris: Vec<&str> = application.redirect_uris.iter().map(RedirectUri::as_str).collect();
    json_text(&serde_json::Value::from(uris))
}

impl SqliteApplicationRepository {
    /// One statement: the update only applies while `updated_at` is `expected` (when given).
    async fn write(&self, application: &Application, expected: Option<OffsetDateTime>) -> Result<()> {
        let result = sqlx::query(
            "UPDATE applications SET name = ?1, client_secret_digest = ?2, redirect_uris = ?3, allowed_scopes = ?4, \
             settings = ?5, updated_at = ?6 WHERE organization_id = ?7 AND id = ?8 AND (?9 IS NULL OR updated_at = ?9)",
        )
        .bind(application.name.as_str())
        .bind(application.client_type.secret_digest().map(|digest| digest.as_bytes().as_slice()))
        .bind(redirect_uris_text(application))
        .bind(application.allowed_scopes.to_string())
        .bind(json_text(&application.settings))
        .bind(micros(application.updated_at))
        .bind(application.organization_id.as_uuid())
        .bind(application.id.as_uuid())
        .bind(optional_micros(expected))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        if result.rows_affected() == 0 {
            let exists = "SELECT EXISTS (SELECT 1 FROM applications WHERE organization_id = ? AND id = ?)";
            let keys = [application.organization_id.as_uuid(), application.id.as_uuid()];
            return Err(missing_or_stale(&self.pool, exists, &keys, expected, "application").await);
        }
        Ok(())
    }
}

#[async_trait]
impl ApplicationRepository for SqliteApplicationRepository {
    async fn create(&self, application: &Application) -> Result<()> {
        let result = sqlx::query(
            "INSERT INTO applications (id, organization_id, client_id, name, client_secret_digest, redirect_uris, \
             allowed_scopes, settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(application.id.as_uuid())
        .bind(application.organization_id.as_uuid())
        .bind(application.client_id.as_str())
        .bind(application.name.as_str())
        .bind(application.client_type.secret_digest().map(|digest| digest.as_bytes().as_slice()))
        .bind(redirect_uris_text(application))
        .bind(application.allowed_scopes.to_string())
        .bind(json_text(&application.settings))
        .bind(micros(application.created_at))
        .bind(micros(application.updated_at))
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => Err(write_error(
                classify(error, UNIQUES),
                &self.pool,
                application.organization_id.as_uuid(),
                &[],
                "organization",
            )
            .await),
        }
    }

    async fn get(&self, organization: OrganizationId, id: ApplicationId) -> Result<Application> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM applications WHERE organization_id = ? AND id = ?"))
            .bind(organization.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(application).transpose()?.ok_or(Error::NotFound("application"))
    }

    async fn find_by_client_id(
        &self,
        organization: OrganizationId,
        client_id: &ClientId,
    ) -> Result<Option<Application>> {
        let row =
            sqlx::query(&format!("SELECT {COLUMNS} FROM applications WHERE organization_id = ? AND client_id = ?"))
                .bind(organization.as_uuid())
                .bind(client_id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
        row.as_ref().map(application).transpose()
    }

    async fn update(&self, application: &Application) -> Result<()> {
        self.write(application, None).await
    }

    async fn update_if_unchanged(&self, application: &Application, expected_updated_at: OffsetDateTime) -> Result<()> {
        self.write(application, Some(expected_updated_at)).await
    }

    async fn delete(&self, organization: OrganizationId, id: ApplicationId) -> Result<()> {
        let result = sqlx::query("DELETE FROM applications WHERE organization_id = ? AND id = ?")
            .bind(organization.as_uuid())
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        if result.rows_affected() == 0 {
            return Err(Error::NotFound("application"));
        }
        Ok(())
    }

    async fn list(&self, organization: OrganizationId, page: &PageRequest) -> Result<Vec<Application>> {
        let mut query =
            QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM applications WHERE organization_id = "));
        query.push_bind(organization.as_uuid());
        if let Some(after) = page.after() {
            query.push(" AND id > ").push_bind(after);
        }
        query.push(" ORDER BY id LIMIT ").push_bind(i64::from(page.limit()));
        let rows = query.build().fetch_all(&self.pool).await.map_err(unavailable)?;
        rows.iter().map(application).collect()
    }
}
