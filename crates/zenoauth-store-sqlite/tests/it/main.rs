//! The SQLite adapter's integration tests: its own connection behaviour, and
//! the shared conformance suite, each test on a fresh database file.

mod adapter;
mod connection;
mod contracts;

use zenoauth_store_sqlite::{DatabaseError, SqliteDatabase};

/// A migrated database in a fresh file in `dir`, with WAL and several
/// connections, so concurrency contracts meet real locking.
pub async fn fresh_database(dir: &tempfile::TempDir) -> Result<SqliteDatabase, DatabaseError> {
    let url = format!("sqlite://{}", dir.path().join("zenoauth.db").display());
    let database = SqliteDatabase::connect(&url, 8).await?;
    database.migrate().await?;
    Ok(database)
}
