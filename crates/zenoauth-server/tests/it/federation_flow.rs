//! Federation (issue 6) end to end, with a real upstream: organization
//! "corp-idp" of the same in-process server is the upstream OpenID provider
//! of organization "acme". A cookie-jar browser goes application → acme →
//! corp-idp login → back → code → tokens.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use uuid::Uuid;
use zenoauth_crypto::{Argon2Hasher, Argon2Params, OsRandom};
use zenoauth_domain::federation::{ClaimMapping, IdentityProvider};
use zenoauth_domain::ids::IdGenerator;
use zenoauth_domain::model::{Application, ClientType, Organization, User};
use zenoauth_domain::ports::{Clock, PasswordHasher, RandomSource, Stores};
use zenoauth_domain::roles::{PermissionSet, Role, RoleName};
use zenoauth_domain::values::{ClientId, DisplayName, Email, Password, RedirectUri, ScopeSet};
use zenoauth_server::http::oidc::federation::{PROVISIONING_DISABLED, STATE_MISMATCH};
use zenoauth_store_memory::MemoryDatabase;

use crate::oidc_support::{
    authorization_url, browser, exchange, hidden_field, json, location, on_both_databases, pkce, World, REDIRECT,
};

pub(crate) const BOB: &str = "bob@corp.example";
pub(crate) const BOB_PASSWORD: &str = "upstream password of bob";
const BROKER: &str = "acme-broker";

pub(crate) struct Federation {
    pub(crate) world: World,
    pub(crate) corp: Organization,
    pub(crate) provider: IdentityProvider,
    pub(crate) ids: IdGenerator,
}

/// acme trusts corp-idp (a public client `acme-broker` there, PKCE only);
/// corp-idp knows bob, whose `nickname` plays the upstream group.
pub(crate) async fn federation(jit_provisioning: bool, link_by_verified_email: bool, bob_verified: bool) -> Federation {
    federation_over(MemoryDatabase::new().stores(), jit_provisioning, link_by_verified_email, bob_verified).await
}

pub(crate) async fn federation_over(
    stores: Stores,
    jit_provisioning: bool,
    link_by_verified_email: bool,
    bob_verified: bool,
) -> Federation {
    let world = World::new(stores).await;
    let random: Arc<dyn RandomSource> = Arc::new(OsRandom::new());
    let ids = IdGenerator::new(world.clock.clone(), random.clone());
    let corp = world.add_organization("corp-idp").await;
    let cheap = Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 };
    let hasher = Argon2Hasher::new(cheap, random).unwrap();
    let now = world.clock.now();
    let bob = User {
        id: ids.next(),
        organization_id: corp.id,
        email: Email::parse(BOB).unwrap(),
        email_verified: bob_verified,
        password_hash: Some(hasher.hash(&Password::parse(BOB_PASSWORD).unwrap()).await.unwrap()),
        profile: json!({"name": "Bob Builder", "nickname": "engineering"}),
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    world.stores.users.create(&bob).await.unwrap();
    let callback = format!("{}/federation/callback", world.issuer());
    let broker = Application {
        id: ids.next(),
        organization_id: corp.id,
        client_id: ClientId::parse(BROKER).unwrap(),
        name: DisplayName::parse("Acme broker").unwrap(),
        client_type: ClientType::Public,
        redirect_uris: vec![RedirectUri::parse(&callback).unwrap()],
        allowed_scopes: ScopeSet::parse("openid profile email").unwrap(),
        settings: json!({}),
        created_at: now,
        updated_at: now,
    };
    world.stores.applications.create(&broker).await.unwrap();
    for name in ["developer", "auditor"] {
        let role = Role {
            id: ids.next(),
            organization_id: world.organization.id,
            name: RoleName::parse(name).unwrap(),
            description: String::new(),
            permissions: PermissionSet::parse([]).unwrap(),
            created_at: now,
            updated_at: now,
        };
        world.stores.roles.create(&role).await.unwrap();
    }
    let provider = IdentityProvider {
        id: ids.next::<Uuid>(),
        organization_id: world.organization.id,
        name: "Corp".to_owned(),
        kind: zenoauth_domain::federation::ProviderKind::Oidc,
        issuer: world.issuer_of("corp-idp"),
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
        jit_provisioning,
        link_by_verified_email,
        claim_mapping: ClaimMapping {
            attributes: BTreeMap::from([("name".to_owned(), "display_name".to_owned())]),
            groups_claim: Some("nickname".to_owned()),
            roles: BTreeMap::from([
                ("engineering".to_owned(), "developer".to_owned()),
                ("audit".to_owned(), "auditor".to_owned()),
            ]),
        },
        created_at: now,
        updated_at: now,
    };
    world.stores.federation.create_provider(&provider).await.unwrap();
    Federation { world, corp, provider, ids }
}

/// `http://host:port/o/{slug}` of a page's URL.
pub(crate) fn issuer_of_page(url: &reqwest::Url) -> String {
    let path = url.path();
    let slug_end = path["/o/".len()..].find('/').map_or(path.len(), |end| end + "/o/".len());
    format!("{}://{}:{}{}", url.scheme(), url.host_str().unwrap(), url.port().unwrap(), &path[..slug_end])
}

/// The first `href="…"` of a link to `federation/start`.
pub(crate) fn start_link(page: &str) -> Option<String> {
    let start = page.find("href=\"federation/start?")? + "href=\"".len();
    let end = page[start..].find('"')? + start;
    Some(page[start..end].replace("&amp;", "&"))
}

/// Follows the browser through both organizations' pages: logs in as bob at
/// corp-idp, consents wherever asked. Ends at the application's redirect
/// (`Ok(location)`) or at a page that is neither (`Err((status, body))`),
/// e.g. acme's offer to connect an existing account by its password.
pub(crate) async fn drive(browser: &reqwest::Client, start: &str) -> Result<String, (u16, String)> {
    let mut response = browser.get(start).send().await.unwrap();
    for _ in 0..12 {
        if response.status().is_redirection() {
            let target = location(&response);
            if target.starts_with(REDIRECT) {
                return Ok(target);
            }
            response = browser.get(&target).send().await.unwrap();
            continue;
        }
        let status = response.status().as_u16();
        let issuer = issuer_of_page(response.url());
        let page = response.text().await.unwrap();
        if status != 200 {
            return Err((status, page));
        }
        let csrf = hidden_field(&page, "csrf_token").unwrap_or_default();
        let mut form = vec![("csrf_token", csrf)];
        if let Some(authorize) = hidden_field(&page, "authorize") {
            form.push(("authorize", authorize));
        }
        response = if issuer.ends_with("/o/acme") && page.contains("federation/start?") {
            let link = start_link(&page).unwrap();
            browser.get(format!("{issuer}/{link}")).send().await.unwrap()
        } else if page.contains("action=\"link\"") {
            return Err((status, page));
        } else if page.contains("name=\"password\"") {
            form.push(("email", BOB.to_owned()));
            form.push(("password", BOB_PASSWORD.to_owned()));
            browser.post(format!("{issuer}/login")).form(&form).send().await.unwrap()
        } else if page.contains("name=\"decision\"") {
            form.push(("decision", "allow".to_owned()));
            browser.post(format!("{issuer}/consent")).form(&form).send().await.unwrap()
        } else {
            return Err((status, page));
        };
    }
    panic!("no end after twelve steps");
}

pub(crate) fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

// The whole chain over both SQL stores (the other scenarios use memory).
on_both_databases!(an_upstream_login_ends_in_tokens_with_the_mapped_roles);

async fn an_upstream_login_ends_in_tokens_with_the_mapped_roles(stores: Stores) {
    let fed = federation_over(stores, true, false, true).await;
    let world = &fed.world;
    let browser = browser();
    let (verifier, challenge) = pkce();
    let start = authorization_url(world, "web", "openid profile email", &challenge, &[]);
    let login_page = browser.get(&start).send().await.unwrap().text().await.unwrap();
    assert!(login_page.contains("Sign in with Corp"), "one button per enabled provider: {login_page}");

    let redirect = drive(&browser, &start).await.unwrap_or_else(|(status, page)| panic!("{status}: {page}"));
    assert_eq!(crate::oidc_support::query_param(&redirect, "state").as_deref(), Some("state-123"));
    let code = crate::oidc_support::query_param(&redirect, "code").unwrap();
    let tokens = json(exchange(world, &code, &verifier).await).await;
    let access = claims_of(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["iss"], world.issuer(), "the application gets acme's tokens, never corp-idp's");
    assert_eq!(access["roles"], json!(["developer"]), "upstream group engineering → local role developer");
    let id_token = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["amr"], json!(["fed"]));

    // The user was created just in time, linked, with the mapped attribute.
    let email = Email::parse(BOB).unwrap();
    let local = world.stores.users.find_by_email(world.organization.id, &email).await.unwrap().unwrap();
    assert_eq!(local.profile["display_name"], "Bob Builder");
    assert!(local.password_hash.is_none());
    let links = world.stores.federation.identities_of_user(world.organization.id, local.id).await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].provider_id, fed.provider.id);
    let corp_bob = world.stores.users.find_by_email(fed.corp.id, &email).await.unwrap().unwrap();
    assert_eq!(links[0].subject, corp_bob.id.to_string());

    // A second login reuses the link; the state of the first is spent.
    let (_, challenge) = pkce();
    let again = authorization_url(world, "web", "openid profile email", &challenge, &[("prompt", "login")]);
    let second = crate::oidc_support::browser();
    drive(&second, &again).await.unwrap_or_else(|(status, page)| panic!("{status}: {page}"));
    let links = world.stores.federation.identities_of_user(world.organization.id, local.id).await.unwrap();
    assert_eq!(links.len(), 1, "no second user, no second link");
    let _ = &fed.ids;
}

#[tokio::test]
async fn idp_hint_goes_straight_to_the_provider() {
    let fed = federation(true, false, true).await;
    let world = &fed.world;
    let (_, challenge) = pkce();
    let start = authorization_url(world, "web", "openid", &challenge, &[("idp_hint", "Corp")]);
    let response = browser().get(&start).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let target = location(&response);
    assert!(target.starts_with(&format!("{}/authorize?", world.issuer_of("corp-idp"))), "{target}");
    assert_eq!(crate::oidc_support::query_param(&target, "client_id").as_deref(), Some(BROKER));
    assert_eq!(crate::oidc_support::query_param(&target, "code_challenge_method").as_deref(), Some("S256"));
    assert!(crate::oidc_support::query_param(&target, "nonce").is_some());
}

#[tokio::test]
async fn a_callback_with_an_unknown_state_is_refused() {
    let fed = federation(true, false, true).await;
    let world = &fed.world;
    let response =
        browser().get(world.url("/federation/callback?code=anything&state=not-one-of-ours")).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    assert!(page.contains(&zenoauth_server::http::pages::escape(STATE_MISMATCH)), "{page}");
}

#[tokio::test]
async fn without_just_in_time_provisioning_an_unknown_identity_is_refused() {
    let fed = federation(false, false, true).await;
    let world = &fed.world;
    let (_, challenge) = pkce();
    let start = authorization_url(world, "web", "openid", &challenge, &[]);
    let (status, page) = drive(&browser(), &start).await.expect_err("the login must be refused");
    assert_eq!(status, 403);
    assert!(page.contains(&zenoauth_server::http::pages::escape(PROVISIONING_DISABLED)), "{page}");
    let email = Email::parse(BOB).unwrap();
    assert!(world.stores.users.find_by_email(world.organization.id, &email).await.unwrap().is_none());
}

#[tokio::test]
async fn a_locked_account_is_refused_through_the_upstream_too() {
    use zenoauth_domain::security::lockout::{account_key, LockoutPolicy, LoginThrottle};
    let fed = federation(true, false, true).await;
    let world = &fed.world;
    let sign_in = || async {
        let (_, challenge) = pkce();
        let start = authorization_url(world, "web", "openid", &challenge, &[]);
        drive(&browser(), &start).await
    };
    sign_in().await.unwrap_or_else(|(status, page)| panic!("the first login creates bob: {status}: {page}"));

    // Someone guesses acme bob's password until the account locks.
    let organization = world.organization.id;
    let throttle = LoginThrottle::new(organization, LockoutPolicy::default(), BOB, None);
    let attempts = world.stores.login_attempts.as_ref();
    while throttle.record_failure(attempts, world.clock.now()).await.unwrap().newly_locked.is_empty() {}

    // The lock holds for the upstream login as for a password.
    let (status, page) = sign_in().await.expect_err("a locked account must be refused");
    assert_eq!(status, 403);
    assert!(page.contains(&zenoauth_server::http::pages::escape(zenoauth_server::http::oidc::federation::LOCKED)));
    let events =
        crate::security_support::wait_for_audit(&world.stores, &world.organization, &["federation.login_failed"]).await;
    assert!(events.iter().any(|event| event.data["reason"] == "locked"), "{events:?}");

    // An administrator's unlock (it clears the account's counter) lets bob in again.
    world.stores.login_attempts.clear(organization, &account_key(BOB)).await.unwrap();
    sign_in().await.unwrap_or_else(|(status, page)| panic!("unlocked: {status}: {page}"));
}

#[tokio::test]
async fn an_unverified_upstream_email_is_never_linked_automatically() {
    let fed = federation(true, true, false).await;
    let world = &fed.world;
    // acme already has a bob with this email.
    let now = world.clock.now();
    let existing = User {
        id: fed.ids.next(),
        organization_id: world.organization.id,
        email: Email::parse(BOB).unwrap(),
        email_verified: true,
        password_hash: None,
        profile: json!({}),
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    world.stores.users.create(&existing).await.unwrap();
    let (_, challenge) = pkce();
    let start = authorization_url(world, "web", "openid", &challenge, &[]);
    let (status, page) = drive(&browser(), &start).await.expect_err("the login must not go through");
    // Not linked: the user is asked to prove the account's password first
    // (crate::federation_linking covers that proof).
    assert_eq!(status, 200);
    assert!(page.contains(zenoauth_server::http::oidc::federation_link::LINK_TITLE), "{page}");
    let links = world.stores.federation.identities_of_user(world.organization.id, existing.id).await.unwrap();
    assert!(links.is_empty(), "no automatic link without a verified upstream email");
}

#[tokio::test]
async fn an_email_from_another_claim_is_never_verified() {
    // bob's upstream email is verified, but the provider reads the email from
    // `preferred_username`, which `email_verified` does not describe.
    let mut fed = federation(true, true, true).await;
    let world = &fed.world;
    let email = Email::parse(BOB).unwrap();
    let mut bob = world.stores.users.find_by_email(fed.corp.id, &email).await.unwrap().unwrap();
    bob.profile["preferred_username"] = json!(BOB);
    world.stores.users.update(&bob).await.unwrap();
    fed.provider.email_claim = "preferred_username".to_owned();
    world.stores.federation.update_provider(&fed.provider).await.unwrap();
    let now = world.clock.now();
    let existing = User {
        id: fed.ids.next(),
        organization_id: world.organization.id,
        email: email.clone(),
        email_verified: true,
        password_hash: None,
        profile: json!({}),
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    world.stores.users.create(&existing).await.unwrap();
    let (_, challenge) = pkce();
    let start = authorization_url(world, "web", "openid", &challenge, &[]);
    let (status, page) = drive(&browser(), &start).await.expect_err("the login must not go through");
    assert_eq!(status, 200);
    assert!(page.contains(zenoauth_server::http::oidc::federation_link::LINK_TITLE), "{page}");
    let links = world.stores.federation.identities_of_user(world.organization.id, existing.id).await.unwrap();
    assert!(links.is_empty(), "no automatic link on an email the upstream did not verify");
}

#[tokio::test]
async fn identity_providers_are_managed_through_the_admin_api() {
    use zenoauth_domain::ports::FederationCrypto as _;

    let world = crate::admin_support::AdminWorld::new(MemoryDatabase::new().stores()).await;
    let api = world.platform().await;
    let acme = world.organization("acme").await;
    let base = format!("/organizations/{}/identity-providers", acme.id);
    let body = json!({"name": "Corp SSO", "issuer": "https://login.corp.example/realms/staff",
        "client_id": "zenoauth", "client_secret": "upstream-s3cret",
        "claim_mapping": {"groups_claim": "groups", "roles": {"engineering": "developer"}}});
    let created = api.post(&base, body).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["has_client_secret"], true);
    assert_eq!(created.body["scopes"], json!(["openid", "profile", "email"]));
    assert_eq!(created.body["jit_provisioning"], true);
    assert_eq!(created.body["link_by_verified_email"], false);
    assert!(!created.body.to_string().contains("upstream-s3cret"), "the secret is never shown");
    let id: Uuid = created.id().parse().unwrap();

    // Stored sealed under the key-encryption key, bound to this provider.
    let stored = world.stores.federation.find_provider(acme.id, id).await.unwrap().unwrap();
    let sealed = stored.encrypted_client_secret.clone().unwrap();
    assert!(!sealed.windows(6).any(|window| window == b"s3cret"));
    let crypto = &world.services.federation_crypto;
    assert_eq!(crypto.open_client_secret(acme.id, id, &sealed).unwrap(), "upstream-s3cret");

    api.post(&base, json!({"name": "Corp SSO", "issuer": "https://other.example", "client_id": "x"}))
        .await
        .assert_problem(409, "conflict");
    api.post(&base, json!({"name": "Bad", "issuer": "not a url", "client_id": "x"}))
        .await
        .assert_problem(400, "validation");
    api.post(&base, json!({"name": "Bad", "issuer": "https://x.example", "client_id": "x", "scopes": ["email"]}))
        .await
        .assert_problem(400, "validation");

    let path = format!("{base}/{id}");
    let read = api.get(&path).await;
    assert_eq!(read.status, 200);
    let updated = api.patch(&path, json!({"enabled": false, "client_secret": null}), &read.etag()).await;
    assert_eq!(updated.status, 200, "{updated:?}");
    assert_eq!(updated.body["enabled"], false);
    assert_eq!(updated.body["has_client_secret"], false);
    api.patch(&path, json!({"enabled": true}), &read.etag()).await.assert_problem(412, "precondition-failed");
    let listed = api.get(&base).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(api.delete(&path).await.status, 204);
    assert_eq!(api.delete(&path).await.status, 204, "idempotent");
    api.get(&path).await.assert_problem(404, "not-found");
}
