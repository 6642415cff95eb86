//! `RoleRepository` over `roles`, `user_roles` and `application_roles`, and
//! `ClientSecretStore` over the previous-secret columns of `applications`.

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::postgres::PgRow;
use sqlx::PgPool;
use time::OffsetDateTime;
use zenoauth_domain::ids::{ApplicationId, OrganizationId, UserId};
use zenoauth_domain::ports::{ClientSecretStore, PageRequest, RoleRepository};
use zenoauth_domain::roles::{parse_description, PermissionSet, Role, RoleId, RoleName};
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::{Error, Result};

use crate::error::{db_error, OrCorrupt};
use crate::rows::{after, expect_one, limit, read_all, RowReader};

const COLUMNS: &str = "id, organization_id, name, description, permissions, created_at, updated_at";

/// The constraints of migration 0004, as the domain names them; everything
/// else goes through the shared mapping.
fn role_error(error: sqlx::Error) -> Error {
    if let sqlx::Error::Database(database_error) = &error {
        if matches!(database_error.kind(), ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation) {
            match database_error.constraint() {
                Some("roles_organization_name_key") => return Error::Conflict("role_name"),
                Some("roles_pkey") => return Error::Conflict("role_id"),
                Some(
                    "roles_organization_fkey" | "user_roles_organization_fkey" | "application_roles_organization_fkey",
                ) => return Error::NotFound("organization"),
                Some("user_roles_user_fkey") => return Error::NotFound("user"),
                Some("application_roles_application_fkey") => return Error::NotFound("application"),
                Some("user_roles_role_fkey" | "application_roles_role_fkey") => return Error::NotFound("role"),
                _ => {}
            }
        }
    }
    db_error(error)
}

fn read_role(row: &PgRow) -> Result<Role> {
    let reader = RowReader::new(row, "roles");
    let permissions: Vec<String> = reader.get("permissions")?;
    Ok(Role {
        id: RoleId::from_uuid(reader.get("id")?),
        organization_id: OrganizationId::from_uuid(reader.get("organization_id")?),
        name: reader.parse("name", RoleName::parse)?,
        description: reader.parse("description", parse_description)?,
        permissions: PermissionSet::parse(permissions.iter().map(String::as_str)).or_corrupt("roles", "permissions")?,
        created_at: reader.get("created_at")?,
        updated_at: reader.get("updated_at")?,
    })
}

fn permission_array(role: &Role) -> Vec<String> {
    role.permissions.iter().map(|permission| permission.as_str().to_owned()).collect()
}

#[derive(Debug, Clone)]
pub(crate) struct PgRoleRepository {
    pool: PgPool,
}

impl PgRoleRepository {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Whether the (organization, id) row exists in `table`.
    async fn exists(&self, table: &str, organization: OrganizationId, id: uuid::Uuid) -> Result<bool> {
        let row = sqlx::query(&format!("SELECT 1 FROM {table} WHERE organization_id = $1 AND id = $2"))
            .bind(organization.as_uuid())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(row.is_some())
    }

    async fn assigned(
        &self,
        table: &str,
        column: &str,
        organization: OrganizationId,
        id: uuid::Uuid,
    ) -> Result<Vec<Role>> {
        let rows = sqlx::query(&format!(
            "SELECT r.id, r.organization_id, r.name, r.description, r.permissions, r.created_at, r.updated_at
             FROM {table} a JOIN roles r ON r.organization_id = a.organization_id AND r.id = a.role_id
             WHERE a.organization_id = $1 AND a.{column} = $2 ORDER BY r.name"
        ))
        .bind(organization.as_uuid())
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        read_all(&rows, read_role)
    }

    async fn assign(
        &self,
        table: &str,
        column: &str,
        organization: OrganizationId,
        id: uuid::Uuid,
        role: RoleId,
    ) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO {table} (organization_id, {column}, role_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
        ))
        .bind(organization.as_uuid())
        .bind(id)
        .bind(role.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(role_error)?;
        Ok(())
    }

    async fn unassign(
        &self,
        table: &str,
        column: &str,
        organization: OrganizationId,
        id: uuid::Uuid,
        role: RoleId,
    ) -> Result<bool> {
        let result =
            sqlx::query(&format!("DELETE FROM {table} WHERE organization_id = $1 AND {column} = $2 AND role_id = $3"))
                .bind(organization.as_uuid())
                .bind(id)
                .bind(role.as_uuid())
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
        Ok(result.rows_affected() > 0)
    }
}

#[async_trait]
impl RoleRepository for PgRoleRepository {
    async fn create(&self, role: &Role) -> Result<()> {
        sqlx::query(
            "INSERT INTO roles (id, organization_id, name, description, permissions, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(role.id.as_uuid())
        .bind(role.organization_id.as_uuid())
        .bind(role.name.as_str())
        .bind(&role.description)
        .bind(permission_array(role))
        .bind(role.created_at)
        .bind(role.updated_at)
        .execute(&self.pool)
        .await
        .map_err(role_error)?;
        Ok(())
    }

    async fn get(&self, organization: OrganizationId, id: RoleId) -> Result<Role> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM roles WHERE organization_id = $1 AND id = $2"))
            .bind(organization.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(read_role).transpose()?.ok_or(Error::NotFound("role"))
    }

    async fn find_by_name(&self, organization: OrganizationId, name: &RoleName) -> Result<Option<Role>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM roles WHERE organization_id = $1 AND name = $2"))
            .bind(organization.as_uuid())
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(read_role).transpose()
    }

    async fn update(&self, role: &Role) -> Result<()> {
        let result = sqlx::query(
            "UPDATE roles SET name = $3, description = $4, permissions = $5, updated_at = $6
             WHERE organization_id = $1 AND id = $2",
        )
        .bind(role.organization_id.as_uuid())
        .bind(role.id.as_uuid())
        .bind(role.name.as_str())
        .bind(&role.description)
        .bind(permission_array(role))
        .bind(role.updated_at)
        .execute(&self.pool)
        .await
        .map_err(role_error)?;
        expect_one(result.rows_affected(), "role")
    }

    async fn delete(&self, organization: OrganizationId, id: RoleId) -> Result<()> {
        let result = sqlx::query("DELETE FROM roles WHERE organization_id = $1 AND id = $2")
            .bind(organization.as_uuid())
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        expect_one(result.rows_affected(), "role")
    }

    async fn list(&self, organization: OrganizationId, page: &PageRequest) -> Result<Vec<Role>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM roles WHERE organization_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(organization.as_uuid())
        .bind(after(page))
        .bind(limit(page))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        read_all(&rows, read_role)
    }

    async fn assign_to_user(&self, organization: OrganizationId, user: UserId, role: RoleId) -> Result<()> {
        // Name the missing parent the way the port documents, user first.
        if !self.exists("users", organization, user.as_uuid()).await? {
            return Err(Error::NotFound("user"));
        }
        self.assign("user_roles", "user_id", organization, user.as_uuid(), role).await
    }

    async fn unassign_from_user(&self, organization: OrganizationId, user: UserId, role: RoleId) -> Result<bool> {
        self.unassign("user_roles", "user_id", organization, user.as_uuid(), role).await
    }

    async fn roles_of_user(&self, organization: OrganizationId, user: UserId) -> Result<Vec<Role>> {
        self.assigned("user_roles", "user_id", organization, user.as_uuid()).await
    }

    async fn assign_to_application(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        role: RoleId,
    ) -> Result<()> {
        if !self.exists("applications", organization, application.as_uuid()).await? {
            return Err(Error::NotFound("application"));
        }
        self.assign("application_roles", "application_id", organization, application.as_uuid(), role).await
    }

    async fn unassign_from_application(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        role: RoleId,
    ) -> Result<bool> {
        self.unassign("application_roles", "application_id", organization, application.as_uuid(), role).await
    }

    async fn roles_of_application(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
    ) -> Result<Vec<Role>> {
        self.assigned("application_roles", "application_id", organization, application.as_uuid()).await
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PgClientSecretStore {
    pool: PgPool,
}

impl PgClientSecretStore {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl ClientSecretStore for PgClientSecretStore {
    async fn rotate(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        new_digest: &SecretDigest,
        previous_valid_until: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<()> {
        // One statement: the old digest moves aside as the new one lands.
        let result = sqlx::query(
            "UPDATE applications
             SET previous_client_secret_digest = CASE WHEN $4::timestamptz IS NULL THEN NULL ELSE client_secret_digest END,
                 previous_client_secret_expires_at = $4,
                 client_secret_digest = $3,
                 updated_at = $5
             WHERE organization_id = $1 AND id = $2 AND client_secret_digest IS NOT NULL",
        )
        .bind(organization.as_uuid())
        .bind(application.as_uuid())
        .bind(new_digest.as_bytes().as_slice())
        .bind(previous_valid_until)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        expect_one(result.rows_affected(), "application")
    }

    async fn find_previous(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        now: OffsetDateTime,
    ) -> Result<Option<SecretDigest>> {
        let row = sqlx::query(
            "SELECT previous_client_secret_digest FROM applications
             WHERE organization_id = $1 AND id = $2 AND previous_client_secret_expires_at > $3",
        )
        .bind(organization.as_uuid())
        .bind(application.as_uuid())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        match row {
            Some(row) => RowReader::new(&row, "applications").optional_digest("previous_client_secret_digest"),
            None => Ok(None),
        }
    }
}
