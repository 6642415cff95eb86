//! WebAuthn passkeys against the real server (SQLite and PostgreSQL), driven
//! through the hosted pages by a cookie-jar browser and the independently
//! written software authenticator of `passkey_authenticator.rs`:
//! registration of several named passkeys, list, rename and removal; the
//! passkey as the second factor of a password login; passwordless sign-in
//! with a discoverable passkey; and what must be refused — a replayed
//! assertion, a used or expired ceremony, a wrong origin, a missing user
//! verification, another user's credential, and a credential of another
//! organization. Also: a required policy met by registering a passkey, the
//! admin API's view and reset, interoperability with
//! `webauthn-authenticator-rs`'s `SoftPasskey`, and no passkeys on an IP
//! address. The public URL is `http://localhost:{port}`: WebAuthn needs a
//! domain as relying-party ID.

use serde_json::{json, Value};
use time::Duration;
use zenoauth_domain::ports::{Clock, PasswordHasher, Stores};
use zenoauth_domain::values::{Email, Password};

use crate::oidc_support::{
    authorization_url, browser, exchange, hidden_field, json as json_body, location, on_both_databases, pkce,
    query_param, submit_consent, submit_login, World, EMAIL, PASSWORD, USER_SCOPES, WEB_SECRET,
};
use crate::passkey_authenticator::Authenticator;
use crate::security_support::wait_for_audit;

/// The page's options for `navigator.credentials` (its JSON data block).
fn options(page: &str) -> Value {
    let start = "<script type=\"application/json\" id=\"passkey-options\">";
    let from = page.find(start).unwrap_or_else(|| panic!("no passkey options in {page}")) + start.len();
    let to = page[from..].find("</script>").unwrap() + from;
    // Without JavaScript, every ceremony page says so.
    let needs_script = zenoauth_server::http::pages::escape(zenoauth_server::http::mfa::strings::PASSKEY_NEEDS_SCRIPT);
    assert!(page.contains(&format!("<noscript><p class=\"error\" role=\"alert\">{needs_script}</p></noscript>")));
    serde_json::from_str(&page[from..to]).unwrap()
}

/// The origin the pages are served from (the public URL's).
fn origin(world: &World) -> String {
    let url = url::Url::parse(&world.issuer()).unwrap();
    url.origin().ascii_serialization()
}

/// Posts `fields` (csrf_token, authorize and ceremony taken from `page`)
/// plus `extra` to `path`.
async fn post_from(
    world: &World,
    browser: &reqwest::Client,
    page: &str,
    path: &str,
    extra: &[(&str, String)],
) -> reqwest::Response {
    let mut form = vec![("csrf_token", hidden_field(page, "csrf_token").expect("a CSRF token"))];
    for name in ["authorize", "ceremony"] {
        if let Some(value) = hidden_field(page, name) {
            form.push((name, value));
        }
    }
    form.extend(extra.iter().map(|(name, value)| (*name, value.clone())));
    browser.post(world.url(path)).form(&form).send().await.unwrap()
}

async fn password_login(world: &World, browser: &reqwest::Client, email: &str, password: &str) -> String {
    let page = browser.get(world.url("/login")).send().await.unwrap().text().await.unwrap();
    let response = submit_login(world, browser, &page, email, password).await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// Registers a passkey named `name` from a signed-in `browser`; the page after.
async fn register(world: &World, browser: &reqwest::Client, authenticator: &mut Authenticator, name: &str) -> String {
    let list = browser.get(world.url("/mfa/passkeys")).send().await.unwrap().text().await.unwrap();
    let begun = post_from(world, browser, &list, "/mfa/passkeys/begin", &[("name", name.to_owned())]).await;
    assert_eq!(begun.status(), 200);
    let csp = begun.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'sha256-") && !csp.contains("unsafe-inline"), "{csp}");
    let page = begun.text().await.unwrap();
    assert!(page.contains("data-mode=\"create\""), "{page}");
    let options = options(&page);
    assert_eq!(options["publicKey"]["rp"]["id"], "localhost");
    assert_eq!(options["publicKey"]["authenticatorSelection"]["userVerification"], "required");
    assert_eq!(options["publicKey"]["authenticatorSelection"]["residentKey"], "required");
    let credential = authenticator.create(&origin(world), &options);
    let finished =
        post_from(world, browser, &page, "/mfa/passkeys/finish", &[("credential", credential.to_string())]).await;
    assert_eq!(finished.status(), 200);
    let page = finished.text().await.unwrap();
    assert!(page.contains("The passkey was added."), "{page}");
    page
}

fn claims(token: &str) -> Value {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Finishes an authorization from `response` (consent if asked): the ID token's claims.
async fn finish(world: &World, browser: &reqwest::Client, mut response: reqwest::Response, verifier: &str) -> Value {
    if response.status() == 200 {
        let page = response.text().await.unwrap();
        assert!(page.contains("name=\"decision\""), "consent expected: {page}");
        response = submit_consent(world, browser, &page, "allow").await;
    }
    let redirect = location(&response);
    let code = query_param(&redirect, "code").unwrap_or_else(|| panic!("no code in {redirect}"));
    let tokens = json_body(exchange(world, &code, verifier).await).await;
    claims(tokens["id_token"].as_str().unwrap())
}

async fn passkeys_are_registered_named_listed_and_removed(stores: Stores) {
    let world = World::on_host(stores, "localhost").await;
    let browser = browser();
    password_login(&world, &browser, EMAIL, PASSWORD).await;
    let list = browser.get(world.url("/mfa/passkeys")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("You have no passkeys yet."), "{list}");
    let mut laptop = Authenticator::new();
    laptop.synced = true;
    let first = register(&world, &browser, &mut laptop, "Laptop <synced>").await;
    // The first factor: ten recovery codes, shown once.
    assert_eq!(first.matches("class=\"recovery-code\"").count(), 10, "{first}");
    let mut key = Authenticator::new();
    world.clock.advance(Duration::seconds(5));
    let list = browser.get(world.url("/mfa/passkeys")).send().await.unwrap().text().await.unwrap();
    let begun = post_from(&world, &browser, &list, "/mfa/passkeys/begin", &[("name", "Security key".to_owned())]).await;
    let page = begun.text().await.unwrap();
    // The first passkey is excluded: an authenticator does not register twice.
    let excluded = options(&page)["publicKey"]["excludeCredentials"].clone();
    assert_eq!(excluded.as_array().map(Vec::len), Some(1), "{excluded}");
    let credential = key.create(&origin(&world), &options(&page));
    let second =
        post_from(&world, &browser, &page, "/mfa/passkeys/finish", &[("credential", credential.to_string())]).await;
    let second = second.text().await.unwrap();
    assert!(!second.contains("recovery-code"), "no new codes for a second factor");
    assert!(second.contains("Laptop &lt;synced&gt;") && second.contains("Security key"), "{second}");

    let stored = world.stores.passkeys.list_credentials(world.organization.id, world.user.id).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].name.as_str(), "Laptop <synced>");
    assert!(stored[0].backup_eligible && !stored[1].backup_eligible);
    assert!(stored.iter().all(|passkey| passkey.organization_id == world.organization.id));

    // A finished registration's ceremony is used up: posting it again is refused.
    let again =
        post_from(&world, &browser, &page, "/mfa/passkeys/finish", &[("credential", credential.to_string())]).await;
    assert_eq!(again.status(), 422);
    // An empty or oversized name is refused without starting a ceremony.
    for name in [String::new(), "x".repeat(65)] {
        let refused = post_from(&world, &browser, &list, "/mfa/passkeys/begin", &[("name", name)]).await;
        assert_eq!(refused.status(), 422);
    }

    // Rename, then remove one; the other stays.
    let id = stored[1].id.to_string();
    let renamed =
        post_from(&world, &browser, &second, "/mfa/passkeys/rename", &[("id", id.clone()), ("name", "YubiKey".into())])
            .await;
    assert_eq!(renamed.status(), 200);
    let removed = post_from(&world, &browser, &second, "/mfa/passkeys/remove", &[("id", id.clone())]).await;
    assert_eq!(removed.status(), 200);
    let page = removed.text().await.unwrap();
    assert!(page.contains("The passkey was removed.") && !page.contains("YubiKey"), "{page}");
    let missing = post_from(&world, &browser, &second, "/mfa/passkeys/remove", &[("id", id)]).await;
    assert_eq!(missing.status(), 404);
    let left = world.stores.passkeys.list_credentials(world.organization.id, world.user.id).await.unwrap();
    assert_eq!(left.iter().map(|passkey| passkey.name.as_str()).collect::<Vec<_>>(), ["Laptop <synced>"]);

    // An administrator sees the passkey (its name, no key material); a reset removes it.
    let admin = crate::admin_mfa::org_admin(&world, &world.organization).await;
    let path = format!("/organizations/{}/users/{}/mfa", world.organization.id, world.user.id);
    let reply = admin.get(&path).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let factors = reply.body["factors"].as_array().unwrap().clone();
    assert_eq!(factors.len(), 1, "{factors:?}");
    assert_eq!((factors[0]["type"].as_str(), factors[0]["name"].as_str()), (Some("webauthn"), Some("Laptop <synced>")));
    assert_eq!(factors[0]["id"], left[0].id.to_string());
    assert_eq!(reply.body["recovery_codes_remaining"], 10);
    assert!(!reply.body.to_string().contains("cred_id"), "no credential record: {}", reply.body);
    assert_eq!(admin.delete(&path).await.status, 204);
    assert!(world.stores.passkeys.list_credentials(world.organization.id, world.user.id).await.unwrap().is_empty());
    assert_eq!(
        browser.get(world.url("/mfa/passkeys")).send().await.unwrap().status(),
        401,
        "the reset ended the session"
    );

    // Not signed in: nothing to see or change.
    let stranger = crate::oidc_support::browser();
    assert_eq!(stranger.get(world.url("/mfa/passkeys")).send().await.unwrap().status(), 401);

    let events = wait_for_audit(&world.stores, &world.organization, &["mfa.enrolled", "mfa.removed"]).await;
    let enrolled: Vec<_> = events.iter().filter(|event| event.event_type == "mfa.enrolled").collect();
    assert_eq!(enrolled.len(), 2);
    assert!(enrolled.iter().all(|event| event.data["method"] == "webauthn"), "{enrolled:?}");
    let removed = events.iter().find(|event| event.event_type == "mfa.removed").unwrap();
    assert_eq!(removed.data["method"], "webauthn");
}

/// Runs a password login in a new browser with an authorization request up to
/// the passkey ceremony page of the challenge: (browser, verifier, page).
async fn challenge_ceremony(world: &World) -> (reqwest::Client, String, String) {
    let browser = browser();
    let (verifier, challenge) = pkce();
    let url = authorization_url(world, "web", USER_SCOPES, &challenge, &[]);
    let login = browser.get(&url).send().await.unwrap().text().await.unwrap();
    let page = submit_login(world, &browser, &login, EMAIL, PASSWORD).await.text().await.unwrap();
    assert!(page.contains("Use a passkey instead"), "the challenge offers the passkey: {page}");
    let begun = post_from(world, &browser, &page, "/mfa/challenge/passkey", &[]).await;
    assert_eq!(begun.status(), 200);
    (browser, verifier, begun.text().await.unwrap())
}

async fn a_passkey_answers_the_second_step(stores: Stores) {
    let world = World::on_host(stores, "localhost").await;
    let manager = browser();
    password_login(&world, &manager, EMAIL, PASSWORD).await;
    let mut key = Authenticator::new();
    register(&world, &manager, &mut key, "Security key").await;

    let (browser, verifier, page) = challenge_ceremony(&world).await;
    let request = options(&page);
    assert_eq!(request["publicKey"]["allowCredentials"].as_array().map(Vec::len), Some(1));
    assert_eq!(request["publicKey"]["userVerification"], "required");
    let assertion = key.get(&origin(&world), &request);
    let answered =
        post_from(&world, &browser, &page, "/mfa/challenge/passkey/finish", &[("credential", assertion.to_string())])
            .await;
    let claims = finish(&world, &browser, answered, &verifier).await;
    // A device-bound key with user verification, after the password.
    assert_eq!(claims["amr"], json!(["pwd", "hwk", "user", "mfa"]), "{claims}");
    assert_eq!(claims["acr"], "mfa");
    let stored = world.stores.passkeys.list_credentials(world.organization.id, world.user.id).await.unwrap();
    assert_eq!((stored[0].sign_count, stored[0].last_used_at.is_some()), (1, true), "counter updated");

    // The same assertion again (its challenge already used), in a new login: refused.
    let (replayer, _, fresh) = challenge_ceremony(&world).await;
    let form = [
        ("csrf_token", hidden_field(&fresh, "csrf_token").unwrap()),
        ("ceremony", hidden_field(&page, "ceremony").unwrap()),
        ("credential", assertion.to_string()),
    ];
    let replay = replayer.post(world.url("/mfa/challenge/passkey/finish")).form(&form).send().await.unwrap();
    assert_eq!(replay.status(), 401, "the used ceremony");
    let replay =
        post_from(&world, &replayer, &fresh, "/mfa/challenge/passkey/finish", &[("credential", assertion.to_string())])
            .await;
    assert_eq!(replay.status(), 401, "an old assertion for a new challenge");
    assert!(replay.text().await.unwrap().contains("could not be used"));

    // A wrong origin (a phishing site relaying the challenge) is refused.
    let (phished, _, page) = challenge_ceremony(&world).await;
    let relayed = key.get("http://localhost.evil.example", &options(&page));
    let refused =
        post_from(&world, &phished, &page, "/mfa/challenge/passkey/finish", &[("credential", relayed.to_string())])
            .await;
    assert_eq!(refused.status(), 401);

    // An expired ceremony is refused.
    let (late, verifier, page) = challenge_ceremony(&world).await;
    world.clock.advance(Duration::minutes(6));
    let assertion = key.get(&origin(&world), &options(&page));
    let expired =
        post_from(&world, &late, &page, "/mfa/challenge/passkey/finish", &[("credential", assertion.to_string())])
            .await;
    assert_eq!(expired.status(), 401);
    // The TOTP-or-recovery-code form is still there, and a fresh passkey ceremony works.
    let page = expired.text().await.unwrap();
    assert!(page.contains("name=\"code\"") && page.contains("Use a passkey instead"), "{page}");
    let begun = post_from(&world, &late, &page, "/mfa/challenge/passkey", &[]).await.text().await.unwrap();
    let assertion = key.get(&origin(&world), &options(&begun));
    let passed =
        post_from(&world, &late, &begun, "/mfa/challenge/passkey/finish", &[("credential", assertion.to_string())])
            .await;
    assert_eq!(finish(&world, &late, passed, &verifier).await["acr"], "mfa");

    let events = wait_for_audit(&world.stores, &world.organization, &["mfa.used", "mfa.failed"]).await;
    let used = events.iter().find(|event| event.event_type == "mfa.used").unwrap();
    assert_eq!(used.data["method"], "webauthn");
}

/// Starts a passwordless sign-in in `browser` from the login page of an
/// authorization request: (verifier, ceremony page).
async fn passwordless_ceremony(world: &World, browser: &reqwest::Client, slug: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let url = authorization_url(world, "web", USER_SCOPES, &challenge, &[]).replace("/o/acme/", &format!("/o/{slug}/"));
    let login = browser.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("Sign in with a passkey"), "{login}");
    let mut form = vec![("csrf_token", hidden_field(&login, "csrf_token").unwrap())];
    if let Some(authorize) = hidden_field(&login, "authorize") {
        form.push(("authorize", authorize));
    }
    let base = world.issuer_of(slug);
    let begun = browser.post(format!("{base}/mfa/passkey-login")).form(&form).send().await.unwrap();
    assert_eq!(begun.status(), 200);
    let page = begun.text().await.unwrap();
    let options = options(&page);
    assert!(options["publicKey"]["allowCredentials"].as_array().is_none_or(Vec::is_empty), "discoverable: {options}");
    assert_eq!(options["publicKey"]["userVerification"], "required");
    (verifier, page)
}

async fn passwordless_finish(
    world: &World,
    browser: &reqwest::Client,
    slug: &str,
    page: &str,
    credential: &Value,
) -> reqwest::Response {
    let mut form = vec![
        ("csrf_token", hidden_field(page, "csrf_token").unwrap()),
        ("ceremony", hidden_field(page, "ceremony").unwrap()),
        ("credential", credential.to_string()),
    ];
    if let Some(authorize) = hidden_field(page, "authorize") {
        form.push(("authorize", authorize));
    }
    let base = world.issuer_of(slug);
    browser.post(format!("{base}/mfa/passkey-login/finish")).form(&form).send().await.unwrap()
}

async fn passwordless_sign_in_with_a_passkey(stores: Stores) {
    let world = World::on_host(stores, "localhost").await;
    let manager = browser();
    password_login(&world, &manager, EMAIL, PASSWORD).await;
    let mut phone = Authenticator::new();
    phone.synced = true;
    register(&world, &manager, &mut phone, "Phone").await;

    // No email, no password: the passkey names its user.
    let browser = browser();
    let (verifier, page) = passwordless_ceremony(&world, &browser, "acme").await;
    let assertion = phone.get(&origin(&world), &options(&page));
    let signed_in = passwordless_finish(&world, &browser, "acme", &page, &assertion).await;
    let claims = finish(&world, &browser, signed_in, &verifier).await;
    assert_eq!(claims["sub"], world.user.id.to_string());
    assert_eq!(claims["amr"], json!(["swk", "user", "mfa"]), "{claims}");
    assert_eq!(claims["acr"], "mfa");
    // That session satisfies `acr_values=mfa` without a step-up, even silently.
    let (verifier, challenge) = pkce();
    let url = authorization_url(&world, "web", USER_SCOPES, &challenge, &[("acr_values", "mfa"), ("prompt", "none")]);
    let silent = browser.get(url).send().await.unwrap();
    let claims = finish(&world, &browser, silent, &verifier).await;
    assert_eq!(claims["acr"], "mfa");

    // Replayed: the ceremony is used up.
    let replay = passwordless_finish(&world, &browser, "acme", &page, &assertion).await;
    assert_eq!(replay.status(), 401);
    let failed = replay.text().await.unwrap();
    assert!(failed.contains("could not be used to sign in"), "{failed}");
    // Its "try again" form posts to the route, not relative to `…/finish`.
    let issuer_path = url::Url::parse(&world.issuer_of("acme")).unwrap().path().to_owned();
    let again = format!("action=\"{issuer_path}/mfa/passkey-login\"");
    assert!(failed.contains(&again), "{failed}");

    // Every refusal looks the same: wrong origin, no user verification, an
    // expired ceremony, a tampered user handle.
    let stranger = crate::oidc_support::browser();
    let (_, page) = passwordless_ceremony(&world, &stranger, "acme").await;
    let wrong_origin = phone.get("http://evil.example", &options(&page));
    let response = passwordless_finish(&world, &stranger, "acme", &page, &wrong_origin).await;
    assert_eq!(response.status(), 401);
    assert!(response.text().await.unwrap().contains("could not be used to sign in"));

    let (_, page) = passwordless_ceremony(&world, &stranger, "acme").await;
    phone.verifies_user = false;
    let unverified = phone.get(&origin(&world), &options(&page));
    phone.verifies_user = true;
    assert_eq!(passwordless_finish(&world, &stranger, "acme", &page, &unverified).await.status(), 401);

    let (_, page) = passwordless_ceremony(&world, &stranger, "acme").await;
    world.clock.advance(Duration::minutes(6));
    let late = phone.get(&origin(&world), &options(&page));
    assert_eq!(passwordless_finish(&world, &stranger, "acme", &page, &late).await.status(), 401);

    let (_, page) = passwordless_ceremony(&world, &stranger, "acme").await;
    let mut tampered = phone.get(&origin(&world), &options(&page));
    tampered["response"]["userHandle"] = json!("AAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(passwordless_finish(&world, &stranger, "acme", &page, &tampered).await.status(), 401);

    // Malformed answers: refused, not a server error.
    for junk in [json!({}), json!({"id": "x", "rawId": "x", "type": "public-key", "response": {}})] {
        let (_, page) = passwordless_ceremony(&world, &stranger, "acme").await;
        assert_eq!(passwordless_finish(&world, &stranger, "acme", &page, &junk).await.status(), 401);
    }
    let (_, page) = passwordless_ceremony(&world, &stranger, "acme").await;
    let form = [
        ("csrf_token", hidden_field(&page, "csrf_token").unwrap()),
        ("ceremony", hidden_field(&page, "ceremony").unwrap()),
        ("credential", "x".repeat(20_000)),
    ];
    let oversized = stranger.post(world.url("/mfa/passkey-login/finish")).form(&form).send().await.unwrap();
    assert!(oversized.status().is_client_error(), "{}", oversized.status());

    // An inactive user cannot sign in with their passkey.
    let mut user = world.stores.users.get(world.organization.id, world.user.id).await.unwrap();
    user.is_active = false;
    world.stores.users.update(&user).await.unwrap();
    let (_, page) = passwordless_ceremony(&world, &stranger, "acme").await;
    let assertion = phone.get(&origin(&world), &options(&page));
    assert_eq!(passwordless_finish(&world, &stranger, "acme", &page, &assertion).await.status(), 401);

    let events = wait_for_audit(&world.stores, &world.organization, &["login.succeeded", "mfa.used"]).await;
    assert!(
        events.iter().any(|event| event.event_type == "login.succeeded" && event.data["method"] == "passkey"),
        "login.succeeded with method passkey"
    );
}

async fn passkeys_belong_to_their_user_and_organization(stores: Stores) {
    let world = World::on_host(stores, "localhost").await;
    // Alice (the seeded user) and Bob, in acme, each with a passkey.
    let hasher = zenoauth_crypto::Argon2Hasher::new(
        zenoauth_crypto::Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 },
        std::sync::Arc::new(zenoauth_crypto::OsRandom::new()),
    )
    .unwrap();
    let mut bob = world.user.clone();
    bob.id = zenoauth_domain::ids::UserId::from_uuid(zenoauth_domain::ids::uuid_v7_at(
        world.clock.now(),
        &zenoauth_crypto::OsRandom::new(),
    ));
    bob.email = Email::parse("bob@example.com").unwrap();
    bob.password_hash = Some(hasher.hash(&Password::parse("bob's own long password").unwrap()).await.unwrap());
    world.stores.users.create(&bob).await.unwrap();
    let alice_browser = browser();
    password_login(&world, &alice_browser, EMAIL, PASSWORD).await;
    let mut alice_key = Authenticator::new();
    register(&world, &alice_browser, &mut alice_key, "Alice's key").await;
    let bob_browser = browser();
    password_login(&world, &bob_browser, "bob@example.com", "bob's own long password").await;
    let mut bob_key = Authenticator::new();
    register(&world, &bob_browser, &mut bob_key, "Bob's key").await;

    // Bob's key signing Alice's challenge: a valid signature, the wrong user.
    let (browser, _, page) = challenge_ceremony(&world).await;
    let challenge = options(&page)["publicKey"]["challenge"].as_str().unwrap().to_owned();
    let foreign = bob_key.sign(0, &origin(&world), &challenge, "localhost");
    let refused =
        post_from(&world, &browser, &page, "/mfa/challenge/passkey/finish", &[("credential", foreign.to_string())])
            .await;
    assert_eq!(refused.status(), 401);
    // Bob cannot rename or remove Alice's passkey.
    let alice_passkey =
        world.stores.passkeys.list_credentials(world.organization.id, world.user.id).await.unwrap()[0].id;
    let list = bob_browser.get(world.url("/mfa/passkeys")).send().await.unwrap().text().await.unwrap();
    let removal =
        post_from(&world, &bob_browser, &list, "/mfa/passkeys/remove", &[("id", alice_passkey.to_string())]).await;
    assert_eq!(removal.status(), 404);
    let rename = post_from(
        &world,
        &bob_browser,
        &list,
        "/mfa/passkeys/rename",
        &[("id", alice_passkey.to_string()), ("name", "mine".into())],
    )
    .await;
    assert_eq!(rename.status(), 404);
    assert_eq!(world.stores.passkeys.list_credentials(world.organization.id, world.user.id).await.unwrap().len(), 1);

    // Another organization on the same host (same RP ID): Alice's passkey is unknown there.
    let globex = world.add_organization("globex").await;
    world.add_app_in(&globex, "web", Some(WEB_SECRET), USER_SCOPES, json!({})).await;
    let outsider = crate::oidc_support::browser();
    let (_, page) = passwordless_ceremony(&world, &outsider, "globex").await;
    let assertion = alice_key.get(&origin(&world), &options(&page));
    let response = passwordless_finish(&world, &outsider, "globex", &page, &assertion).await;
    assert_eq!(response.status(), 401);
    // A ceremony begun in acme cannot be finished in globex either, and
    // that attempt does not use it up: acme still accepts it.
    let (verifier, page) = passwordless_ceremony(&world, &outsider, "acme").await;
    let assertion = alice_key.get(&origin(&world), &options(&page));
    assert_eq!(passwordless_finish(&world, &outsider, "globex", &page, &assertion).await.status(), 401);
    let signed_in = passwordless_finish(&world, &outsider, "acme", &page, &assertion).await;
    let claims = finish(&world, &outsider, signed_in, &verifier).await;
    assert_eq!(claims["sub"], world.user.id.to_string());
}

/// The hidden fields of the form in `html` posting to `action`.
fn form_fields(html: &str, action: &str) -> Vec<(String, String)> {
    let start = html.find(&format!("action=\"{action}\">")).unwrap_or_else(|| panic!("no form to {action}: {html}"));
    let form = &html[start..start + html[start..].find("</form>").unwrap()];
    form.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let name = rest.split('"').next().unwrap().to_owned();
            let value = hidden_field(&format!("name=\"{rest}"), &name).unwrap();
            (name, value)
        })
        .collect()
}

async fn required_policy_enrols_a_passkey_and_its_removal_leads_back_to_enrolment(stores: Stores) {
    let world = World::on_host(stores, "localhost").await;
    let mut organization = world.stores.organizations.get(world.organization.id).await.unwrap();
    organization.settings = json!({"mfa_policy": "required"});
    world.stores.organizations.update(&organization).await.unwrap();

    let browser = browser();
    let (verifier, challenge) = pkce();
    let login = browser.get(authorization_url(&world, "web", USER_SCOPES, &challenge, &[])).send().await.unwrap();
    let login = login.text().await.unwrap();
    let page = submit_login(&world, &browser, &login, EMAIL, PASSWORD).await.text().await.unwrap();
    assert!(page.contains("requires two-step verification") && page.contains("Add a passkey"), "{page}");
    // Not signed in until enrolled.
    assert_eq!(browser.get(world.url("/mfa/passkeys")).send().await.unwrap().status(), 401);
    let begun = post_from(&world, &browser, &page, "/mfa/passkeys/begin", &[("name", "Laptop".to_owned())]).await;
    let page = begun.text().await.unwrap();
    let mut key = Authenticator::new();
    let credential = key.create(&origin(&world), &options(&page));
    let enrolled =
        post_from(&world, &browser, &page, "/mfa/passkeys/finish", &[("credential", credential.to_string())]).await;
    assert_eq!(enrolled.status(), 200);
    let page = enrolled.text().await.unwrap();
    assert_eq!(page.matches("class=\"recovery-code\"").count(), 10, "{page}");
    // Continue resumes the authorization request; the registration (with user verification) was the second factor.
    let fields = form_fields(&page, "/o/acme/authorize");
    let response = browser.post(world.url("/authorize")).form(&fields).send().await.unwrap();
    let claims = finish(&world, &browser, response, &verifier).await;
    assert_eq!(claims["amr"], json!(["pwd", "hwk", "user", "mfa"]), "{claims}");
    assert_eq!(claims["acr"], "mfa");

    // Removing the last factor is allowed (as turning TOTP off is) and takes
    // the recovery codes with it: the next login leads to enrolment again.
    let list = browser.get(world.url("/mfa/passkeys")).send().await.unwrap().text().await.unwrap();
    let id = world.stores.passkeys.list_credentials(world.organization.id, world.user.id).await.unwrap()[0].id;
    let removed = post_from(&world, &browser, &list, "/mfa/passkeys/remove", &[("id", id.to_string())]).await;
    assert_eq!(removed.status(), 200);
    assert_eq!(world.stores.mfa.count_recovery_codes(world.organization.id, world.user.id).await.unwrap(), 0);
    let again = crate::oidc_support::browser();
    let page = password_login(&world, &again, EMAIL, PASSWORD).await;
    assert!(page.contains("requires two-step verification"), "{page}");
}

/// Interoperability with a second, third-party authenticator:
/// `webauthn-authenticator-rs`'s `SoftPasskey` (its own client-data, CBOR
/// and P-256 code) registers and answers the second step.
async fn a_third_party_software_authenticator_interoperates(stores: Stores) {
    use webauthn_authenticator_rs::prelude::{
        CreationChallengeResponse, RequestChallengeResponse, Url, WebauthnAuthenticator,
    };
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;

    let world = World::on_host(stores, "localhost").await;
    let manager = browser();
    password_login(&world, &manager, EMAIL, PASSWORD).await;
    let list = manager.get(world.url("/mfa/passkeys")).send().await.unwrap().text().await.unwrap();
    let page = post_from(&world, &manager, &list, "/mfa/passkeys/begin", &[("name", "Soft".to_owned())]).await;
    let page = page.text().await.unwrap();
    let mut request = options(&page);
    // SoftPasskey cannot keep resident keys; a server-side credential is
    // enough for the second factor, so ask it for one (the server's check
    // does not depend on the flag).
    request["publicKey"]["authenticatorSelection"]["requireResidentKey"] = json!(false);
    request["publicKey"]["authenticatorSelection"]["residentKey"] = json!("discouraged");
    let request: CreationChallengeResponse = serde_json::from_value(request).unwrap();
    // "falsify UV": the soft token has no PIN; it sets the UV flag as told.
    let mut soft = SoftPasskey::new(true);
    let origin = Url::parse(&origin(&world)).unwrap();
    let registered = soft.do_registration(origin.clone(), request).unwrap();
    let credential = serde_json::to_string(&registered).unwrap();
    let finished = post_from(&world, &manager, &page, "/mfa/passkeys/finish", &[("credential", credential)]).await;
    assert_eq!(finished.status(), 200);

    let (browser, verifier, page) = challenge_ceremony(&world).await;
    let request: RequestChallengeResponse = serde_json::from_value(options(&page)).unwrap();
    let assertion = soft.do_authentication(origin, request).unwrap();
    let credential = serde_json::to_string(&assertion).unwrap();
    let answered =
        post_from(&world, &browser, &page, "/mfa/challenge/passkey/finish", &[("credential", credential)]).await;
    let claims = finish(&world, &browser, answered, &verifier).await;
    assert_eq!(claims["amr"], json!(["pwd", "hwk", "user", "mfa"]), "{claims}");
}

/// Passkey refusals and wrong codes share one per-user counter: a challenge
/// locked by either refuses even a valid passkey until the lock ends, and a
/// passkey that passes clears the count — exactly as a right code does.
async fn a_locked_second_step_refuses_a_passkey_too(stores: Stores) {
    let world = World::on_host(stores, "localhost").await;
    let manager = browser();
    password_login(&world, &manager, EMAIL, PASSWORD).await;
    let mut key = Authenticator::new();
    register(&world, &manager, &mut key, "Security key").await;
    let counter_key = format!("mfa:{}", world.user.id);

    // Four refused passkeys (a phishing origin) count as four wrong answers …
    let (browser, _, mut page) = challenge_ceremony(&world).await;
    for _ in 0..4 {
        let relayed = key.get("http://localhost.evil.example", &options(&page));
        let refused =
            post_from(&world, &browser, &page, "/mfa/challenge/passkey/finish", &[("credential", relayed.to_string())])
                .await;
        assert_eq!(refused.status(), 401);
        let challenge = refused.text().await.unwrap();
        page = post_from(&world, &browser, &challenge, "/mfa/challenge/passkey", &[]).await.text().await.unwrap();
    }
    let counted = world.stores.login_attempts.find(world.organization.id, &counter_key).await.unwrap().unwrap();
    assert_eq!(counted.failures, 4);
    // … so one wrong code locks the challenge and ends the pending login.
    let challenge = browser.get(world.url("/mfa/challenge")).send().await.unwrap().text().await.unwrap();
    let locked = post_from(&world, &browser, &challenge, "/mfa/challenge", &[("code", "000000".to_owned())]).await;
    assert_eq!(locked.status(), 429);

    // A new login, a valid assertion from the right key: still refused while locked.
    let (browser, _, page) = challenge_ceremony(&world).await;
    let assertion = key.get(&origin(&world), &options(&page));
    let refused =
        post_from(&world, &browser, &page, "/mfa/challenge/passkey/finish", &[("credential", assertion.to_string())])
            .await;
    assert_eq!(refused.status(), 429, "the lock holds for passkeys too");
    let cookies = refused.headers().get_all("set-cookie").iter().map(|value| value.to_str().unwrap().to_owned());
    assert!(cookies.collect::<Vec<_>>().iter().any(|cookie| cookie.contains("Max-Age=0")), "the pending login ends");
    let stored = world.stores.passkeys.list_credentials(world.organization.id, world.user.id).await.unwrap();
    assert_eq!(stored[0].sign_count, 0, "a locked challenge does not even verify the assertion");

    // After the lock: two refusals, then a pass, which clears the count.
    world.clock.advance(Duration::minutes(16));
    let (browser, verifier, page) = challenge_ceremony(&world).await;
    let relayed = key.get("http://localhost.evil.example", &options(&page));
    let refused =
        post_from(&world, &browser, &page, "/mfa/challenge/passkey/finish", &[("credential", relayed.to_string())])
            .await;
    assert_eq!(refused.status(), 401);
    let challenge = refused.text().await.unwrap();
    let page = post_from(&world, &browser, &challenge, "/mfa/challenge/passkey", &[]).await.text().await.unwrap();
    let assertion = key.get(&origin(&world), &options(&page));
    let passed =
        post_from(&world, &browser, &page, "/mfa/challenge/passkey/finish", &[("credential", assertion.to_string())])
            .await;
    assert_eq!(finish(&world, &browser, passed, &verifier).await["acr"], "mfa");
    assert_eq!(world.stores.login_attempts.find(world.organization.id, &counter_key).await.unwrap(), None);

    let events = wait_for_audit(&world.stores, &world.organization, &["mfa.failed", "mfa.used"]).await;
    let failed: Vec<_> = events.iter().filter(|event| event.event_type == "mfa.failed").collect();
    assert!(failed.iter().any(|event| event.data["factor"] == "webauthn" && event.data["reason"] == "assertion"));
    assert!(failed.iter().any(|event| event.data["failures"] == 5), "{failed:?}");
}

/// Adding a passkey needs a sign-in at most five minutes old (a stolen or
/// forgotten session cannot plant one), and a passkey added sends the user
/// a notice mail.
async fn adding_a_passkey_needs_a_recent_sign_in_and_is_announced_by_mail(stores: Stores) {
    let world = World::on_host(stores, "localhost").await;
    let browser = browser();
    password_login(&world, &browser, EMAIL, PASSWORD).await;
    world.clock.advance(Duration::minutes(6));
    let list = browser.get(world.url("/mfa/passkeys")).send().await.unwrap().text().await.unwrap();
    let refused = post_from(&world, &browser, &list, "/mfa/passkeys/begin", &[("name", "Late".to_owned())]).await;
    assert_eq!(refused.status(), 401);
    let page = refused.text().await.unwrap();
    assert!(page.contains("sign in again") && page.contains("href=\"/o/acme/login\""), "{page}");
    assert!(!page.contains("passkey-options"), "no ceremony started: {page}");

    // Signed in again: a registration begun within the window may finish after it (the ceremony's own lifetime).
    password_login(&world, &browser, EMAIL, PASSWORD).await;
    world.clock.advance(Duration::minutes(4));
    let list = browser.get(world.url("/mfa/passkeys")).send().await.unwrap().text().await.unwrap();
    let begun = post_from(&world, &browser, &list, "/mfa/passkeys/begin", &[("name", "Laptop".to_owned())]).await;
    assert_eq!(begun.status(), 200);
    let page = begun.text().await.unwrap();
    world.clock.advance(Duration::minutes(2));
    let mut key = Authenticator::new();
    let credential = key.create(&origin(&world), &options(&page));
    let finished =
        post_from(&world, &browser, &page, "/mfa/passkeys/finish", &[("credential", credential.to_string())]).await;
    assert_eq!(finished.status(), 200);
    assert_eq!(world.stores.passkeys.list_credentials(world.organization.id, world.user.id).await.unwrap().len(), 1);

    let now = world.clock.now();
    let claim = uuid::Uuid::new_v4();
    let queued = world.stores.mail_outbox.claim_due(now, claim, now + Duration::seconds(1), 10).await.unwrap();
    let notices: Vec<_> = queued.iter().filter(|mail| mail.subject.contains("passkey was added")).collect();
    assert_eq!(notices.len(), 1, "{queued:?}");
    assert_eq!(notices[0].recipient.as_str(), EMAIL);
    assert_eq!(notices[0].organization_id, world.organization.id);
    assert!(notices[0].body.contains("If this was not you"), "{}", notices[0].body);
}

/// On a public URL with an IP address (no valid RP ID) passkeys are not offered.
async fn passkeys_are_not_offered_on_an_ip_address(stores: Stores) {
    let world = World::new(stores).await;
    let browser = browser();
    let login = browser.get(world.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("name=\"password\"") && !login.contains("Sign in with a passkey"), "{login}");
    let form = [("csrf_token", hidden_field(&login, "csrf_token").unwrap())];
    let response = browser.post(world.url("/mfa/passkey-login")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 404);
    password_login(&world, &browser, EMAIL, PASSWORD).await;
    let manage = browser.get(world.url("/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(!manage.contains("passkeys-link"), "{manage}");
}

on_both_databases!(
    passkeys_are_not_offered_on_an_ip_address,
    a_third_party_software_authenticator_interoperates,
    required_policy_enrols_a_passkey_and_its_removal_leads_back_to_enrolment,
    passkeys_are_registered_named_listed_and_removed,
    a_passkey_answers_the_second_step,
    passwordless_sign_in_with_a_passkey,
    passkeys_belong_to_their_user_and_organization,
    a_locked_second_step_refuses_a_passkey_too,
    adding_a_passkey_needs_a_recent_sign_in_and_is_announced_by_mail,
);
