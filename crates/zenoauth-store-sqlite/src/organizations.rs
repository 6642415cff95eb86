//! [`OrganizationRepository`] over the `organizations` table.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use time::OffsetDateTime;
use zenoauth_domain::ids::OrganizationId;
use zenoauth_domain::model::Organization;
use zenoauth_domain::ports::{OrganizationRepository, PageRequest};
use zenoauth_domain::values::{DisplayName, Slug};
use zenoauth_domain::{Error, Result};

use crate::convert::{
    classify, instant, json, json_text, micros, missing_or_stale, optional_micros, parsed, unavailable, uuid,
    WriteFailure,
};

const COLUMNS: &str = "id, slug, name, settings, created_at, updated_at";

const UNIQUES: &[(&str, &str)] =
    &[("organizations.slug", "organization_slug"), ("organizations.id", "organization_id")];

#[derive(Debug, Clone)]
pub(crate) struct SqliteOrganizationRepository {
    pool: SqlitePool,
}

impl SqliteOrganizationRepository {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn organization(row: &SqliteRow) -> Result<Organization> {
    Ok(Organization {
        id: OrganizationId::from_uuid(uuid(row, "id")?),
        slug: parsed(row, "slug", Slug::parse)?,
        name: parsed(row, "name", DisplayName::parse)?,
        settings: json(row, "settings")?,
        created_at: instant(row, "created_at")?,
        updated_at: instant(row, "updated_at")?,
    })
}

impl SqliteOrganizationRepository {
    /// One statement: the update only applies while `updated_at` is `expected` (when given).
    async fn write(&self, organization: &Organization, expected: Option<OffsetDateTime>) -> Result<()> {
        let result = sqlx::query(
            "UPDATE organizations SET name = ?1, settings = ?2, updated_at = ?3 \
             WHERE id = ?4 AND (?5 IS NULL OR updated_at = ?5)",
        )
        .bind(organization.name.as_str())
        .bind(json_text(&organization.settings))
        .bind(micros(organization.updated_at))
        .bind(organization.id.as_uuid())
        .bind(optional_micros(expected))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        if result.rows_affected() == 0 {
            let exists = "SELECT EXISTS (SELECT 1 FROM organizations WHERE id = ?)";
            return Err(
                missing_or_stale(&self.pool, exists, &[organization.id.as_uuid()], expected, "organization").await
            );
        }
        Ok(())
    }
}

#[async_trait]
impl OrganizationRepository for SqliteOrganizationRepository {
    async fn create(&self, organization: &Organization) -> Result<()> {
        sqlx::query(
            "INSERT INTO organizations (id, slug, name, settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(organization.id.as_uuid())
        .bind(organization.slug.as_str())
        .bind(organization.name.as_str())
        .bind(json_text(&organization.settings))
        .bind(micros(organization.created_at))
        .bind(micros(organization.updated_at))
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(|error| match classify(error, UNIQUES) {
            WriteFailure::Conflict(name) => Error::Conflict(name),
            WriteFailure::MissingParent => Error::NotFound("organization"),
            WriteFailure::Other(error) => error,
        })
    }

    async fn get(&self, id: OrganizationId) -> Result<Organization> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM organizations WHERE id = ?"))
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(organization).transpose()?.ok_or(Error::NotFound("organization"))
    }

    async fn find_by_slug(&self, slug: &Slug) -> Result<Option<Organization>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM organizations WHERE slug = ?"))
            .bind(slug.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(organization).transpose()
    }

    async fn update(&self, organization: &Organization) -> Result<()> {
        self.write(organization, None).await
    }

    async fn update_if_unchanged(
        &self,
        organization: &Organization,
        expected_updated_at: OffsetDateTime,
    ) -> Result<()> {
        self.write(organization, Some(expected_updated_at)).await
    }

    async fn delete(&self, id: OrganizationId) -> Result<()> {
        let result = sqlx::query("DELETE FROM organizations WHERE id = ?")
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        if result.rows_affected() == 0 {
            return Err(Error::NotFound("organization"));
        }
        Ok(())
    }

    async fn list(&self, page: &PageRequest) -> Result<Vec<Organization>> {
        let mut query = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM organizations WHERE 1 = 1"));
        if let Some(after) = page.after() {
            query.push(" AND id > ").push_bind(after);
        }
        query.push(" ORDER BY id LIMIT ").push_bind(i64::from(page.limit()));
        let rows = query.build().fetch_all(&self.pool).await.map_err(unavailable)?;
        rows.iter().map(organization).collect()
    }
}
