use std::sync::Arc;

use zenoauth_crypto::{Argon2Hasher, Argon2Params, JwsSigner, KeyEncryptionKey, OsRandom};
use zenoauth_domain::bootstrap::Bootstrap;
use zenoauth_domain::model::SigningAlgorithm;
use zenoauth_domain::ports::{PasswordHasher, RandomSource, Stores, TokenSigner};
use zenoauth_domain::testing::FixedClock;
use zenoauth_domain::values::{Email, Password, Slug};
use zenoauth_domain::Error;
use zenoauth_store_memory::MemoryDatabase;

struct World {
    database: MemoryDatabase,
    hasher: Arc<dyn PasswordHasher>,
    bootstrap: Bootstrap,
}

fn world() -> World {
    let database = MemoryDatabase::new();
    world_over(database)
}

fn world_over(database: MemoryDatabase) -> World {
    let random: Arc<dyn RandomSource> = Arc::new(OsRandom::new());
    let cheap = Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 };
    let hasher: Arc<dyn PasswordHasher> = Arc::new(Argon2Hasher::new(cheap, random.clone()).unwrap());
    let signer: Arc<dyn TokenSigner> =
        Arc::new(JwsSigner::new(KeyEncryptionKey::generate(random.as_ref()), random.clone()));
    let clock = Arc::new(FixedClock::at_unix(1_800_000_000));
    let bootstrap = Bootstrap::new(database.stores(), hasher.clone(), signer, clock, random);
    World { database, hasher, bootstrap }
}

fn stores(world: &World) -> Stores {
    world.database.stores()
}

fn admin_email() -> Email {
    Email::parse("admin@example.com").unwrap()
}

#[tokio::test]
async fn first_run_creates_the_system_organization_admin_and_signing_key() {
    let world = world();
    let outcome = world.bootstrap.run(&admin_email(), None).await.unwrap();

    assert!(outcome.organization_created && outcome.admin_created && outcome.signing_key_created);
    assert_eq!(outcome.organization.slug, Slug::system());
    let password = outcome.generated_password.expect("a generated password is shown once");
    assert_eq!(password.expose().len(), 24);
    let stored = stores(&world).users.find_by_email(outcome.organization.id, &admin_email()).await.unwrap().unwrap();
    assert!(stored.is_active && stored.email_verified);
    let hash = stored.password_hash.expect("the admin has a password");
    assert!(world.hasher.verify(&password, &hash).await.unwrap());
    let key = stores(&world).signing_keys.find_active(outcome.organization.id, SigningAlgorithm::EdDsa).await.unwrap();
    assert!(key.is_some());
}

#[tokio::test]
async fn a_given_password_is_used_and_not_echoed() {
    let world = world();
    let given = Password::parse("correct horse battery staple").unwrap();
    let outcome = world.bootstrap.run(&admin_email(), Some(given.clone())).await.unwrap();
    assert!(outcome.generated_password.is_none());
    assert!(world.hasher.verify(&given, outcome.admin.password_hash.as_ref().unwrap()).await.unwrap());
}

#[tokio::test]
async fn a_second_run_changes_nothing() {
    let world = world();
    let first = world.bootstrap.run(&admin_email(), None).await.unwrap();
    let second = world.bootstrap.run(&admin_email(), Some(Password::parse("another password").unwrap())).await.unwrap();

    assert!(!second.organization_created && !second.admin_created && !second.signing_key_created);
    assert!(second.generated_password.is_none());
    assert_eq!(second.organization.id, first.organization.id);
    assert_eq!(second.admin, first.admin, "the existing admin, password included, is untouched");
    let keys = stores(&world).signing_keys.list(first.organization.id).await.unwrap();
    assert_eq!(keys.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runs_on_one_database_make_one_organization_and_one_admin() {
    let database = MemoryDatabase::new();
    let runs = (0..8).map(|_| {
        let world = world_over(database.clone());
        tokio::spawn(async move { world.bootstrap.run(&admin_email(), None).await })
    });
    let mut outcomes = Vec::new();
    for run in runs {
        outcomes.push(run.await.unwrap().unwrap());
    }
    assert_eq!(outcomes.iter().filter(|outcome| outcome.organization_created).count(), 1);
    assert_eq!(outcomes.iter().filter(|outcome| outcome.admin_created).count(), 1);
    assert_eq!(outcomes.iter().filter(|outcome| outcome.generated_password.is_some()).count(), 1);
    let organization = outcomes[0].organization.id;
    assert!(outcomes.iter().all(|outcome| outcome.organization.id == organization));
    assert_eq!(
        database
            .stores()
            .users
            .list(organization, &Default::default(), &zenoauth_domain::ports::PageRequest::first(10))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_store_failure_is_reported_as_unavailable() {
    let world = world();
    world.database.faults().fail_always(true);
    let failure = world.bootstrap.run(&admin_email(), None).await.unwrap_err();
    assert!(matches!(failure, Error::Unavailable(_)), "{failure:?}");
}
