//! Integration tests of the PostgreSQL adapter against a real server
//! (`DATABASE_URL`); `#[sqlx::test]` gives every test a fresh database.

mod conformance;
mod database;
mod invalidation;
