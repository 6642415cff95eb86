//! Federation (issue 6), the upstream side: plain OAuth 2.0 providers (no ID
//! token, the identity from userinfo), nonce replay, upstream key rotation
//! during a login, an unreachable and a silent upstream, trusting the
//! upstream's `amr` for the organization's required MFA, provider icons,
//! the admin API's validation and tenant isolation, and `zenoauth idp`.
//!
//! No mocks: organization "corp-idp" of the same in-process server is the
//! upstream (OpenID Connect, or spoken to as plain OAuth 2.0 through its
//! authorize, token and userinfo endpoints) of organization "acme".

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::time::Instant;
use totp_rs::{Algorithm, Secret, TOTP};
use uuid::Uuid;
use zenoauth_crypto::{Argon2Hasher, Argon2Params, OsRandom};
use zenoauth_domain::federation::{ClaimMapping, IdentityProvider, ProviderKind};
use zenoauth_domain::ids::IdGenerator;
use zenoauth_domain::keys::Rotation;
use zenoauth_domain::model::{Application, AuditEvent, ClientType, Organization, SigningAlgorithm, User};
use zenoauth_domain::ports::{Clock, PasswordHasher, RandomSource, Stores};
use zenoauth_domain::values::{ClientId, DisplayName, Email, Password, RedirectUri, ScopeSet};
use zenoauth_server::http::oidc::federation::{UPSTREAM_DENIED, UPSTREAM_INVALID, UPSTREAM_UNAVAILABLE};
use zenoauth_server::http::pages::escape;
use zenoauth_server::http::AppState;
use zenoauth_store_memory::MemoryDatabase;

use crate::oidc_support::{
    authorization_url, browser, exchange, hidden_field, json as json_body, location, on_both_databases, pkce,
    query_param, World, REDIRECT,
};
use crate::security_support::audit_events;

const BOB: &str = "bob@corp.example";
const BOB_PASSWORD: &str = "upstream password of bob";
const BROKER: &str = "acme-broker";

/// acme (with its seeded user alice) and its upstream corp-idp, where bob
/// lives and acme is the public client `acme-broker`.
struct Upstream {
    world: World,
    /// The server's state, for corp-idp's key ring.
    state: AppState,
    corp: Organization,
    corp_bob: User,
    ids: IdGenerator,
}

async fn upstream(stores: Stores) -> Upstream {
    upstream_with(stores, |state| state).await
}

async fn upstream_with(stores: Stores, configure: impl FnOnce(AppState) -> AppState) -> Upstream {
    let captured: Arc<Mutex<Option<AppState>>> = Arc::new(Mutex::new(None));
    let slot = captured.clone();
    let world = World::new_with(stores, move |state| {
        let state = configure(state);
        *slot.lock().unwrap() = Some(state.clone());
        state
    })
    .await;
    let state = captured.lock().unwrap().take().unwrap();
    let random: Arc<dyn RandomSource> = Arc::new(OsRandom::new());
    let ids = IdGenerator::new(world.clock.clone(), random.clone());
    let corp = world.add_organization("corp-idp").await;
    let cheap = Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 };
    let hasher = Argon2Hasher::new(cheap, random).unwrap();
    let now = world.clock.now();
    let corp_bob = User {
        id: ids.next(),
        organization_id: corp.id,
        email: Email::parse(BOB).unwrap(),
        email_verified: true,
        password_hash: Some(hasher.hash(&Password::parse(BOB_PASSWORD).unwrap()).await.unwrap()),
        profile: json!({"name": "Bob Builder"}),
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    world.stores.users.create(&corp_bob).await.unwrap();
    let broker = Application {
        id: ids.next(),
        organization_id: corp.id,
        client_id: ClientId::parse(BROKER).unwrap(),
        name: DisplayName::parse("Acme broker").unwrap(),
        client_type: ClientType::Public,
        redirect_uris: vec![RedirectUri::parse(&format!("{}/federation/callback", world.issuer())).unwrap()],
        allowed_scopes: ScopeSet::parse("openid profile email").unwrap(),
        settings: json!({}),
        created_at: now,
        updated_at: now,
    };
    world.stores.applications.create(&broker).await.unwrap();
    Upstream { world, state, corp, corp_bob, ids }
}

impl Upstream {
    /// corp-idp as an OpenID Connect upstream of acme.
    fn oidc(&self, name: &str) -> IdentityProvider {
        let now = self.world.clock.now();
        IdentityProvider {
            id: self.ids.next::<Uuid>(),
            organization_id: self.world.organization.id,
            name: name.to_owned(),
            kind: ProviderKind::Oidc,
            issuer: self.world.issuer_of("corp-idp"),
            authorization_endpoint: None,
            token_endpoint: None,
            userinfo_endpoint: None,
            subject_claim: "sub".to_owned(),
            email_claim: "email".to_owned(),
            icon_url: None,
            trust_upstream_amr: false,
            client_id: BROKER.to_owned(),
            encrypted_client_secret: None,
            scopes: vec!["openid".to_owned(), "profile".to_owned(), "email".to_owned()],
            enabled: true,
            jit_provisioning: true,
            link_by_verified_email: false,
            claim_mapping: ClaimMapping::default(),
            created_at: now,
            updated_at: now,
        }
    }

    /// corp-idp spoken to as a plain OAuth 2.0 provider: its own authorize,
    /// token and userinfo endpoints, configured by hand; the user is `sub`.
    fn oauth2(&self, name: &str) -> IdentityProvider {
        let corp = self.world.issuer_of("corp-idp");
        IdentityProvider {
            kind: ProviderKind::OAuth2,
            issuer: corp.clone(),
            authorization_endpoint: Some(format!("{corp}/authorize")),
            token_endpoint: Some(format!("{corp}/token")),
            userinfo_endpoint: Some(format!("{corp}/userinfo")),
            subject_claim: "sub".to_owned(),
            ..self.oidc(name)
        }
    }

    async fn add(&self, provider: IdentityProvider) -> IdentityProvider {
        provider.validate().unwrap();
        self.world.stores.federation.create_provider(&provider).await.unwrap();
        provider
    }

    fn start_url(&self, provider: &IdentityProvider) -> String {
        self.world.url(&format!("/federation/start?provider={}", provider.id))
    }

    async fn local_bob(&self) -> Option<User> {
        let email = Email::parse(BOB).unwrap();
        self.world.stores.users.find_by_email(self.world.organization.id, &email).await.unwrap()
    }

    async fn require_mfa_at_acme(&self) {
        let mut organization = self.world.stores.organizations.get(self.world.organization.id).await.unwrap();
        organization.settings = json!({"mfa_policy": "required"});
        self.world.stores.organizations.update(&organization).await.unwrap();
    }
}

/// Where a browser run ended.
#[derive(Debug)]
enum End {
    /// At the application's redirect URI.
    Application(String),
    /// On a page none of the steps below answers: (status, issuer, body).
    Page(u16, String, String),
}

/// `http://host:port/o/{slug}` of a page's URL.
fn issuer_of_page(url: &reqwest::Url) -> String {
    let path = url.path();
    let slug_end = path["/o/".len()..].find('/').map_or(path.len(), |end| end + "/o/".len());
    format!("{}://{}:{}{}", url.scheme(), url.host_str().unwrap(), url.port().unwrap(), &path[..slug_end])
}

fn start_link(page: &str) -> Option<String> {
    let start = page.find("href=\"federation/start?")? + "href=\"".len();
    let end = page[start..].find('"')? + start;
    Some(page[start..end].replace("&amp;", "&"))
}

/// The TOTP code of a base32 `secret` at the world's clock.
fn totp_code(world: &World, secret: &str) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    let totp = TOTP::new(Algorithm::SHA1, 6, 0, 30, bytes, None, String::new()).unwrap();
    totp.generate(u64::try_from(world.clock.now().unix_timestamp()).unwrap())
}

/// Follows the browser: bob signs in at corp-idp (answering its TOTP
/// challenge with `totp_secret`), consents wherever asked, and acme's
/// login page is left through its provider button.
async fn drive(world: &World, browser: &reqwest::Client, start: &str, totp_secret: Option<&str>) -> End {
    let mut response = browser.get(start).send().await.unwrap();
    for _ in 0..16 {
        if response.status().is_redirection() {
            let target = location(&response);
            if target.starts_with(REDIRECT) {
                return End::Application(target);
            }
            response = browser.get(&target).send().await.unwrap();
            continue;
        }
        let status = response.status().as_u16();
        let issuer = issuer_of_page(response.url());
        let page = response.text().await.unwrap();
        if status != 200 {
            return End::Page(status, issuer, page);
        }
        let at_corp = issuer.ends_with("/o/corp-idp");
        let mut form = vec![("csrf_token", hidden_field(&page, "csrf_token").unwrap_or_default())];
        if let Some(authorize) = hidden_field(&page, "authorize") {
            form.push(("authorize", authorize));
        }
        response = if !at_corp && page.contains("href=\"federation/start?") {
            browser.get(format!("{issuer}/{}", start_link(&page).unwrap())).send().await.unwrap()
        } else if at_corp && page.contains("name=\"password\"") {
            form.push(("email", BOB.to_owned()));
            form.push(("password", BOB_PASSWORD.to_owned()));
            browser.post(format!("{issuer}/login")).form(&form).send().await.unwrap()
        } else if let (true, true, Some(secret)) = (at_corp, page.contains("name=\"code\""), totp_secret) {
            form.push(("code", totp_code(world, secret)));
            browser.post(format!("{issuer}/mfa/challenge")).form(&form).send().await.unwrap()
        } else if page.contains("name=\"decision\"") {
            form.push(("decision", "allow".to_owned()));
            browser.post(format!("{issuer}/consent")).form(&form).send().await.unwrap()
        } else {
            return End::Page(status, issuer, page);
        };
    }
    panic!("no end after sixteen steps");
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The whole chain from the application; the ID token's claims.
async fn login_through(up: &Upstream, browser: &reqwest::Client, totp_secret: Option<&str>) -> Value {
    let world = &up.world;
    let (verifier, challenge) = pkce();
    let start = authorization_url(world, "web", "openid profile email", &challenge, &[]);
    let redirect = match drive(world, browser, &start, totp_secret).await {
        End::Application(redirect) => redirect,
        End::Page(status, issuer, page) => panic!("{status} at {issuer}: {page}"),
    };
    let code = query_param(&redirect, "code").unwrap();
    let tokens = json_body(exchange(world, &code, &verifier).await).await;
    claims_of(tokens["id_token"].as_str().unwrap())
}

/// Waits (up to 10 s) until acme's audit log holds `count` events of
/// `event_type`; returns those.
async fn wait_for_events(up: &Upstream, event_type: &str, count: usize) -> Vec<AuditEvent> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events: Vec<AuditEvent> = audit_events(&up.world.stores, &up.world.organization)
            .await
            .into_iter()
            .filter(|event| event.event_type == event_type)
            .collect();
        if events.len() >= count {
            return events;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {count} {event_type}: {events:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The reasons of acme's first `count` `federation.login_failed` events.
async fn failure_reasons(up: &Upstream, count: usize) -> Vec<String> {
    let events = wait_for_events(up, "federation.login_failed", count).await;
    events.iter().map(|event| event.data["reason"].as_str().unwrap_or_default().to_owned()).collect()
}

// The scenarios that touch the stores most run over both SQL databases;
// the others over memory.
on_both_databases!(
    a_plain_oauth2_provider_signs_in_through_its_userinfo_endpoint,
    an_upstream_key_rotated_between_start_and_callback_is_fetched,
    a_trusted_multi_factor_upstream_login_satisfies_the_required_second_factor,
);

// --- plain OAuth 2.0 -------------------------------------------------------

async fn a_plain_oauth2_provider_signs_in_through_its_userinfo_endpoint(stores: Stores) {
    let up = upstream(stores).await;
    let world = &up.world;
    let icon = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4=";
    let provider = up.add(IdentityProvider { icon_url: Some(icon.to_owned()), ..up.oauth2("Corp OAuth") }).await;

    // The button carries the icon, and the page's CSP allows exactly that.
    let (_, challenge) = pkce();
    let login = browser().get(authorization_url(world, "web", "openid", &challenge, &[])).send().await.unwrap();
    let csp = login.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let page = login.text().await.unwrap();
    assert!(page.contains(&format!("<img class=\"idp-icon\" src=\"{icon}\"")), "{page}");
    assert!(page.contains("Sign in with Corp OAuth"), "{page}");
    assert!(csp.contains("img-src data:;"), "{csp}");
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"), "{csp}");

    // The upstream is asked with PKCE and state, and no nonce.
    let redirect = browser().get(up.start_url(&provider)).send().await.unwrap();
    assert_eq!(redirect.status(), 303);
    let target = location(&redirect);
    assert!(target.starts_with(&format!("{}/authorize?", world.issuer_of("corp-idp"))), "{target}");
    assert_eq!(query_param(&target, "code_challenge_method").as_deref(), Some("S256"));
    assert!(query_param(&target, "state").is_some());
    assert_eq!(query_param(&target, "nonce"), None, "no ID token, so no nonce");
    assert_eq!(query_param(&target, "scope").as_deref(), Some("openid profile email"));

    let id_token = login_through(&up, &browser(), None).await;
    assert_eq!(id_token["iss"], world.issuer(), "the application gets acme's tokens");
    assert_eq!(id_token["amr"], json!(["fed"]));
    let local = up.local_bob().await.expect("created just in time from the userinfo response");
    assert!(local.email_verified, "userinfo said email_verified: true");
    let links = world.stores.federation.identities_of_user(world.organization.id, local.id).await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!((links[0].provider_id, links[0].subject.clone()), (provider.id, up.corp_bob.id.to_string()));
}

#[tokio::test]
async fn an_oauth2_userinfo_without_the_subject_claim_creates_nobody() {
    let up = upstream(MemoryDatabase::new().stores()).await;
    // GitHub's numeric `id`: corp-idp's userinfo has no such claim.
    let provider = up.add(IdentityProvider { subject_claim: "id".to_owned(), ..up.oauth2("Corp OAuth") }).await;
    match drive(&up.world, &browser(), &up.start_url(&provider), None).await {
        End::Page(502, _, page) => assert!(page.contains(&escape(UPSTREAM_UNAVAILABLE)), "{page}"),
        other => panic!("the login must fail: {other:?}"),
    }
    assert_eq!(failure_reasons(&up, 1).await, ["upstream_bad_response"]);
    assert!(up.local_bob().await.is_none(), "no user without an upstream identity");
}

#[tokio::test]
async fn an_oauth2_token_endpoint_that_refuses_the_code_creates_nobody() {
    let up = upstream(MemoryDatabase::new().stores()).await;
    // The code is corp-idp's, but it is taken to acme's own token endpoint,
    // where acme-broker is no client: refused.
    let provider =
        up.add(IdentityProvider { token_endpoint: Some(up.world.url("/token")), ..up.oauth2("Corp OAuth") }).await;
    match drive(&up.world, &browser(), &up.start_url(&provider), None).await {
        End::Page(502, issuer, page) => {
            assert_eq!(issuer, up.world.issuer());
            assert!(page.contains(&escape(UPSTREAM_DENIED)), "{page}");
        }
        other => panic!("the login must fail: {other:?}"),
    }
    assert_eq!(failure_reasons(&up, 1).await, ["upstream_refused"]);
    assert!(up.local_bob().await.is_none());
}

// --- nonce replay -----------------------------------------------------------

/// `url` with its `nonce` replaced by `nonce`.
fn with_nonce(url: &str, nonce: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(name, value)| {
            let value = if name == "nonce" { nonce.to_owned() } else { value.into_owned() };
            (name.into_owned(), value)
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.into()
}

#[tokio::test]
async fn an_id_token_carrying_the_nonce_of_another_or_a_used_login_is_refused() {
    let up = upstream(MemoryDatabase::new().stores()).await;
    let world = &up.world;
    let provider = up.add(up.oidc("Corp")).await;
    let browser = browser();
    let upstream_request = |response: reqwest::Response| {
        assert_eq!(response.status(), 303);
        location(&response)
    };
    let first = upstream_request(browser.get(up.start_url(&provider)).send().await.unwrap());
    let second = upstream_request(browser.get(up.start_url(&provider)).send().await.unwrap());
    let first_nonce = query_param(&first, "nonce").unwrap();
    assert_ne!(query_param(&second, "nonce").unwrap(), first_nonce);

    // The second login's callback brings an ID token made for the first nonce.
    match drive(world, &browser, &with_nonce(&second, &first_nonce), None).await {
        End::Page(502, issuer, page) => {
            assert_eq!(issuer, world.issuer());
            assert!(page.contains(&escape(UPSTREAM_INVALID)), "{page}");
        }
        other => panic!("the replayed nonce must be refused: {other:?}"),
    }
    assert_eq!(failure_reasons(&up, 1).await, ["invalid_id_token"]);
    assert!(up.local_bob().await.is_none(), "no user from a refused login");

    // The first login, with its own nonce, succeeds …
    match drive(world, &browser, &first, None).await {
        End::Page(200, issuer, _) => assert_eq!(issuer, world.issuer()),
        other => panic!("the genuine login must succeed: {other:?}"),
    }
    let bob = up.local_bob().await.expect("created by the genuine login");

    // … after which its nonce is spent: a third login carrying it is refused.
    let third = upstream_request(browser.get(up.start_url(&provider)).send().await.unwrap());
    match drive(world, &browser, &with_nonce(&third, &first_nonce), None).await {
        End::Page(502, _, page) => assert!(page.contains(&escape(UPSTREAM_INVALID)), "{page}"),
        other => panic!("a used nonce must be refused: {other:?}"),
    }
    assert_eq!(failure_reasons(&up, 2).await, ["invalid_id_token", "invalid_id_token"]);
    let links = world.stores.federation.identities_of_user(world.organization.id, bob.id).await.unwrap();
    assert_eq!(links.len(), 1);
}

// --- upstream key rotation --------------------------------------------------

async fn an_upstream_key_rotated_between_start_and_callback_is_fetched(stores: Stores) {
    let up = upstream(stores).await;
    let world = &up.world;
    let provider = up.add(up.oidc("Corp")).await;
    // The first login caches corp-idp's JWKS.
    login_through(&up, &browser(), None).await;
    let ring = up.state.key_ring();
    let old = ring.signing_key(up.corp.id, SigningAlgorithm::EdDsa).await.unwrap();

    // A second login leaves for the upstream; meanwhile corp-idp replaces its
    // key at once (a suspected leak), and a little time passes.
    let browser = browser();
    let response = browser.get(up.start_url(&provider)).send().await.unwrap();
    let upstream_request = location(&response);
    let rotation = ring.rotate(up.corp.id, SigningAlgorithm::EdDsa, Rotation::Immediate).await.unwrap();
    assert_ne!(rotation.key.id, old.id);
    world.clock.advance(time::Duration::minutes(2));

    // The ID token names the new kid: acme refetches the JWKS and accepts it.
    match drive(world, &browser, &upstream_request, None).await {
        End::Page(200, issuer, _) => assert_eq!(issuer, world.issuer()),
        other => panic!("the login after the rotation must succeed: {other:?}"),
    }
    let jwks: Value =
        browser.get(format!("{}/jwks", world.issuer_of("corp-idp"))).send().await.unwrap().json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().filter_map(|key| key["kid"].as_str()).collect();
    assert!(kids.contains(&rotation.key.id.to_string().as_str()), "{kids:?}");
    let logins = wait_for_events(&up, "login.succeeded", 2).await;
    assert!(logins.iter().all(|event| event.data["provider_id"] == json!(provider.id.to_string())));
    let all = audit_events(&world.stores, &world.organization).await;
    assert!(!all.iter().any(|event| event.event_type == "federation.login_failed"), "no failure on the way");
}

// --- an unreachable or silent upstream ----------------------------------------

#[tokio::test]
async fn an_unreachable_upstream_ends_on_a_clear_page_and_an_audit_event() {
    let up = upstream(MemoryDatabase::new().stores()).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let issuer = format!("http://127.0.0.1:{port}/o/nowhere");
    let provider = up.add(IdentityProvider { issuer, ..up.oidc("Gone") }).await;
    let response = browser().get(up.start_url(&provider)).send().await.unwrap();
    assert_eq!(response.status(), 502);
    let page = response.text().await.unwrap();
    assert!(page.contains(&escape(UPSTREAM_UNAVAILABLE)), "{page}");
    assert!(!page.contains(&port.to_string()), "no internal detail on the page");
    assert_eq!(failure_reasons(&up, 1).await, ["upstream_unreachable"]);
    assert!(up.local_bob().await.is_none());
}

#[tokio::test]
async fn a_silent_upstream_times_out_after_the_configured_timeout() {
    let up = upstream_with(MemoryDatabase::new().stores(), |state| state.with_upstream_timeout(Duration::from_secs(1)))
        .await;
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let provider = up.add(IdentityProvider { issuer: format!("http://127.0.0.1:{port}"), ..up.oidc("Slow") }).await;
    let started = Instant::now();
    let response = browser().get(up.start_url(&provider)).send().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(response.status(), 504);
    assert!(waited >= Duration::from_secs(1) && waited < Duration::from_secs(5), "{waited:?}");
    let page = response.text().await.unwrap();
    assert!(page.contains(&escape(UPSTREAM_UNAVAILABLE)), "{page}");
    assert_eq!(failure_reasons(&up, 1).await, ["upstream_timeout"]);
    assert!(up.local_bob().await.is_none());
    holder.abort();
}

// --- trusting the upstream's amr ------------------------------------------------

/// Enrols TOTP for bob at corp-idp through its pages; the base32 secret.
/// The clock then moves on so the enrolment's code step is not reused.
async fn enrol_bob_at_corp(up: &Upstream) -> String {
    let world = &up.world;
    let corp = world.issuer_of("corp-idp");
    let browser = browser();
    let page = browser.get(format!("{corp}/login")).send().await.unwrap().text().await.unwrap();
    let form = [
        ("csrf_token", hidden_field(&page, "csrf_token").unwrap()),
        ("email", BOB.to_owned()),
        ("password", BOB_PASSWORD.to_owned()),
    ];
    assert_eq!(browser.post(format!("{corp}/login")).form(&form).send().await.unwrap().status(), 200);
    let page = browser.get(format!("{corp}/mfa/totp")).send().await.unwrap().text().await.unwrap();
    let from = page.find("<code id=\"totp-secret\">").expect("the manual key") + "<code id=\"totp-secret\">".len();
    let secret = page[from..from + page[from..].find("</code>").unwrap()].to_owned();
    let form = [("csrf_token", hidden_field(&page, "csrf_token").unwrap()), ("code", totp_code(world, &secret))];
    assert_eq!(browser.post(format!("{corp}/mfa/totp")).form(&form).send().await.unwrap().status(), 200);
    world.clock.advance(time::Duration::seconds(90));
    secret
}

async fn a_trusted_multi_factor_upstream_login_satisfies_the_required_second_factor(stores: Stores) {
    let up = upstream(stores).await;
    up.require_mfa_at_acme().await;
    up.add(IdentityProvider { trust_upstream_amr: true, ..up.oidc("Corp") }).await;
    let secret = enrol_bob_at_corp(&up).await;
    // bob passes corp-idp's TOTP challenge: its ID token says amr pwd+otp+mfa.
    let id_token = login_through(&up, &browser(), Some(&secret)).await;
    assert_eq!(id_token["amr"], json!(["fed", "mfa"]), "what acme's session records is what happened");
    assert_eq!(id_token["acr"], "mfa");
    let login = &wait_for_events(&up, "login.succeeded", 1).await[0];
    assert_eq!(login.data["upstream_mfa_trusted"], true);
    assert_eq!(login.data["upstream_amr"], json!(["pwd", "otp", "mfa"]));
}

#[tokio::test]
async fn without_trust_or_without_an_upstream_second_factor_acme_asks_for_its_own() {
    // Trusted, but bob signs in at corp-idp with a password only.
    let up = upstream(MemoryDatabase::new().stores()).await;
    up.require_mfa_at_acme().await;
    up.add(IdentityProvider { trust_upstream_amr: true, ..up.oidc("Corp") }).await;
    let (_, challenge) = pkce();
    let start = authorization_url(&up.world, "web", "openid", &challenge, &[]);
    match drive(&up.world, &browser(), &start, None).await {
        End::Page(200, issuer, page) => {
            assert_eq!(issuer, up.world.issuer());
            assert!(page.contains("name=\"code\""), "acme's second factor is asked: {page}");
        }
        other => panic!("a second factor must be asked: {other:?}"),
    }

    // bob passes corp-idp's TOTP, but acme does not trust the upstream's amr.
    let up = upstream(MemoryDatabase::new().stores()).await;
    up.require_mfa_at_acme().await;
    up.add(up.oidc("Corp")).await;
    let secret = enrol_bob_at_corp(&up).await;
    let (_, challenge) = pkce();
    let start = authorization_url(&up.world, "web", "openid", &challenge, &[]);
    match drive(&up.world, &browser(), &start, Some(&secret)).await {
        End::Page(200, issuer, page) => {
            assert_eq!(issuer, up.world.issuer());
            assert!(page.contains("name=\"code\""), "acme's second factor is asked: {page}");
        }
        other => panic!("a second factor must be asked: {other:?}"),
    }
    let login = &wait_for_events(&up, "login.succeeded", 1).await[0];
    assert_eq!(login.data["upstream_amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(login.data["upstream_mfa_trusted"], false);
}

// --- the admin API ------------------------------------------------------------------

#[tokio::test]
async fn oauth2_settings_are_validated_and_other_tenants_cannot_touch_providers() {
    let world = crate::admin_support::AdminWorld::new(MemoryDatabase::new().stores()).await;
    let api = world.platform().await;
    let acme = world.organization("acme").await;
    let base = format!("/organizations/{}/identity-providers", acme.id);
    let github = json!({"name": "GitHub", "kind": "oauth2", "issuer": "https://github.com", "client_id": "Iv1.abc",
        "client_secret": "gh-s3cret", "authorization_endpoint": "https://github.com/login/oauth/authorize",
        "token_endpoint": "https://github.com/login/oauth/access_token",
        "userinfo_endpoint": "https://api.github.com/user", "scopes": ["read:user", "user:email"],
        "icon_url": "https://github.githubassets.com/favicon.ico"});
    let created = api.post(&base, github.clone()).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["kind"], "oauth2");
    assert_eq!(created.body["subject_claim"], "id", "GitHub's numeric id by default");
    assert_eq!(created.body["email_claim"], "email");
    assert_eq!(created.body["trust_upstream_amr"], false);
    assert_eq!(created.body["userinfo_endpoint"], "https://api.github.com/user");
    let path = format!("{base}/{}", created.id());

    let with = |changes: Value| {
        let mut body = github.clone();
        body["name"] = json!("Other");
        for (name, value) in changes.as_object().unwrap() {
            body[name] = value.clone();
        }
        body
    };
    for (changes, why) in [
        (json!({"token_endpoint": null}), "missing token endpoint"),
        (json!({"userinfo_endpoint": null}), "missing userinfo endpoint"),
        (json!({"authorization_endpoint": "http://github.com/login/oauth/authorize"}), "http off loopback"),
        (json!({"token_endpoint": "ftp://github.com/token"}), "not http(s)"),
        (json!({"userinfo_endpoint": "not a url"}), "not a URL"),
        (json!({"trust_upstream_amr": true}), "no ID token, no amr"),
        (json!({"subject_claim": "has space"}), "bad claim name"),
        (json!({"icon_url": "javascript:alert(1)"}), "script icon"),
        (json!({"icon_url": "data:text/html;base64,PGI+"}), "non-image data"),
        (json!({"kind": "oidc"}), "oidc with oauth2 endpoints"),
    ] {
        let reply = api.post(&base, with(changes)).await;
        assert_eq!(reply.status, 400, "{why}: {reply:?}");
        reply.assert_problem(400, "validation");
    }
    let reply = api.post(&base, with(json!({"kind": "saml"}))).await;
    assert!(matches!(reply.status, 400 | 422), "an unknown kind: {reply:?}");
    assert_eq!(api.get(&base).await.body["items"].as_array().unwrap().len(), 1, "nothing else was created");

    // Switching to OpenID Connect clears the endpoints and takes `sub`.
    let read = api.get(&path).await;
    let switched = api
        .patch(
            &path,
            json!({"kind": "oidc", "issuer": "https://login.corp.example", "scopes": ["openid"],
                "authorization_endpoint": null, "token_endpoint": null, "userinfo_endpoint": null,
                "trust_upstream_amr": true, "icon_url": null}),
            &read.etag(),
        )
        .await;
    assert_eq!(switched.status, 200, "{switched:?}");
    assert_eq!(switched.body["kind"], "oidc");
    assert_eq!(switched.body["subject_claim"], "sub");
    assert_eq!(switched.body["trust_upstream_amr"], true);
    assert_eq!(switched.body["icon_url"], Value::Null);
    assert_eq!(switched.body["has_client_secret"], true, "the secret is kept");

    // Another organization's administrator sees none of it and changes nothing.
    let (_, other) = world.org_admin("globex").await;
    assert_eq!(other.get(&base).await.status, 404);
    assert_eq!(other.get(&path).await.status, 404);
    assert_eq!(other.post(&base, with(json!({}))).await.status, 404);
    assert_eq!(other.patch(&path, json!({"enabled": false}), &switched.etag()).await.status, 404);
    assert_eq!(other.delete(&path).await.status, 404);
    let after = api.get(&path).await;
    assert_eq!(after.status, 200);
    assert_eq!(after.body["enabled"], true);
    assert_eq!(api.get(&base).await.body["items"].as_array().unwrap().len(), 1);
}

/// A user of `organization` linked to `provider` as upstream user "123".
async fn link_someone(
    stores: &Stores,
    ids: &IdGenerator,
    clock: &dyn Clock,
    organization: &Organization,
    provider: Uuid,
) -> User {
    let now = clock.now();
    let user = User {
        id: ids.next(),
        organization_id: organization.id,
        email: Email::parse("linked@acme.example").unwrap(),
        email_verified: true,
        password_hash: None,
        profile: json!({}),
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    stores.users.create(&user).await.unwrap();
    let identity = zenoauth_domain::federation::FederatedIdentity {
        organization_id: organization.id,
        provider_id: provider,
        subject: "123".to_owned(),
        user_id: user.id,
        created_at: now,
    };
    stores.federation.link_identity(&identity).await.unwrap();
    user
}

#[tokio::test]
async fn a_linked_provider_keeps_how_it_names_users_and_mutable_subject_claims_are_refused() {
    let world = crate::admin_support::AdminWorld::new(MemoryDatabase::new().stores()).await;
    let api = world.platform().await;
    let acme = world.organization("acme").await;
    let base = format!("/organizations/{}/identity-providers", acme.id);
    let github = json!({"name": "GitHub", "kind": "oauth2", "issuer": "https://github.com", "client_id": "Iv1.abc",
        "authorization_endpoint": "https://github.com/login/oauth/authorize",
        "token_endpoint": "https://github.com/login/oauth/access_token",
        "userinfo_endpoint": "https://api.github.com/user"});
    for mutable in ["login", "email", "preferred_username", "name", "upn"] {
        let mut body = github.clone();
        body["subject_claim"] = json!(mutable);
        api.post(&base, body).await.assert_problem(400, "validation");
    }
    let created = api.post(&base, github).await;
    assert_eq!(created.status, 201, "{created:?}");
    let id: Uuid = created.id().parse().unwrap();
    let path = format!("{base}/{id}");
    let read = api.get(&path).await;
    api.patch(&path, json!({"subject_claim": "login"}), &read.etag()).await.assert_problem(400, "validation");

    let user = link_someone(&world.stores, &world.ids, world.clock.as_ref(), &acme, id).await;
    for change in [
        json!({"subject_claim": "node_id"}),
        json!({"issuer": "https://github.example"}),
        json!({"kind": "oidc", "authorization_endpoint": null, "token_endpoint": null, "userinfo_endpoint": null,
            "scopes": ["openid"]}),
    ] {
        let refused = api.patch(&path, change.clone(), &read.etag()).await;
        refused.assert_problem(409, "conflict");
        let detail = refused.body["detail"].as_str().unwrap();
        assert!(detail.contains("remove the links") && detail.contains("new provider"), "{change}: {detail}");
    }
    let stored = world.stores.federation.find_provider(acme.id, id).await.unwrap().unwrap();
    assert_eq!((stored.subject_claim.as_str(), stored.issuer.as_str()), ("id", "https://github.com"), "unchanged");
    // Other settings (and restating the same naming) stay changeable.
    let renamed = api.patch(&path, json!({"name": "GitHub.com", "subject_claim": "id"}), &read.etag()).await;
    assert_eq!(renamed.status, 200, "{renamed:?}");

    // Without links, the naming may change.
    assert!(world.stores.federation.delete_identity(acme.id, user.id, id, "123").await.unwrap());
    let changed = api.patch(&path, json!({"subject_claim": "node_id"}), &renamed.etag()).await;
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(changed.body["subject_claim"], "node_id");
}

// --- zenoauth idp -----------------------------------------------------------------------

const IDP_SCRIPT: &str = r#"
set -euo pipefail
z() { "$ZENOAUTH_BIN" "$@"; }
z org create --slug acme --name "Acme Corp" >/dev/null
printf 'gh-s3cret-from-stdin\n' | z idp create --org acme --name GitHub --kind oauth2 \
  --issuer https://github.com --client-id Iv1.abc --client-secret-stdin \
  --authorization-endpoint https://github.com/login/oauth/authorize \
  --token-endpoint https://github.com/login/oauth/access_token \
  --userinfo-endpoint https://api.github.com/user --scope read:user --scope user:email
printf 'corp-s3cret-from-a-file\n' > corp.secret
z idp create --org acme --name "Corp SSO" --issuer https://login.corp.example/realms/staff \
  --client-id zenoauth --client-secret-file corp.secret --trust-upstream-amr true \
  --claim-mapping '{"groups_claim":"groups","roles":{"engineering":"developer"}}' >/dev/null
echo "--- listed"
z idp list --org acme
z idp update --org acme --provider GitHub --enabled false --icon-url https://github.githubassets.com/favicon.ico
z idp delete --org acme --provider "Corp SSO"
echo "--- after"
z idp list --org acme
"#;

fn cli(directory: &std::path::Path, script: &str) -> std::process::Output {
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(directory)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ZENOAUTH_BIN", env!("CARGO_BIN_EXE_zenoauth"))
        .env("ZENOAUTH_LOG_FORMAT", "json")
        .env("ZENOAUTH_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test]
async fn idp_commands_create_list_update_and_delete_with_secrets_never_in_argv() {
    let directory = tempfile::tempdir().unwrap();
    let output = cli(directory.path(), IDP_SCRIPT);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&output.stderr));
    let github_id = stdout.lines().find_map(|line| line.strip_prefix("id=")).unwrap().to_owned();
    assert!(stdout.contains("name=GitHub"), "{stdout}");
    let listed = stdout.split("--- listed").nth(1).unwrap().split("--- after").next().unwrap();
    assert!(listed.contains(&format!("{github_id}\tGitHub\toauth2\thttps://github.com\tenabled")), "{listed}");
    assert!(listed.contains("\tCorp SSO\toidc\thttps://login.corp.example/realms/staff\tenabled"), "{listed}");
    let after = stdout.split("--- after").nth(1).unwrap();
    assert_eq!(after.trim(), format!("{github_id}\tGitHub\toauth2\thttps://github.com\tdisabled"));
    assert!(!stdout.contains("s3cret"), "secrets are never printed");

    // The stored secret is sealed, not the plaintext.
    let url = format!("sqlite://{}", directory.path().join("zenoauth.db").display());
    let database = zenoauth_store_sqlite::SqliteDatabase::connect(&url, 1).await.unwrap();
    let stores = database.stores();
    let slug = zenoauth_domain::values::Slug::parse("acme").unwrap();
    let acme = stores.organizations.find_by_slug(&slug).await.unwrap().unwrap();
    let providers = stores.federation.list_providers(acme.id).await.unwrap();
    assert_eq!(providers.len(), 1);
    let github = &providers[0];
    assert_eq!(github.kind, ProviderKind::OAuth2);
    assert_eq!(github.subject_claim, "id");
    assert_eq!(github.scopes, ["read:user", "user:email"]);
    assert!(!github.enabled);
    assert_eq!(github.icon_url.as_deref(), Some("https://github.githubassets.com/favicon.ico"));
    let sealed = github.encrypted_client_secret.clone().expect("the secret from stdin");
    assert!(!sealed.windows(6).any(|window| window == b"s3cret"));
    drop(database);

    // Mistakes are one-line errors that change nothing; argv cannot carry a secret.
    for (script, code, needle) in [
        (
            "\"$ZENOAUTH_BIN\" idp create --org acme --name X --kind oauth2 --issuer https://x.example --client-id x",
            1,
            "--authorization-endpoint",
        ),
        (
            "\"$ZENOAUTH_BIN\" idp create --org acme --name X --issuer https://x.example --client-id x --client-secret s",
            2,
            "--client-secret",
        ),
        ("\"$ZENOAUTH_BIN\" idp delete --org acme --provider Nope", 1, "Nope"),
        ("\"$ZENOAUTH_BIN\" idp list --org nowhere", 1, "nowhere"),
        (
            "\"$ZENOAUTH_BIN\" idp create --org acme --name GitHub --issuer https://x.example --client-id x",
            1,
            "cannot create",
        ),
    ] {
        let output = cli(directory.path(), script);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(code), "{script}: {stderr}");
        assert!(stderr.contains(needle), "{script}: {stderr}");
    }
    let output = cli(directory.path(), "\"$ZENOAUTH_BIN\" idp list --org acme");
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 1, "nothing was added");
}

#[tokio::test]
async fn idp_update_refuses_to_rename_the_subjects_of_a_linked_provider() {
    let directory = tempfile::tempdir().unwrap();
    let setup = r#"
set -euo pipefail
"$ZENOAUTH_BIN" org create --slug acme --name "Acme Corp" >/dev/null
"$ZENOAUTH_BIN" idp create --org acme --name GitHub --kind oauth2 --issuer https://github.com --client-id Iv1.abc \
  --authorization-endpoint https://github.com/login/oauth/authorize \
  --token-endpoint https://github.com/login/oauth/access_token --userinfo-endpoint https://api.github.com/user
"#;
    let output = cli(directory.path(), setup);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let url = format!("sqlite://{}", directory.path().join("zenoauth.db").display());
    let database = zenoauth_store_sqlite::SqliteDatabase::connect(&url, 1).await.unwrap();
    let stores = database.stores();
    let slug = zenoauth_domain::values::Slug::parse("acme").unwrap();
    let acme = stores.organizations.find_by_slug(&slug).await.unwrap().unwrap();
    let github = stores.federation.list_providers(acme.id).await.unwrap().remove(0);
    let clock: Arc<dyn Clock> = Arc::new(zenoauth_server::clock::SystemClock);
    let ids = IdGenerator::new(clock.clone(), Arc::new(OsRandom::new()));
    link_someone(&stores, &ids, clock.as_ref(), &acme, github.id).await;
    drop(database);

    for (arguments, needle) in [
        ("--subject-claim node_id", "remove the links"),
        ("--issuer https://github.example", "remove the links"),
        ("--subject-claim login", "--subject-claim"),
    ] {
        let output =
            cli(directory.path(), &format!("\"$ZENOAUTH_BIN\" idp update --org acme --provider GitHub {arguments}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{arguments}: {stderr}");
        assert!(stderr.contains(needle), "{arguments}: {stderr}");
    }
    let output = cli(directory.path(), "\"$ZENOAUTH_BIN\" idp update --org acme --provider GitHub --enabled false");
    assert!(output.status.success(), "other changes go through: {}", String::from_utf8_lossy(&output.stderr));
    let database = zenoauth_store_sqlite::SqliteDatabase::connect(&url, 1).await.unwrap();
    let stored = database.stores().federation.find_provider(acme.id, github.id).await.unwrap().unwrap();
    assert_eq!((stored.subject_claim.as_str(), stored.issuer.as_str()), ("id", "https://github.com"));
    assert!(!stored.enabled);
}
