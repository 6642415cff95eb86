//! Every contract of the conformance suite, each against a fresh database file.

macro_rules! sqlite_contract {
    ($name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let dir = tempfile::tempdir().unwrap();
            let database = crate::fresh_database(&dir).await.unwrap();
            zenoauth_store_tests::$name(&database.stores()).await;
        }
    };
}

zenoauth_store_tests::for_each_contract!(sqlite_contract);
