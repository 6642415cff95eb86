//! The store caches across instances (issue 7): two `zenoauth serve`
//! processes on one fresh PostgreSQL database. What one instance changes —
//! a revoked access token, a rotated client secret — the other honours
//! within a second, although it had the old state cached.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::postgres::FreshDatabase;
use crate::support::{client, stderr, zenoauth, ServeProcess};

/// How soon the other instance must honour a change.
const BOUND: Duration = Duration::from_secs(1);

fn command(directory: &std::path::Path, database: &FreshDatabase) -> Command {
    let mut command = zenoauth(directory);
    command
        .env("DATABASE_URL", database.url())
        // One issuer behind a load balancer, whatever port each instance listens on.
        .env("ZENOAUTH_PUBLIC_URL", "http://localhost:8080")
        .env("ZENOAUTH_RATE_LIMIT_IP_PER_SECOND", "0")
        .env("ZENOAUTH_RATE_LIMIT_CLIENT_PER_SECOND", "0");
    command
}

fn provision(directory: &std::path::Path, database: &FreshDatabase, args: &[&str]) -> String {
    let output = command(directory, database).args(args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    String::from_utf8(output.stdout).unwrap()
}

fn secret_of(output: &str) -> String {
    output.lines().find_map(|line| line.strip_prefix("client_secret=")).unwrap_or_else(|| panic!("{output}")).to_owned()
}

async fn serve(directory: &std::path::Path, database: &FreshDatabase) -> (ServeProcess, String) {
    let mut command = command(directory, database);
    command.env("ZENOAUTH_BIND", "127.0.0.1:0");
    let server = ServeProcess::spawn(command);
    let address = server.address().await;
    (server, format!("http://{address}"))
}

async fn metrics(base: &str) -> String {
    client().get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap()
}

/// A sample's value in OpenMetrics text, e.g. `zenoauth_cache_hits_total{cache="revocations"}`.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Waits until the instance serves from its caches (its listener is connected).
async fn wait_serving(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sample(&metrics(base).await, "zenoauth_cache_serving") != 1.0 {
        assert!(Instant::now() < deadline, "{base} never started serving from its caches");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn token(base: &str, client_id: &str, secret: &str) -> reqwest::Response {
    client()
        .post(format!("{base}/o/system/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

async fn access_token(base: &str, client_id: &str, secret: &str) -> String {
    let response = token(base, client_id, secret).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn is_active(base: &str, secret: &str, access_token: &str) -> bool {
    let response = client()
        .post(format!("{base}/o/system/introspect"))
        .basic_auth("svc", Some(secret))
        .form(&[("token", access_token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["active"].as_bool().unwrap()
}

/// Polls `condition` until it holds; fails if that takes longer than [`BOUND`]
/// from `since`. Returns how long it took.
async fn within_bound<F, Fut>(since: Instant, what: &str, mut condition: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        if condition().await {
            return since.elapsed();
        }
        assert!(since.elapsed() < BOUND, "{what}: not honoured within {BOUND:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_change_through_one_instance_is_honoured_by_another_within_a_second() {
    let database = FreshDatabase::create().await;
    let directory = tempfile::tempdir().unwrap();
    provision(directory.path(), &database, &["bootstrap"]);
    let provisioner = secret_of(&provision(
        directory.path(),
        &database,
        &[
            "app",
            "create",
            "--org",
            "system",
            "--client-id",
            "provisioner",
            "--name",
            "Provisioner",
            "--scope",
            "zenoauth:admin",
            "--grant",
            "client_credentials",
            "--role",
            "platform-admin",
        ],
    ));
    let svc = secret_of(&provision(
        directory.path(),
        &database,
        &[
            "app",
            "create",
            "--org",
            "system",
            "--client-id",
            "svc",
            "--name",
            "Service",
            "--grant",
            "client_credentials",
        ],
    ));
    // Both instances share the database and (through the directory) the key-encryption key.
    let (mut first, a) = serve(directory.path(), &database).await;
    let (mut second, b) = serve(directory.path(), &database).await;
    wait_serving(&a).await;
    wait_serving(&b).await;

    // An access token from A, known active at B, twice (so B has it cached as not revoked).
    let access = access_token(&a, "svc", &svc).await;
    assert!(is_active(&b, &svc, &access).await);
    assert!(is_active(&b, &svc, &access).await);
    let cached = metrics(&b).await;
    assert!(sample(&cached, "zenoauth_cache_hits_total{cache=\"revocations\"}") >= 1.0, "{cached}");
    assert!(sample(&cached, "zenoauth_cache_hits_total{cache=\"applications\"}") >= 1.0, "{cached}");

    // RFC 7009 revocation at A: B stops accepting the token within the bound.
    let revoked = client()
        .post(format!("{a}/o/system/revoke"))
        .basic_auth("svc", Some(&svc))
        .form(&[("token", access.as_str()), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let since = Instant::now();
    let took = within_bound(since, "revocation", || async { !is_active(&b, &svc, &access).await }).await;
    eprintln!("revocation honoured by the other instance after {took:?}");

    // An application change at A (a rotated client secret, no grace period):
    // B, which has the application cached, refuses the old secret within the bound.
    assert_eq!(token(&b, "svc", &svc).await.status(), 200);
    let admin = access_token_with_scope(&a, "provisioner", &provisioner, "zenoauth:admin").await;
    let get = |path: String| {
        let request = client().get(format!("{a}/api/v1{path}")).bearer_auth(&admin);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let organizations = get("/organizations".to_owned()).await;
    let system = organizations["items"].as_array().unwrap().iter().find(|o| o["slug"] == "system").unwrap().clone();
    let system_id = system["id"].as_str().unwrap().to_owned();
    let applications = get(format!("/organizations/{system_id}/applications")).await;
    let application = applications["items"].as_array().unwrap().iter().find(|app| app["client_id"] == "svc").unwrap();
    let rotated = client()
        .post(format!(
            "{a}/api/v1/organizations/{system_id}/applications/{}/secret",
            application["id"].as_str().unwrap()
        ))
        .bearer_auth(&admin)
        .json(&json!({"grace_period_seconds": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 200);
    let since = Instant::now();
    let new_secret = rotated.json::<Value>().await.unwrap()["client_secret"].as_str().unwrap().to_owned();
    let took = within_bound(since, "secret rotation", || async { token(&b, "svc", &svc).await.status() == 401 }).await;
    eprintln!("secret rotation honoured by the other instance after {took:?}");
    assert_eq!(token(&b, "svc", &new_secret).await.status(), 200);

    let published = sample(&metrics(&a).await, "zenoauth_cache_invalidations_published_total");
    assert!(published >= 2.0, "A announced its writes: {published}");
    assert!(first.terminate(Duration::from_secs(10)).await.success());
    assert!(second.terminate(Duration::from_secs(10)).await.success());
}

async fn access_token_with_scope(base: &str, client_id: &str, secret: &str, scope: &str) -> String {
    let response = client()
        .post(format!("{base}/o/system/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

/// No I/O the hot path does not need: once the caches are warm,
/// client_credentials issuance and JWT introspection succeed with every
/// store call failing. They neither read nor write the database per request
/// (the audit events they emit go to the batched writer, which absorbs the
/// failures).
#[tokio::test]
async fn once_warm_issuance_and_introspection_need_no_store_at_all() {
    use zenoauth_store_cache::{CacheSettings, CachedStores};
    use zenoauth_store_memory::MemoryDatabase;

    use crate::oidc_support::{http_client, json as body_of, token_request, World};

    let memory = MemoryDatabase::new();
    let cached = CachedStores::new(memory.stores(), CacheSettings::default(), None);
    let world = World::new(cached.stores()).await;
    world.add_app("svc", Some("zcs_svc"), "api.read", json!({"grant_types": ["client_credentials"]})).await;
    let introspect = |token: String| {
        let request =
            http_client().post(world.url("/introspect")).basic_auth("svc", Some("zcs_svc")).form(&[("token", token)]);
        async move { body_of(request.send().await.unwrap()).await }
    };
    let issue = || token_request(&world, "svc", "zcs_svc", &[("grant_type", "client_credentials")]);
    // Warm: the organization, the application, the key list, the roles, and one token's revocation state.
    let warm = body_of(issue().await).await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(introspect(warm.clone()).await["active"], true);

    memory.faults().fail_always(true);
    let calls = memory.faults().calls();
    for _ in 0..20 {
        let response = issue().await;
        assert_eq!(response.status(), 200, "issuance needed the store");
    }
    for _ in 0..20 {
        assert_eq!(introspect(warm.clone()).await["active"], true, "introspection needed the store");
    }
    // The only store calls made meanwhile are the audit writer's batched appends.
    let store_calls = memory.faults().calls() - calls;
    assert!(store_calls < 20, "{store_calls} store calls for 40 requests");
    memory.faults().fail_always(false);
}

/// The hourly key-maintenance pass visits every organization. It reads
/// around the caches (`key_maintenance::SweepKeys`): a pass over many
/// tenants must not load every tenant's key list into them (idle RSS would
/// grow with the number of organizations), while what it writes is still
/// evicted from them.
#[tokio::test]
async fn the_key_maintenance_pass_reads_around_the_caches() {
    use std::sync::Arc;

    use zenoauth_crypto::{Argon2Hasher, Argon2Params, KeyEncryptionKey, OsRandom};
    use zenoauth_domain::keys::{KeyRing, Rotation};
    use zenoauth_domain::model::SigningAlgorithm;
    use zenoauth_domain::ports::RandomSource;
    use zenoauth_server::key_maintenance::{run_pass, SweepKeys};
    use zenoauth_server::services::Services;
    use zenoauth_store_cache::{CacheName, CacheSettings, CachedStores};
    use zenoauth_store_memory::MemoryDatabase;

    use crate::oidc_support::World;

    let memory = MemoryDatabase::new();
    let cached = CachedStores::new(memory.stores(), CacheSettings::default(), None);
    let world = World::new(cached.stores()).await;
    let mut organizations = vec![world.organization.id];
    for slug in ["beta", "gamma", "delta"] {
        organizations.push(world.add_organization(slug).await.id);
    }
    let random: Arc<dyn RandomSource> = Arc::new(OsRandom::new());
    let cheap = Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 };
    let hasher = Arc::new(Argon2Hasher::new(cheap, random.clone()).unwrap());
    let services =
        Services::with_key(world.clock.clone(), random.clone(), hasher, KeyEncryptionKey::generate(random.as_ref()));
    let ring_over = |keys| KeyRing::new(keys, services.signer.clone(), services.clock.clone(), services.random.clone());
    let sweep = ring_over(Arc::new(SweepKeys::new(memory.stores().signing_keys, cached.stores().signing_keys)));
    for &organization in &organizations {
        sweep.signing_key(organization, SigningAlgorithm::EdDsa).await.unwrap();
    }
    let key_entries = |stats: zenoauth_store_cache::CacheStats| -> u64 {
        stats
            .caches
            .iter()
            .filter(|figures| matches!(figures.name, CacheName::SigningKeyLists | CacheName::ActiveSigningKeys))
            .map(|figures| figures.entries)
            .sum()
    };
    let tenants = cached.stores().organizations;

    let summary = run_pass(&sweep, tenants.as_ref()).await;
    assert_eq!(summary.organizations, 4);
    assert_eq!(key_entries(cached.settled_stats().await), 0, "the pass filled the key caches");
    // The same pass over the cached store (what `serve` did before) fills them: the check can fail.
    run_pass(&ring_over(cached.stores().signing_keys), tenants.as_ref()).await;
    assert!(key_entries(cached.settled_stats().await) >= 4);

    // A write of the sweep (a rotation) is seen at once through the warm cache.
    let organization = organizations[1];
    let before = cached.stores().signing_keys.list(organization).await.unwrap();
    let rotated = sweep.rotate(organization, SigningAlgorithm::EdDsa, Rotation::Staged).await.unwrap();
    let after = cached.stores().signing_keys.list(organization).await.unwrap();
    assert_eq!(after.len(), before.len() + 1);
    assert!(after.iter().any(|key| key.id == rotated.key.id));
}
