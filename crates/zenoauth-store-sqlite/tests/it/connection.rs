//! Opening, configuring and migrating the database.

use sqlx::Row;
use zenoauth_store_sqlite::{DatabaseError, SqliteDatabase, MIGRATOR};

use crate::fresh_database;

async fn pragma(database: &SqliteDatabase, name: &str) -> Result<String, sqlx::Error> {
    let row = sqlx::query(&format!("PRAGMA {name}")).fetch_one(database.pool()).await?;
    // journal_mode answers text, the others integers.
    row.try_get::<String, _>(0).or_else(|_| row.try_get::<i64, _>(0).map(|n| n.to_string()))
}

#[tokio::test]
async fn connect_creates_the_file_with_wal_foreign_keys_and_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zenoauth.db");
    assert!(!path.exists());
    let database = SqliteDatabase::connect(&format!("sqlite://{}", path.display()), 4).await.unwrap();
    assert!(path.exists(), "the database file is created");
    assert_eq!(pragma(&database, "journal_mode").await.unwrap(), "wal");
    assert_eq!(pragma(&database, "foreign_keys").await.unwrap(), "1");
    assert_eq!(pragma(&database, "busy_timeout").await.unwrap(), "5000");
    // NORMAL is 1.
    assert_eq!(pragma(&database, "synchronous").await.unwrap(), "1");
    database.ping().await.unwrap();
}

#[tokio::test]
async fn every_pooled_connection_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(&dir).await.unwrap();
    let mut connections = Vec::new();
    for _ in 0..4 {
        connections.push(database.pool().acquire().await.unwrap());
    }
    for connection in &mut connections {
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&mut **connection).await.unwrap();
        assert_eq!(foreign_keys, 1);
    }
}

#[tokio::test]
async fn in_memory_database_is_one_database_for_every_user() {
    let database = SqliteDatabase::connect("sqlite::memory:", 8).await.unwrap();
    database.migrate().await.unwrap();
    sqlx::query("CREATE TABLE probe (n INTEGER)").execute(database.pool()).await.unwrap();
    sqlx::query("INSERT INTO probe VALUES (1)").execute(database.pool()).await.unwrap();
    let clone = database.clone();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM probe").fetch_one(clone.pool()).await.unwrap();
    assert_eq!(seen, 1);
    assert_eq!(database.pool().options().get_max_connections(), 1);
    assert_eq!(pragma(&database, "foreign_keys").await.unwrap(), "1");
}

#[tokio::test]
async fn migrating_twice_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(&dir).await.unwrap();
    database.migrate().await.unwrap();
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations").fetch_one(database.pool()).await.unwrap();
    assert_eq!(applied, i64::try_from(MIGRATOR.iter().count()).unwrap());
}

#[tokio::test]
async fn malformed_urls_are_invalid() {
    for url in [
        "",
        "zenoauth.db",
        "postgres://postgres@127.0.0.1/zenoauth",
        "sqlite://",
        "sqlite://db.sqlite?mode=bogus",
        "sqlite://db.sqlite?unknown=1",
    ] {
        let error = SqliteDatabase::connect(url, 1).await.unwrap_err();
        assert!(matches!(error, DatabaseError::InvalidUrl), "{url:?}: {error:?}");
    }
}

#[tokio::test]
async fn a_missing_directory_is_unreachable_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-directory").join("zenoauth.db");
    let error = SqliteDatabase::connect(&format!("sqlite://{}", path.display()), 1).await.unwrap_err();
    assert!(matches!(error, DatabaseError::Unreachable(_)), "{error:?}");
    let message = error.to_string();
    assert!(!message.contains('\n'), "{message}");
    assert!(message.starts_with("cannot open the SQLite database: "), "{message}");
    assert!(message.contains("zenoauth.db"), "names the file: {message}");
}

#[tokio::test]
async fn a_path_that_is_a_directory_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let error = SqliteDatabase::connect(&format!("sqlite://{}", dir.path().display()), 1).await.unwrap_err();
    assert!(matches!(error, DatabaseError::Unreachable(_)), "{error:?}");
    assert!(!error.to_string().contains('\n'));
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(&dir).await.unwrap();
    let newest = MIGRATOR.iter().map(|migration| migration.version).max().unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (?, 'from the future', 1, x'00', 0)",
    )
    .bind(newest + 1)
    .execute(database.pool())
    .await
    .unwrap();
    let error = database.migrate().await.unwrap_err();
    assert!(matches!(error, DatabaseError::NewerSchema(version) if version == newest + 1), "{error:?}");
}

#[tokio::test]
async fn tables_are_strict_and_foreign_keys_hold() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(&dir).await.unwrap();
    let violations: Vec<sqlx::sqlite::SqliteRow> =
        sqlx::query("PRAGMA foreign_key_check").fetch_all(database.pool()).await.unwrap();
    assert!(violations.is_empty());
    // A user row in an organization that does not exist is refused by the database itself.
    let orphan = sqlx::query(
        "INSERT INTO users (id, organization_id, email, created_at, updated_at) VALUES (?, ?, 'a@b.c', 0, 0)",
    )
    .bind(uuid::Uuid::from_u128(1))
    .bind(uuid::Uuid::from_u128(2))
    .execute(database.pool())
    .await;
    assert!(orphan.is_err());
    // STRICT: an id that is not a blob is refused.
    let text_id = sqlx::query(
        "INSERT INTO organizations (id, slug, name, created_at, updated_at) VALUES ('not-a-blob', 's', 'n', 0, 0)",
    )
    .execute(database.pool())
    .await;
    assert!(text_id.is_err());
}
