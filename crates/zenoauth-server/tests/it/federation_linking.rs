//! Federation linking (issue 6): proving ownership of an existing account
//! with its password before an upstream identity is connected to it, users
//! seeing and removing their linked identities, the admin endpoints for
//! links, and the per-organization `password_login` setting. The upstream
//! is organization "corp-idp" of the same server (crate::federation_flow).

use std::sync::Arc;

use reqwest::cookie::{CookieStore as _, Jar};
use serde_json::json;
use zenoauth_crypto::{Argon2Hasher, Argon2Params, OsRandom};
use zenoauth_domain::federation::FederatedIdentity;
use zenoauth_domain::model::User;
use zenoauth_domain::ports::{Clock, PasswordHasher, Stores};
use zenoauth_domain::values::{Email, Password};
use zenoauth_server::http::account::identities::{LAST_SIGN_IN_METHOD, NOT_SIGNED_IN, REMOVED};
use zenoauth_server::http::oidc::federation::{ACCOUNT_EXISTS, STATE_MISMATCH};
use zenoauth_server::http::oidc::federation_link::{LINK_EXPIRED, LINK_FAILED, LINK_TITLE, PASSWORD_LOGIN_DISABLED};
use zenoauth_server::http::pages::escape;
use zenoauth_store_memory::MemoryDatabase;

use crate::federation_flow::{
    claims_of, drive, federation, federation_over, issuer_of_page, start_link, Federation, BOB, BOB_PASSWORD,
};
use crate::oidc_support::{
    authorization_url, exchange, hidden_field, json as json_body, location, on_both_databases, pkce, query_param,
    REDIRECT,
};
use crate::security_support::{audit_events, wait_for_audit};

/// The password of acme's own (local) bob, not the upstream one.
const LOCAL_PASSWORD: &str = "local password of bob at acme";

/// A cookie-jar browser whose jar the test can read and write.
fn browser_with_jar() -> (reqwest::Client, Arc<Jar>) {
    zenoauth_server::install_tls_provider();
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap();
    (client, jar)
}

/// The value of cookie `name` the jar would send to `url`.
fn cookie_value(jar: &Jar, url: &str, name: &str) -> Option<String> {
    let header = jar.cookies(&url.parse().unwrap())?;
    let text = header.to_str().unwrap().to_owned();
    text.split("; ").find_map(|pair| pair.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

/// acme trusts corp-idp without automatic linking; acme already has a bob
/// (same email as the upstream bob) with a password, or without one.
async fn linkable(stores: Stores, local_password: Option<&str>) -> (Federation, User) {
    let fed = federation_over(stores, true, false, true).await;
    let world = &fed.world;
    let random = Arc::new(OsRandom::new());
    let cheap = Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 };
    let hasher = Argon2Hasher::new(cheap, random).unwrap();
    let password_hash = match local_password {
        Some(password) => Some(hasher.hash(&Password::parse(password).unwrap()).await.unwrap()),
        None => None,
    };
    let now = world.clock.now();
    let local = User {
        id: fed.ids.next(),
        organization_id: world.organization.id,
        email: Email::parse(BOB).unwrap(),
        email_verified: true,
        password_hash,
        profile: json!({}),
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    world.stores.users.create(&local).await.unwrap();
    (fed, local)
}

/// Starts an authorization request at acme and goes through corp-idp; ends
/// at acme's offer to connect the account (the link page).
async fn reach_link_page(fed: &Federation, browser: &reqwest::Client) -> (String, String) {
    let (verifier, challenge) = pkce();
    let start = authorization_url(&fed.world, "web", "openid profile email", &challenge, &[]);
    let (status, page) = drive(browser, &start).await.expect_err("the link page, not a redirect");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(LINK_TITLE), "{page}");
    (page, verifier)
}

/// Posts the password proof from the link page in `browser`.
async fn post_proof(fed: &Federation, browser: &reqwest::Client, page: &str, password: &str) -> reqwest::Response {
    let csrf = hidden_field(page, "csrf_token").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("password", password)];
    browser.post(fed.world.url("/federation/link")).form(&form).send().await.unwrap()
}

/// Follows redirects and consent pages to the application's redirect.
async fn finish(browser: &reqwest::Client, mut response: reqwest::Response) -> String {
    for _ in 0..8 {
        if response.status().is_redirection() {
            let target = location(&response);
            if target.starts_with(REDIRECT) {
                return target;
            }
            response = browser.get(&target).send().await.unwrap();
            continue;
        }
        let status = response.status().as_u16();
        let issuer = issuer_of_page(response.url());
        let page = response.text().await.unwrap();
        assert!(status == 200 && page.contains("name=\"decision\""), "{status}: {page}");
        let csrf = hidden_field(&page, "csrf_token").unwrap();
        let authorize = hidden_field(&page, "authorize").unwrap();
        let form = [("csrf_token", csrf), ("authorize", authorize), ("decision", "allow".to_owned())];
        response = browser.post(format!("{issuer}/consent")).form(&form).send().await.unwrap();
    }
    panic!("no end after eight steps");
}

async fn links_of(fed: &Federation, user: &User) -> Vec<FederatedIdentity> {
    fed.world.stores.federation.identities_of_user(fed.world.organization.id, user.id).await.unwrap()
}

// The whole proof and the admin endpoints over both SQL stores (the other
// scenarios use memory).
on_both_databases!(
    a_password_proof_links_the_identity_and_later_logins_go_straight_in,
    admins_list_and_remove_links_within_their_organization_only,
);

async fn a_password_proof_links_the_identity_and_later_logins_go_straight_in(stores: Stores) {
    let (fed, local) = linkable(stores, Some(LOCAL_PASSWORD)).await;
    let world = &fed.world;
    let browser = crate::oidc_support::browser();
    let (page, verifier) = reach_link_page(&fed, &browser).await;
    assert!(page.contains(&escape(BOB)) && page.contains("readonly"), "the email is shown, fixed: {page}");
    assert!(!page.contains("name=\"email\""), "no email is posted: the pending link names the account");
    assert!(links_of(&fed, &local).await.is_empty(), "nothing is linked before the proof");

    let response = post_proof(&fed, &browser, &page, LOCAL_PASSWORD).await;
    let redirect = finish(&browser, response).await;
    assert_eq!(query_param(&redirect, "state").as_deref(), Some("state-123"), "the original request continues");
    let code = query_param(&redirect, "code").unwrap();
    let tokens = json_body(exchange(world, &code, &verifier).await).await;
    let id_token = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["sub"], local.id.to_string(), "the existing account, not a new one");
    assert_eq!(id_token["amr"], json!(["pwd"]));

    let links = links_of(&fed, &local).await;
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].provider_id, fed.provider.id);
    let corp_bob = world.stores.users.find_by_email(fed.corp.id, &Email::parse(BOB).unwrap()).await.unwrap().unwrap();
    assert_eq!(links[0].subject, corp_bob.id.to_string());
    let events = wait_for_audit(&world.stores, &world.organization, &["federation.identity_linked"]).await;
    let linked = events.iter().find(|event| event.event_type == "federation.identity_linked").unwrap();
    assert_eq!(linked.data["method"], "password_proof");
    assert_eq!(linked.data["provider_id"], fed.provider.id.to_string());
    assert_eq!(linked.subject.as_deref(), Some(local.id.to_string().as_str()));
    // The claim mapping applies from the linking login on.
    let local_now = world.stores.users.get(world.organization.id, local.id).await.unwrap();
    assert_eq!(local_now.profile["display_name"], "Bob Builder");

    // A later federated login (new browser) goes straight in, as the same user.
    let (verifier, challenge) = pkce();
    let again = authorization_url(world, "web", "openid profile email", &challenge, &[]);
    let redirect = drive(&crate::oidc_support::browser(), &again).await.unwrap_or_else(|(s, p)| panic!("{s}: {p}"));
    let code = query_param(&redirect, "code").unwrap();
    let tokens = json_body(exchange(world, &code, &verifier).await).await;
    let id_token = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["sub"], local.id.to_string());
    assert_eq!(id_token["amr"], json!(["fed"]));
    assert_eq!(links_of(&fed, &local).await.len(), 1);
}

#[tokio::test]
async fn a_wrong_password_links_nothing_and_counts_as_a_failed_login() {
    let (fed, local) = linkable(MemoryDatabase::new().stores(), Some(LOCAL_PASSWORD)).await;
    let world = &fed.world;
    let browser = crate::oidc_support::browser();
    let (page, _) = reach_link_page(&fed, &browser).await;
    let response = post_proof(&fed, &browser, &page, "not the password of bob").await;
    assert_eq!(response.status(), 401);
    let retry_page = response.text().await.unwrap();
    assert!(retry_page.contains(&escape(LINK_FAILED)), "{retry_page}");
    assert!(links_of(&fed, &local).await.is_empty());
    let events = wait_for_audit(&world.stores, &world.organization, &["login.failed"]).await;
    let failed = events.iter().find(|event| event.event_type == "login.failed").unwrap();
    assert_eq!(failed.data["reason"], "wrong_password");
    assert_eq!(failed.subject.as_deref(), Some(local.id.to_string().as_str()));
    assert!(!events.iter().any(|event| event.event_type == "federation.identity_linked"));

    // The form shown again works with the right password.
    let response = post_proof(&fed, &browser, &retry_page, LOCAL_PASSWORD).await;
    finish(&browser, response).await;
    assert_eq!(links_of(&fed, &local).await.len(), 1);
}

#[tokio::test]
async fn a_pending_link_is_single_use_expires_and_stays_in_its_browser_and_organization() {
    let (fed, local) = linkable(MemoryDatabase::new().stores(), Some(LOCAL_PASSWORD)).await;
    let world = &fed.world;
    let link_url = world.url("/federation/link");

    // Replay: the token of a spent attempt is refused, even with the right password.
    let (browser, jar) = browser_with_jar();
    let (page, _) = reach_link_page(&fed, &browser).await;
    let first = cookie_value(&jar, &link_url, "zenoauth_link_acme").expect("the pending link's cookie");
    assert!(first.starts_with("zfl_"));
    let response = post_proof(&fed, &browser, &page, "wrong password").await;
    assert_eq!(response.status(), 401);
    let second = cookie_value(&jar, &link_url, "zenoauth_link_acme").unwrap();
    assert_ne!(first, second, "every attempt uses its token up; a retry gets a new one");
    jar.add_cookie_str(&format!("zenoauth_link_acme={first}; Path=/"), &link_url.parse().unwrap());
    let response = post_proof(&fed, &browser, &page, LOCAL_PASSWORD).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains(&escape(LINK_EXPIRED)));
    assert!(links_of(&fed, &local).await.is_empty(), "a replayed token links nothing");

    // Another organization does not know acme's pending link.
    let beta = world.add_organization("beta").await;
    let (browser, jar) = browser_with_jar();
    let (page, _) = reach_link_page(&fed, &browser).await;
    let token = cookie_value(&jar, &link_url, "zenoauth_link_acme").unwrap();
    let beta_link = world.issuer_of("beta") + "/federation/link";
    jar.add_cookie_str(&format!("zenoauth_link_beta={token}; Path=/"), &beta_link.parse().unwrap());
    let csrf = hidden_field(&page, "csrf_token").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("password", LOCAL_PASSWORD)];
    let response = browser.post(&beta_link).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains(&escape(LINK_EXPIRED)));
    assert!(audit_events(&world.stores, &beta).await.iter().all(|event| event.event_type != "login.succeeded"));
    assert!(links_of(&fed, &local).await.is_empty());

    // Expired after ten minutes.
    world.clock.advance(time::Duration::minutes(11));
    let response = post_proof(&fed, &browser, &page, LOCAL_PASSWORD).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains(&escape(LINK_EXPIRED)));
    assert!(links_of(&fed, &local).await.is_empty());

    // Without the pending link's cookie (or without CSRF) nothing happens.
    let response = crate::oidc_support::browser().post(&link_url).form(&[("password", LOCAL_PASSWORD)]).send().await;
    assert_eq!(response.unwrap().status(), 403, "CSRF first");
    assert!(links_of(&fed, &local).await.is_empty());
}

/// Follows the browser until acme's federation callback; returns its URL
/// without opening it.
async fn callback_url_of_upstream_login(fed: &Federation, browser: &reqwest::Client) -> String {
    let (_, challenge) = pkce();
    let start = authorization_url(&fed.world, "web", "openid", &challenge, &[]);
    let mut response = browser.get(&start).send().await.unwrap();
    for _ in 0..10 {
        if response.status().is_redirection() {
            let target = location(&response);
            if target.contains("/o/acme/federation/callback") {
                return target;
            }
            response = browser.get(&target).send().await.unwrap();
            continue;
        }
        let issuer = issuer_of_page(response.url());
        let page = response.text().await.unwrap();
        let csrf = hidden_field(&page, "csrf_token").unwrap_or_default();
        let mut form = vec![("csrf_token", csrf)];
        if let Some(authorize) = hidden_field(&page, "authorize") {
            form.push(("authorize", authorize));
        }
        response = if issuer.ends_with("/o/acme") {
            browser.get(format!("{issuer}/{}", start_link(&page).unwrap())).send().await.unwrap()
        } else if page.contains("name=\"decision\"") {
            form.push(("decision", "allow".to_owned()));
            browser.post(format!("{issuer}/consent")).form(&form).send().await.unwrap()
        } else {
            form.push(("email", BOB.to_owned()));
            form.push(("password", BOB_PASSWORD.to_owned()));
            browser.post(format!("{issuer}/login")).form(&form).send().await.unwrap()
        };
    }
    panic!("never reached the callback");
}

#[tokio::test]
async fn the_proof_is_offered_only_to_the_browser_that_started_the_login() {
    let (fed, local) = linkable(MemoryDatabase::new().stores(), Some(LOCAL_PASSWORD)).await;
    // The attacker's browser gets a callback URL and hands it to a victim.
    let callback = callback_url_of_upstream_login(&fed, &crate::oidc_support::browser()).await;
    let response = crate::oidc_support::browser().get(&callback).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    assert!(page.contains(&escape(STATE_MISMATCH)) && !page.contains("name=\"password\""), "{page}");
    assert!(links_of(&fed, &local).await.is_empty());
}

#[tokio::test]
async fn a_callback_in_another_browser_is_refused_and_spends_nothing() {
    // No local account: this login would create bob just in time.
    let fed = federation(true, false, true).await;
    let starter = crate::oidc_support::browser();
    let callback = callback_url_of_upstream_login(&fed, &starter).await;
    // Login CSRF (RFC 6749 §10.12): the attacker's callback URL, opened by a
    // victim's browser, neither signs the victim in nor creates anyone …
    let response = crate::oidc_support::browser().get(&callback).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains(&escape(STATE_MISMATCH)));
    let world = &fed.world;
    let bob = Email::parse(BOB).unwrap();
    assert!(world.stores.users.find_by_email(world.organization.id, &bob).await.unwrap().is_none());
    // … and the login stays usable by the browser that started it.
    let response = starter.get(&callback).send().await.unwrap();
    assert!(response.status().is_redirection() || response.status().is_success(), "{}", response.status());
    assert!(world.stores.users.find_by_email(world.organization.id, &bob).await.unwrap().is_some());
}

#[tokio::test]
async fn users_see_and_remove_their_linked_identities_but_not_the_last_way_in() {
    // Automatic linking (verified upstream email) to a local bob without a password.
    let fed = federation_over(MemoryDatabase::new().stores(), true, true, true).await;
    let world = &fed.world;
    let now = world.clock.now();
    let local = User {
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
    world.stores.users.create(&local).await.unwrap();
    let identities_url = world.url("/account/identities");
    let response = crate::oidc_support::browser().get(&identities_url).send().await.unwrap();
    assert_eq!(response.status(), 401, "signed in first");
    assert!(response.text().await.unwrap().contains(&escape(NOT_SIGNED_IN)));

    let browser = crate::oidc_support::browser();
    let (_, challenge) = pkce();
    let start = authorization_url(world, "web", "openid", &challenge, &[]);
    drive(&browser, &start).await.unwrap_or_else(|(status, page)| panic!("{status}: {page}"));
    let links = links_of(&fed, &local).await;
    assert_eq!(links.len(), 1);
    let subject = links[0].subject.clone();

    let page = browser.get(&identities_url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<td>Corp</td>") && page.contains(&escape(&subject)), "{page}");
    assert!(page.contains(&links[0].created_at.date().to_string()), "the linked date: {page}");
    let csrf = hidden_field(&page, "csrf_token").unwrap();
    let provider_id = fed.provider.id.to_string();
    let form = [("csrf_token", csrf.as_str()), ("provider_id", provider_id.as_str()), ("subject", subject.as_str())];

    // Without CSRF: refused.
    let response = browser.post(&identities_url).form(&form[1..]).send().await.unwrap();
    assert_eq!(response.status(), 403);
    // The only way in of a user without a password: refused, clearly.
    let response = browser.post(&identities_url).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 409);
    assert!(response.text().await.unwrap().contains(&escape(LAST_SIGN_IN_METHOD)));
    assert_eq!(links_of(&fed, &local).await.len(), 1);
    // Another user's or an unknown link: not found.
    let unknown = [("csrf_token", csrf.as_str()), ("provider_id", provider_id.as_str()), ("subject", "someone-else")];
    assert_eq!(browser.post(&identities_url).form(&unknown).send().await.unwrap().status(), 404);

    // With a password set, the link can go.
    let mut with_password = world.stores.users.get(world.organization.id, local.id).await.unwrap();
    let random = Arc::new(OsRandom::new());
    let hasher = Argon2Hasher::new(Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 }, random).unwrap();
    with_password.password_hash = Some(hasher.hash(&Password::parse(LOCAL_PASSWORD).unwrap()).await.unwrap());
    world.stores.users.update(&with_password).await.unwrap();
    let response = browser.post(&identities_url).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(page.contains(&escape(REMOVED)) && !page.contains("<td>Corp</td>"), "{page}");
    assert!(links_of(&fed, &local).await.is_empty());
    let events = wait_for_audit(&world.stores, &world.organization, &["federation.identity_unlinked"]).await;
    let unlinked = events.iter().find(|event| event.event_type == "federation.identity_unlinked").unwrap();
    assert_eq!(unlinked.data["before"]["subject"], subject);
    assert_eq!(unlinked.actor.as_deref(), Some(local.id.to_string().as_str()));
}

#[tokio::test]
async fn a_password_counts_as_a_way_in_only_with_password_login_on_and_a_passkey_always_does() {
    let fed = federation_over(MemoryDatabase::new().stores(), true, true, true).await;
    let world = &fed.world;
    let random = Arc::new(OsRandom::new());
    let hasher = Argon2Hasher::new(Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 }, random).unwrap();
    let now = world.clock.now();
    let local = User {
        id: fed.ids.next(),
        organization_id: world.organization.id,
        email: Email::parse(BOB).unwrap(),
        email_verified: true,
        password_hash: Some(hasher.hash(&Password::parse(LOCAL_PASSWORD).unwrap()).await.unwrap()),
        profile: json!({}),
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    world.stores.users.create(&local).await.unwrap();
    let mut organization = world.stores.organizations.get(world.organization.id).await.unwrap();
    organization.settings = json!({"password_login": false});
    world.stores.organizations.update(&organization).await.unwrap();

    let browser = crate::oidc_support::browser();
    let (_, challenge) = pkce();
    let start = authorization_url(world, "web", "openid", &challenge, &[]);
    drive(&browser, &start).await.unwrap_or_else(|(status, page)| panic!("{status}: {page}"));
    let links = links_of(&fed, &local).await;
    assert_eq!(links.len(), 1);
    let identities_url = world.url("/account/identities");
    let page = browser.get(&identities_url).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&page, "csrf_token").unwrap();
    let provider_id = fed.provider.id.to_string();
    let form = [("csrf_token", csrf.as_str()), ("provider_id", provider_id.as_str()), ("subject", &links[0].subject)];

    // The password cannot be used while password login is off.
    let response = browser.post(&identities_url).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 409);
    assert!(response.text().await.unwrap().contains(&escape(LAST_SIGN_IN_METHOD)));
    assert_eq!(links_of(&fed, &local).await.len(), 1);

    // A passkey is a way in.
    let passkey = zenoauth_domain::mfa::passkeys::PasskeyCredential {
        id: fed.ids.next(),
        organization_id: world.organization.id,
        user_id: local.id,
        credential_id: vec![7; 16],
        name: zenoauth_domain::mfa::passkeys::PasskeyName::parse("Laptop").unwrap(),
        passkey: json!({}),
        backup_eligible: true,
        backup_state: false,
        sign_count: 0,
        created_at: now,
        last_used_at: None,
    };
    world.stores.passkeys.create_credential(&passkey).await.unwrap();
    let response = browser.post(&identities_url).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(links_of(&fed, &local).await.is_empty());
}

/// Percent-encodes every byte but RFC 3986 unreserved characters.
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

async fn admins_list_and_remove_links_within_their_organization_only(stores: Stores) {
    let world = crate::admin_support::AdminWorld::new(stores).await;
    let api = world.platform().await;
    let acme = world.organization("acme").await;
    let (beta, beta_api) = world.org_admin("beta").await;
    let provider_body = json!({"name": "Corp SSO", "issuer": "https://login.corp.example/realms/staff",
        "client_id": "zenoauth"});
    let acme_provider =
        api.post(&format!("/organizations/{}/identity-providers", acme.id), provider_body.clone()).await;
    assert_eq!(acme_provider.status, 201, "{acme_provider:?}");
    let acme_provider: uuid::Uuid = acme_provider.id().parse().unwrap();
    let beta_provider = api.post(&format!("/organizations/{}/identity-providers", beta.id), provider_body).await;
    let beta_provider: uuid::Uuid = beta_provider.id().parse().unwrap();
    let user = api.post(&format!("/organizations/{}/users", acme.id), json!({"email": "carol@acme.example"})).await;
    assert_eq!(user.status, 201, "{user:?}");
    let user_id = user.id();
    let subject = "tenant/1 carol?x=%2F#é";
    let now = world.clock.now();
    let link = FederatedIdentity {
        organization_id: acme.id,
        provider_id: acme_provider,
        subject: subject.to_owned(),
        user_id: user_id.parse::<uuid::Uuid>().unwrap().into(),
        created_at: now,
    };
    world.stores.federation.link_identity(&link).await.unwrap();

    let base = format!("/organizations/{}/users/{user_id}/identities", acme.id);
    let listed = api.get(&base).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["provider_id"], acme_provider.to_string());
    assert_eq!(items[0]["provider_name"], "Corp SSO");
    assert_eq!(items[0]["subject"], subject);
    assert!(items[0]["created_at"].as_str().unwrap().ends_with('Z'));

    // Another organization's admin sees no such user; ids of nothing are 404.
    beta_api.get(&base).await.assert_problem(404, "not-found");
    let one = format!("{base}/{acme_provider}/{}", path_segment(subject));
    beta_api.delete(&one).await.assert_problem(404, "not-found");
    api.get(&format!("/organizations/{}/users/not-a-uuid/identities", acme.id)).await.assert_problem(404, "not-found");
    api.get(&format!("/organizations/{}/users/{user_id}/identities", beta.id)).await.assert_problem(404, "not-found");
    api.delete(&format!("{base}/not-a-uuid/{}", path_segment(subject))).await.assert_problem(404, "not-found");
    api.delete(&format!("{base}/{beta_provider}/{}", path_segment(subject))).await.assert_problem(404, "not-found");
    // A subject that is only a prefix (the encoded `/` stays in the segment) removes nothing.
    assert_eq!(api.delete(&format!("{base}/{acme_provider}/tenant")).await.status, 204);
    assert_eq!(api.get(&base).await.body["items"].as_array().unwrap().len(), 1);

    let removed = api.delete(&one).await;
    assert_eq!(removed.status, 204, "{removed:?}");
    assert!(api.get(&base).await.body["items"].as_array().unwrap().is_empty());
    assert_eq!(api.delete(&one).await.status, 204, "idempotent");
    let events = wait_for_audit(&world.stores, &acme, &["federation.identity_unlinked"]).await;
    let unlinked: Vec<_> = events.iter().filter(|event| event.event_type == "federation.identity_unlinked").collect();
    assert_eq!(unlinked.len(), 1, "one removal, one event");
    assert_eq!(unlinked[0].data["before"]["subject"], subject);
    assert_eq!(unlinked[0].data["provider_id"], acme_provider.to_string());
    assert_eq!(unlinked[0].subject.as_deref(), Some(user_id.as_str()));
    // The same schema as the user's own removal (the domain's), the admin as actor.
    assert_eq!(unlinked[0].data["before"]["created_at"], json!(now.unix_timestamp()));
    assert!(unlinked[0].actor.as_deref().is_some_and(|actor| actor != user_id), "{:?}", unlinked[0].actor);
}

#[tokio::test]
async fn with_password_login_off_the_login_page_shows_only_providers_and_refuses_passwords() {
    let fed = federation_over(MemoryDatabase::new().stores(), true, false, true).await;
    let world = &fed.world;
    let mut organization = world.organization.clone();
    let read_at = organization.updated_at;
    organization.settings = json!({"password_login": false});
    organization.updated_at = read_at + time::Duration::seconds(1);
    world.stores.organizations.update_if_unchanged(&organization, read_at).await.unwrap();

    let browser = crate::oidc_support::browser();
    let (_, challenge) = pkce();
    let start = authorization_url(world, "web", "openid", &challenge, &[]);
    let page = browser.get(&start).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Sign in with Corp"), "{page}");
    assert!(!page.contains("name=\"password\""), "no password form: {page}");
    let authorize = hidden_field(&page, "authorize");
    assert!(authorize.is_none(), "no form at all, only the provider buttons");

    // Posting a password anyway is refused, even with the right one.
    let login_page = browser.get(world.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(!login_page.contains("name=\"password\""));
    let csrf = crate::oidc_support::browser();
    let csrf_page = csrf.get(world.url("/account/forgot")).send().await.unwrap().text().await.unwrap();
    let token = hidden_field(&csrf_page, "csrf_token").unwrap();
    let form = [
        ("csrf_token", token.as_str()),
        ("email", crate::oidc_support::EMAIL),
        ("password", crate::oidc_support::PASSWORD),
    ];
    let response = csrf.post(world.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .all(|cookie| { !cookie.to_str().unwrap().starts_with("zenoauth_session_") }));
    assert!(response.text().await.unwrap().contains(&escape(PASSWORD_LOGIN_DISABLED)));

    // The providers still sign in.
    drive(&browser, &start).await.unwrap_or_else(|(status, page)| panic!("{status}: {page}"));
}

#[tokio::test]
async fn the_password_login_setting_is_checked_and_never_off_for_system() {
    let world = crate::admin_support::AdminWorld::new(MemoryDatabase::new().stores()).await;
    let api = world.platform().await;
    let acme = world.organization("acme").await;
    for (organization, settings, status) in [
        (&world.system, json!({"password_login": false}), 400),
        (&acme, json!({"password_login": "no"}), 400),
        (&acme, json!({"password_login": false}), 200),
        (&world.system, json!({"password_login": true}), 200),
    ] {
        let path = format!("/organizations/{}", organization.id);
        let read = api.get(&path).await;
        let reply = api.patch(&path, json!({"settings": settings}), &read.etag()).await;
        assert_eq!(reply.status, status, "{settings} on {}: {reply:?}", organization.slug.as_str());
        if status == 400 {
            reply.assert_problem(400, "validation");
        }
    }
    let stored = world.stores.organizations.get(acme.id).await.unwrap();
    assert_eq!(stored.settings["password_login"], false);
}

/// The TOTP code of `secret` (base32) at the world's clock.
fn totp_code(fed: &Federation, secret: &str) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    let totp = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 0, 30, bytes, None, String::new()).unwrap();
    totp.generate(u64::try_from(fed.world.clock.now().unix_timestamp()).unwrap())
}

#[tokio::test]
async fn with_a_required_second_factor_the_link_waits_for_it() {
    let (fed, local) = linkable(MemoryDatabase::new().stores(), Some(LOCAL_PASSWORD)).await;
    let world = &fed.world;
    let mut organization = world.stores.organizations.get(world.organization.id).await.unwrap();
    organization.settings = json!({"mfa_policy": "required"});
    world.stores.organizations.update(&organization).await.unwrap();

    let browser = crate::oidc_support::browser();
    let (page, _) = reach_link_page(&fed, &browser).await;
    let response = post_proof(&fed, &browser, &page, LOCAL_PASSWORD).await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(page.contains("requires two-step verification"), "enrolment first: {page}");
    assert!(links_of(&fed, &local).await.is_empty(), "the password alone links nothing");

    let start = page.find("<code id=\"totp-secret\">").unwrap() + "<code id=\"totp-secret\">".len();
    let secret = &page[start..start + page[start..].find("</code>").unwrap()];
    let mut form = vec![("csrf_token", hidden_field(&page, "csrf_token").unwrap())];
    if let Some(authorize) = hidden_field(&page, "authorize") {
        form.push(("authorize", authorize));
    }
    form.push(("code", totp_code(&fed, secret)));
    let confirmed = browser.post(world.url("/mfa/totp")).form(&form).send().await.unwrap();
    assert_eq!(confirmed.status(), 200, "{}", confirmed.text().await.unwrap());
    let links = links_of(&fed, &local).await;
    assert_eq!(links.len(), 1, "linked once the second factor is passed");
    assert_eq!(links[0].provider_id, fed.provider.id);
    let events = wait_for_audit(&world.stores, &world.organization, &["federation.identity_linked"]).await;
    let linked = events.iter().find(|event| event.event_type == "federation.identity_linked").unwrap();
    assert_eq!(linked.data["method"], "password_proof");
    assert_eq!(linked.data["after_second_factor"], true);
    // The claim mapping applies as on the direct path.
    let local_now = world.stores.users.get(world.organization.id, local.id).await.unwrap();
    assert_eq!(local_now.profile["display_name"], "Bob Builder");
    let roles = world.stores.roles.roles_of_user(world.organization.id, local.id).await.unwrap();
    assert!(roles.iter().any(|role| role.name.as_str() == "developer"), "{roles:?}");
}

#[tokio::test]
async fn a_provider_disabled_during_the_second_factor_links_nothing() {
    let (fed, local) = linkable(MemoryDatabase::new().stores(), Some(LOCAL_PASSWORD)).await;
    let world = &fed.world;
    let mut organization = world.stores.organizations.get(world.organization.id).await.unwrap();
    organization.settings = json!({"mfa_policy": "required"});
    world.stores.organizations.update(&organization).await.unwrap();

    let browser = crate::oidc_support::browser();
    let (page, _) = reach_link_page(&fed, &browser).await;
    let response = post_proof(&fed, &browser, &page, LOCAL_PASSWORD).await;
    let page = response.text().await.unwrap();
    assert!(page.contains("requires two-step verification"), "enrolment first: {page}");
    let mut disabled = fed.provider.clone();
    disabled.enabled = false;
    world.stores.federation.update_provider(&disabled).await.unwrap();

    let start = page.find("<code id=\"totp-secret\">").unwrap() + "<code id=\"totp-secret\">".len();
    let secret = &page[start..start + page[start..].find("</code>").unwrap()];
    let mut form = vec![("csrf_token", hidden_field(&page, "csrf_token").unwrap())];
    if let Some(authorize) = hidden_field(&page, "authorize") {
        form.push(("authorize", authorize));
    }
    form.push(("code", totp_code(&fed, secret)));
    let confirmed = browser.post(world.url("/mfa/totp")).form(&form).send().await.unwrap();
    assert_eq!(confirmed.status(), 200, "the second factor itself is passed");
    assert!(links_of(&fed, &local).await.is_empty(), "a disabled provider is never linked");
    let local_now = world.stores.users.get(world.organization.id, local.id).await.unwrap();
    assert!(local_now.profile.get("display_name").is_none(), "nor its claims mapped");
}

#[tokio::test]
async fn with_password_login_off_no_password_proof_is_offered() {
    let (fed, local) = linkable(MemoryDatabase::new().stores(), Some(LOCAL_PASSWORD)).await;
    let world = &fed.world;
    let mut organization = world.stores.organizations.get(world.organization.id).await.unwrap();
    organization.settings = json!({"password_login": false});
    world.stores.organizations.update(&organization).await.unwrap();

    let browser = crate::oidc_support::browser();
    let (_, challenge) = pkce();
    let start = authorization_url(world, "web", "openid", &challenge, &[]);
    let (status, page) = drive(&browser, &start).await.expect_err("refused");
    assert_eq!(status, 403);
    assert!(page.contains(&escape(ACCOUNT_EXISTS)) && !page.contains("name=\"password\""), "{page}");
    let csrf_page = browser.get(world.url("/account/forgot")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&csrf_page, "csrf_token").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("password", LOCAL_PASSWORD)];
    let response = browser.post(world.url("/federation/link")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains(&escape(PASSWORD_LOGIN_DISABLED)));
    assert!(links_of(&fed, &local).await.is_empty());
}
