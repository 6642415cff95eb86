//! Provider metadata (OpenID Connect Discovery 1.0, RFC 8414), the JWK Set
//! and signing-key rotation: over HTTP on an ephemeral port with a settable
//! clock, through an independent client (`openidconnect`), and through the
//! real `zenoauth keys` commands on SQLite.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use openidconnect::core::{CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{IssuerUrl, JsonWebKey};
use reqwest::StatusCode;
use serde_json::{json, Value};
use time::Duration as Span;
use zenoauth_crypto::{Argon2Hasher, Argon2Params, KeyEncryptionKey, OsRandom};
use zenoauth_domain::bootstrap::Bootstrap;
use zenoauth_domain::ids::OrganizationId;
use zenoauth_domain::keys::{KeyPolicy, KeyRing, Rotation};
use zenoauth_domain::model::{KeyState, SigningAlgorithm, SigningKey};
use zenoauth_domain::ports::{RandomSource, Stores, TokenSigner, TokenVerifier};
use zenoauth_domain::testing::FixedClock;
use zenoauth_domain::values::{Email, Password, Slug};
use zenoauth_domain::Error;
use zenoauth_server::config::PublicUrl;
use zenoauth_server::http::problem::Problem;
use zenoauth_server::http::{AppState, StoresReadiness};
use zenoauth_server::key_maintenance;
use zenoauth_server::services::Services;
use zenoauth_store_memory::MemoryDatabase;
use zenoauth_store_sqlite::SqliteDatabase;

use crate::support::{assert_one_line_error, client, stderr, zenoauth, ServeProcess, TestServer};

const POLICY: KeyPolicy = KeyPolicy {
    publish_before_signing: Span::hours(1),
    retired_key_publish: Span::days(1),
    rotation_period: Some(Span::days(90)),
};

/// A bootstrapped memory store served on an ephemeral port, with a clock the test moves.
struct Provider {
    stores: Stores,
    clock: Arc<FixedClock>,
    state: AppState,
    server: TestServer,
    organization: OrganizationId,
}

impl Provider {
    async fn start(policy: KeyPolicy) -> Self {
        let database = MemoryDatabase::new();
        let stores = database.stores();
        let clock = Arc::new(FixedClock::at_unix(1_800_000_000));
        let random: Arc<dyn RandomSource> = Arc::new(OsRandom::new());
        let cheap = Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 };
        let hasher = Arc::new(Argon2Hasher::new(cheap, random.clone()).unwrap());
        let kek = KeyEncryptionKey::generate(random.as_ref());
        let services = Services::with_key(clock.clone(), random.clone(), hasher.clone(), kek);
        let outcome = Bootstrap::new(stores.clone(), hasher, services.signer.clone(), clock.clone(), random)
            .run(&Email::parse("admin@example.com").unwrap(), Some(Password::parse("correct horse battery").unwrap()))
            .await
            .unwrap();
        let placeholder = PublicUrl::parse("http://127.0.0.1").unwrap();
        let state = AppState::new(stores.clone(), Arc::new(StoresReadiness(stores.clone())), services, placeholder)
            .with_key_policy(policy);
        let server = TestServer::start(state.clone()).await;
        Self { stores, clock, state, server, organization: outcome.organization.id }
    }

    fn key_ring(&self) -> KeyRing {
        self.state.key_ring()
    }

    fn signer(&self) -> &zenoauth_crypto::JwsSigner {
        &self.state.services.signer
    }

    async fn jwks(&self) -> Value {
        let response = client().get(self.server.url("/o/system/jwks")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    async fn published_kids(&self) -> Vec<String> {
        kids(&self.jwks().await)
    }

    async fn signing_kid(&self, algorithm: SigningAlgorithm) -> String {
        self.key_ring().signing_key(self.organization, algorithm).await.unwrap().id.to_string()
    }
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"].as_array().unwrap().iter().map(|key| key["kid"].as_str().unwrap().to_owned()).collect()
}

/// The discovery document of `issuer`, written out by hand: a snapshot of the contract.
fn expected_metadata(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "end_session_endpoint": format!("{issuer}/end_session"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "EdDSA", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA", "ES256", "RS256"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp", "at_hash",
            "email", "email_verified", "name", "given_name", "family_name", "middle_name", "nickname",
            "preferred_username", "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale",
            "updated_at"
        ],
        "prompt_values_supported": ["none", "login", "consent"],
        "acr_values_supported": ["0", "mfa"],
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
    })
}

async fn fetch(url: String) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let response = client().get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    (headers, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn discovery_is_the_expected_document_with_the_organizations_issuer() {
    let provider = Provider::start(POLICY).await;
    let issuer = format!("http://{}/o/system", provider.server.address);
    let (headers, body) = fetch(provider.server.url("/o/system/.well-known/openid-configuration")).await;
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "public, max-age=300");
    assert_eq!(headers["access-control-allow-origin"], "*");
    let document: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(document, expected_metadata(&issuer));
    // Byte-identical to the issuer the server puts in tokens.
    assert_eq!(document["issuer"], PublicUrl::from_socket_addr(provider.server.address).issuer("system"));
}

#[tokio::test]
async fn rfc_8414_metadata_is_the_same_document_at_both_paths() {
    let provider = Provider::start(POLICY).await;
    let (_, oidc) = fetch(provider.server.url("/o/system/.well-known/openid-configuration")).await;
    for path in ["/o/system/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/o/system"]
    {
        let (headers, body) = fetch(provider.server.url(path)).await;
        assert_eq!(headers["content-type"], "application/json", "{path}");
        assert_eq!(headers["cache-control"], "public, max-age=300", "{path}");
        assert_eq!(body, oidc, "{path}");
    }
}

#[tokio::test]
async fn unknown_or_malformed_organizations_are_404_problems() {
    let provider = Provider::start(POLICY).await;
    for path in [
        "/o/nope/.well-known/openid-configuration",
        "/o/nope/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/o/nope",
        "/o/nope/jwks",
        "/o/NOT%20A%20SLUG/jwks",
        "/o/-x-/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/o/system/extra",
    ] {
        let response = client().get(provider.server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{path}");
        let problem: Problem = response.json().await.unwrap();
        assert_eq!(problem.status, 404, "{path}");
    }
    // A miss creates no keys for anybody.
    assert_eq!(provider.stores.signing_keys.list(provider.organization).await.unwrap().len(), 1);
}

#[tokio::test]
async fn jwks_has_one_public_key_per_algorithm_with_kid_alg_and_use() {
    let provider = Provider::start(POLICY).await;
    let bootstrap_key = provider
        .stores
        .signing_keys
        .find_active(provider.organization, SigningAlgorithm::EdDsa)
        .await
        .unwrap()
        .unwrap();

    let response = client().get(provider.server.url("/o/system/jwks")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/jwk-set+json");
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let jwks: Value = response.json().await.unwrap();
    assert_eq!(jwks.as_object().unwrap().keys().collect::<Vec<_>>(), vec!["keys"]);
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3, "{jwks}");

    let mut algorithms = BTreeSet::new();
    for key in keys {
        let members: BTreeSet<&str> = key.as_object().unwrap().keys().map(String::as_str).collect();
        let (kty, expected): (&str, &[&str]) = match key["alg"].as_str().unwrap() {
            "EdDSA" => ("OKP", &["alg", "crv", "kid", "kty", "use", "x"]),
            "ES256" => ("EC", &["alg", "crv", "kid", "kty", "use", "x", "y"]),
            "RS256" => ("RSA", &["alg", "e", "kid", "kty", "n", "use"]),
            other => panic!("unexpected alg {other}"),
        };
        assert_eq!(key["kty"], kty, "{key}");
        assert_eq!(key["use"], "sig", "{key}");
        assert_eq!(members, expected.iter().copied().collect::<BTreeSet<_>>(), "only public members: {key}");
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(key.get(private).is_none(), "{private} leaked: {key}");
        }
        assert!(algorithms.insert(key["alg"].as_str().unwrap().to_owned()), "one key per algorithm: {jwks}");
    }
    if let Some(crv) = keys.iter().find(|key| key["kty"] == "EC").map(|key| &key["crv"]) {
        assert_eq!(crv, "P-256");
    }

    // The bootstrap key is reused; the others were made once and are stable.
    let listed = kids(&jwks);
    assert!(listed.contains(&bootstrap_key.id.to_string()), "{jwks}");
    let stored: BTreeSet<String> = provider
        .stores
        .signing_keys
        .list(provider.organization)
        .await
        .unwrap()
        .iter()
        .map(|key| key.id.to_string())
        .collect();
    assert_eq!(listed.iter().cloned().collect::<BTreeSet<_>>(), stored);
    assert_eq!(provider.published_kids().await, listed);
    for algorithm in [SigningAlgorithm::Rs256, SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
        assert!(listed.contains(&provider.signing_kid(algorithm).await));
    }
}

#[tokio::test]
async fn an_independent_client_accepts_the_discovery_document_and_keys() {
    let provider = Provider::start(POLICY).await;
    let issuer = format!("http://{}/o/system", provider.server.address);
    zenoauth_server::install_tls_provider();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http).await.unwrap();
    assert_eq!(metadata.issuer().as_str(), issuer);
    assert_eq!(metadata.jwks_uri().as_str(), format!("{issuer}/jwks"));
    assert_eq!(metadata.token_endpoint().unwrap().as_str(), format!("{issuer}/token"));
    assert_eq!(metadata.userinfo_endpoint().unwrap().as_str(), format!("{issuer}/userinfo"));
    assert_eq!(
        metadata.id_token_signing_alg_values_supported(),
        &vec![
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::EdDsa,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256
        ]
    );
    let client_kids: BTreeSet<String> =
        metadata.jwks().keys().iter().map(|key| key.key_id().unwrap().as_str().to_owned()).collect();
    assert_eq!(client_kids.len(), 3);
    assert_eq!(client_kids, provider.published_kids().await.into_iter().collect());
}

#[tokio::test]
async fn a_staged_rotation_publishes_first_signs_later_and_retires_the_old_key_after_its_tokens() {
    let provider = Provider::start(POLICY).await;
    let ring = provider.key_ring();
    let org = provider.organization;
    let old = ring.signing_key(org, SigningAlgorithm::EdDsa).await.unwrap();
    let old_token = provider.signer().sign(&old, "JWT", &json!({"sub": "before"})).unwrap();

    let rotation = ring.rotate(org, SigningAlgorithm::EdDsa, Rotation::Staged).await.unwrap();
    let start = provider.clock.now_for_test();
    assert_eq!(rotation.key.state, KeyState::Pending);
    assert_eq!(rotation.signs_from, start + Span::hours(1));
    assert_eq!(rotation.replaces, vec![old.id]);
    let new_kid = rotation.key.id.to_string();

    // Published at once (after the active keys), not signing yet.
    let published = provider.published_kids().await;
    assert!(published.contains(&new_kid) && published.contains(&old.id.to_string()), "{published:?}");
    let position = |kid: &str| published.iter().position(|listed| listed == kid).unwrap();
    assert!(position(&old.id.to_string()) < position(&new_kid), "active keys come first: {published:?}");
    provider.clock.advance(Span::hours(1) - Span::seconds(1));
    assert_eq!(provider.signing_kid(SigningAlgorithm::EdDsa).await, old.id.to_string());

    // Due: the first use promotes it and retires the old key.
    provider.clock.advance(Span::seconds(1));
    let promoted_at = provider.clock.now_for_test();
    let current = ring.signing_key(org, SigningAlgorithm::EdDsa).await.unwrap();
    assert_eq!(current.id, rotation.key.id);
    assert_eq!(current.state, KeyState::Active);
    let retired = find(&provider.stores, org, old.id.to_string()).await.unwrap();
    assert_eq!(retired.state, KeyState::Retired);
    assert_eq!(retired.retired_at, Some(promoted_at));
    assert_eq!(retired.expires_at, Some(promoted_at + Span::days(1)));

    // Tokens signed before still verify against the published set, new ones too.
    let published = ring.published_keys(org).await.unwrap();
    assert_eq!(provider.signer().verify(&published, &old_token, "JWT").unwrap()["sub"], "before");
    let new_token = provider.signer().sign(&current, "JWT", &json!({"sub": "after"})).unwrap();
    assert_eq!(provider.signer().verify(&published, &new_token, "JWT").unwrap()["sub"], "after");

    // The old key is published until its tokens have all expired, then gone.
    provider.clock.advance(Span::days(1) - Span::seconds(1));
    assert!(provider.published_kids().await.contains(&old.id.to_string()));
    assert_eq!(ring.delete_expired().await.unwrap(), 0);
    provider.clock.advance(Span::seconds(1));
    let published = provider.published_kids().await;
    assert!(!published.contains(&old.id.to_string()), "{published:?}");
    assert!(published.contains(&new_kid));
    assert_eq!(ring.delete_expired().await.unwrap(), 1);
    assert!(find(&provider.stores, org, old.id.to_string()).await.is_none());
    let published = ring.published_keys(org).await.unwrap();
    assert!(matches!(provider.signer().verify(&published, &old_token, "JWT"), Err(Error::Unauthorized)));
}

#[tokio::test]
async fn an_immediate_rotation_signs_at_once_and_keeps_the_old_key_published() {
    let provider = Provider::start(POLICY).await;
    let ring = provider.key_ring();
    let org = provider.organization;
    let old = ring.signing_key(org, SigningAlgorithm::EdDsa).await.unwrap();
    let pending = ring.rotate(org, SigningAlgorithm::EdDsa, Rotation::Staged).await.unwrap();

    let rotation = ring.rotate(org, SigningAlgorithm::EdDsa, Rotation::Immediate).await.unwrap();
    let now = provider.clock.now_for_test();
    assert_eq!(rotation.key.state, KeyState::Active);
    assert_eq!(rotation.signs_from, now);
    assert_eq!(rotation.replaces.iter().copied().collect::<BTreeSet<_>>(), BTreeSet::from([old.id, pending.key.id]));
    assert_eq!(provider.signing_kid(SigningAlgorithm::EdDsa).await, rotation.key.id.to_string());
    for replaced in [old.id, pending.key.id] {
        let key = find(&provider.stores, org, replaced.to_string()).await.unwrap();
        assert_eq!((key.state, key.expires_at), (KeyState::Retired, Some(now + Span::days(1))));
    }
    // The superseded pending key never signs, even once it would have been due.
    provider.clock.advance(Span::hours(2));
    assert_eq!(provider.signing_kid(SigningAlgorithm::EdDsa).await, rotation.key.id.to_string());
    let published = provider.published_kids().await;
    assert!(published.contains(&old.id.to_string()) && published.contains(&rotation.key.id.to_string()));
}

#[tokio::test]
async fn racing_rotations_leave_one_signing_key_and_publish_both() {
    let provider = Provider::start(POLICY).await;
    let ring = provider.key_ring();
    let org = provider.organization;
    let old = ring.signing_key(org, SigningAlgorithm::EdDsa).await.unwrap();
    // Two instances rotate at the same moment.
    let first = ring.rotate(org, SigningAlgorithm::EdDsa, Rotation::Staged).await.unwrap();
    let second = ring.rotate(org, SigningAlgorithm::EdDsa, Rotation::Staged).await.unwrap();
    provider.clock.advance(Span::hours(1));
    let newest = first.key.clone().max_by_creation(second.key.clone());
    let other_instance = provider.key_ring();
    let (a, b) = tokio::join!(
        ring.signing_key(org, SigningAlgorithm::EdDsa),
        other_instance.signing_key(org, SigningAlgorithm::EdDsa)
    );
    assert_eq!(a.unwrap().id, newest.id);
    assert_eq!(b.unwrap().id, newest.id);
    let keys = provider.stores.signing_keys.list(org).await.unwrap();
    let states: Vec<(String, KeyState)> = keys.iter().map(|key| (key.id.to_string(), key.state)).collect();
    let active: Vec<_> = states.iter().filter(|(_, state)| *state == KeyState::Active).collect();
    assert_eq!(active.len(), 1, "{states:?}");
    for id in [old.id, first.key.id, second.key.id] {
        assert!(ring.published_keys(org).await.unwrap().iter().any(|key| key.id == id));
    }
}

#[tokio::test]
async fn automatic_rotation_runs_once_per_period_and_the_task_activates_and_cleans_up() {
    let provider = Provider::start(POLICY).await;
    let ring = provider.key_ring();
    let org = provider.organization;
    let old = ring.signing_key(org, SigningAlgorithm::EdDsa).await.unwrap();
    let organizations = provider.stores.organizations.clone();

    provider.clock.advance(Span::days(90) - Span::seconds(1));
    let summary = key_maintenance::run_pass(&ring, organizations.as_ref()).await;
    assert_eq!((summary.organizations, summary.rotated, summary.activated), (1, 0, 0));

    provider.clock.advance(Span::seconds(1));
    let summary = key_maintenance::run_pass(&ring, organizations.as_ref()).await;
    // Only the algorithm the organization uses (bootstrap made EdDSA only).
    assert_eq!((summary.rotated, summary.activated), (1, 0));
    let pending = provider
        .stores
        .signing_keys
        .list(org)
        .await
        .unwrap()
        .into_iter()
        .find(|key| key.state == KeyState::Pending)
        .unwrap();
    // Idempotent: a second pass (or instance) does not rotate again.
    assert_eq!(key_maintenance::run_pass(&ring, organizations.as_ref()).await.rotated, 0);
    assert_eq!(ring.maintain(org).await.unwrap(), Default::default());
    assert_eq!(provider.signing_kid(SigningAlgorithm::EdDsa).await, old.id.to_string());

    provider.clock.advance(Span::hours(1));
    let summary = key_maintenance::run_pass(&ring, organizations.as_ref()).await;
    assert_eq!((summary.rotated, summary.activated, summary.deleted), (0, 1, 0));
    assert_eq!(provider.signing_kid(SigningAlgorithm::EdDsa).await, pending.id.to_string());

    provider.clock.advance(Span::days(1));
    let summary = key_maintenance::run_pass(&ring, organizations.as_ref()).await;
    assert_eq!((summary.rotated, summary.activated, summary.deleted), (0, 0, 1));
    assert!(find(&provider.stores, org, old.id.to_string()).await.is_none());
}

#[tokio::test]
async fn rotation_period_off_never_rotates() {
    let provider = Provider::start(KeyPolicy { rotation_period: None, ..POLICY }).await;
    provider.clock.advance(Span::days(3650));
    let maintenance = provider.key_ring().maintain(provider.organization).await.unwrap();
    assert!(maintenance.rotated.is_empty());
}

async fn find(stores: &Stores, organization: OrganizationId, kid: String) -> Option<SigningKey> {
    stores.signing_keys.list(organization).await.unwrap().into_iter().find(|key| key.id.to_string() == kid)
}

trait NewestOf {
    fn max_by_creation(self, other: Self) -> Self;
}

impl NewestOf for SigningKey {
    fn max_by_creation(self, other: Self) -> Self {
        if (other.created_at, other.id) > (self.created_at, self.id) {
            other
        } else {
            self
        }
    }
}

trait NowForTest {
    fn now_for_test(&self) -> time::OffsetDateTime;
}

impl NowForTest for FixedClock {
    fn now_for_test(&self) -> time::OffsetDateTime {
        zenoauth_domain::ports::Clock::now(self)
    }
}

/// What a command printed, without the JSON log lines that share stdout.
fn command_output(output: &std::process::Output) -> String {
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    stdout.lines().filter(|line| !line.starts_with('{')).map(|line| format!("{line}\n")).collect()
}

/// The keys of the system organization in an SQLite file, read directly.
async fn sqlite_keys(directory: &std::path::Path) -> Vec<SigningKey> {
    let url = format!("sqlite://{}", directory.join("zenoauth.db").display());
    let database = SqliteDatabase::connect(&url, 1).await.unwrap();
    let stores = database.stores();
    let system = stores.organizations.find_by_slug(&Slug::system()).await.unwrap().unwrap();
    let keys = stores.signing_keys.list(system.id).await.unwrap();
    database.pool().close().await;
    keys
}

fn active_kid(keys: &[SigningKey], algorithm: SigningAlgorithm) -> String {
    let active: Vec<&SigningKey> =
        keys.iter().filter(|key| key.algorithm == algorithm && key.state == KeyState::Active).collect();
    assert_eq!(active.len(), 1, "{keys:?}");
    active[0].id.to_string()
}

#[tokio::test]
async fn zenoauth_keys_rotate_changes_the_signing_key_and_keeps_the_old_one_published() {
    let directory = tempfile::tempdir().unwrap();
    let bootstrapped = zenoauth(directory.path()).arg("bootstrap").output().unwrap();
    assert!(bootstrapped.status.success(), "{}", stderr(&bootstrapped));
    let before = active_kid(&sqlite_keys(directory.path()).await, SigningAlgorithm::EdDsa);

    let output = zenoauth(directory.path())
        .args(["keys", "rotate", "--org", "system", "--alg", "EdDSA", "--immediate"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let keys = sqlite_keys(directory.path()).await;
    let after = active_kid(&keys, SigningAlgorithm::EdDsa);
    assert_ne!(after, before);
    let stdout = command_output(&output);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with(&format!("EdDSA: new key {after} signs now; {before} stopped signing")), "{stdout}");
    let old = keys.iter().find(|key| key.id.to_string() == before).unwrap();
    assert_eq!(old.state, KeyState::Retired);

    // Staged (the default), every algorithm: EdDSA gets a pending key, the others their first key.
    let output = zenoauth(directory.path()).args(["keys", "rotate", "--org", "system"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = command_output(&output);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(stdout.contains("is published now and signs from"), "{stdout}");
    let keys = sqlite_keys(directory.path()).await;
    assert_eq!(active_kid(&keys, SigningAlgorithm::EdDsa), after, "a staged rotation does not sign yet");
    let pending: Vec<String> =
        keys.iter().filter(|key| key.state == KeyState::Pending).map(|key| key.id.to_string()).collect();
    assert_eq!(pending.len(), 1, "{keys:?}");

    let listing = zenoauth(directory.path()).args(["keys", "list", "--org", "system"]).output().unwrap();
    assert!(listing.status.success(), "{}", stderr(&listing));
    let listing = command_output(&listing);
    for (kid, state) in [(&before, "retired"), (&after, "active"), (&pending[0], "pending")] {
        assert!(listing.lines().any(|line| line.starts_with(kid.as_str()) && line.contains(state)), "{listing}");
    }

    // The served JWKS has the old, the current and the pending key.
    let mut command = zenoauth(directory.path());
    command.env("ZENOAUTH_BIND", "127.0.0.1:0");
    let mut server = ServeProcess::spawn(command);
    let address = server.address().await;
    let jwks: Value =
        client().get(format!("http://{address}/o/system/jwks")).send().await.unwrap().json().await.unwrap();
    let published = kids(&jwks);
    for kid in [&before, &after, &pending[0]] {
        assert!(published.contains(kid), "{kid} missing from {jwks}");
    }
    assert_eq!(published.len(), 5, "{jwks}");
    assert!(server.terminate(Duration::from_secs(10)).await.success());
}

#[test]
fn zenoauth_keys_rotate_refuses_unknown_organizations_and_algorithms_in_one_line() {
    let directory = tempfile::tempdir().unwrap();
    let bootstrapped = zenoauth(directory.path()).arg("bootstrap").output().unwrap();
    assert!(bootstrapped.status.success(), "{}", stderr(&bootstrapped));
    let output = zenoauth(directory.path()).args(["keys", "rotate", "--org", "nope"]).output().unwrap();
    assert_eq!(assert_one_line_error(&output), r#"error: no organization has the slug "nope""#);
    let output = zenoauth(directory.path()).args(["keys", "rotate", "--org", "Not A Slug"]).output().unwrap();
    assert!(assert_one_line_error(&output).starts_with(r#"error: --org "Not A Slug" is not a valid slug"#));
    let output =
        zenoauth(directory.path()).args(["keys", "rotate", "--org", "system", "--alg", "HS256"]).output().unwrap();
    assert_eq!(assert_one_line_error(&output), r#"error: --alg "HS256" is not EdDSA, ES256, RS256 or all"#);
    let output = zenoauth(directory.path()).args(["keys", "list", "--org", "nope"]).output().unwrap();
    assert_eq!(assert_one_line_error(&output), r#"error: no organization has the slug "nope""#);
}
