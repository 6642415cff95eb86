//! [`UserRepository`] over the `users` table.

use async_trait::async_trait;
use serde_json::Value as Json;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use time::OffsetDateTime;
use zenoauth_domain::ids::{OrganizationId, UserId};
use zenoauth_domain::model::User;
use zenoauth_domain::ports::{PageRequest, UserQuery, UserRepository};
use zenoauth_domain::values::{Email, PasswordHash};
use zenoauth_domain::{Error, Result, ValidationError};

use crate::convert::{
    classify, column, instant, json, json_text, micros, missing_or_stale, optional_micros, optional_parsed, parsed,
    unavailable, uuid, write_error,
};

const COLUMNS: &str =
    "id, organization_id, email, email_verified, password_hash, profile, is_active, created_at, updated_at";

const UNIQUES: &[(&str, &str)] = &[
    ("users.organization_id, users.email", "user_email"),
    ("users.id", "user_id"),
    ("users.organization_id, users.id", "user_id"),
];

#[derive(Debug, Clone)]
pub(crate) struct SqliteUserRepository {
    pool: SqlitePool,
}

impl SqliteUserRepository {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn user(row: &SqliteRow) -> Result<User> {
    Ok(User {
        id: UserId::from_uuid(uuid(row, "id")?),
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        email: parsed(row, "email", Email::parse)?,
        email_verified: column(row, "email_verified")?,
        password_hash: optional_parsed(row, "password_hash", PasswordHash::parse)?,
        profile: json(row, "profile")?,
        is_active: column(row, "is_active")?,
        created_at: instant(row, "created_at")?,
        updated_at: instant(row, "updated_at")?,
    })
}

/// `%`, `_` and the escape character itself lose their LIKE meaning.
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for character in prefix.chars() {
        if matches!(character, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

/// Appends a condition that `users.profile` has the top-level `key` equal to
/// `value`, of the same JSON type (the string "1" is not the number 1; numbers
/// compare by value, so 1 equals 1.0, as in PostgreSQL's jsonb).
fn push_profile_attribute(query: &mut QueryBuilder<'_, Sqlite>, key: &str, value: &Json) -> Result<()> {
    query.push(" AND EXISTS (SELECT 1 FROM json_each(users.profile) AS attribute WHERE attribute.key = ");
    query.push_bind(key.to_owned());
    match value {
        Json::String(text) => {
            query.push(" AND attribute.type = 'text' AND attribute.atom = ").push_bind(text.clone());
        }
        Json::Bool(true) => {
            query.push(" AND attribute.type = 'true'");
        }
        Json::Bool(false) => {
            query.push(" AND attribute.type = 'false'");
        }
        Json::Null => {
            query.push(" AND attribute.type = 'null'");
        }
        Json::Number(number) => {
            query.push(" AND attribute.type IN ('integer', 'real') AND attribute.atom = ");
            match (number.as_i64(), number.as_f64()) {
                (Some(integer), _) => query.push_bind(integer),
                (None, Some(real)) => query.push_bind(real),
                (None, None) => return Err(Error::InvalidInput(NOT_SCALAR)),
            };
        }
        Json::Array(_) | Json::Object(_) => return Err(Error::InvalidInput(NOT_SCALAR)),
    }
    query.push(")");
    Ok(())
}

const NOT_SCALAR: ValidationError = ValidationError::new("profile_attribute", "must be a string, number or boolean");

impl SqliteUserRepository {
    /// One statement: the update only applies while `updated_at` is `expected` (when given).
    async fn write(&self, user: &User, expected: Option<OffsetDateTime>) -> Result<()> {
        let result = sqlx::query(
            "UPDATE users SET email = ?1, email_verified = ?2, password_hash = ?3, profile = ?4, is_active = ?5, \
             updated_at = ?6 WHERE organization_id = ?7 AND id = ?8 AND (?9 IS NULL OR updated_at = ?9)",
        )
        .bind(user.email.as_str())
        .bind(user.email_verified)
        .bind(user.password_hash.as_ref().map(PasswordHash::as_str))
        .bind(json_text(&user.profile))
        .bind(user.is_active)
        .bind(micros(user.updated_at))
        .bind(user.organization_id.as_uuid())
        .bind(user.id.as_uuid())
        .bind(optional_micros(expected))
        .execute(&self.pool)
        .await;
        match result {
            Ok(done) if done.rows_affected() == 0 => {
                let exists = "SELECT EXISTS (SELECT 1 FROM users WHERE organization_id = ? AND id = ?)";
                let keys = [user.organization_id.as_uuid(), user.id.as_uuid()];
                Err(missing_or_stale(&self.pool, exists, &keys, expected, "user").await)
            }
            Ok(_) => Ok(()),
            Err(error) => {
                Err(write_error(classify(error, UNIQUES), &self.pool, user.organization_id.as_uuid(), &[], "user")
                    .await)
            }
        }
    }
}

#[async_trait]
impl UserRepository for SqliteUserRepository {
    async fn create(&self, user: &User) -> Result<()> {
        let result = sqlx::query(
            "INSERT INTO users (id, organization_id, email, email_verified, password_hash, profile, is_active, \
             created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(user.id.as_uuid())
        .bind(user.organization_id.as_uuid())
        .bind(user.email.as_str())
        .bind(user.email_verified)
        .bind(user.password_hash.as_ref().map(PasswordHash::as_str))
        .bind(json_text(&user.profile))
        .bind(user.is_active)
        .bind(micros(user.created_at))
        .bind(micros(user.updated_at))
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => Err(write_error(
                classify(error, UNIQUES),
                &self.pool,
                user.organization_id.as_uuid(),
                &[],
                "organization",
            )
            .await),
        }
    }

    async fn get(&self, organization: OrganizationId, id: UserId) -> Result<User> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE organization_id = ? AND id = ?"))
            .bind(organization.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(user).transpose()?.ok_or(Error::NotFound("user"))
    }

    async fn find_by_email(&self, organization: OrganizationId, email: &Email) -> Result<Option<User>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE organization_id = ? AND email = ?"))
            .bind(organization.as_uuid())
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(user).transpose()
    }

    async fn update(&self, user: &User) -> Result<()> {
        self.write(user, None).await
    }

    async fn update_if_unchanged(&self, user: &User, expected_updated_at: OffsetDateTime) -> Result<()> {
        self.write(user, Some(expected_updated_at)).await
    }

    async fn delete(&self, organization: OrganizationId, id: UserId) -> Result<()> {
        let result = sqlx::query("DELETE FROM users WHERE organization_id = ? AND id = ?")
            .bind(organization.as_uuid())
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        if result.rows_affected() == 0 {
            return Err(Error::NotFound("user"));
        }
        Ok(())
    }

    async fn list(&self, organization: OrganizationId, query: &UserQuery, page: &PageRequest) -> Result<Vec<User>> {
        let mut sql = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM users WHERE organization_id = "));
        sql.push_bind(organization.as_uuid());
        if let Some(after) = page.after() {
            sql.push(" AND id > ").push_bind(after);
        }
        if let Some(prefix) = &query.email_prefix {
            sql.push(" AND email LIKE ").push_bind(like_prefix(&prefix.to_lowercase())).push(" ESCAPE '\\'");
        }
        if let Some((key, value)) = &query.profile_attribute {
            push_profile_attribute(&mut sql, key, value)?;
        }
        sql.push(" ORDER BY id LIMIT ").push_bind(i64::from(page.limit()));
        let rows = sql.build().fetch_all(&self.pool).await.map_err(unavailable)?;
        rows.iter().map(user).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_prefix("a_b%c\\d"), "a\\_b\\%c\\\\d%");
        assert_eq!(like_prefix(""), "%");
    }
}
