//! Connecting, migrating and probing: what the server sees at start-up.

use std::time::Duration;

use sqlx::PgPool;
use zenoauth_store_postgres::{DatabaseError, PgDatabase, MIGRATOR};

#[tokio::test]
async fn an_unreachable_database_fails_fast_without_showing_the_password() {
    let started = tokio::time::Instant::now();
    let error = PgDatabase::connect("postgres://postgres:s3cret-pw@127.0.0.1:1/x", 4).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(7), "took {:?}", started.elapsed());
    assert!(matches!(error, DatabaseError::Unreachable(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.starts_with("cannot reach the PostgreSQL database: 127.0.0.1:1/x: "), "{message}");
    assert!(!message.contains("s3cret-pw"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[tokio::test]
async fn a_malformed_url_is_invalid() {
    for url in ["postgres://u:s3cret@[::1/db", "not a url", "sqlite://zenoauth.db", "postgres://u:pw@host:99999/db"] {
        let error = PgDatabase::connect(url, 4).await.unwrap_err();
        assert!(matches!(error, DatabaseError::InvalidUrl), "{url}: {error:?}");
        assert!(!error.to_string().contains("s3cret"));
    }
}

#[tokio::test]
async fn a_reachable_database_connects_and_answers_ping() {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL must name the test PostgreSQL server");
    let database = PgDatabase::connect(&url, 2).await.unwrap();
    database.ping().await.unwrap();
}

#[sqlx::test(migrations = false)]
async fn migrate_builds_the_schema_and_is_idempotent(pool: PgPool) {
    let database = PgDatabase::from_pool(pool);
    database.migrate().await.unwrap();
    database.migrate().await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations' ORDER BY table_name",
    )
    .fetch_all(database.pool())
    .await
    .unwrap();
    assert_eq!(
        tables,
        [
            "account_tokens",
            "application_roles",
            "applications",
            "audit_events",
            "authorization_codes",
            "client_assertion_jtis",
            "consents",
            "federated_identities",
            "federation_logins",
            "federation_pending_links",
            "identity_providers",
            "login_attempts",
            "mail_outbox",
            "mfa_recovery_codes",
            "mfa_totp_credentials",
            "organizations",
            "passkey_ceremonies",
            "passkey_credentials",
            "refresh_token_families",
            "refresh_tokens",
            "revocations",
            "roles",
            "sessions",
            "signing_keys",
            "user_roles",
            "users"
        ]
    );
}

#[sqlx::test(migrator = "zenoauth_store_postgres::MIGRATOR")]
async fn a_database_migrated_by_a_newer_version_is_refused(pool: PgPool) {
    let newest_known = MIGRATOR.iter().map(|migration| migration.version).max().unwrap();
    let future = newest_known + 1000;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES ($1, 'from the future', true, '\\x00', 0)",
    )
    .bind(future)
    .execute(&pool)
    .await
    .unwrap();
    let error = PgDatabase::from_pool(pool).migrate().await.unwrap_err();
    assert!(matches!(error, DatabaseError::NewerSchema(version) if version == future), "{error:?}");
}

#[sqlx::test(migrator = "zenoauth_store_postgres::MIGRATOR")]
async fn every_tenant_table_cascades_from_organizations(pool: PgPool) {
    let tenant_tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.conrelid::regclass::text FROM pg_constraint c
         WHERE c.contype = 'f' AND c.confrelid = 'organizations'::regclass AND c.confdeltype = 'c'
         ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        tenant_tables,
        [
            "account_tokens",
            "application_roles",
            "applications",
            "audit_events",
            "authorization_codes",
            "client_assertion_jtis",
            "consents",
            "federated_identities",
            "federation_logins",
            "federation_pending_links",
            "identity_providers",
            "login_attempts",
            "mail_outbox",
            "mfa_recovery_codes",
            "mfa_totp_credentials",
            "passkey_ceremonies",
            "passkey_credentials",
            "refresh_token_families",
            "refresh_tokens",
            "revocations",
            "roles",
            "sessions",
            "signing_keys",
            "user_roles",
            "users"
        ]
    );
}
