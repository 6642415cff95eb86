//! Reading rows into domain values: every column goes through the domain's
//! own constructors, and a value they refuse is a corrupt row.

use sqlx::postgres::PgRow;
use sqlx::{Decode, Postgres, Row, Type};
use zenoauth_domain::values::{Scope, ScopeSet, SecretDigest};
use zenoauth_domain::{Error, Result, ValidationError};

use crate::error::{corrupt, OrCorrupt};

/// One row of one table, read column by column.
pub(crate) struct RowReader<'r> {
    row: &'r PgRow,
    table: &'static str,
}

impl<'r> RowReader<'r> {
    pub(crate) fn new(row: &'r PgRow, table: &'static str) -> Self {
        Self { row, table }
    }

    /// A column as its SQL-level Rust type.
    pub(crate) fn get<T>(&self, column: &'static str) -> Result<T>
    where
        T: Decode<'r, Postgres> + Type<Postgres>,
    {
        self.row.try_get(column).map_err(|error| corrupt(self.table, column, error))
    }

    /// A text column through a domain parser.
    pub(crate) fn parse<T>(
        &self,
        column: &'static str,
        parse: impl FnOnce(&str) -> Result<T, ValidationError>,
    ) -> Result<T> {
        let text: &str = self.get(column)?;
        parse(text).or_corrupt(self.table, column)
    }

    /// A nullable text column through a domain parser.
    pub(crate) fn parse_optional<T>(
        &self,
        column: &'static str,
        parse: impl FnOnce(&str) -> Result<T, ValidationError>,
    ) -> Result<Option<T>> {
        let text: Option<&str> = self.get(column)?;
        text.map(parse).transpose().or_corrupt(self.table, column)
    }

    pub(crate) fn digest(&self, column: &'static str) -> Result<SecretDigest> {
        let bytes: &[u8] = self.get(column)?;
        SecretDigest::from_slice(bytes).or_corrupt(self.table, column)
    }

    pub(crate) fn optional_digest(&self, column: &'static str) -> Result<Option<SecretDigest>> {
        let bytes: Option<&[u8]> = self.get(column)?;
        bytes.map(SecretDigest::from_slice).transpose().or_corrupt(self.table, column)
    }

    /// A `text[]` column of scope tokens.
    pub(crate) fn scopes(&self, column: &'static str) -> Result<ScopeSet> {
        let tokens: Vec<String> = self.get(column)?;
        let scopes = tokens.iter().map(|token| Scope::parse(token)).collect::<Result<Vec<_>, _>>();
        Ok(ScopeSet::from_scopes(scopes.or_corrupt(self.table, column)?))
    }

    /// A `text[]` column through a domain parser per element.
    pub(crate) fn parse_array<T>(
        &self,
        column: &'static str,
        parse: impl Fn(&str) -> Result<T, ValidationError>,
    ) -> Result<Vec<T>> {
        let items: Vec<String> = self.get(column)?;
        items.iter().map(|item| parse(item)).collect::<Result<Vec<_>, _>>().or_corrupt(self.table, column)
    }
}

/// Scopes as a `text[]` parameter, in canonical order.
pub(crate) fn scope_array(scopes: &ScopeSet) -> Vec<String> {
    scopes.iter().map(|scope| scope.as_str().to_owned()).collect()
}

/// The keyset lower bound: ids greater than this. Without a cursor the nil
/// UUID, which sorts before every UUIDv7, so one index-friendly `id > $n`
/// serves every page.
pub(crate) fn after(page: &zenoauth_domain::ports::PageRequest) -> uuid::Uuid {
    page.after().unwrap_or(uuid::Uuid::nil())
}

/// A page size as a `LIMIT` parameter.
pub(crate) fn limit(page: &zenoauth_domain::ports::PageRequest) -> i64 {
    i64::from(page.limit())
}

/// Reads every row with `read`, failing on the first corrupt one.
pub(crate) fn read_all<T>(rows: &[PgRow], read: impl Fn(&PgRow) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(read).collect()
}

/// `NotFound(what)` when a write touched no row.
pub(crate) fn expect_one(affected: u64, what: &'static str) -> Result<()> {
    if affected == 0 {
        Err(Error::NotFound(what))
    } else {
        Ok(())
    }
}

/// The outcome of a conditional update run as
/// `WITH target AS (SELECT … WHERE key), changed AS (UPDATE … WHERE key AND
/// ($n::timestamptz IS NULL OR updated_at = $n) RETURNING 1)
/// SELECT EXISTS (SELECT 1 FROM target), EXISTS (SELECT 1 FROM changed)`:
/// `NotFound(what)` when no row has the key, `PreconditionFailed` when one has
/// but its `updated_at` was not the expected one.
pub(crate) fn expect_written((found, written): (bool, bool), what: &'static str) -> Result<()> {
    match (found, written) {
        (_, true) => Ok(()),
        (true, false) => Err(Error::PreconditionFailed),
        (false, false) => Err(Error::NotFound(what)),
    }
}
