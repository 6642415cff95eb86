//! The shared store conformance suite, one test per contract, each on its own
//! freshly migrated database.

macro_rules! pg_contract {
    ($name:ident) => {
        #[sqlx::test(migrator = "zenoauth_store_postgres::MIGRATOR")]
        async fn $name(pool: sqlx::PgPool) {
            zenoauth_store_tests::$name(&zenoauth_store_postgres::PgDatabase::from_pool(pool).stores()).await;
        }
    };
}

zenoauth_store_tests::for_each_contract!(pg_contract);
