//! The ends of a grant (issue 3): the session idle timeout, access tokens
//! revoked by a replayed code, and consents revoked through the admin API.
//! Each runs over SQLite and PostgreSQL with a FixedClock.

use serde_json::{json, Value};
use time::Duration;
use zenoauth_domain::model::Organization;
use zenoauth_domain::ports::{Clock, RandomSource, Stores};
use zenoauth_domain::roles::{PermissionSet, Role, RoleName, ORG_ADMIN};
use zenoauth_domain::values::ClientId;

use crate::admin_support::Api;
use crate::oidc_support::{
    assert_oauth_error, authorization_url, authorize_in_browser, exchange, http_client, json, obtain_code,
    on_both_databases, pkce, query_param, token_request, World, USER_SCOPES, WEB_SECRET,
};

on_both_databases!(
    sso_ends_after_the_idle_timeout_and_at_the_absolute_lifetime,
    a_replayed_code_revokes_the_access_token_issued_from_it,
    a_revoked_consent_is_asked_again_and_ends_the_refresh_tokens,
);

/// What `/authorize` answers a browser with a session: `Some(code)` when it
/// redirects with a code (single sign-on), `None` when it shows the login page.
async fn authorize_silently(world: &World, browser: &reqwest::Client) -> Option<String> {
    let (_, challenge) = pkce();
    let url = authorization_url(world, "web", "openid", &challenge, &[]);
    let response = browser.get(url).send().await.unwrap();
    if response.status().is_redirection() {
        let location = crate::oidc_support::location(&response);
        return Some(query_param(&location, "code").unwrap_or_else(|| panic!("no code in {location}")));
    }
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(page.contains("name=\"password\""), "expected the login page: {page}");
    None
}

async fn last_seen(world: &World) -> time::OffsetDateTime {
    let sessions = world.stores.sessions.list_for_user(world.organization.id, world.user.id, world.clock.now()).await;
    let sessions = sessions.unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    sessions[0].last_seen_at
}

/// Equal to the microsecond (what the databases keep).
fn assert_same_instant(stored: time::OffsetDateTime, expected: time::OffsetDateTime, what: &str) {
    assert!((stored - expected).abs() < Duration::microseconds(1), "{what}: {stored} vs {expected}");
}

/// Defaults: idle 30 min, absolute 10 h. Use within the idle window keeps the
/// session (and extends it, recorded at most once a minute); 30 idle minutes
/// end it; steady use still ends at the absolute lifetime.
async fn sso_ends_after_the_idle_timeout_and_at_the_absolute_lifetime(stores: Stores) {
    let world = World::new(stores).await;
    let (browser, _, _) = obtain_code(&world, "web", "openid").await;
    let login = world.clock.now();
    assert_same_instant(last_seen(&world).await, login, "starts at login");

    world.clock.advance(Duration::minutes(20));
    assert!(authorize_silently(&world, &browser).await.is_some(), "SSO within the idle window");
    let touched = world.clock.now();
    assert_same_instant(last_seen(&world).await, touched, "the use is recorded");
    world.clock.advance(Duration::seconds(30));
    assert!(authorize_silently(&world, &browser).await.is_some());
    assert_same_instant(last_seen(&world).await, touched, "not recorded again within a minute");
    // 40 minutes after login but 20 after the last use: still signed in.
    world.clock.advance(Duration::minutes(19) + Duration::seconds(30));
    assert!(authorize_silently(&world, &browser).await.is_some(), "the idle window was extended");
    // 30 idle minutes: the login page.
    world.clock.advance(Duration::minutes(30));
    assert!(authorize_silently(&world, &browser).await.is_none(), "idle too long");

    // Used every 25 minutes, a session still ends 10 h after login.
    let (browser, _, _) = obtain_code(&world, "web", "openid").await;
    let login = world.clock.now();
    loop {
        world.clock.advance(Duration::minutes(25));
        let signed_in = authorize_silently(&world, &browser).await.is_some();
        let elapsed = world.clock.now() - login;
        assert_eq!(signed_in, elapsed < Duration::hours(10), "after {elapsed}");
        if !signed_in {
            break;
        }
    }
}

async fn introspect(world: &World, token: &str) -> Value {
    let response = http_client()
        .post(world.url("/introspect"))
        .basic_auth("web", Some(WEB_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    json(response).await
}

async fn userinfo_status(world: &World, token: &str) -> u16 {
    http_client().get(world.url("/userinfo")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

/// RFC 6749 §4.1.2: the tokens issued from a replayed code are revoked —
/// the access token too, not only the refresh token.
async fn a_replayed_code_revokes_the_access_token_issued_from_it(stores: Stores) {
    let world = World::new(stores).await;
    let (_, code, verifier) = obtain_code(&world, "web", USER_SCOPES).await;
    let first = exchange(&world, &code, &verifier).await;
    assert_eq!(first.status(), 200);
    let tokens = json(first).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(introspect(&world, access).await["active"], true);
    assert_eq!(userinfo_status(&world, access).await, 200);
    // An unrelated grant's access token is not touched.
    let (_, other_code, other_verifier) = obtain_code(&world, "web", "openid").await;
    let other = json(exchange(&world, &other_code, &other_verifier).await).await;
    let other_access = other["access_token"].as_str().unwrap();

    assert_oauth_error(exchange(&world, &code, &verifier).await, 400, "invalid_grant").await;
    assert_eq!(introspect(&world, access).await, json!({"active": false}));
    assert_eq!(userinfo_status(&world, access).await, 401);
    assert_eq!(introspect(&world, other_access).await["active"], true);
    assert_eq!(userinfo_status(&world, other_access).await, 200);
}

/// An organization admin's API client for `organization` of the world
/// (a client_credentials service account holding `org-admin`).
async fn org_admin(world: &World, organization: &Organization, client_id: &str) -> Api {
    let scopes = "zenoauth:admin";
    let settings = json!({"grant_types": ["client_credentials"]});
    let application = world.add_app_in(organization, client_id, Some(WEB_SECRET), scopes, settings).await;
    let random = zenoauth_crypto::OsRandom::new();
    let mut bytes = [0u8; 16];
    random.fill(&mut bytes);
    let now = world.clock.now();
    let role = Role {
        id: uuid::Uuid::from_bytes(bytes).into(),
        organization_id: organization.id,
        name: RoleName::parse(ORG_ADMIN).unwrap(),
        description: String::new(),
        permissions: PermissionSet::parse([]).unwrap(),
        created_at: now,
        updated_at: now,
    };
    world.stores.roles.create(&role).await.unwrap();
    world.stores.roles.assign_to_application(organization.id, application.id, role.id).await.unwrap();
    let response = http_client()
        .post(world.server.url(&format!("/o/{}/token", organization.slug.as_str())))
        .basic_auth(client_id, Some(WEB_SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", "zenoauth:admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token = json(response).await["access_token"].as_str().unwrap().to_owned();
    Api::for_tests(world.server.url("/api/v1"), &token)
}

/// The admin API lists and revokes a user's consents; revoking ends the
/// refresh tokens the application holds for the user and the consent page
/// comes back. Another organization's admin sees none of it.
async fn a_revoked_consent_is_asked_again_and_ends_the_refresh_tokens(stores: Stores) {
    let world = World::new(stores).await;
    let web_id = ClientId::parse("web").unwrap();
    let web = world.stores.applications.find_by_client_id(world.organization.id, &web_id).await.unwrap().unwrap();
    let admin = org_admin(&world, &world.organization, "acme-admin").await;
    let other = world.add_organization("other").await;
    let stranger = org_admin(&world, &other, "other-admin").await;

    let (browser, code, verifier) = obtain_code(&world, "web", USER_SCOPES).await;
    let tokens = json(exchange(&world, &code, &verifier).await).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let consents = format!("/organizations/{}/users/{}/consents", world.organization.id, world.user.id);
    let one = format!("{consents}/{}", web.id);

    let listed = admin.get(&consents).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed:?}");
    assert_eq!(items[0]["application_id"], web.id.to_string());
    assert_eq!(items[0]["user_id"], world.user.id.to_string());
    assert_eq!(items[0]["scope"], "email offline_access openid profile");

    // Tenant isolation: another organization's admin gets 404 and changes nothing.
    assert_eq!(stranger.get(&consents).await.status, 404);
    assert_eq!(stranger.delete(&one).await.status, 404);
    assert_eq!(stranger.delete(&consents).await.status, 404);
    let foreign = format!("/organizations/{}/users/{}/consents", other.id, world.user.id);
    assert_eq!(stranger.get(&foreign).await.status, 404, "the user is not in the other organization");
    assert_eq!(admin.get(&consents).await.body["items"].as_array().unwrap().len(), 1);

    assert_eq!(admin.delete(&one).await.status, 204);
    assert_eq!(admin.delete(&one).await.status, 204, "idempotent");
    assert_eq!(admin.get(&consents).await.body["items"], json!([]));
    let refreshed =
        token_request(&world, "web", WEB_SECRET, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_oauth_error(refreshed, 400, "invalid_grant").await;

    // Still signed in, but asked to consent again.
    let (_, challenge) = pkce();
    let page = browser.get(authorization_url(&world, "web", USER_SCOPES, &challenge, &[])).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("name=\"decision\"") && !page.contains("name=\"password\""), "{page}");

    // Consenting again, then revoking everything at once.
    let (verifier, challenge) = pkce();
    let redirect =
        authorize_in_browser(&world, &browser, &authorization_url(&world, "web", USER_SCOPES, &challenge, &[])).await;
    let code = query_param(&redirect, "code").unwrap();
    let tokens = json(exchange(&world, &code, &verifier).await).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(admin.get(&consents).await.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(admin.delete(&consents).await.status, 204);
    assert_eq!(admin.get(&consents).await.body["items"], json!([]));
    let refreshed =
        token_request(&world, "web", WEB_SECRET, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_oauth_error(refreshed, 400, "invalid_grant").await;
}
