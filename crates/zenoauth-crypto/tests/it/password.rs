use std::num::NonZeroUsize;
use std::sync::Arc;

use zenoauth_crypto::{Argon2Hasher, Argon2Params, OsRandom};
use zenoauth_domain::ports::PasswordHasher as _;
use zenoauth_domain::values::{Password, PasswordHash};
use zenoauth_domain::Error;

const FAST: Argon2Params = Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 };

fn hasher(params: Argon2Params) -> Argon2Hasher {
    Argon2Hasher::new(params, Arc::new(OsRandom::new())).unwrap()
}

fn password(text: &str) -> Password {
    Password::parse(text).unwrap()
}

#[tokio::test]
async fn hash_then_verify_and_a_wrong_password_is_false() {
    let hasher = hasher(FAST);
    let hash = hasher.hash(&password("correct horse")).await.unwrap();
    assert!(hash.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{}", hash.as_str());
    assert!(hasher.verify(&password("correct horse"), &hash).await.unwrap());
    assert!(!hasher.verify(&password("correct horsf"), &hash).await.unwrap());
    assert!(!hasher.verify(&password("Correct horse"), &hash).await.unwrap());
}

#[tokio::test]
async fn default_parameters_are_m65536_t3_p4() {
    assert_eq!(Argon2Params::default(), Argon2Params { memory_kib: 65536, iterations: 3, parallelism: 4 });
    let hasher = hasher(Argon2Params::default());
    let hash = hasher.hash(&password("pw")).await.unwrap();
    assert!(hash.as_str().starts_with("$argon2id$v=19$m=65536,t=3,p=4$"), "{}", hash.as_str());
    assert!(!hasher.needs_rehash(&hash));
    assert!(hasher.verify(&password("pw"), &hash).await.unwrap());
}

#[tokio::test]
async fn salts_are_fresh_per_hash() {
    let hasher = hasher(FAST);
    let first = hasher.hash(&password("same")).await.unwrap();
    let second = hasher.hash(&password("same")).await.unwrap();
    assert_ne!(first, second);
    let salt = first.as_str().split('$').nth(4).unwrap();
    assert_eq!(salt.len(), 22, "16-byte salt in unpadded base64");
}

#[tokio::test]
async fn needs_rehash_when_algorithm_version_or_parameters_differ() {
    let current = hasher(FAST);
    let own = current.hash(&password("pw")).await.unwrap();
    assert!(!current.needs_rehash(&own));

    for other in [
        Argon2Params { memory_kib: 128, ..FAST },
        Argon2Params { iterations: 2, ..FAST },
        Argon2Params { memory_kib: 128, parallelism: 2, ..FAST },
    ] {
        assert!(hasher(other).needs_rehash(&own), "{other:?}");
    }
    let swap = |from: &str, to: &str| PasswordHash::parse(&own.as_str().replacen(from, to, 1)).unwrap();
    assert!(current.needs_rehash(&swap("$argon2id$", "$argon2i$")));
    assert!(current.needs_rehash(&swap("$v=19$", "$v=16$")));
    assert!(current
        .needs_rehash(&PasswordHash::parse("$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW").unwrap()));
    assert!(current.needs_rehash(&PasswordHash::parse("$garbage").unwrap()));
}

#[tokio::test]
async fn hashes_with_old_parameters_still_verify() {
    let old = hasher(Argon2Params { memory_kib: 128, iterations: 2, parallelism: 1 });
    let hash = old.hash(&password("pw")).await.unwrap();
    let current = hasher(FAST);
    assert!(current.verify(&password("pw"), &hash).await.unwrap());
    assert!(!current.verify(&password("nope"), &hash).await.unwrap());
    assert!(current.needs_rehash(&hash));
}

#[tokio::test]
async fn malformed_or_foreign_hashes_are_unavailable_not_false() {
    let hasher = hasher(FAST);
    for phc in [
        "$garbage",
        "$argon2id$v=19$m=64,t=1,p=1$not-a-salt!$",
        "$argon2id$v=19$m=64,t=1,p=1",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    ] {
        let hash = PasswordHash::parse(phc).unwrap();
        let result = hasher.verify(&password("pw"), &hash).await;
        assert!(matches!(result, Err(Error::Unavailable(_))), "{phc}: {result:?}");
    }
}

#[tokio::test]
async fn verify_dummy_never_succeeds_and_costs_about_a_real_verify() {
    let params = Argon2Params { memory_kib: 8192, iterations: 2, parallelism: 1 };
    let hasher = hasher(params);
    let hash = hasher.hash(&password("pw")).await.unwrap();
    let mut real = std::time::Duration::ZERO;
    let mut dummy = std::time::Duration::ZERO;
    for _ in 0..3 {
        let start = tokio::time::Instant::now();
        assert!(hasher.verify(&password("pw"), &hash).await.unwrap());
        real += start.elapsed();
        let start = tokio::time::Instant::now();
        hasher.verify_dummy(&password("pw")).await.unwrap();
        dummy += start.elapsed();
    }
    // Same parameters, same work: a loose bound that still catches a dummy
    // that skips hashing (which would take microseconds, not milliseconds).
    assert!(dummy * 3 >= real, "dummy {dummy:?} vs real {real:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_concurrent_hashes_completes_with_two_permits() {
    let hasher = Arc::new(hasher(FAST).with_max_concurrent(NonZeroUsize::new(2).unwrap()));
    assert_eq!(hasher.max_concurrent(), 2);
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let hasher = Arc::clone(&hasher);
            tokio::spawn(async move {
                let text = format!("password-{n}");
                let hash = hasher.hash(&password(&text)).await.unwrap();
                hasher.verify(&password(&text), &hash).await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap());
    }
}

#[test]
fn debug_shows_parameters_only() {
    let debug = format!("{:?}", hasher(FAST));
    assert!(debug.contains("memory_kib: 64"), "{debug}");
    assert!(!debug.contains("$argon2id$"), "{debug}");
}

/// PHC strings made by argon2 0.5.3 (lanes computed one after another),
/// before the move to argon2 0.6 with parallel lanes: stored hashes must keep
/// verifying, and a different lane schedule must not change the output. The
/// reference C implementation (the `argon2` command) yields the same p = 4
/// strings from the same salts.
const MADE_BY_ARGON2_0_5: [&str; 3] = [
    "$argon2id$v=19$m=65536,t=3,p=4$rIhkissubuZzppZ7iEcZMA$Vv2pUZtuEk8V+FMZkCgUndlFiUQPdj0lJKt/O2PqYpY",
    "$argon2id$v=19$m=256,t=2,p=4$5uSh/PJMQ9xOPuXiUSIV0A$dPhIhVlb0oU8/9VkkG3U6HBEgC+Cmz1R6i81A52bT6s",
    "$argon2id$v=19$m=64,t=1,p=1$JHejOFu6LJ858+hKA1dK0w$wE+ImptSZEGs/SCXBRc+POqOmgVTICPB6I1POJVjqE8",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashes_made_by_argon2_0_5_still_verify() {
    let hasher = hasher(Argon2Params::default());
    for phc in MADE_BY_ARGON2_0_5 {
        let hash = PasswordHash::parse(phc).unwrap();
        assert!(hasher.verify(&password("correct horse battery staple"), &hash).await.unwrap(), "{phc}");
        assert!(!hasher.verify(&password("correct horse battery stapler"), &hash).await.unwrap(), "{phc}");
    }
    assert!(!hasher.needs_rehash(&PasswordHash::parse(MADE_BY_ARGON2_0_5[0]).unwrap()));
}
