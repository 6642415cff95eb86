//! `UserRepository` over the `users` table.

use async_trait::async_trait;
use serde_json::Value as Json;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder};
use time::OffsetDateTime;
use zenoauth_domain::ids::{OrganizationId, UserId};
use zenoauth_domain::model::User;
use zenoauth_domain::ports::{PageRequest, UserQuery, UserRepository};
use zenoauth_domain::values::{Email, PasswordHash};
use zenoauth_domain::{Error, Result, ValidationError};

use crate::error::db_error;
use crate::rows::{after, expect_one, expect_written, limit, read_all, RowReader};

const COLUMNS: &str =
    "id, organization_id, email, email_verified, password_hash, profile, is_active, created_at, updated_at";

#[derive(Debug, Clone)]
pub(crate) struct PgUserRepository {
    pool: PgPool,
}

impl PgUserRepository {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn read_user(row: &PgRow) -> Result<User> {
    let row = RowReader::new(row, "users");
    Ok(User {
        id: UserId::from_uuid(row.get("id")?),
        organization_id: OrganizationId::from_uuid(row.get("organization_id")?),
        email: row.parse("email", Email::parse)?,
        email_verified: row.get("email_verified")?,
        password_hash: row.parse_optional("password_hash", PasswordHash::parse)?,
        profile: row.get("profile")?,
        is_active: row.get("is_active")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

/// `LIKE` pattern for "starts with `prefix`", with the wildcards in the prefix
/// escaped (backslash is PostgreSQL's default `LIKE` escape character).
fn prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for character in prefix.to_lowercase().chars() {
        if matches!(character, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

/// Pushes the user listing query. Only the filters given become SQL, so each
/// shape gets a plan that uses its index: `(organization_id, email
/// text_pattern_ops)` for the prefix, the GIN `jsonb_path_ops` index on
/// `profile` for the attribute (`@>` containment of a one-key object, which for
/// a scalar value is equality).
pub(crate) fn push_list_query(
    builder: &mut QueryBuilder<'_, Postgres>,
    organization: OrganizationId,
    query: &UserQuery,
    page: &PageRequest,
) -> Result<()> {
    builder.push(format!("SELECT {COLUMNS} FROM users WHERE organization_id = "));
    builder.push_bind(organization.as_uuid());
    builder.push(" AND id > ");
    builder.push_bind(after(page));
    if let Some(prefix) = &query.email_prefix {
        builder.push(" AND email LIKE ");
        builder.push_bind(prefix_pattern(prefix));
    }
    if let Some((key, value)) = &query.profile_attribute {
        if matches!(value, Json::Array(_) | Json::Object(_)) {
            return Err(Error::InvalidInput(ValidationError::new(
                "profile_attribute",
                "must be a string, number or boolean",
            )));
        }
        builder.push(" AND profile @> jsonb_build_object(");
        builder.push_bind(key.clone());
        builder.push("::text, ");
        builder.push_bind(value.clone());
        builder.push("::jsonb)");
    }
    builder.push(" ORDER BY id LIMIT ");
    builder.push_bind(limit(page));
    Ok(())
}

impl PgUserRepository {
    /// One statement: the update only applies while `updated_at` is `expected` (when given).
    async fn write(&self, user: &User, expected: Option<OffsetDateTime>) -> Result<()> {
        let outcome = sqlx::query_as::<_, (bool, bool)>(
            "WITH target AS (SELECT 1 FROM users WHERE organization_id = $1 AND id = $2),
                  changed AS (
                      UPDATE users
                      SET email = $3, email_verified = $4, password_hash = $5, profile = $6, is_active = $7,
                          updated_at = $8
                      WHERE organization_id = $1 AND id = $2 AND ($9::timestamptz IS NULL OR updated_at = $9)
                      RETURNING 1)
             SELECT EXISTS (SELECT 1 FROM target), EXISTS (SELECT 1 FROM changed)",
        )
        .bind(user.organization_id.as_uuid())
        .bind(user.id.as_uuid())
        .bind(user.email.as_str())
        .bind(user.email_verified)
        .bind(user.password_hash.as_ref().map(PasswordHash::as_str))
        .bind(&user.profile)
        .bind(user.is_active)
        .bind(user.updated_at)
        .bind(expected)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        expect_written(outcome, "user")
    }
}

#[async_trait]
impl UserRepository for PgUserRepository {
    async fn create(&self, user: &User) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (id, organization_id, email, email_verified, password_hash, profile, is_active,
                                created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(user.id.as_uuid())
        .bind(user.organization_id.as_uuid())
        .bind(user.email.as_str())
        .bind(user.email_verified)
        .bind(user.password_hash.as_ref().map(PasswordHash::as_str))
        .bind(&user.profile)
        .bind(user.is_active)
        .bind(user.created_at)
        .bind(user.updated_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn get(&self, organization: OrganizationId, id: UserId) -> Result<User> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE organization_id = $1 AND id = $2"))
            .bind(organization.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(read_user).transpose()?.ok_or(Error::NotFound("user"))
    }

    async fn find_by_email(&self, organization: OrganizationId, email: &Email) -> Result<Option<User>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE organization_id = $1 AND email = $2"))
            .bind(organization.as_uuid())
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(read_user).transpose()
    }

    async fn update(&self, user: &User) -> Result<()> {
        self.write(user, None).await
    }

    async fn update_if_unchanged(&self, user: &User, expected_updated_at: OffsetDateTime) -> Result<()> {
        self.write(user, Some(expected_updated_at)).await
    }

    async fn delete(&self, organization: OrganizationId, id: UserId) -> Result<()> {
        // Sessions, codes and refresh-token families cascade from the user.
        let result = sqlx::query("DELETE FROM users WHERE organization_id = $1 AND id = $2")
            .bind(organization.as_uuid())
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        expect_one(result.rows_affected(), "user")
    }

    async fn list(&self, organization: OrganizationId, query: &UserQuery, page: &PageRequest) -> Result<Vec<User>> {
        let mut builder = QueryBuilder::new("");
        push_list_query(&mut builder, organization, query, page)?;
        let rows = builder.build().fetch_all(&self.pool).await.map_err(db_error)?;
        read_all(&rows, read_user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_pattern_escapes_like_wildcards_and_lowercases() {
        assert_eq!(prefix_pattern("Al"), "al%");
        assert_eq!(prefix_pattern("a_b%c\\"), "a\\_b\\%c\\\\%");
        assert_eq!(prefix_pattern(""), "%");
    }
}

/// The query plans: the filters must be able to use their indexes.
#[cfg(test)]
mod plan_tests {
    use super::*;
    use sqlx::Row;

    /// One organization with 2000 users, analysed so the planner has statistics.
    async fn seed(pool: &PgPool) -> OrganizationId {
        let organization = OrganizationId::from_uuid(uuid::Uuid::from_u128(1));
        sqlx::query(
            "INSERT INTO organizations (id, slug, name, created_at, updated_at)
             VALUES ($1, 'acme', 'Acme', '2026-01-01Z', '2026-01-01Z')",
        )
        .bind(organization.as_uuid())
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO users (id, organization_id, email, profile, created_at, updated_at)
             SELECT ('00000000-0000-7000-8000-' || lpad(n::text, 12, '0'))::uuid, $1,
                    'user' || n || '@example.com',
                    jsonb_build_object('employee_id', n, 'team', 'team-' || (n % 10)),
                    '2026-01-01Z', '2026-01-01Z'
             FROM generate_series(1, 2000) AS n",
        )
        .bind(organization.as_uuid())
        .execute(pool)
        .await
        .unwrap();
        sqlx::query("ANALYZE users").execute(pool).await.unwrap();
        organization
    }

    async fn plan(pool: &PgPool, organization: OrganizationId, query: &UserQuery) -> String {
        let mut connection = pool.acquire().await.unwrap();
        sqlx::query("SET enable_seqscan = off").execute(&mut *connection).await.unwrap();
        let mut builder = QueryBuilder::new("EXPLAIN ");
        push_list_query(&mut builder, organization, query, &PageRequest::first(50)).unwrap();
        let rows = builder.build().fetch_all(&mut *connection).await.unwrap();
        rows.iter().map(|row| row.get::<String, _>(0)).collect::<Vec<_>>().join("\n")
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn the_profile_filter_uses_the_gin_index(pool: PgPool) {
        let gin_index: String =
            sqlx::query_scalar("SELECT indexdef FROM pg_indexes WHERE indexname = 'users_profile_idx'")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert!(gin_index.contains("USING gin (profile jsonb_path_ops)"), "{gin_index}");

        let organization = seed(&pool).await;
        let query = UserQuery { profile_attribute: Some(("employee_id".into(), 1234.into())), ..UserQuery::default() };
        let plan = plan(&pool, organization, &query).await;
        assert!(plan.contains("users_profile_idx"), "{plan}");

        let users = PgUserRepository::new(pool).list(organization, &query, &PageRequest::first(50)).await.unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].email.as_str(), "user1234@example.com");
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn the_email_prefix_filter_uses_the_pattern_index(pool: PgPool) {
        let organization = seed(&pool).await;
        let query = UserQuery { email_prefix: Some("User123".into()), ..UserQuery::default() };
        let plan = plan(&pool, organization, &query).await;
        assert!(plan.contains("users_organization_email_pattern_idx"), "{plan}");

        let users =
            PgUserRepository::new(pool.clone()).list(organization, &query, &PageRequest::first(50)).await.unwrap();
        // user123@, user1230@ … user1239@
        assert_eq!(users.len(), 11);

        // Wildcards in the prefix are literal characters.
        let wildcard = UserQuery { email_prefix: Some("user_".into()), ..UserQuery::default() };
        let users = PgUserRepository::new(pool).list(organization, &wildcard, &PageRequest::first(50)).await.unwrap();
        assert!(users.is_empty());
    }
}
