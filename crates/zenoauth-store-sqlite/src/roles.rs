//! [`RoleRepository`] over `roles`, `user_roles` and `application_roles`, and
//! [`ClientSecretStore`] over the previous-secret columns of `applications`.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::ids::{ApplicationId, OrganizationId, UserId};
use zenoauth_domain::ports::{ClientSecretStore, PageRequest, RoleRepository};
use zenoauth_domain::roles::{parse_description, PermissionSet, Role, RoleId, RoleName};
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::{Error, Result};

use crate::convert::{
    classify, column, corrupt, instant, json, json_text, micros, parsed, unavailable, uuid, write_error, Parent,
};

const COLUMNS: &str = "id, organization_id, name, description, permissions, created_at, updated_at";

const UNIQUES: &[(&str, &str)] = &[
    ("roles.organization_id, roles.name", "role_name"),
    ("roles.id", "role_id"),
    ("roles.organization_id, roles.id", "role_id"),
];

fn read_role(row: &SqliteRow) -> Result<Role> {
    let permissions: Vec<String> =
        serde_json::from_value(json(row, "permissions")?).map_err(|error| corrupt("permissions", error))?;
    Ok(Role {
        id: RoleId::from_uuid(uuid(row, "id")?),
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        name: parsed(row, "name", RoleName::parse)?,
        description: parsed(row, "description", parse_description)?,
        permissions: PermissionSet::parse(permissions.iter().map(String::as_str))
            .map_err(|error| corrupt("permissions", error))?,
        created_at: instant(row, "created_at")?,
        updated_at: instant(row, "updated_at")?,
    })
}

fn permissions_text(role: &Role) -> String {
    let items: Vec<&str> = role.permissions.iter().map(|permission| permission.as_str()).collect();
    json_text(&serde_json::Value::from(items))
}

#[derive(Debug, Clone)]
pub(crate) struct SqliteRoleRepository {
    pool: SqlitePool,
}

impl SqliteRoleRepository {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    async fn assigned(
        &self,
        table: &str,
        column_name: &str,
        organization: OrganizationId,
        id: Uuid,
    ) -> Result<Vec<Role>> {
        let rows = sqlx::query(&format!(
            "SELECT r.id, r.organization_id, r.name, r.description, r.permissions, r.created_at, r.updated_at \
             FROM {table} a JOIN roles r ON r.organization_id = a.organization_id AND r.id = a.role_id \
             WHERE a.organization_id = ? AND a.{column_name} = ? ORDER BY r.name"
        ))
        .bind(organization.as_uuid())
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(read_role).collect()
    }

    async fn assign(
        &self,
        table: &str,
        column_name: &str,
        parent: Parent,
        organization: OrganizationId,
        role: RoleId,
    ) -> Result<()> {
        let result = sqlx::query(&format!(
            "INSERT INTO {table} (organization_id, {column_name}, role_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
        ))
        .bind(organization.as_uuid())
        .bind(parent.id)
        .bind(role.as_uuid())
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => {
                let role_parent = Parent { name: "role", table: "roles", id: Some(role.as_uuid()) };
                Err(write_error(
                    classify(error, &[]),
                    &self.pool,
                    organization.as_uuid(),
                    &[parent, role_parent],
                    "role",
                )
                .await)
            }
        }
    }

    async fn unassign(
        &self,
        table: &str,
        column_name: &str,
        organization: OrganizationId,
        id: Uuid,
        role: RoleId,
    ) -> Result<bool> {
        let result = sqlx::query(&format!(
            "DELETE FROM {table} WHERE organization_id = ? AND {column_name} = ? AND role_id = ?"
        ))
        .bind(organization.as_uuid())
        .bind(id)
        .bind(role.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(result.rows_affected() > 0)
    }
}

#[async_trait]
impl RoleRepository for SqliteRoleRepository {
    async fn create(&self, role: &Role) -> Result<()> {
        let result = sqlx::query(
            "INSERT INTO roles (id, organization_id, name, description, permissions, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(role.id.as_uuid())
        .bind(role.organization_id.as_uuid())
        .bind(role.name.as_str())
        .bind(&role.description)
        .bind(permissions_text(role))
        .bind(micros(role.created_at))
        .bind(micros(role.updated_at))
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => Err(write_error(
                classify(error, UNIQUES),
                &self.pool,
                role.organization_id.as_uuid(),
                &[],
                "organization",
            )
            .await),
        }
    }

    async fn get(&self, organization: OrganizationId, id: RoleId) -> Result<Role> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM roles WHERE organization_id = ? AND id = ?"))
            .bind(organization.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(read_role).transpose()?.ok_or(Error::NotFound("role"))
    }

    async fn find_by_name(&self, organization: OrganizationId, name: &RoleName) -> Result<Option<Role>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM roles WHERE organization_id = ? AND name = ?"))
            .bind(organization.as_uuid())
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(read_role).transpose()
    }

    async fn update(&self, role: &Role) -> Result<()> {
        let result = sqlx::query(
            "UPDATE roles SET name = ?, description = ?, permissions = ?, updated_at = ? \
             WHERE organization_id = ? AND id = ?",
        )
        .bind(role.name.as_str())
        .bind(&role.description)
        .bind(permissions_text(role))
        .bind(micros(role.updated_at))
        .bind(role.organization_id.as_uuid())
        .bind(role.id.as_uuid())
        .execute(&self.pool)
        .await;
        match result {
            Ok(done) if done.rows_affected() == 0 => Err(Error::NotFound("role")),
            Ok(_) => Ok(()),
            Err(error) => {
                Err(write_error(classify(error, UNIQUES), &self.pool, role.organization_id.as_uuid(), &[], "role")
                    .await)
            }
        }
    }

    async fn delete(&self, organization: OrganizationId, id: RoleId) -> Result<()> {
        let result = sqlx::query("DELETE FROM roles WHERE organization_id = ? AND id = ?")
            .bind(organization.as_uuid())
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        if result.rows_affected() == 0 {
            return Err(Error::NotFound("role"));
        }
        Ok(())
    }

    async fn list(&self, organization: OrganizationId, page: &PageRequest) -> Result<Vec<Role>> {
        let mut query = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM roles WHERE organization_id = "));
        query.push_bind(organization.as_uuid());
        if let Some(after) = page.after() {
            query.push(" AND id > ").push_bind(after);
        }
        query.push(" ORDER BY id LIMIT ").push_bind(i64::from(page.limit()));
        let rows = query.build().fetch_all(&self.pool).await.map_err(unavailable)?;
        rows.iter().map(read_role).collect()
    }

    async fn assign_to_user(&self, organization: OrganizationId, user: UserId, role: RoleId) -> Result<()> {
        let parent = Parent { name: "user", table: "users", id: Some(user.as_uuid()) };
        self.assign("user_roles", "user_id", parent, organization, role).await
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
        let parent = Parent { name: "application", table: "applications", id: Some(application.as_uuid()) };
        self.assign("application_roles", "application_id", parent, organization, role).await
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
pub(crate) struct SqliteClientSecretStore {
    pool: SqlitePool,
}

impl SqliteClientSecretStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl ClientSecretStore for SqliteClientSecretStore {
    async fn rotate(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        new_digest: &SecretDigest,
        previous_valid_until: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<()> {
        // One statement: the old digest moves aside as the new one lands.
        let until = previous_valid_until.map(micros);
        let result = sqlx::query(
            "UPDATE applications SET \
             previous_client_secret_digest = CASE WHEN ?1 IS NULL THEN NULL ELSE client_secret_digest END, \
             previous_client_secret_expires_at = ?1, client_secret_digest = ?2, updated_at = ?3 \
             WHERE organization_id = ?4 AND id = ?5 AND client_secret_digest IS NOT NULL",
        )
        .bind(until)
        .bind(new_digest.as_bytes().as_slice())
        .bind(micros(now))
        .bind(organization.as_uuid())
        .bind(application.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        if result.rows_affected() == 0 {
            return Err(Error::NotFound("application"));
        }
        Ok(())
    }

    async fn find_previous(
        &self,
        organization: OrganizationId,
        application: ApplicationId,
        now: OffsetDateTime,
    ) -> Result<Option<SecretDigest>> {
        let row = sqlx::query(
            "SELECT previous_client_secret_digest FROM applications \
             WHERE organization_id = ? AND id = ? AND previous_client_secret_expires_at > ?",
        )
        .bind(organization.as_uuid())
        .bind(application.as_uuid())
        .bind(micros(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        let Some(row) = row else { return Ok(None) };
        column::<Option<Vec<u8>>>(&row, "previous_client_secret_digest")?
            .map(|bytes| {
                SecretDigest::from_slice(&bytes).map_err(|error| corrupt("previous_client_secret_digest", error))
            })
            .transpose()
    }
}
