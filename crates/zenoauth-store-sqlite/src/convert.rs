//! Between SQLite values and domain values, and from sqlx errors to the
//! domain's [`Error`]. Instants are stored as INTEGER microseconds since the
//! Unix epoch; JSON as TEXT; ids as 16-byte BLOBs.

use serde_json::Value as Json;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, SqlitePool};
use time::OffsetDateTime;
use uuid::Uuid;
use zenoauth_domain::values::SecretDigest;
use zenoauth_domain::{Error, Result, ValidationError};

/// A stored value the domain refuses: the database holds something this
/// adapter never writes. Surfaces as `Unavailable`, with the column named for the log.
#[derive(Debug, thiserror::Error)]
#[error("stored {column} is not valid: {reason}")]
pub(crate) struct CorruptValue {
    column: &'static str,
    reason: String,
}

pub(crate) fn corrupt(column: &'static str, reason: impl ToString) -> Error {
    Error::unavailable(CorruptValue { column, reason: reason.to_string() })
}

/// A database failure the domain has no word for.
pub(crate) fn unavailable(error: sqlx::Error) -> Error {
    Error::unavailable(error)
}

/// The instant as microseconds since the Unix epoch (sub-microsecond digits
/// are dropped, as PostgreSQL drops them).
pub(crate) fn micros(at: OffsetDateTime) -> i64 {
    let micros = at.unix_timestamp_nanos().div_euclid(1_000);
    i64::try_from(micros).unwrap_or(if micros < 0 { i64::MIN } else { i64::MAX })
}

/// The instant as it will read back: truncated to the microsecond.
pub(crate) fn as_stored(at: OffsetDateTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros(at)) * 1_000).unwrap_or(at)
}

pub(crate) fn optional_micros(at: Option<OffsetDateTime>) -> Option<i64> {
    at.map(micros)
}

/// Why a conditional update (`… AND (?n IS NULL OR updated_at = ?n)`) touched
/// no row: `PreconditionFailed` when `exists_sql` (bound with `keys`) still
/// finds the row and a precondition was given, `NotFound(what)` otherwise.
pub(crate) async fn missing_or_stale(
    pool: &SqlitePool,
    exists_sql: &str,
    keys: &[Uuid],
    expected: Option<OffsetDateTime>,
    what: &'static str,
) -> Error {
    if expected.is_none() {
        return Error::NotFound(what);
    }
    let mut query = sqlx::query_scalar::<_, bool>(exists_sql);
    for key in keys {
        query = query.bind(*key);
    }
    match query.fetch_one(pool).await {
        Ok(true) => Error::PreconditionFailed,
        Ok(false) => Error::NotFound(what),
        Err(error) => unavailable(error),
    }
}

pub(crate) fn json_text(value: &Json) -> String {
    // Serialising a `serde_json::Value` cannot fail: its keys are strings.
    value.to_string()
}

/// Reads one column, mapping a decode failure to `Unavailable`.
pub(crate) fn column<'r, T>(row: &'r SqliteRow, name: &'static str) -> Result<T>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get::<T, _>(name).map_err(unavailable)
}

pub(crate) fn uuid(row: &SqliteRow, name: &'static str) -> Result<Uuid> {
    column::<Uuid>(row, name)
}

pub(crate) fn optional_uuid(row: &SqliteRow, name: &'static str) -> Result<Option<Uuid>> {
    column::<Option<Uuid>>(row, name)
}

pub(crate) fn instant(row: &SqliteRow, name: &'static str) -> Result<OffsetDateTime> {
    from_micros(name, column::<i64>(row, name)?)
}

pub(crate) fn optional_instant(row: &SqliteRow, name: &'static str) -> Result<Option<OffsetDateTime>> {
    column::<Option<i64>>(row, name)?.map(|value| from_micros(name, value)).transpose()
}

fn from_micros(name: &'static str, value: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(value) * 1_000).map_err(|error| corrupt(name, error))
}

pub(crate) fn json(row: &SqliteRow, name: &'static str) -> Result<Json> {
    let text = column::<String>(row, name)?;
    serde_json::from_str(&text).map_err(|error| corrupt(name, error))
}

pub(crate) fn digest(row: &SqliteRow, name: &'static str) -> Result<SecretDigest> {
    let bytes = column::<Vec<u8>>(row, name)?;
    SecretDigest::from_slice(&bytes).map_err(|error| corrupt(name, error))
}

/// Parses a stored text column with a domain constructor.
pub(crate) fn parsed<T>(
    row: &SqliteRow,
    name: &'static str,
    parse: impl FnOnce(&str) -> std::result::Result<T, ValidationError>,
) -> Result<T> {
    let text = column::<String>(row, name)?;
    parse(&text).map_err(|error| corrupt(name, error))
}

pub(crate) fn optional_parsed<T>(
    row: &SqliteRow,
    name: &'static str,
    parse: impl FnOnce(&str) -> std::result::Result<T, ValidationError>,
) -> Result<Option<T>> {
    column::<Option<String>>(row, name)?.map(|text| parse(&text).map_err(|error| corrupt(name, error))).transpose()
}

/// How a write failed, as far as the domain cares.
#[derive(Debug)]
pub(crate) enum WriteFailure {
    /// A uniqueness rule, by the name the port documents.
    Conflict(&'static str),
    /// A referenced row (organization, user, …) is missing.
    MissingParent,
    Other(Error),
}

/// Classifies a failed write. SQLite names the broken unique constraint by its
/// columns (`UNIQUE constraint failed: users.organization_id, users.email`);
/// `uniques` maps those column lists to the port's conflict names.
pub(crate) fn classify(error: sqlx::Error, uniques: &[(&str, &'static str)]) -> WriteFailure {
    let sqlx::Error::Database(database_error) = &error else {
        return WriteFailure::Other(unavailable(error));
    };
    match database_error.kind() {
        sqlx::error::ErrorKind::UniqueViolation => {
            let columns =
                database_error.message().strip_prefix("UNIQUE constraint failed: ").unwrap_or_default().trim();
            match uniques.iter().find(|(known, _)| *known == columns) {
                Some((_, name)) => WriteFailure::Conflict(name),
                None => WriteFailure::Other(unavailable(error)),
            }
        }
        sqlx::error::ErrorKind::ForeignKeyViolation => WriteFailure::MissingParent,
        _ => WriteFailure::Other(unavailable(error)),
    }
}

/// A row a new row refers to, checked after a foreign-key failure to say which
/// one is missing (SQLite does not say).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parent {
    /// The `NotFound` payload.
    pub(crate) name: &'static str,
    /// A tenant table with `organization_id` and `id` columns.
    pub(crate) table: &'static str,
    pub(crate) id: Option<Uuid>,
}

/// Which parent is missing: the organization first, then each of `parents`
/// within it; `fallback` when all exist (the failing reference was elsewhere).
pub(crate) async fn missing_parent(
    pool: &SqlitePool,
    organization: Uuid,
    parents: &[Parent],
    fallback: &'static str,
) -> Error {
    let organization_exists = sqlx::query("SELECT 1 FROM organizations WHERE id = ?")
        .bind(organization)
        .fetch_optional(pool)
        .await
        .map(|row| row.is_some());
    match organization_exists {
        Ok(false) => return Error::NotFound("organization"),
        Ok(true) => {}
        Err(error) => return unavailable(error),
    }
    for parent in parents {
        let Some(id) = parent.id else { continue };
        let sql = format!("SELECT 1 FROM {} WHERE organization_id = ? AND id = ?", parent.table);
        match sqlx::query(&sql).bind(organization).bind(id).fetch_optional(pool).await {
            Ok(Some(_)) => {}
            Ok(None) => return Error::NotFound(parent.name),
            Err(error) => return unavailable(error),
        }
    }
    Error::NotFound(fallback)
}

/// Turns a classified failure into the domain error, asking which parent is missing.
pub(crate) async fn write_error(
    failure: WriteFailure,
    pool: &SqlitePool,
    organization: Uuid,
    parents: &[Parent],
    fallback: &'static str,
) -> Error {
    match failure {
        WriteFailure::Conflict(name) => Error::Conflict(name),
        WriteFailure::MissingParent => missing_parent(pool, organization, parents, fallback).await,
        WriteFailure::Other(error) => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn micros_keep_order_and_drop_nanoseconds() {
        let at = datetime!(2026-01-02 03:04:05.123_456_789 UTC);
        assert_eq!(micros(at), 1_767_323_045_123_456);
        assert_eq!(from_micros("t", micros(at)).unwrap(), datetime!(2026-01-02 03:04:05.123_456 UTC));
        let before_epoch = datetime!(1969-12-31 23:59:59.999_999_5 UTC);
        assert_eq!(micros(before_epoch), -1);
        assert!(micros(before_epoch) < micros(OffsetDateTime::UNIX_EPOCH));
    }
}
