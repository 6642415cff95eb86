//! The OpenID Provider use cases over the memory store, the real crypto
//! adapters and a fixed clock: request validation, login, consent, codes
//! and the token grants.

use std::sync::Arc;

use serde_json::json;
use time::Duration;
use zenoauth_crypto::{
    digest_secret, pkce_s256_challenge, Argon2Hasher, Argon2Params, CryptoOAuth, JwsSigner, KeyEncryptionKey, OsRandom,
};
use zenoauth_domain::ids::IdGenerator;
use zenoauth_domain::keys::KeyRing;
use zenoauth_domain::model::{Application, ClientType, Organization, Session, User};
use zenoauth_domain::oauth::{
    AuthorizeRejection, ClientCredentials, ErrorCode, Issuer, LoginError, OAuthError, OpenIdProvider, Params,
    ProviderPorts, RedirectResponse, Step,
};
use zenoauth_domain::ports::{Clock, PasswordHasher, RandomSource, Stores};
use zenoauth_domain::testing::FixedClock;
use zenoauth_domain::values::{ClientId, DisplayName, Email, Password, RedirectUri, ScopeSet, Slug};
use zenoauth_store_memory::MemoryDatabase;

const REDIRECT: &str = "https://app.example.com/cb";
const SECRET: &str = "zcs_secret";

struct World {
    stores: Stores,
    clock: Arc<FixedClock>,
    provider: OpenIdProvider,
    issuer: Issuer,
    user: User,
    hasher: Arc<Argon2Hasher>,
    ids: IdGenerator,
}

fn cheap(memory_kib: u32) -> Argon2Params {
    Argon2Params { memory_kib, iterations: 1, parallelism: 1 }
}

async fn world() -> World {
    world_with_hash_params(cheap(64), cheap(64)).await
}

/// The user's password is hashed with `stored`; the provider verifies with `current`.
async fn world_with_hash_params(stored: Argon2Params, current: Argon2Params) -> World {
    let stores = MemoryDatabase::new().stores();
    let random: Arc<dyn RandomSource> = Arc::new(OsRandom::new());
    let clock = Arc::new(FixedClock::at_unix(1_800_000_000));
    let ids = IdGenerator::new(clock.clone(), random.clone());
    let hasher = Arc::new(Argon2Hasher::new(current, random.clone()).unwrap());
    let signer = Arc::new(JwsSigner::new(KeyEncryptionKey::generate(random.as_ref()), random.clone()));
    let keys = KeyRing::new(stores.signing_keys.clone(), signer.clone(), clock.clone(), random.clone());
    let provider = OpenIdProvider::new(
        stores.clone(),
        ProviderPorts {
            hasher: hasher.clone(),
            signer: signer.clone(),
            verifier: signer,
            crypto: Arc::new(CryptoOAuth::new(random.clone())),
            clock: clock.clone(),
            random: random.clone(),
            keys,
            audit: Arc::new(zenoauth_domain::security::audit::RecordingAuditSink::new()),
        },
    );
    let now = clock.now();
    let organization = Organization {
        id: ids.next(),
        slug: Slug::parse("acme").unwrap(),
        name: DisplayName::parse("Acme").unwrap(),
        settings: json!({}),
        created_at: now,
        updated_at: now,
    };
    stores.organizations.create(&organization).await.unwrap();
    let stored_hasher = Argon2Hasher::new(stored, random).unwrap();
    let user = User {
        id: ids.next(),
        organization_id: organization.id,
        email: Email::parse("alice@example.com").unwrap(),
        email_verified: true,
        password_hash: Some(stored_hasher.hash(&Password::parse("pw").unwrap()).await.unwrap()),
        profile: json!({}),
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    stores.users.create(&user).await.unwrap();
    let issuer = Issuer { organization, url: "https://id.example.com/o/acme".to_owned() };
    let world = World { stores, clock, provider, issuer, user, hasher, ids };
    world.add_app("web", Some(SECRET), json!({})).await;
    world
}

impl World {
    async fn add_app(&self, client_id: &str, secret: Option<&str>, settings: serde_json::Value) -> Application {
        let now = self.clock.now();
        let application = Application {
            id: self.ids.next(),
            organization_id: self.issuer.organization.id,
            client_id: ClientId::parse(client_id).unwrap(),
            name: DisplayName::parse(client_id).unwrap(),
            client_type: match secret {
                Some(secret) => ClientType::Confidential { secret_digest: digest_secret(secret) },
                None => ClientType::Public,
            },
            redirect_uris: vec![RedirectUri::parse(REDIRECT).unwrap()],
            allowed_scopes: ScopeSet::parse("openid email profile offline_access").unwrap(),
            settings,
            created_at: now,
            updated_at: now,
        };
        self.stores.applications.create(&application).await.unwrap();
        application
    }

    async fn session(&self) -> Session {
        self.provider.login(&self.issuer, "alice@example.com", "pw", json!({})).await.unwrap().session
    }
}

fn params(pairs: &[(&str, &str)]) -> Params {
    Params::new(pairs.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()).unwrap()
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn authorize_params(client_id: &str, scope: &str, extra: &[(&str, &str)]) -> Params {
    let challenge = pkce_s256_challenge(VERIFIER);
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "xyz"),
        ("nonce", "n-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    pairs.retain(|(name, _)| !extra.iter().any(|(extra_name, _)| extra_name == name));
    pairs.extend_from_slice(extra);
    params(&pairs)
}

fn param<'a>(response: &'a RedirectResponse, name: &str) -> Option<&'a str> {
    response.params.iter().find(|(key, _)| *key == name).map(|(_, value)| value.as_str())
}

fn error_of(rejection: AuthorizeRejection) -> String {
    match rejection {
        AuthorizeRejection::Redirect(response) => param(&response, "error").unwrap().to_owned(),
        AuthorizeRejection::Page(message) => format!("page: {message}"),
        AuthorizeRejection::Internal(error) => panic!("{error}"),
    }
}

async fn code_for(world: &World, client_id: &str, scope: &str) -> String {
    let session = world.session().await;
    let request =
        world.provider.authorization_request(&world.issuer, &authorize_params(client_id, scope, &[])).await.unwrap();
    let response = world.provider.decide_consent(&world.issuer, &request, &session, true).await.unwrap();
    param(&response, "code").unwrap().to_owned()
}

fn basic(client_id: &str, secret: &str) -> ClientCredentials {
    ClientCredentials { client_id: client_id.to_owned(), client_secret: secret.to_owned() }
}

async fn exchange(
    world: &World,
    code: &str,
    verifier: &str,
) -> Result<zenoauth_domain::oauth::TokenResponse, OAuthError> {
    let request = params(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ]);
    world.provider.token(&world.issuer, &request, Some(&basic("web", SECRET))).await
}

fn code_of(error: OAuthError) -> ErrorCode {
    error.code()
}

#[tokio::test]
async fn errors_before_the_redirect_uri_is_trusted_are_pages() {
    let world = world().await;
    for pairs in [
        authorize_params("nobody", "openid", &[]),
        authorize_params("web", "openid", &[("redirect_uri", "https://evil.example.com/cb")]),
        authorize_params("web", "openid", &[("redirect_uri", "https://app.example.com/cb/")]),
        params(&[("response_type", "code"), ("redirect_uri", REDIRECT)]),
    ] {
        let rejection = world.provider.authorization_request(&world.issuer, &pairs).await.unwrap_err();
        assert!(matches!(rejection, AuthorizeRejection::Page(_)), "{rejection:?}");
    }
}

#[tokio::test]
async fn later_errors_redirect_with_state_and_iss() {
    let world = world().await;
    for (extra, expected) in [
        (vec![("response_type", "token")], "unsupported_response_type"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("scope", "openid admin")], "invalid_scope"),
        (vec![("prompt", "none consent")], "invalid_request"),
        (vec![("max_age", "soon")], "invalid_request"),
        (vec![("request_uri", "urn:x")], "request_uri_not_supported"),
    ] {
        let rejection = world
            .provider
            .authorization_request(&world.issuer, &authorize_params("web", "openid", &extra))
            .await
            .unwrap_err();
        let AuthorizeRejection::Redirect(response) = rejection else { panic!("{extra:?}: expected a redirect") };
        assert_eq!(param(&response, "error"), Some(expected), "{extra:?}");
        assert_eq!(param(&response, "state"), Some("xyz"));
        assert_eq!(param(&response, "iss"), Some("https://id.example.com/o/acme"));
        assert!(response.location().starts_with(REDIRECT));
    }
    let no_pkce =
        params(&[("response_type", "code"), ("client_id", "web"), ("redirect_uri", REDIRECT), ("scope", "openid")]);
    assert_eq!(
        error_of(world.provider.authorization_request(&world.issuer, &no_pkce).await.unwrap_err()),
        "invalid_request"
    );
}

#[tokio::test]
async fn the_next_step_follows_session_prompt_max_age_and_consent() {
    let world = world().await;
    world.add_app("first", None, json!({"is_first_party": true})).await;
    let request =
        world.provider.authorization_request(&world.issuer, &authorize_params("web", "openid", &[])).await.unwrap();
    assert!(matches!(world.provider.next_step(&world.issuer, &request, None, false).await.unwrap(), Step::Login));
    let none = world
        .provider
        .authorization_request(&world.issuer, &authorize_params("web", "openid", &[("prompt", "none")]))
        .await
        .unwrap();
    let Step::Redirect(response) = world.provider.next_step(&world.issuer, &none, None, false).await.unwrap() else {
        panic!("prompt=none without a session must answer the client")
    };
    assert_eq!(param(&response, "error"), Some("login_required"));

    let session = world.session().await;
    assert!(matches!(
        world.provider.next_step(&world.issuer, &request, Some(&session), false).await.unwrap(),
        Step::Consent
    ));
    let Step::Redirect(consent_needed) =
        world.provider.next_step(&world.issuer, &none, Some(&session), false).await.unwrap()
    else {
        panic!("prompt=none needing consent must answer the client")
    };
    assert_eq!(param(&consent_needed, "error"), Some("consent_required"));
    world.provider.decide_consent(&world.issuer, &request, &session, true).await.unwrap();
    let Step::Redirect(code) = world.provider.next_step(&world.issuer, &request, Some(&session), false).await.unwrap()
    else {
        panic!("remembered consent must skip the page")
    };
    assert!(param(&code, "code").unwrap().starts_with("zac_"));

    let first =
        world.provider.authorization_request(&world.issuer, &authorize_params("first", "openid", &[])).await.unwrap();
    assert!(matches!(
        world.provider.next_step(&world.issuer, &first, Some(&session), false).await.unwrap(),
        Step::Redirect(_)
    ));
    world.clock.advance(Duration::seconds(120));
    let fresh = world
        .provider
        .authorization_request(&world.issuer, &authorize_params("first", "openid", &[("max_age", "60")]))
        .await
        .unwrap();
    assert!(matches!(
        world.provider.next_step(&world.issuer, &fresh, Some(&session), false).await.unwrap(),
        Step::Login
    ));
    assert!(matches!(
        world.provider.next_step(&world.issuer, &fresh, Some(&session), true).await.unwrap(),
        Step::Redirect(_)
    ));
}

#[tokio::test]
async fn login_fails_the_same_way_for_every_bad_credential() {
    let world = world().await;
    for (email, password) in
        [("alice@example.com", "wrong"), ("bob@example.com", "pw"), ("not an email", "pw"), ("alice@example.com", "")]
    {
        let result = world.provider.login(&world.issuer, email, password, json!({})).await;
        assert!(matches!(result, Err(LoginError::InvalidCredentials { .. })), "{email}");
    }
    let mut inactive = world.user.clone();
    inactive.is_active = false;
    world.stores.users.update(&inactive).await.unwrap();
    let result = world.provider.login(&world.issuer, "alice@example.com", "pw", json!({})).await;
    assert!(matches!(result, Err(LoginError::InvalidCredentials { .. })));
}

#[tokio::test]
async fn login_starts_a_session_and_rehashes_outdated_hashes() {
    let world = world_with_hash_params(cheap(64), cheap(128)).await;
    let success = world.provider.login(&world.issuer, "Alice@Example.com", "pw", json!({})).await.unwrap();
    assert!(success.cookie.plaintext.starts_with("zas_"));
    assert_eq!(success.session.expires_at - success.session.created_at, Duration::hours(10));
    let found = world.provider.current_session(&world.issuer, Some(&success.cookie.plaintext)).await.unwrap();
    assert_eq!(found.as_ref().map(|session| session.id), Some(success.session.id));
    let stored = world.stores.users.get(world.issuer.organization.id, world.user.id).await.unwrap();
    let hash = stored.password_hash.unwrap();
    assert!(!world.hasher.needs_rehash(&hash), "re-hashed with the current parameters");
    assert!(world.hasher.verify(&Password::parse("pw").unwrap(), &hash).await.unwrap());
    assert_eq!(world.provider.current_session(&world.issuer, Some("zas_unknown")).await.unwrap(), None);
}

#[tokio::test]
async fn codes_are_single_use_and_bound_to_client_redirect_and_verifier() {
    let world = world().await;
    let code = code_for(&world, "web", "openid offline_access").await;
    let tokens = exchange(&world, &code, VERIFIER).await.unwrap();
    let refresh = tokens.refresh_token.clone().unwrap();
    assert!(tokens.id_token.is_some());
    assert_eq!(code_of(exchange(&world, &code, VERIFIER).await.unwrap_err()), ErrorCode::InvalidGrant);
    let refreshed = world
        .provider
        .token(
            &world.issuer,
            &params(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]),
            Some(&basic("web", SECRET)),
        )
        .await;
    assert_eq!(code_of(refreshed.unwrap_err()), ErrorCode::InvalidGrant, "the replay revoked the family");

    let code = code_for(&world, "web", "openid").await;
    assert_eq!(code_of(exchange(&world, &code, &"x".repeat(43)).await.unwrap_err()), ErrorCode::InvalidGrant);
    world.add_app("other", Some("zcs_other"), json!({})).await;
    let code = code_for(&world, "web", "openid").await;
    let stolen = params(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]);
    let result = world.provider.token(&world.issuer, &stolen, Some(&basic("other", "zcs_other"))).await;
    assert_eq!(code_of(result.unwrap_err()), ErrorCode::InvalidGrant);
    let code = code_for(&world, "web", "openid").await;
    let wrong_redirect = params(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", "https://app.example.com/other"),
        ("code_verifier", VERIFIER),
    ]);
    let result = world.provider.token(&world.issuer, &wrong_redirect, Some(&basic("web", SECRET))).await;
    assert_eq!(code_of(result.unwrap_err()), ErrorCode::InvalidGrant);
    let code = code_for(&world, "web", "openid").await;
    world.clock.advance(Duration::seconds(61));
    assert_eq!(code_of(exchange(&world, &code, VERIFIER).await.unwrap_err()), ErrorCode::InvalidGrant);
}

#[tokio::test]
async fn refresh_tokens_need_offline_access_rotate_and_detect_reuse() {
    let world = world().await;
    let without = exchange(&world, &code_for(&world, "web", "openid").await, VERIFIER).await.unwrap();
    assert!(without.refresh_token.is_none());
    let tokens =
        exchange(&world, &code_for(&world, "web", "openid email offline_access").await, VERIFIER).await.unwrap();
    let first = tokens.refresh_token.unwrap();
    let refresh = |token: String, scope: Option<&'static str>| {
        let world = &world;
        async move {
            let mut pairs = vec![("grant_type", "refresh_token"), ("refresh_token", token.as_str())];
            if let Some(scope) = scope {
                pairs.push(("scope", scope));
            }
            world.provider.token(&world.issuer, &params(&pairs), Some(&basic("web", SECRET))).await
        }
    };
    assert_eq!(code_of(refresh(first.clone(), Some("openid admin")).await.unwrap_err()), ErrorCode::InvalidScope);
    let narrowed = refresh(first.clone(), Some("openid")).await.unwrap();
    assert_eq!(narrowed.scope, "openid");
    let second = narrowed.refresh_token.unwrap();
    assert_eq!(code_of(refresh(first, None).await.unwrap_err()), ErrorCode::InvalidGrant);
    assert_eq!(code_of(refresh(second, None).await.unwrap_err()), ErrorCode::InvalidGrant, "reuse revoked the family");
}

#[tokio::test]
async fn client_authentication_accepts_only_the_registered_method() {
    let world = world().await;
    world.add_app("public", None, json!({})).await;
    let grant = [("grant_type", "client_credentials")];
    let wrong = world.provider.token(&world.issuer, &params(&grant), Some(&basic("web", "zcs_wrong"))).await;
    assert_eq!(code_of(wrong.unwrap_err()), ErrorCode::InvalidClient);
    let posted = params(&[("grant_type", "client_credentials"), ("client_id", "web"), ("client_secret", SECRET)]);
    assert_eq!(
        code_of(world.provider.token(&world.issuer, &posted, None).await.unwrap_err()),
        ErrorCode::InvalidClient
    );
    let pretending = params(&[("grant_type", "authorization_code"), ("client_id", "web")]);
    assert_eq!(
        code_of(world.provider.token(&world.issuer, &pretending, None).await.unwrap_err()),
        ErrorCode::InvalidClient
    );
    let public = params(&[("grant_type", "client_credentials"), ("client_id", "public")]);
    assert_eq!(
        code_of(world.provider.token(&world.issuer, &public, None).await.unwrap_err()),
        ErrorCode::UnauthorizedClient
    );
}
