//! `OrganizationRepository` over the `organizations` table.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::PgPool;
use time::OffsetDateTime;
use zenoauth_domain::ids::OrganizationId;
use zenoauth_domain::model::Organization;
use zenoauth_domain::ports::{OrganizationRepository, PageRequest};
use zenoauth_domain::values::{DisplayName, Slug};
use zenoauth_domain::Result;

use crate::error::db_error;
use crate::rows::{after, expect_one, expect_written, limit, read_all, RowReader};

const COLUMNS: &str = "id, slug, name, settings, created_at, updated_at";

#[derive(Debug, Clone)]
pub(crate) struct PgOrganizationRepository {
    pool: PgPool,
}

impl PgOrganizationRepository {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn read_organization(row: &PgRow) -> Result<Organization> {
    let row = RowReader::new(row, "organizations");
    Ok(Organization {
        id: OrganizationId::from_uuid(row.get("id")?),
        slug: row.parse("slug", Slug::parse)?,
        name: row.parse("name", DisplayName::parse)?,
        settings: row.get("settings")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

impl PgOrganizationRepository {
    /// One statement: the update only applies while `updated_at` is `expected` (when given).
    async fn write(&self, organization: &Organization, expected: Option<OffsetDateTime>) -> Result<()> {
        let outcome = sqlx::query_as::<_, (bool, bool)>(
            "WITH target AS (SELECT 1 FROM organizations WHERE id = $1),
                  changed AS (
                      UPDATE organizations SET name = $2, settings = $3, updated_at = $4
                      WHERE id = $1 AND ($5::timestamptz IS NULL OR updated_at = $5)
                      RETURNING 1)
             SELECT EXISTS (SELECT 1 FROM target), EXISTS (SELECT 1 FROM changed)",
        )
        .bind(organization.id.as_uuid())
        .bind(organization.name.as_str())
        .bind(&organization.settings)
        .bind(organization.updated_at)
        .bind(expected)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        expect_written(outcome, "organization")
    }
}

#[async_trait]
impl OrganizationRepository for PgOrganizationRepository {
    async fn create(&self, organization: &Organization) -> Result<()> {
        sqlx::query(
            "INSERT INTO organizations (id, slug, name, settings, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(organization.id.as_uuid())
        .bind(organization.slug.as_str())
        .bind(organization.name.as_str())
        .bind(&organization.settings)
        .bind(organization.created_at)
        .bind(organization.updated_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn get(&self, id: OrganizationId) -> Result<Organization> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM organizations WHERE id = $1"))
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        match row {
            Some(row) => read_organization(&row),
            None => Err(zenoauth_domain::Error::NotFound("organization")),
        }
    }

    async fn find_by_slug(&self, slug: &Slug) -> Result<Option<Organization>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM organizations WHERE slug = $1"))
            .bind(slug.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(read_organization).transpose()
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
        // Every tenant table cascades from organizations.
        let result = sqlx::query("DELETE FROM organizations WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        expect_one(result.rows_affected(), "organization")
    }

    async fn list(&self, page: &PageRequest) -> Result<Vec<Organization>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM organizations
             WHERE id > $1
             ORDER BY id LIMIT $2"
        ))
        .bind(after(page))
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        read_all(&rows, read_organization)
    }
}
