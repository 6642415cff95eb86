//! Issue 5's "admins can unlock", through the admin API against the real
//! server on both databases: an account is locked by real wrong-password
//! logins on the hosted login form, an org admin sees the lock
//! (`GET …/users/{user_id}/lockout`) and lifts it (`DELETE`), audited as
//! `login.unlocked` with the admin as actor; a source address locked by
//! password spraying is lifted the same way
//! (`DELETE …/lockouts/addresses/{address}`). Another organization's admin
//! sees nothing (404) and lifts nothing.

use std::time::Duration;

use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use zenoauth_domain::model::{AuditEvent, Organization};
use zenoauth_domain::ports::Stores;
use zenoauth_domain::security::audit::event_types;
use zenoauth_domain::security::lockout::{account_key, address_key};

use crate::admin_mfa::org_admin;
use crate::admin_support::Api;
use crate::oidc_support::{on_both_databases, World, EMAIL, PASSWORD};
use crate::security_support::{audit_events, login, new_browser, wait_for_audit};

fn lockout_path(organization: &Organization, user: impl std::fmt::Display) -> String {
    format!("/organizations/{}/users/{user}/lockout", organization.id)
}

fn address_path(organization: &Organization, address: &str) -> String {
    format!("/organizations/{}/lockouts/addresses/{address}", organization.id)
}

/// Sets the organization's lockout settings (no login delays: the tests
/// are about locks, not timing).
async fn with_settings(world: &World, settings: serde_json::Value) {
    let mut organization = world.organization.clone();
    organization.settings = settings;
    world.stores.organizations.update(&organization).await.unwrap();
}

/// The status of one login through the real form from a fresh browser.
async fn login_status(world: &World, email: &str, password: &str) -> u16 {
    login(&new_browser(), &world.url("/login"), email, password).await.0
}

fn unlocks(events: &[AuditEvent]) -> Vec<&AuditEvent> {
    events.iter().filter(|event| event.event_type == event_types::LOGIN_UNLOCKED).collect()
}

fn actor_of(organization: &Organization) -> String {
    // An org_admin service account's subject is its client_id, `{slug}-admin`.
    format!("{0}-admin@{0}", organization.slug.as_str())
}

async fn an_admin_sees_a_locked_account_and_unlocks_it(stores: Stores) {
    let world = World::new(stores).await;
    with_settings(
        &world,
        json!({"lockout_threshold": 3, "lockout_duration_seconds": 600, "login_delay_base_milliseconds": 0}),
    )
    .await;
    let admin = org_admin(&world, &world.organization).await;
    let path = lockout_path(&world.organization, world.user.id);

    // No counter yet: zeros and nulls.
    let reply = admin.get(&path).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, json!({"locked": false, "failures": 0, "locked_until": null, "last_failed_at": null}));

    for guess in ["123456", "password", "qwerty"] {
        assert_eq!(login_status(&world, EMAIL, guess).await, 401);
    }
    let reply = admin.get(&path).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["locked"], true, "{reply:?}");
    assert_eq!(reply.body["failures"], 3, "{reply:?}");
    let locked_until = OffsetDateTime::parse(reply.body["locked_until"].as_str().unwrap(), &Rfc3339).unwrap();
    let last_failed_at = OffsetDateTime::parse(reply.body["last_failed_at"].as_str().unwrap(), &Rfc3339).unwrap();
    assert!(locked_until > last_failed_at, "{reply:?}");
    // Locked: the right password is refused too.
    assert_eq!(login_status(&world, EMAIL, PASSWORD).await, 401);

    // The admin unlocks: the lock and the failures are gone, the owner signs in.
    let reply = admin.delete(&path).await;
    assert_eq!(reply.status, 204, "{reply:?}");
    let reply = admin.get(&path).await;
    assert_eq!(reply.body, json!({"locked": false, "failures": 0, "locked_until": null, "last_failed_at": null}));
    assert_eq!(login_status(&world, EMAIL, PASSWORD).await, 200);

    // Audited once, with the admin as actor and the account as subject.
    let events = wait_for_audit(&world.stores, &world.organization, &[event_types::LOGIN_UNLOCKED]).await;
    let unlocked = unlocks(&events);
    assert_eq!(unlocked.len(), 1, "{unlocked:?}");
    assert_eq!(unlocked[0].actor.as_deref(), Some(actor_of(&world.organization).as_str()));
    assert_eq!(unlocked[0].subject.as_deref(), Some(account_key(EMAIL).as_str()));

    // Idempotent: nothing to lift is still 204, and records nothing.
    assert_eq!(admin.delete(&path).await.status, 204);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(unlocks(&audit_events(&world.stores, &world.organization).await).len(), 1);

    // No such user (the organization's own id names none), no token.
    for user in [world.organization.id.to_string(), "not-a-uuid".to_owned()] {
        admin.get(&lockout_path(&world.organization, &user)).await.assert_problem(404, "not-found");
        admin.delete(&lockout_path(&world.organization, &user)).await.assert_problem(404, "not-found");
    }
    let mut anonymous = Api::for_tests(admin.base.clone(), "");
    anonymous.token = None;
    anonymous.get(&path).await.assert_problem(401, "unauthenticated");
    anonymous.delete(&path).await.assert_problem(401, "unauthenticated");
    anonymous.delete(&address_path(&world.organization, "127.0.0.1")).await.assert_problem(401, "unauthenticated");
}

async fn an_admin_unlocks_a_sprayed_source_address(stores: Stores) {
    let world = World::new(stores).await;
    with_settings(
        &world,
        json!({"lockout_address_threshold": 3, "lockout_threshold": 100, "login_delay_base_milliseconds": 0}),
    )
    .await;
    let admin = org_admin(&world, &world.organization).await;
    // Password spraying from 127.0.0.1 over several accounts locks the address.
    for index in 0..3 {
        assert_eq!(login_status(&world, &format!("user{index}@example.com"), "123456").await, 401);
    }
    assert_eq!(login_status(&world, EMAIL, PASSWORD).await, 401);
    // The account itself is not locked: only the address is.
    assert_eq!(admin.get(&lockout_path(&world.organization, world.user.id)).await.body["locked"], false);

    // Garbage is a validation problem, and unlocks nothing.
    for bad in ["not-an-ip", "127.0.0.256", "127.0.0.1%2F8", "%20127.0.0.1"] {
        admin.delete(&address_path(&world.organization, bad)).await.assert_problem(400, "validation");
    }
    assert_eq!(login_status(&world, EMAIL, PASSWORD).await, 401);

    // The IPv4-mapped IPv6 form names the same address the login path counted.
    let reply = admin.delete(&address_path(&world.organization, "::ffff:127.0.0.1")).await;
    assert_eq!(reply.status, 204, "{reply:?}");
    assert_eq!(login_status(&world, EMAIL, PASSWORD).await, 200);
    let events = wait_for_audit(&world.stores, &world.organization, &[event_types::LOGIN_UNLOCKED]).await;
    let unlocked = unlocks(&events);
    assert_eq!(unlocked.len(), 1, "{unlocked:?}");
    assert_eq!(unlocked[0].actor.as_deref(), Some(actor_of(&world.organization).as_str()));
    assert_eq!(unlocked[0].subject.as_deref(), Some(address_key("127.0.0.1").as_str()));
    // Idempotent; IPv6 addresses are accepted too.
    assert_eq!(admin.delete(&address_path(&world.organization, "127.0.0.1")).await.status, 204);
    assert_eq!(admin.delete(&address_path(&world.organization, "2001:db8::7")).await.status, 204);
}

async fn another_organizations_admin_sees_and_lifts_nothing(stores: Stores) {
    let world = World::new(stores).await;
    with_settings(
        &world,
        json!({"lockout_threshold": 2, "lockout_address_threshold": 2, "login_delay_base_milliseconds": 0}),
    )
    .await;
    let acme_admin = org_admin(&world, &world.organization).await;
    let other = world.add_organization("other").await;
    let other_admin = org_admin(&world, &other).await;
    for guess in ["123456", "password"] {
        assert_eq!(login_status(&world, EMAIL, guess).await, 401);
    }
    let acme_path = lockout_path(&world.organization, world.user.id);
    // Through acme's path, and with acme's user under the other organization's path: 404, as if absent.
    for path in [acme_path.clone(), lockout_path(&other, world.user.id)] {
        other_admin.get(&path).await.assert_problem(404, "not-found");
        other_admin.delete(&path).await.assert_problem(404, "not-found");
    }
    other_admin.delete(&address_path(&world.organization, "127.0.0.1")).await.assert_problem(404, "not-found");
    // The other organization's own address counter is its own: lifting it there leaves acme's lock.
    assert_eq!(other_admin.delete(&address_path(&other, "127.0.0.1")).await.status, 204);

    // Nothing changed in acme.
    let reply = acme_admin.get(&acme_path).await;
    assert_eq!((reply.body["locked"].clone(), reply.body["failures"].clone()), (json!(true), json!(2)), "{reply:?}");
    assert_eq!(login_status(&world, EMAIL, PASSWORD).await, 401);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(unlocks(&audit_events(&world.stores, &world.organization).await).is_empty());
    assert!(unlocks(&audit_events(&world.stores, &other).await).is_empty());
}

on_both_databases!(
    an_admin_sees_a_locked_account_and_unlocks_it,
    an_admin_unlocks_a_sprayed_source_address,
    another_organizations_admin_sees_and_lifts_nothing
);
