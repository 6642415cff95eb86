//! Admin rights end with offboarding (the store, not the token's `roles`
//! claim, has the last word), and admin-set passwords follow the policy and
//! end the user's sessions.

use reqwest::Method;
use serde_json::{json, Value};
use time::Duration;
use zenoauth_crypto::digest_secret;
use zenoauth_domain::model::Session;
use zenoauth_domain::ports::{Clock, Stores};
use zenoauth_domain::roles::RoleName;

use crate::admin_support::AdminWorld;
use crate::oidc_support::on_both_databases;

on_both_databases!(
    service_accounts_lose_the_admin_api_with_their_role,
    users_lose_the_admin_api_when_deactivated_or_demoted,
    admin_set_passwords_follow_the_policy_and_end_sessions,
);

async fn service_accounts_lose_the_admin_api_with_their_role(stores: Stores) {
    let world = AdminWorld::new(stores.clone()).await;
    let (organization, api) = world.org_admin("acme").await;
    let path = format!("/organizations/{}", organization.id);
    assert_eq!(api.get(&path).await.status, 200);
    let role = stores.roles.find_by_name(organization.id, &RoleName::parse("org-admin").unwrap()).await.unwrap();
    let client_id = zenoauth_domain::values::ClientId::parse("acme-admin").unwrap();
    let application = stores.applications.find_by_client_id(organization.id, &client_id).await.unwrap().unwrap();
    stores.roles.unassign_from_application(organization.id, application.id, role.unwrap().id).await.unwrap();
    // The unexpired token still claims org-admin; the store says otherwise.
    api.get(&path).await.assert_problem(403, "forbidden");
    stores.applications.delete(organization.id, application.id).await.unwrap();
    assert_eq!(api.get(&path).await.status, 401);
}

async fn users_lose_the_admin_api_when_deactivated_or_demoted(stores: Stores) {
    use crate::oidc_support::{obtain_code, token_request, World, REDIRECT};
    let world = World::new(stores.clone()).await;
    let secret = "zcs_admin-console-secret";
    world.add_app("console", Some(secret), "openid zenoauth:admin", json!({})).await;
    let now = world.clock.now();
    let ids = zenoauth_domain::ids::IdGenerator::new(
        world.clock.clone(),
        std::sync::Arc::new(zenoauth_crypto::OsRandom::new()),
    );
    let admin_role = zenoauth_domain::roles::Role {
        id: ids.next(),
        organization_id: world.organization.id,
        name: RoleName::parse("org-admin").unwrap(),
        description: String::new(),
        permissions: zenoauth_domain::roles::PermissionSet::parse([]).unwrap(),
        created_at: now,
        updated_at: now,
    };
    stores.roles.create(&admin_role).await.unwrap();
    stores.roles.assign_to_user(world.organization.id, world.user.id, admin_role.id).await.unwrap();
    let (_, code, verifier) = obtain_code(&world, "console", "openid zenoauth:admin").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let response = token_request(&world, "console", secret, &form).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap().to_owned();
    let api = crate::admin_support::Api::for_tests(world.server.url("/api/v1"), &access);
    let path = format!("/organizations/{}", world.organization.id);
    assert_eq!(api.get(&path).await.status, 200);

    // Deactivated: the still-unexpired token no longer works.
    let mut user = stores.users.get(world.organization.id, world.user.id).await.unwrap();
    user.is_active = false;
    stores.users.update(&user).await.unwrap();
    assert_eq!(api.get(&path).await.status, 401);

    // Reactivated but demoted: forbidden although the token claims org-admin.
    user.is_active = true;
    stores.users.update(&user).await.unwrap();
    assert_eq!(api.get(&path).await.status, 200);
    stores.roles.unassign_from_user(world.organization.id, world.user.id, admin_role.id).await.unwrap();
    api.get(&path).await.assert_problem(403, "forbidden");
}

async fn admin_set_passwords_follow_the_policy_and_end_sessions(stores: Stores) {
    let world = AdminWorld::new(stores.clone()).await;
    let (organization, api) = world.org_admin("acme").await;
    let users = format!("/organizations/{}/users", organization.id);
    for weak in ["short", "password123", "alice2026x"] {
        let reply = api.post(&users, json!({"email": "alice@example.com", "password": weak})).await;
        reply.assert_problem(400, "validation");
        assert!(reply.body["detail"].as_str().unwrap().starts_with("password"), "{reply:?}");
    }
    let created = api.post(&users, json!({"email": "alice@example.com", "password": "a fresh long secret"})).await;
    assert_eq!(created.status, 201, "{created:?}");
    let user_id: zenoauth_domain::ids::UserId = created.id().parse().unwrap();

    let now = world.clock.now();
    let session = Session {
        id: world.ids.next(),
        organization_id: organization.id,
        user_id,
        token_digest: digest_secret("zas_alice-session"),
        authenticated_at: now,
        created_at: now,
        expires_at: now + Duration::hours(1),
        last_seen_at: now,
        metadata: json!({}),
    };
    stores.sessions.create(&session).await.unwrap();
    let password_path = format!("{users}/{user_id}/password");
    let weak = api.send(Method::PUT, &password_path, Some(json!({"password": "password123"})), &[]).await;
    weak.assert_problem(400, "validation");
    assert!(stores.sessions.get(organization.id, session.id).await.is_ok(), "a refused password changes nothing");
    let set = api.send(Method::PUT, &password_path, Some(json!({"password": "another long secret"})), &[]).await;
    assert_eq!(set.status, 204, "{set:?}");
    assert!(
        matches!(stores.sessions.get(organization.id, session.id).await, Err(zenoauth_domain::Error::NotFound(_))),
        "the user's sessions ended"
    );

    // A new email address is unverified until proven.
    let path = format!("{users}/{user_id}");
    let read = api.get(&path).await;
    let verified = api.patch(&path, json!({"email_verified": true}), &read.etag()).await;
    assert_eq!(verified.body["email_verified"], json!(true));
    let moved = api.patch(&path, json!({"email": "alice@new.example.com"}), &verified.etag()).await;
    assert_eq!(moved.status, 200, "{moved:?}");
    assert_eq!(moved.body["email_verified"], json!(false));
}
