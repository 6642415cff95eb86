//! Criterion micro-benchmarks of the crypto on ZenoAuth's hot paths: JWS sign
//! and verify per algorithm, minting and validating an RFC 9068 access token,
//! Argon2id hash and verify at the default parameters (alone and under
//! concurrent load), and the digest and issuance of secrets.
//!
//! `cargo bench -p zenoauth-crypto` measures; `cargo bench -p zenoauth-crypto
//! -- --test` runs every bench once (what CI does). The figures and the
//! machine they were taken on are in docs/benchmarks.md.

// Bench code: setup failures should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};
use serde_json::{json, Value as Json};
use time::OffsetDateTime;
use tokio::runtime::Runtime;
use zenoauth_crypto::{
    digest_secret, issue_secret, Argon2Hasher, Argon2Params, JwsSigner, KeyEncryptionKey, OsRandom, SecretPrefix,
};
use zenoauth_domain::ids::{OrganizationId, SigningKeyId};
use zenoauth_domain::model::{SigningAlgorithm, SigningKey};
use zenoauth_domain::ports::{PasswordHasher as _, RandomSource, TokenSigner as _, TokenVerifier as _};
use zenoauth_domain::values::Password;
use zenoauth_domain::Error;

const ALGORITHMS: [SigningAlgorithm; 3] = [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256, SigningAlgorithm::Rs256];
/// RFC 9068 §2.1: the `typ` of a JWT access token.
const ACCESS_TOKEN_TYP: &str = "at+jwt";
const ACCESS_TOKEN_LIFETIME_SECONDS: i64 = 300;
const ISSUER: &str = "https://auth.example.com/o/acme";
const AUDIENCE: &str = "https://api.example.com";
const CLIENT_ID: &str = "0197a3f2-6c1e-7b3a-9d41-5e2f8c0a1b23";
const SUBJECT: &str = "0197a3f2-6c1e-7b3a-9d41-5e2f8c0a1b24";
const SCOPES: [&str; 4] = ["openid", "profile", "email", "orders:read"];

/// A fixed "now": time is an explicit argument here as everywhere else.
fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap()
}

struct Keys {
    signer: JwsSigner,
    random: Arc<OsRandom>,
    keys: Vec<SigningKey>,
}

impl Keys {
    fn new() -> Self {
        let random = Arc::new(OsRandom::new());
        let signer = JwsSigner::new(KeyEncryptionKey::generate(random.as_ref()), random.clone());
        let organization = OrganizationId::from_uuid(uuid::Uuid::from_u128(1));
        let keys = ALGORITHMS
            .iter()
            .zip(2u128..)
            .map(|(algorithm, id)| {
                let id = SigningKeyId::from_uuid(uuid::Uuid::from_u128(id));
                signer.generate(id, organization, *algorithm, now()).unwrap()
            })
            .collect();
        Self { signer, random, keys }
    }
}

/// Claims assembly for an RFC 9068 access token, as the token endpoint does it.
fn access_token_claims(random: &dyn RandomSource, now: OffsetDateTime) -> Json {
    let mut jti = [0u8; 16];
    random.fill(&mut jti);
    let iat = now.unix_timestamp();
    json!({
        "iss": ISSUER,
        "sub": SUBJECT,
        "aud": AUDIENCE,
        "client_id": CLIENT_ID,
        "scope": SCOPES.join(" "),
        "jti": URL_SAFE_NO_PAD.encode(jti),
        "iat": iat,
        "exp": iat + ACCESS_TOKEN_LIFETIME_SECONDS,
    })
}

/// Mint: claims assembly, serialisation and signing.
fn mint_access_token(keys: &Keys, key: &SigningKey, now: OffsetDateTime) -> String {
    let claims = access_token_claims(keys.random.as_ref(), now);
    keys.signer.sign(key, ACCESS_TOKEN_TYP, &claims).unwrap()
}

/// Validate: signature and `typ` (by the verifier), then `exp` against `now`.
fn validate_access_token(keys: &Keys, token: &str, now: OffsetDateTime) -> Result<Json, Error> {
    let claims = keys.signer.verify(&keys.keys, token, ACCESS_TOKEN_TYP)?;
    let exp = claims.get("exp").and_then(Json::as_i64).ok_or(Error::Unauthorized)?;
    if exp <= now.unix_timestamp() {
        return Err(Error::Unauthorized);
    }
    Ok(claims)
}

fn jws(c: &mut Criterion) {
    let keys = Keys::new();
    let claims = access_token_claims(keys.random.as_ref(), now());
    let mut sign = c.benchmark_group("jws_sign");
    for key in &keys.keys {
        sign.bench_function(key.algorithm.as_str(), |b| {
            b.iter(|| keys.signer.sign(black_box(key), ACCESS_TOKEN_TYP, black_box(&claims)).unwrap());
        });
    }
    sign.finish();
    let mut verify = c.benchmark_group("jws_verify");
    for key in &keys.keys {
        let token = keys.signer.sign(key, ACCESS_TOKEN_TYP, &claims).unwrap();
        verify.bench_function(key.algorithm.as_str(), |b| {
            b.iter(|| keys.signer.verify(black_box(&keys.keys), black_box(&token), ACCESS_TOKEN_TYP).unwrap());
        });
    }
    verify.finish();
}

fn access_token(c: &mut Criterion) {
    let keys = Keys::new();
    let mut mint = c.benchmark_group("access_token_mint");
    for key in &keys.keys {
        mint.bench_function(key.algorithm.as_str(), |b| b.iter(|| mint_access_token(&keys, black_box(key), now())));
    }
    mint.finish();
    let mut validate = c.benchmark_group("access_token_validate");
    for key in &keys.keys {
        let token = mint_access_token(&keys, key, now());
        let later = now() + Duration::from_secs(60);
        assert!(validate_access_token(&keys, &token, now() + Duration::from_secs(301)).is_err(), "exp is checked");
        validate.bench_function(key.algorithm.as_str(), |b| {
            b.iter(|| validate_access_token(&keys, black_box(&token), later).unwrap());
        });
    }
    validate.finish();
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn default_hasher(max_concurrent: Option<usize>) -> Arc<Argon2Hasher> {
    let hasher = Argon2Hasher::new(Argon2Params::default(), Arc::new(OsRandom::new())).unwrap();
    let hasher = match max_concurrent.and_then(NonZeroUsize::new) {
        Some(permits) => hasher.with_max_concurrent(permits),
        None => hasher,
    };
    Arc::new(hasher)
}

/// One Argon2id hash and verify at m = 65536 KiB, t = 3, p = 4, through the
/// hasher (semaphore and `spawn_blocking` included), with nothing else running.
fn argon2_single(c: &mut Criterion) {
    let runtime = runtime();
    let hasher = default_hasher(None);
    let password = Password::parse("correct horse battery staple").unwrap();
    let hash = runtime.block_on(hasher.hash(&password)).unwrap();
    let mut group = c.benchmark_group("argon2id");
    group.sampling_mode(SamplingMode::Flat).sample_size(10).measurement_time(Duration::from_secs(12));
    group.bench_function("hash", |b| b.iter(|| runtime.block_on(hasher.hash(black_box(&password))).unwrap()));
    group.bench_function("verify", |b| {
        b.iter(|| assert!(runtime.block_on(hasher.verify(black_box(&password), &hash)).unwrap()));
    });
    group.finish();
}

/// Throughput under load: each iteration starts `tasks` hashes at once and
/// waits for all of them, with `permits` allowed to run at a time. Criterion
/// reports hashes/s (elements/s); the time is that of the whole batch.
fn argon2_concurrent(c: &mut Criterion) {
    let runtime = runtime();
    let password = Password::parse("correct horse battery staple").unwrap();
    let mut group = c.benchmark_group("argon2id_concurrent");
    group.sampling_mode(SamplingMode::Flat).sample_size(10).measurement_time(Duration::from_secs(15));
    for permits in [1, 2] {
        let hasher = default_hasher(Some(permits));
        for tasks in [1usize, 8] {
            group.throughput(Throughput::Elements(tasks as u64));
            let id = BenchmarkId::new(format!("permits_{permits}"), format!("tasks_{tasks}"));
            group.bench_with_input(id, &tasks, |b, &tasks| {
                b.iter_custom(|iters| {
                    runtime.block_on(async {
                        let start = tokio::time::Instant::now();
                        for _ in 0..iters {
                            let batch: Vec<_> = (0..tasks)
                                .map(|_| {
                                    let hasher = Arc::clone(&hasher);
                                    let password = password.clone();
                                    tokio::spawn(async move { hasher.hash(&password).await.unwrap() })
                                })
                                .collect();
                            for task in batch {
                                black_box(task.await.unwrap());
                            }
                        }
                        start.elapsed()
                    })
                });
            });
        }
    }
    group.finish();
}

fn secrets(c: &mut Criterion) {
    let random = OsRandom::new();
    let presented = issue_secret(&random, SecretPrefix::RefreshToken);
    let mut group = c.benchmark_group("secrets");
    group.bench_function("digest_secret", |b| b.iter(|| digest_secret(black_box(presented.expose()))));
    group.bench_function("issue_secret", |b| b.iter(|| issue_secret(&random, black_box(SecretPrefix::RefreshToken))));
    group.finish();
}

criterion_group!(benches, jws, access_token, secrets, argon2_single, argon2_concurrent);
criterion_main!(benches);
