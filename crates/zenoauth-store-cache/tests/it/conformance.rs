//! Every store contract, through the caches over a fresh memory store: the
//! decorators are transparent to every caller of the ports.

use zenoauth_store_cache::{CacheSettings, CachedStores};
use zenoauth_store_memory::MemoryDatabase;

macro_rules! cached_contract {
    ($name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let cached = CachedStores::new(MemoryDatabase::new().stores(), CacheSettings::default(), None);
            zenoauth_store_tests::$name(&cached.stores()).await;
        }
    };
}

zenoauth_store_tests::for_each_contract!(cached_contract);
