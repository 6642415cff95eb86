//! Every contract of `zenoauth-store-tests`, each on a fresh database, on a
//! multi-threaded runtime so the concurrency contracts really race.

use zenoauth_store_memory::MemoryDatabase;

macro_rules! memory_contract {
    ($name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            zenoauth_store_tests::$name(&MemoryDatabase::new().stores()).await;
        }
    };
}

zenoauth_store_tests::for_each_contract!(memory_contract);
