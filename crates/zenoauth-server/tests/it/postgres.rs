//! `zenoauth migrate` and `bootstrap` against a real PostgreSQL server, each
//! test in a database of its own (created here, dropped at the end).

use std::hash::{BuildHasher, Hasher};

use sqlx::{Connection, PgConnection};

use crate::support::{stderr, zenoauth};

/// The server's admin database: `DATABASE_URL` of the test process, or the local default.
fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh database, dropped (even when the test fails) when this is dropped.
pub(crate) struct FreshDatabase {
    name: String,
}

impl FreshDatabase {
    pub(crate) async fn create() -> Self {
        let mut hasher = std::hash::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        let name = format!("zenoauth_it_{:016x}", hasher.finish());
        let mut admin = PgConnection::connect(&admin_url())
            .await
            .unwrap_or_else(|error| panic!("PostgreSQL must be running for these tests ({}): {error}", admin_url()));
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
        admin.close().await.unwrap();
        Self { name }
    }

    pub(crate) fn url(&self) -> String {
        let admin = admin_url();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
        format!("{base}/{}", self.name)
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime: use a runtime of our own on another thread.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
                }
            });
        })
        .join();
    }
}

#[tokio::test]
async fn migrate_then_bootstrap_on_postgres() {
    let database = FreshDatabase::create().await;
    let directory = tempfile::tempdir().unwrap();

    let migrated = zenoauth(directory.path()).arg("migrate").env("DATABASE_URL", database.url()).output().unwrap();
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    // Migrating again is a no-op.
    let again = zenoauth(directory.path()).arg("migrate").env("DATABASE_URL", database.url()).output().unwrap();
    assert!(again.status.success(), "{}", stderr(&again));

    let bootstrap = || {
        zenoauth(directory.path())
            .arg("bootstrap")
            .env("DATABASE_URL", database.url())
            .env("ZENOAUTH_MIGRATE_ON_START", "false")
            .output()
            .unwrap()
    };
    let first = bootstrap();
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stderr(&first).contains("ZenoAuth is bootstrapped"), "{}", stderr(&first));
    assert!(stderr(&first).contains("issuer:   http://127.0.0.1:8080/o/system"));
    let second = bootstrap();
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(stderr(&second).contains("nothing was created"), "{}", stderr(&second));

    let mut connection = PgConnection::connect(&database.url()).await.unwrap();
    let organizations: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations WHERE slug = 'system'")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(organizations, 1);
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&mut connection).await.unwrap();
    assert_eq!(users, 1);
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM signing_keys").fetch_one(&mut connection).await.unwrap();
    assert_eq!(keys, 1);
    connection.close().await.unwrap();
}

#[tokio::test]
async fn serve_without_migrations_says_what_to_do() {
    let database = FreshDatabase::create().await;
    let directory = tempfile::tempdir().unwrap();
    let output = zenoauth(directory.path())
        .arg("serve")
        .env("DATABASE_URL", database.url())
        .env("ZENOAUTH_MIGRATE_ON_START", "false")
        .env("ZENOAUTH_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    let line = crate::support::assert_one_line_error(&output);
    assert!(line.contains("zenoauth migrate"), "{line}");
}
