//! The email flows end to end: a real SMTP sink on loopback receives the
//! mail, a cookie-jar browser follows the link out of it and completes the
//! flow — password reset (from the login page's "forgot password" link),
//! invitation (admin API `invite: true` → set-password page) and email
//! verification (admin request). Links are single-use, expire, and die
//! with a password change; a reset ends the user's other sessions; the
//! reset form does not reveal which addresses have accounts.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use zenoauth_crypto::OsRandom;
use zenoauth_domain::ports::{Clock, RandomSource, Stores};

use crate::email_support::{start_worker, test_mail_settings, SmtpSink, Stop};
use crate::oidc_support::{browser, hidden_field, sqlite_stores, World, EMAIL, PASSWORD};

const NEW_PASSWORD: &str = "a brand new passphrase 42";
const LINK_INVALID: &str = "This link is not valid any more";

fn mail_worker(stores: &Stores, clock: Arc<dyn Clock>, sink: &SmtpSink) -> Stop {
    let random: Arc<dyn RandomSource> = Arc::new(OsRandom::new());
    Stop(start_worker(stores, clock, random, test_mail_settings(&sink.url())))
}

/// Signs in at `issuer`'s login page; the status of the answer (200 signed in, 401 refused).
async fn sign_in(browser: &reqwest::Client, issuer: &str, email: &str, password: &str) -> u16 {
    let page = browser.get(format!("{issuer}/login")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&page, "csrf_token").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("email", email), ("password", password)];
    browser.post(format!("{issuer}/login")).form(&form).send().await.unwrap().status().as_u16()
}

/// Asks for a reset link for `email` through the forgot-password form; the answer's status and text.
async fn forgot(browser: &reqwest::Client, issuer: &str, email: &str) -> (u16, String) {
    let page = browser.get(format!("{issuer}/account/forgot")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&page, "csrf_token").unwrap();
    let answer = browser
        .post(format!("{issuer}/account/forgot"))
        .form(&[("csrf_token", csrf.as_str()), ("email", email)])
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

/// Opens `link` and submits its set-password form; the answer's status and text.
async fn set_password(browser: &reqwest::Client, link: &str, password: &str) -> (u16, String) {
    let page = browser.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200, "the link opens its form");
    let page = page.text().await.unwrap();
    let action = if link.contains("/account/invitation?") { "invitation" } else { "reset" };
    let target = format!("{}{action}", &link[..link.find("/account/").unwrap() + "/account/".len()]);
    let form = [
        ("csrf_token", hidden_field(&page, "csrf_token").unwrap()),
        ("token", hidden_field(&page, "token").unwrap()),
        ("password", password.to_owned()),
    ];
    let answer = browser.post(target).form(&form).send().await.unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_the_link_in_the_mail() {
    let (stores, _directory) = sqlite_stores().await;
    let world = World::new(stores).await;
    let sink = SmtpSink::start().await;
    let _worker = mail_worker(&world.stores, world.clock.clone(), &sink);
    let elsewhere = browser();
    assert_eq!(sign_in(&elsewhere, &world.issuer(), EMAIL, PASSWORD).await, 200);
    let now = world.clock.now();
    assert_eq!(world.stores.sessions.list_for_user(world.organization.id, world.user.id, now).await.unwrap().len(), 1);

    let browser = browser();
    let login = browser.get(world.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("<a href=\"account/forgot\">"), "the login page links to the reset form");
    let (status, text) = forgot(&browser, &world.issuer(), EMAIL).await;
    assert_eq!(status, 200);
    assert!(text.contains("If an account exists for that address"));

    let mail = sink.next().await;
    assert_eq!(mail.to, vec![EMAIL.to_owned()]);
    assert_eq!(mail.from, "<noreply@localhost>", "the envelope sender is the configured From");
    assert!(mail.subject().contains("Reset your"), "{}", mail.subject());
    let link = mail.link();
    assert!(link.starts_with(&world.url("/account/reset?token=zal_")), "{link}");

    // The organization's password policy applies; a refused password leaves the link usable.
    let (status, text) = set_password(&browser, &link, "password").await;
    assert_eq!(status, 400);
    assert!(text.contains("The password"), "{text}");
    let (status, text) = set_password(&browser, &link, NEW_PASSWORD).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("Your password is set"));

    let notice = sink.next().await;
    assert_eq!(notice.to, vec![EMAIL.to_owned()]);
    assert!(notice.subject().contains("password was changed"), "{}", notice.subject());

    // Single use.
    let again = browser.get(&link).send().await.unwrap();
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains(LINK_INVALID));
    // Every session of the user ended; the new password works, the old does not.
    let now = world.clock.now();
    assert!(world.stores.sessions.list_for_user(world.organization.id, world.user.id, now).await.unwrap().is_empty());
    assert_eq!(sign_in(&crate::oidc_support::browser(), &world.issuer(), EMAIL, PASSWORD).await, 401);
    assert_eq!(sign_in(&crate::oidc_support::browser(), &world.issuer(), EMAIL, NEW_PASSWORD).await, 200);
    let user = world.stores.users.get(world.organization.id, world.user.id).await.unwrap();
    assert!(user.email_verified);
}

#[tokio::test]
async fn the_reset_form_answers_alike_for_unknown_addresses_and_sends_nothing() {
    let (stores, _directory) = sqlite_stores().await;
    let world = World::new(stores).await;
    let sink = SmtpSink::start().await;
    let _worker = mail_worker(&world.stores, world.clock.clone(), &sink);
    let browser = browser();
    let unknown = forgot(&browser, &world.issuer(), "nobody@example.com").await;
    let known = forgot(&browser, &world.issuer(), EMAIL).await;
    assert_eq!(unknown, known, "same status and page whether or not the address has an account");
    assert_eq!(sink.next().await.to, vec![EMAIL.to_owned()]);
    assert!(sink.try_next(Duration::from_millis(600)).await.is_none(), "no mail for the unknown address");
}

#[tokio::test]
async fn many_reset_requests_for_one_address_send_one_mail_per_interval() {
    let (stores, _directory) = sqlite_stores().await;
    let world = World::new(stores).await;
    let sink = SmtpSink::start().await;
    let _worker = mail_worker(&world.stores, world.clock.clone(), &sink);
    let browser = browser();
    let first = forgot(&browser, &world.issuer(), EMAIL).await;
    for _ in 0..15 {
        assert_eq!(forgot(&browser, &world.issuer(), EMAIL).await, first, "every request gets the same answer");
    }
    assert_eq!(sink.next().await.to, vec![EMAIL.to_owned()]);
    assert!(sink.try_next(Duration::from_millis(800)).await.is_none(), "one mail within the interval");
    world.clock.advance(time::Duration::minutes(4));
    forgot(&browser, &world.issuer(), EMAIL).await;
    assert!(sink.try_next(Duration::from_millis(600)).await.is_none(), "still within the interval");
    world.clock.advance(time::Duration::minutes(1));
    forgot(&browser, &world.issuer(), EMAIL).await;
    assert_eq!(sink.next().await.to, vec![EMAIL.to_owned()], "the next interval may send again");
}

#[tokio::test]
async fn expired_links_are_refused() {
    let (stores, _directory) = sqlite_stores().await;
    let world = World::new(stores).await;
    let sink = SmtpSink::start().await;
    let _worker = mail_worker(&world.stores, world.clock.clone(), &sink);
    let browser = browser();
    forgot(&browser, &world.issuer(), EMAIL).await;
    let link = sink.next().await.link();
    assert_eq!(browser.get(&link).send().await.unwrap().status(), 200);
    world.clock.advance(time::Duration::minutes(31));
    let expired = browser.get(&link).send().await.unwrap();
    assert_eq!(expired.status(), 400);
    assert!(expired.text().await.unwrap().contains(LINK_INVALID));
}

#[tokio::test]
async fn a_password_change_invalidates_every_older_link() {
    let (stores, _directory) = sqlite_stores().await;
    let world = World::new(stores).await;
    let sink = SmtpSink::start().await;
    let _worker = mail_worker(&world.stores, world.clock.clone(), &sink);
    let browser = browser();
    forgot(&browser, &world.issuer(), EMAIL).await;
    let first = sink.next().await.link();
    world.clock.advance(time::Duration::minutes(5));
    forgot(&browser, &world.issuer(), EMAIL).await;
    let second = sink.next().await.link();
    assert_ne!(first, second);
    assert_eq!(set_password(&browser, &second, NEW_PASSWORD).await.0, 200);
    let stale = browser.get(&first).send().await.unwrap();
    assert_eq!(stale.status(), 400, "the older link died with the password change");
}

#[tokio::test]
async fn an_invitation_leads_to_a_set_password_page() {
    let (stores, _directory) = sqlite_stores().await;
    let world = crate::admin_support::AdminWorld::new(stores).await;
    let (organization, api) = world.org_admin("acme").await;
    let sink = SmtpSink::start().await;
    let _worker = mail_worker(&world.stores, world.clock.clone(), &sink);
    let users = format!("/organizations/{}/users", organization.id);

    let both = api.post(&users, json!({"email": "x@example.com", "invite": true, "password": NEW_PASSWORD})).await;
    both.assert_problem(400, "validation");
    let reply = api.post(&users, json!({"email": "invited@example.com", "invite": true})).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(
        (reply.body["has_password"].clone(), reply.body["email_verified"].clone()),
        (json!(false), json!(false))
    );

    let mail = sink.next().await;
    assert_eq!(mail.to, vec!["invited@example.com".to_owned()]);
    assert!(mail.subject().contains("invited"), "{}", mail.subject());
    let link = mail.link();
    let issuer = world.server.url("/o/acme");
    assert!(link.starts_with(&format!("{issuer}/account/invitation?token=")), "{link}");
    let browser = browser();
    let page = browser.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Set your password"));
    let (status, text) = set_password(&browser, &link, NEW_PASSWORD).await;
    assert_eq!(status, 200, "{text}");
    assert!(sink.next().await.subject().contains("password was changed"));

    let user = api.get(&format!("{users}/{}", reply.id())).await;
    assert_eq!((user.body["has_password"].clone(), user.body["email_verified"].clone()), (json!(true), json!(true)));
    assert_eq!(sign_in(&crate::oidc_support::browser(), &issuer, "invited@example.com", NEW_PASSWORD).await, 200);
    assert_eq!(browser.get(&link).send().await.unwrap().status(), 400, "single use");
}

#[tokio::test]
async fn an_admin_requested_verification_mail_verifies_the_address() {
    let (stores, _directory) = sqlite_stores().await;
    let world = crate::admin_support::AdminWorld::new(stores).await;
    let (organization, api) = world.org_admin("acme").await;
    let sink = SmtpSink::start().await;
    let _worker = mail_worker(&world.stores, world.clock.clone(), &sink);
    let users = format!("/organizations/{}/users", organization.id);
    let created = api.post(&users, json!({"email": "verify@example.com", "password": NEW_PASSWORD})).await;
    assert_eq!(created.status, 201);
    let user_path = format!("{users}/{}", created.id());
    assert_eq!(api.post(&format!("{user_path}/verification"), json!({})).await.status, 202);

    let mail = sink.next().await;
    assert!(mail.subject().contains("Confirm your email address"), "{}", mail.subject());
    let link = mail.link();
    let browser = browser();
    let page = browser.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    // Opening the link (as a mail scanner might) does not use it up.
    assert_eq!(api.get(&user_path).await.body["email_verified"], json!(false));
    let form =
        [("csrf_token", hidden_field(&page, "csrf_token").unwrap()), ("token", hidden_field(&page, "token").unwrap())];
    let confirmed = browser.post(world.server.url("/o/acme/account/verify")).form(&form).send().await.unwrap();
    assert_eq!(confirmed.status(), 200);
    assert_eq!(api.get(&user_path).await.body["email_verified"], json!(true));
    let reused = browser.post(world.server.url("/o/acme/account/verify")).form(&form).send().await.unwrap();
    assert_eq!(reused.status(), 400, "single use");
}
