//! The admin API's view and reset of a user's second factors
//! (`/api/v1/organizations/{org_id}/users/{user_id}/mfa`), against the real
//! server on both databases: the user enrols TOTP through the real pages,
//! an org admin (a client_credentials token from the token endpoint) reads
//! the factors — never a secret — and resets them; the reset ends the
//! user's sessions, is audited with before and after, and an organization
//! that requires MFA leads the user to enrol again. Another organization's
//! admin sees nothing (404) and changes nothing.

use std::sync::Arc;

use serde_json::{json, Value};
use zenoauth_crypto::{digest_secret, OsRandom};
use zenoauth_domain::ids::IdGenerator;
use zenoauth_domain::model::{Application, ClientType, Organization};
use zenoauth_domain::ports::{AuditQuery, Clock, PageRequest, Stores};
use zenoauth_domain::roles::{PermissionSet, Role, RoleName};
use zenoauth_domain::values::{ClientId, DisplayName, ScopeSet};

use crate::admin_support::{Api, SECRET};
use crate::oidc_support::{browser, hidden_field, on_both_databases, submit_login, World, EMAIL, PASSWORD};

/// An `org-admin` service account of `organization` and its admin-API client.
pub async fn org_admin(world: &World, organization: &Organization) -> Api {
    let ids = IdGenerator::new(world.clock.clone(), Arc::new(OsRandom::new()));
    let now = world.clock.now();
    let role = Role {
        id: ids.next(),
        organization_id: organization.id,
        name: RoleName::parse("org-admin").unwrap(),
        description: String::new(),
        permissions: PermissionSet::parse(std::iter::empty::<&str>()).unwrap(),
        created_at: now,
        updated_at: now,
    };
    world.stores.roles.create(&role).await.unwrap();
    let client_id = format!("{}-admin", organization.slug.as_str());
    let application = Application {
        id: ids.next(),
        organization_id: organization.id,
        client_id: ClientId::parse(&client_id).unwrap(),
        name: DisplayName::parse(&client_id).unwrap(),
        client_type: ClientType::Confidential { secret_digest: digest_secret(SECRET) },
        redirect_uris: vec![],
        allowed_scopes: ScopeSet::parse("zenoauth:admin").unwrap(),
        settings: json!({"grant_types": ["client_credentials"]}),
        created_at: now,
        updated_at: now,
    };
    world.stores.applications.create(&application).await.unwrap();
    world.stores.roles.assign_to_application(organization.id, application.id, role.id).await.unwrap();
    let response = crate::support::client()
        .post(world.issuer_of(organization.slug.as_str()) + "/token")
        .basic_auth(&client_id, Some(SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", "zenoauth:admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    Api::for_tests(world.server.url("/api/v1"), body["access_token"].as_str().unwrap())
}

fn mfa_path(organization: &Organization, user: impl std::fmt::Display) -> String {
    format!("/organizations/{}/users/{user}/mfa", organization.id)
}

async fn admin_events(stores: &Stores, organization: &Organization) -> Vec<zenoauth_domain::model::AuditEvent> {
    let query = AuditQuery { event_type: Some("user.mfa_reset".to_owned()), ..AuditQuery::default() };
    stores.audit.list(organization.id, &query, &PageRequest::new(None, 100).unwrap()).await.unwrap()
}

async fn an_admin_sees_the_factors_and_resets_them(stores: Stores) {
    let world = World::new(stores).await;
    let admin = org_admin(&world, &world.organization).await;
    let path = mfa_path(&world.organization, world.user.id);

    // Before enrolment: no factor, no recovery code.
    let reply = admin.get(&path).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, json!({"factors": [], "recovery_codes_remaining": 0}));

    let (user_browser, secret, codes) = crate::mfa_totp::enrol(&world).await;
    let stored = world.stores.mfa.find_totp(world.organization.id, world.user.id).await.unwrap().unwrap();
    let reply = admin.get(&path).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["recovery_codes_remaining"], 10);
    let factors = reply.body["factors"].as_array().unwrap();
    assert_eq!(factors.len(), 1, "{reply:?}");
    assert_eq!(factors[0]["type"], "totp");
    assert_eq!(factors[0]["id"], stored.id.to_string());
    for field in ["created_at", "confirmed_at", "last_used_at"] {
        assert!(factors[0][field].is_string(), "{field}: {reply:?}");
    }
    // Never a secret: not the key, not a recovery code, no sealed bytes.
    let text = reply.body.to_string();
    assert!(!text.contains(&secret) && !text.contains("secret") && !text.contains("encrypted"), "{text}");
    assert!(codes.iter().all(|code| !text.contains(code.as_str())), "{text}");
    // The user is signed in.
    assert_eq!(user_browser.get(world.url("/mfa")).send().await.unwrap().status(), 200);

    // Reset: every factor and code gone, the user's session ended, audited with before and after.
    let reply = admin.delete(&path).await;
    assert_eq!(reply.status, 204, "{reply:?}");
    let reply = admin.get(&path).await;
    assert_eq!(reply.body, json!({"factors": [], "recovery_codes_remaining": 0}));
    assert!(world.stores.mfa.find_totp(world.organization.id, world.user.id).await.unwrap().is_none());
    assert_eq!(user_browser.get(world.url("/mfa")).send().await.unwrap().status(), 401, "signed out");
    let now = world.clock.now();
    assert!(world.stores.sessions.list_for_user(world.organization.id, world.user.id, now).await.unwrap().is_empty());
    let events = admin_events(&world.stores, &world.organization).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.actor.as_deref(), Some("acme-admin@acme"));
    assert_eq!(event.subject.as_deref(), Some(world.user.id.to_string().as_str()));
    assert_eq!(event.data["before"]["factors"][0]["type"], "totp");
    assert_eq!(event.data["before"]["recovery_codes_remaining"], 10);
    assert_eq!(event.data["after"], json!({"factors": [], "recovery_codes_remaining": 0}));
    assert!(event.data["sessions_ended"].as_u64().unwrap() >= 1, "{event:?}");
    assert!(!event.data.to_string().contains(&secret));

    // Idempotent: a second reset changes nothing and records nothing.
    assert_eq!(admin.delete(&path).await.status, 204);
    assert_eq!(admin_events(&world.stores, &world.organization).await.len(), 1);

    // With MFA required, the next password login leads straight to enrolment.
    let mut organization = world.stores.organizations.get(world.organization.id).await.unwrap();
    organization.settings = json!({"mfa_policy": "required"});
    world.stores.organizations.update(&organization).await.unwrap();
    let again = browser();
    let login = again.get(world.url("/login")).send().await.unwrap().text().await.unwrap();
    let page = submit_login(&world, &again, &login, EMAIL, PASSWORD).await.text().await.unwrap();
    assert!(page.contains("requires two-step verification"), "{page}");
    assert!(!page.contains(&secret), "a new key, not the old one");
    assert!(hidden_field(&page, "csrf_token").is_some());
}

async fn another_organizations_admin_sees_and_changes_nothing(stores: Stores) {
    let world = World::new(stores).await;
    crate::mfa_totp::enrol(&world).await;
    let acme_admin = org_admin(&world, &world.organization).await;
    let other = world.add_organization("other").await;
    let other_admin = org_admin(&world, &other).await;
    let acme_path = mfa_path(&world.organization, world.user.id);
    // Through acme's path, and with acme's user under the other organization's path: 404, as if absent.
    for path in [acme_path.clone(), mfa_path(&other, world.user.id)] {
        other_admin.get(&path).await.assert_problem(404, "not-found");
        other_admin.delete(&path).await.assert_problem(404, "not-found");
    }
    // Nothing changed.
    let reply = acme_admin.get(&acme_path).await;
    assert_eq!(reply.body["factors"].as_array().unwrap().len(), 1, "{reply:?}");
    assert_eq!(reply.body["recovery_codes_remaining"], 10);
    assert!(admin_events(&world.stores, &world.organization).await.is_empty());
    assert!(admin_events(&world.stores, &other).await.is_empty());
    // Unknown and malformed user ids, and no token at all.
    for user in ["019375c2-6647-70a1-bd25-09f47117c3f5", "not-a-uuid", "%00"] {
        acme_admin.get(&mfa_path(&world.organization, user)).await.assert_problem(404, "not-found");
        acme_admin.delete(&mfa_path(&world.organization, user)).await.assert_problem(404, "not-found");
    }
    let mut anonymous = Api::for_tests(world.server.url("/api/v1"), "");
    anonymous.token = None;
    assert_eq!(anonymous.get(&acme_path).await.status, 401);
    assert_eq!(anonymous.delete(&acme_path).await.status, 401);
    let reply = acme_admin.get(&acme_path).await;
    assert_eq!(reply.body["factors"].as_array().unwrap().len(), 1, "still enrolled: {reply:?}");
}

on_both_databases!(an_admin_sees_the_factors_and_resets_them, another_organizations_admin_sees_and_changes_nothing);
