//! Multi-factor authentication against the real server (SQLite and
//! PostgreSQL): TOTP enrolment through the pages (QR code and manual key),
//! confirmation, the login challenge with ±1 step skew, replay refusal,
//! the secret encrypted at rest, recovery codes, lockout of the challenge,
//! and the organization's policy. Codes are computed here with totp-rs from
//! the key the enrolment page shows.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use time::Duration;
use totp_rs::{Algorithm, Secret, TOTP};
use zenoauth_domain::ports::{Clock, Stores};

use crate::oidc_support::{
    authorization_url, browser, exchange, hidden_field, json as json_body, location, on_both_databases, pkce,
    query_param, submit_consent, submit_login, World, EMAIL, PASSWORD, USER_SCOPES,
};

/// The text between `start` and the next `end` in `html`.
fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = html.find(start)? + start.len();
    let to = html[from..].find(end)? + from;
    Some(&html[from..to])
}

/// The TOTP code of `secret` (base32) at the world's clock, shifted by `steps`.
fn code(world: &World, secret: &str, steps: i64) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    let totp = TOTP::new(Algorithm::SHA1, 6, 0, 30, bytes, None, String::new()).unwrap();
    let at = world.clock.now().unix_timestamp() + steps * 30;
    totp.generate(u64::try_from(at).unwrap())
}

/// Logs in without an authorization request; returns the page after the password.
async fn password_login(world: &World, browser: &reqwest::Client) -> reqwest::Response {
    let page = browser.get(world.url("/login")).send().await.unwrap().text().await.unwrap();
    submit_login(world, browser, &page, EMAIL, PASSWORD).await
}

async fn post_code(world: &World, browser: &reqwest::Client, page: &str, path: &str, code: &str) -> reqwest::Response {
    let mut form = vec![("csrf_token", hidden_field(page, "csrf_token").expect("a form with a CSRF token"))];
    if let Some(authorize) = hidden_field(page, "authorize") {
        form.push(("authorize", authorize));
    }
    form.push(("code", code.to_owned()));
    browser.post(world.url(path)).form(&form).send().await.unwrap()
}

/// Enrols TOTP for the seeded user through the pages (signed in with a
/// password first); returns (browser, base32 secret, recovery codes).
pub async fn enrol(world: &World) -> (reqwest::Client, String, Vec<String>) {
    let browser = browser();
    assert_eq!(password_login(world, &browser).await.status(), 200);
    let status = browser.get(world.url("/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(status.contains("Two-step verification is off."), "{status}");
    let response = browser.get(world.url("/mfa/totp")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(page.contains("<svg id=\"totp-qr\""), "the QR code is rendered: {page}");
    let secret = between(&page, "<code id=\"totp-secret\">", "</code>").expect("the manual key").to_owned();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    // A wrong code is refused and the same key is shown again.
    let wrong = post_code(world, &browser, &page, "/mfa/totp", "000000").await;
    assert_eq!(wrong.status(), 422);
    let again = wrong.text().await.unwrap();
    assert!(again.contains(&secret), "the enrolment survives a wrong code");
    let confirmed = post_code(world, &browser, &again, "/mfa/totp", &code(world, &secret, 0)).await;
    assert_eq!(confirmed.status(), 200);
    let page = confirmed.text().await.unwrap();
    let codes: Vec<String> = page
        .split("<code class=\"recovery-code\">")
        .skip(1)
        .map(|rest| rest.split("</code>").next().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{page}");
    (browser, secret, codes)
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Runs an authorization request in `browser`, answering the challenge with
/// `answer`; returns the ID token's claims.
async fn authorize_with_second_factor(
    world: &World,
    browser: &reqwest::Client,
    answer: &str,
    extra: &[(&str, &str)],
) -> Value {
    let (verifier, challenge) = pkce();
    let url = authorization_url(world, "web", USER_SCOPES, &challenge, extra);
    let login = browser.get(&url).send().await.unwrap().text().await.unwrap();
    let after_password = submit_login(world, browser, &login, EMAIL, PASSWORD).await;
    assert_eq!(after_password.status(), 200);
    let page = after_password.text().await.unwrap();
    assert!(page.contains("Two-step verification"), "the challenge follows the password: {page}");
    let mut response = post_code(world, browser, &page, "/mfa/challenge", answer).await;
    if response.status() == 200 {
        let page = response.text().await.unwrap();
        assert!(page.contains("name=\"decision\""), "consent after the second factor: {page}");
        response = submit_consent(world, browser, &page, "allow").await;
    }
    let redirect = location(&response);
    let code = query_param(&redirect, "code").unwrap();
    let tokens = json_body(exchange(world, &code, &verifier).await).await;
    claims(tokens["id_token"].as_str().unwrap())
}

async fn totp_enrolment_then_login_challenge(stores: Stores) {
    let world = World::new(stores).await;
    let (_, secret, _) = enrol(&world).await;
    // The secret is stored sealed, never in the clear.
    let stored = world.stores.mfa.find_totp(world.organization.id, world.user.id).await.unwrap().unwrap();
    let raw = Secret::Encoded(secret.clone()).to_bytes().unwrap();
    assert!(stored.confirmed_at.is_some());
    assert!(!stored.encrypted_secret.windows(raw.len()).any(|window| window == raw.as_slice()));
    assert!(stored.encrypted_secret.len() >= raw.len() + 28, "nonce and tag");

    // The code used to confirm is burnt: replaying it at login is refused.
    let replayer = browser();
    let page = password_login(&world, &replayer).await.text().await.unwrap();
    assert!(page.contains("name=\"code\""), "{page}");
    // Until the challenge is passed, the pending session is no session.
    let manage = replayer.get(world.url("/mfa")).send().await.unwrap();
    assert_eq!(manage.status(), 401);
    let replay = post_code(&world, &replayer, &page, "/mfa/challenge", &code(&world, &secret, 0)).await;
    assert_eq!(replay.status(), 401);
    let page = replay.text().await.unwrap();
    assert!(page.contains("not correct, or was already used"), "{page}");

    // Skew: one step ahead is accepted (the device clock runs fast) ...
    let passed = post_code(&world, &replayer, &page, "/mfa/challenge", &code(&world, &secret, 1)).await;
    assert_eq!(passed.status(), 200);
    assert!(passed.text().await.unwrap().contains("You are signed in"));
    let manage = replayer.get(world.url("/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(manage.contains("Two-step verification is on."), "{manage}");

    // ... and once used, that step cannot be used again, not even in another browser.
    let other = browser();
    let page = password_login(&world, &other).await.text().await.unwrap();
    let replay = post_code(&world, &other, &page, "/mfa/challenge", &code(&world, &secret, 1)).await;
    assert_eq!(replay.status(), 401);
    // One step behind (a slow device clock) is accepted when not yet used: two steps later.
    world.clock.advance(Duration::seconds(90));
    let page = replay.text().await.unwrap();
    let two_behind = post_code(&world, &other, &page, "/mfa/challenge", &code(&world, &secret, -2)).await;
    assert_eq!(two_behind.status(), 401, "outside the ±1 window");
    let page = two_behind.text().await.unwrap();
    let behind = post_code(&world, &other, &page, "/mfa/challenge", &code(&world, &secret, -1)).await;
    assert_eq!(behind.status(), 200);

    // A full authorization: the ID token says a second factor was used.
    world.clock.advance(Duration::seconds(30));
    let claims = authorize_with_second_factor(&world, &browser(), &code(&world, &secret, 0), &[]).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]), "{claims}");
    assert_eq!(claims["acr"], "mfa");
}

async fn recovery_codes_are_single_use_and_regenerable(stores: Stores) {
    let world = World::new(stores).await;
    let (manager, _secret, codes) = enrol(&world).await;
    // A recovery code answers the challenge instead of a TOTP code (any case, dashes optional).
    let typed = codes[0].to_lowercase().replace('-', "");
    let claims = authorize_with_second_factor(&world, &browser(), &typed, &[]).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    // Used once, it is refused.
    let again = browser();
    let page = password_login(&world, &again).await.text().await.unwrap();
    let refused = post_code(&world, &again, &page, "/mfa/challenge", &codes[0]).await;
    assert_eq!(refused.status(), 401);
    let stored = world.stores.mfa.count_recovery_codes(world.organization.id, world.user.id).await.unwrap();
    assert_eq!(stored, 9);

    // Regenerating replaces them all: old codes stop working, new ones work.
    let manage = manager.get(world.url("/mfa")).send().await.unwrap().text().await.unwrap();
    assert!(manage.contains("<span id=\"recovery-remaining\">9</span>"), "{manage}");
    let form = [("csrf_token", hidden_field(&manage, "csrf_token").unwrap())];
    let regenerated = manager.post(world.url("/mfa/recovery-codes")).form(&form).send().await.unwrap();
    assert_eq!(regenerated.status(), 200);
    let page = regenerated.text().await.unwrap();
    let fresh: Vec<String> = page
        .split("<code class=\"recovery-code\">")
        .skip(1)
        .map(|rest| rest.split("</code>").next().unwrap().to_owned())
        .collect();
    assert_eq!(fresh.len(), 10);
    let page = refused.text().await.unwrap();
    let old = post_code(&world, &again, &page, "/mfa/challenge", &codes[1]).await;
    assert_eq!(old.status(), 401, "an old code after regeneration");
    let page = old.text().await.unwrap();
    let new = post_code(&world, &again, &page, "/mfa/challenge", &fresh[0]).await;
    assert_eq!(new.status(), 200);
}

async fn the_challenge_locks_after_repeated_wrong_codes(stores: Stores) {
    let world = World::new(stores).await;
    let (_, secret, _) = enrol(&world).await;
    world.clock.advance(Duration::seconds(60));
    let guesser = browser();
    let mut page = password_login(&world, &guesser).await.text().await.unwrap();
    for attempt in 1..=5 {
        let response = post_code(&world, &guesser, &page, "/mfa/challenge", "123456").await;
        if attempt < 5 {
            assert_eq!(response.status(), 401, "attempt {attempt}");
            page = response.text().await.unwrap();
        } else {
            assert_eq!(response.status(), 429, "the fifth wrong code locks");
        }
    }
    // The pending session is gone, and while locked even a right code after a new password login fails.
    let page = password_login(&world, &guesser).await.text().await.unwrap();
    let locked = post_code(&world, &guesser, &page, "/mfa/challenge", &code(&world, &secret, 0)).await;
    assert_eq!(locked.status(), 429);
}

/// Every hidden field of the form in `html` that posts to `action_suffix`.
fn form_fields(html: &str, action_suffix: &str) -> Vec<(String, String)> {
    let start = html.find(&format!("{action_suffix}\">")).expect("the form");
    let form = &html[start..html[start..].find("</form>").unwrap() + start];
    form.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let name = rest.split('"').next().unwrap().to_owned();
            let value = between(rest, "value=\"", "\"").unwrap();
            let value = value.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">");
            (name, value.replace("&amp;", "&"))
        })
        .collect()
}

async fn set_policy(world: &World, policy: &str) {
    let mut organization = world.stores.organizations.get(world.organization.id).await.unwrap();
    organization.settings = json!({"mfa_policy": policy});
    world.stores.organizations.update(&organization).await.unwrap();
}

/// Finishes an authorization in `browser` from `response` (consent if asked); the ID token's claims.
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

async fn required_policy_leads_to_enrolment_right_after_password(stores: Stores) {
    let world = World::new(stores).await;
    set_policy(&world, "required").await;
    let browser = browser();
    let (verifier, challenge) = pkce();
    let url = authorization_url(&world, "web", USER_SCOPES, &challenge, &[]);
    let login = browser.get(&url).send().await.unwrap().text().await.unwrap();
    let page = submit_login(&world, &browser, &login, EMAIL, PASSWORD).await.text().await.unwrap();
    assert!(page.contains("requires two-step verification"), "{page}");
    let secret = between(&page, "<code id=\"totp-secret\">", "</code>").unwrap().to_owned();
    // Not signed in until enrolled: the management page refuses the pending session.
    assert_eq!(browser.get(world.url("/mfa")).send().await.unwrap().status(), 401);
    let confirmed = post_code(&world, &browser, &page, "/mfa/totp", &code(&world, &secret, 0)).await;
    assert_eq!(confirmed.status(), 200);
    let page = confirmed.text().await.unwrap();
    assert_eq!(page.matches("class=\"recovery-code\"").count(), 10);
    // Continue carries the authorization request on.
    let fields = form_fields(&page, "/o/acme/authorize");
    assert!(fields.iter().any(|(name, value)| name == "client_id" && value == "web"), "{fields:?}");
    let response = browser.post(world.url("/authorize")).form(&fields).send().await.unwrap();
    let claims = finish(&world, &browser, response, &verifier).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]), "{claims}");
    assert_eq!(claims["acr"], "mfa");
}

async fn acr_values_mfa_steps_up_a_password_session(stores: Stores) {
    let world = World::new(stores).await;
    let (_, secret, _) = enrol(&world).await;
    set_policy(&world, "off").await;
    world.clock.advance(Duration::seconds(60));
    // Policy off: the password alone signs in, and the ID token says so.
    let browser = browser();
    let (verifier, challenge) = pkce();
    let login = browser.get(authorization_url(&world, "web", USER_SCOPES, &challenge, &[])).send().await.unwrap();
    let login = login.text().await.unwrap();
    let response = submit_login(&world, &browser, &login, EMAIL, PASSWORD).await;
    let claims = finish(&world, &browser, response, &verifier).await;
    assert_eq!((claims["amr"].clone(), claims["acr"].clone()), (json!(["pwd"]), json!("0")));
    // prompt=none cannot step up.
    let (_, challenge) = pkce();
    let silent =
        authorization_url(&world, "web", USER_SCOPES, &challenge, &[("acr_values", "mfa"), ("prompt", "none")]);
    let response = browser.get(silent).send().await.unwrap();
    assert_eq!(query_param(&location(&response), "error").as_deref(), Some("interaction_required"));
    // acr_values=mfa: the same session is challenged (no password asked again).
    let (verifier, challenge) = pkce();
    let url = authorization_url(&world, "web", USER_SCOPES, &challenge, &[("acr_values", "0 mfa")]);
    let response = browser.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(page.contains("name=\"code\"") && !page.contains("name=\"password\""), "{page}");
    let response = post_code(&world, &browser, &page, "/mfa/challenge", &code(&world, &secret, 0)).await;
    let claims = finish(&world, &browser, response, &verifier).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "mfa");
}

on_both_databases!(
    totp_enrolment_then_login_challenge,
    recovery_codes_are_single_use_and_regenerable,
    the_challenge_locks_after_repeated_wrong_codes,
    required_policy_leads_to_enrolment_right_after_password,
    acr_values_mfa_steps_up_a_password_session,
);
