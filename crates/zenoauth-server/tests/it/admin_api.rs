//! The admin API over the real server: every endpoint's happy path, bad
//! input, conflicts, ETag/If-Match and pagination, with tokens obtained from
//! the token endpoint.

use serde_json::{json, Value};
use time::Duration;
use zenoauth_crypto::digest_secret;
use zenoauth_domain::model::{RefreshToken, RefreshTokenFamily, Session};
use zenoauth_domain::ports::{Clock, PasswordHasher, Stores};
use zenoauth_domain::values::{Password, ScopeSet};
use zenoauth_server::http::HttpLimits;

use crate::admin_support::{claims, AdminWorld, PLATFORM_CLIENT, SECRET};
use crate::oidc_support::on_both_databases;

on_both_databases!(
    organizations_follow_every_convention,
    users_are_managed_searched_and_deactivated,
    applications_show_secrets_once_and_rotate_with_a_grace_period,
    roles_are_assigned_and_carried_in_access_tokens,
    sessions_keys_and_audit_events,
    the_admin_api_checks_tokens_as_a_resource_server,
    user_tokens_carry_the_users_roles_and_can_administer,
);

async fn organizations_follow_every_convention(stores: Stores) {
    let world = AdminWorld::new(stores).await;
    let api = world.platform().await;

    let created = api.post("/organizations", json!({"slug": "acme", "name": "Acme", "settings": {"x": 1}})).await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.id();
    assert_eq!(created.header("location").unwrap(), format!("/api/v1/organizations/{id}"));
    assert_eq!(created.body["issuer"], json!(world.server.url("/o/acme")));
    let read = api.get(&format!("/organizations/{id}")).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.etag(), created.etag());
    assert_eq!(read.body, created.body);

    // Conflicts and bad input.
    api.post("/organizations", json!({"slug": "acme", "name": "Again"})).await.assert_problem(409, "conflict");
    api.post("/organizations", json!({"slug": "Not A Slug", "name": "x"})).await.assert_problem(400, "validation");
    api.post("/organizations", json!({"slug": "ok-slug"})).await.assert_problem(400, "validation");
    api.post("/organizations", json!({"slug": "ok-slug", "name": "x", "extra": 1}))
        .await
        .assert_problem(400, "validation");
    api.post("/organizations", json!({"slug": "ok-slug", "name": "x", "settings": [1]}))
        .await
        .assert_problem(400, "validation");
    let bad_logo = json!({"slug": "ok-slug", "name": "x", "settings": {"logo_url": "javascript:alert(1)"}});
    api.post("/organizations", bad_logo).await.assert_problem(400, "validation");
    let not_json = api.send(reqwest::Method::POST, "/organizations", None, &[("content-type", "text/plain")]).await;
    not_json.assert_problem(415, "unsupported-media-type");
    let huge = json!({"slug": "huge", "name": "x", "settings": {"blob": "x".repeat(20_000)}});
    api.post("/organizations", huge).await.assert_problem(400, "validation");
    assert_eq!(api.get("/organizations/not-a-uuid").await.status, 404);

    // ETag / If-Match.
    let path = format!("/organizations/{id}");
    let missing = api.send(reqwest::Method::PATCH, &path, Some(json!({"name": "Acme 2"})), &[]).await;
    missing.assert_problem(428, "precondition-required");
    api.patch(&path, json!({"name": "Acme 2"}), "\"stale\"").await.assert_problem(412, "precondition-failed");
    let updated = api.patch(&path, json!({"name": "Acme 2"}), &read.etag()).await;
    assert_eq!(updated.status, 200, "{updated:?}");
    assert_eq!(updated.body["name"], "Acme 2");
    assert_eq!(updated.body["settings"], json!({"x": 1}));
    assert_ne!(updated.etag(), read.etag());
    assert_eq!(api.get(&path).await.etag(), updated.etag());
    api.patch(&path, json!({"name": "Lost update"}), &read.etag()).await.assert_problem(412, "precondition-failed");
    assert_eq!(api.get(&path).await.body["name"], "Acme 2");

    // Pagination: system, acme and three more, by id.
    for slug in ["org-c", "org-d", "org-e"] {
        assert_eq!(api.post("/organizations", json!({"slug": slug, "name": slug})).await.status, 201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(cursor) => format!("/organizations?limit=2&after={cursor}"),
            None => "/organizations?limit=2".to_owned(),
        };
        let page = api.get(&query).await;
        assert_eq!(page.status, 200, "{page:?}");
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|item| (item["id"].as_str().unwrap().to_owned(), item["slug"].as_str().unwrap().to_owned())),
        );
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    // Every organization once, in id order (ids are UUIDv7: creation order, but
    // this test's clock stands still, so only the id order is promised).
    let ids: Vec<&String> = seen.iter().map(|(id, _)| id).collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{seen:?}");
    let mut slugs: Vec<&str> = seen.iter().map(|(_, slug)| slug.as_str()).collect();
    slugs.sort_unstable();
    assert_eq!(slugs, ["acme", "org-c", "org-d", "org-e", "system"]);
    for bad in ["?limit=0", "?limit=201", "?limit=x", "?after=garbage"] {
        api.get(&format!("/organizations{bad}")).await.assert_problem(400, "validation");
    }

    // Idempotent delete; the system organization stays.
    assert_eq!(api.delete(&path).await.status, 204);
    assert_eq!(api.delete(&path).await.status, 204);
    api.get(&path).await.assert_problem(404, "not-found");
    api.delete(&format!("/organizations/{}", world.system.id)).await.assert_problem(409, "conflict");
}

/// A body larger than the configured limit is 413 problem+json and changes nothing.
#[tokio::test]
async fn oversized_bodies_are_refused() {
    let (stores, _directory) = crate::oidc_support::sqlite_stores().await;
    let limits = HttpLimits { max_body_bytes: 4096, ..HttpLimits::default() };
    let world = AdminWorld::with_limits(stores, limits).await;
    let api = world.platform().await;
    let reply = api.post("/organizations", json!({"slug": "big", "name": "x".repeat(5000)})).await;
    assert_eq!(reply.status, 413, "{reply:?}");
    assert_eq!(reply.header("content-type").as_deref(), Some("application/problem+json"));
    let listed = api.get("/organizations").await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
}

async fn users_are_managed_searched_and_deactivated(stores: Stores) {
    let world = AdminWorld::new(stores.clone()).await;
    let api = world.platform().await;
    let acme = world.organization("acme").await;
    let users = format!("/organizations/{}/users", acme.id);

    let alice = api
        .post(
            &users,
            json!({"email": "Alice@Example.com", "password": "finance-ledger-2026", "profile": {"dept": "finance", "level": 3}}),
        )
        .await;
    assert_eq!(alice.status, 201, "{alice:?}");
    assert_eq!(alice.body["email"], "alice@example.com");
    assert_eq!(alice.body["has_password"], true);
    assert!(alice.body.get("password_hash").is_none() && !alice.body.to_string().contains("argon2"));
    let alice_path = format!("{users}/{}", alice.id());
    assert_eq!(alice.header("location").unwrap(), format!("/api/v1{alice_path}"));
    world.clock.advance(Duration::milliseconds(5));
    let invited = api.post(&users, json!({"email": "bob@example.com", "profile": {"dept": "sales"}})).await;
    assert_eq!(invited.status, 201);
    assert_eq!(invited.body["has_password"], false);
    api.post(&users, json!({"email": "ALICE@example.com"})).await.assert_problem(409, "conflict");
    api.post(&users, json!({"email": "not-an-email"})).await.assert_problem(400, "validation");
    api.post(&users, json!({"email": "c@example.com", "password": ""})).await.assert_problem(400, "validation");
    api.post(&users, json!({"email": "c@example.com", "profile": "x"})).await.assert_problem(400, "validation");

    // Search: email prefix, profile attribute equality (JSON or plain string values).
    let emails = |reply: &crate::admin_support::Reply| -> Vec<String> {
        reply.body["items"].as_array().unwrap().iter().map(|user| user["email"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(emails(&api.get(&format!("{users}?email_prefix=ali")).await), ["alice@example.com"]);
    assert_eq!(emails(&api.get(&format!("{users}?profile_key=dept&profile_value=sales")).await), ["bob@example.com"]);
    assert_eq!(emails(&api.get(&format!("{users}?profile_key=level&profile_value=3")).await), ["alice@example.com"]);
    assert!(emails(&api.get(&format!("{users}?profile_key=level&profile_value=%223%22")).await).is_empty());
    api.get(&format!("{users}?profile_key=dept")).await.assert_problem(400, "validation");
    let page = api.get(&format!("{users}?limit=1")).await;
    assert_eq!(emails(&page), ["alice@example.com"]);
    let next = page.body["next_cursor"].as_str().unwrap();
    assert_eq!(emails(&api.get(&format!("{users}?limit=1&after={next}")).await), ["bob@example.com"]);

    // Update with If-Match.
    let read = api.get(&alice_path).await;
    let updated =
        api.patch(&alice_path, json!({"profile": {"dept": "sales"}, "email_verified": true}), &read.etag()).await;
    assert_eq!(updated.status, 200, "{updated:?}");
    assert_eq!(updated.body["profile"], json!({"dept": "sales"}));
    api.patch(&alice_path, json!({"email": "bob@example.com"}), &updated.etag()).await.assert_problem(409, "conflict");

    // Deactivation ends sessions and refresh tokens; reactivation restores logins.
    let alice_id = alice.id().parse().unwrap();
    let (session, family) = session_with_family(&world, &stores, &acme, alice_id).await;
    let deactivated = api.post(&format!("{alice_path}/deactivate"), json!({})).await;
    assert_eq!(deactivated.status, 200);
    assert_eq!(deactivated.body["is_active"], false);
    assert!(stores.sessions.get(acme.id, session).await.is_err());
    let (_, revoked) = stores.refresh_tokens.find(acme.id, &family).await.unwrap().unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(api.post(&format!("{alice_path}/deactivate"), json!({})).await.status, 200);
    assert_eq!(api.post(&format!("{alice_path}/reactivate"), json!({})).await.body["is_active"], true);

    // Set a password.
    let bob_path = format!("{users}/{}", invited.id());
    let set = api
        .send(
            reqwest::Method::PUT,
            &format!("{bob_path}/password"),
            Some(json!({"password": "a fresh long secret"})),
            &[],
        )
        .await;
    assert_eq!(set.status, 204, "{set:?}");
    let bob = stores.users.get(acme.id, invited.id().parse().unwrap()).await.unwrap();
    let ok = world
        .services
        .hasher
        .verify(&Password::parse("a fresh long secret").unwrap(), bob.password_hash.as_ref().unwrap())
        .await;
    assert!(ok.unwrap());
    assert_eq!(api.get(&bob_path).await.body["has_password"], true);

    // Idempotent delete.
    assert_eq!(api.delete(&bob_path).await.status, 204);
    assert_eq!(api.delete(&bob_path).await.status, 204);
    api.get(&bob_path).await.assert_problem(404, "not-found");
}

/// A session of `user` with a refresh-token family issued in it; returns the
/// session id and the refresh token's digest.
async fn session_with_family(
    world: &AdminWorld,
    stores: &Stores,
    organization: &zenoauth_domain::model::Organization,
    user: zenoauth_domain::ids::UserId,
) -> (zenoauth_domain::ids::SessionId, zenoauth_domain::values::SecretDigest) {
    let now = world.clock.now();
    let session = Session {
        id: world.ids.next(),
        organization_id: organization.id,
        user_id: user,
        token_digest: digest_secret(&format!("zas_{}", world.ids.uuid())),
        authenticated_at: now,
        created_at: now,
        expires_at: now + Duration::hours(1),
        last_seen_at: now,
        metadata: json!({"amr": ["pwd"]}),
    };
    stores.sessions.create(&session).await.unwrap();
    let application = world.service_account(organization, &format!("web-{}", world.ids.uuid()), &[]).await;
    let family = RefreshTokenFamily {
        id: world.ids.next(),
        organization_id: organization.id,
        application_id: application.id,
        user_id: Some(user),
        session_id: Some(session.id),
        authorization_code_id: None,
        scope: ScopeSet::parse("openid").unwrap(),
        auth_time: Some(now),
        created_at: now,
        expires_at: now + Duration::days(1),
        revoked_at: None,
    };
    let digest = digest_secret(&format!("zar_{}", world.ids.uuid()));
    let first = RefreshToken {
        token_digest: digest,
        family_id: family.id,
        organization_id: organization.id,
        created_at: now,
        expires_at: family.expires_at,
        rotated_at: None,
    };
    stores.refresh_tokens.create_family(&family, &first).await.unwrap();
    (session.id, digest)
}

async fn applications_show_secrets_once_and_rotate_with_a_grace_period(stores: Stores) {
    let world = AdminWorld::new(stores).await;
    let api = world.platform().await;
    let acme = world.organization("acme").await;
    let applications = format!("/organizations/{}/applications", acme.id);

    let created = api
        .post(
            &applications,
            json!({"client_id": "billing", "name": "Billing", "allowed_scopes": ["api:read"],
                   "grant_types": ["client_credentials"], "access_token_lifetime_seconds": 300}),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.header("cache-control").as_deref(), Some("no-store"));
    let secret = created.body["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("zcs_"));
    let app = &created.body["application"];
    assert_eq!(app["client_type"], "confidential");
    assert_eq!(app["grant_types"], json!(["client_credentials"]));
    assert_eq!(app["token_endpoint_auth_method"], "client_secret_basic");
    let path = format!("{applications}/{}", app["id"].as_str().unwrap());
    assert_eq!(created.header("location").unwrap(), format!("/api/v1{path}"));
    let read = api.get(&path).await;
    assert_eq!(read.status, 200);
    assert_eq!(&read.body, app);
    assert!(
        !read.body.to_string().contains(&secret) && !api.get(&applications).await.body.to_string().contains(&secret)
    );

    // The secret works at the token endpoint.
    let (status, body) = world.token_response("acme", "billing", &secret, "api:read").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 300);

    // Rotation with a grace period: both work until it ends, then only the new one.
    let rotated = api.post(&format!("{path}/secret"), json!({"grace_period_seconds": 60})).await;
    assert_eq!(rotated.status, 200, "{rotated:?}");
    let new_secret = rotated.body["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert!(rotated.body["previous_secret_expires_at"].is_string());
    assert_eq!(world.token_response("acme", "billing", &new_secret, "api:read").await.0, 200);
    assert_eq!(world.token_response("acme", "billing", &secret, "api:read").await.0, 200);
    world.clock.advance(Duration::seconds(61));
    assert_eq!(world.token_response("acme", "billing", &secret, "api:read").await.0, 401);
    assert_eq!(world.token_response("acme", "billing", &new_secret, "api:read").await.0, 200);
    let immediate = api.post(&format!("{path}/secret"), json!({})).await;
    assert_eq!(immediate.body["previous_secret_expires_at"], Value::Null);
    assert_eq!(world.token_response("acme", "billing", &new_secret, "api:read").await.0, 401);
    api.post(&format!("{path}/secret"), json!({"grace_period_seconds": -1})).await.assert_problem(400, "validation");

    // Public clients: no secret, nothing to rotate.
    let public = api
        .post(
            &applications,
            json!({"client_id": "spa", "name": "SPA", "client_type": "public",
            "redirect_uris": ["http://127.0.0.1:3000/cb"], "allowed_scopes": ["openid"]}),
        )
        .await;
    assert_eq!(public.status, 201, "{public:?}");
    assert_eq!(public.body["client_secret"], Value::Null);
    assert_eq!(public.body["application"]["token_endpoint_auth_method"], "none");
    let public_path = format!("{applications}/{}", public.body["application"]["id"].as_str().unwrap());
    api.post(&format!("{public_path}/secret"), json!({})).await.assert_problem(409, "conflict");

    // Bad input and conflicts.
    api.post(&applications, json!({"client_id": "billing", "name": "Again"})).await.assert_problem(409, "conflict");
    for bad in [
        json!({"name": "x", "redirect_uris": ["http://evil.example.com/cb"]}),
        json!({"name": "x", "grant_types": ["password"]}),
        json!({"name": "x", "signing_algorithm": "HS256"}),
        json!({"name": "x", "access_token_lifetime_seconds": 0}),
        json!({"name": "x", "client_type": "secretive"}),
        json!({"name": "x", "client_type": "public", "token_endpoint_auth_method": "client_secret_basic"}),
        json!({"name": "x", "allowed_scopes": ["a b"]}),
        json!({"name": ""}),
    ] {
        api.post(&applications, bad.clone()).await.assert_problem(400, "validation");
    }

    // Update with If-Match: lifetimes, URIs, algorithm, first-party.
    let current = api.get(&public_path).await;
    let changes = json!({"redirect_uris": ["https://spa.example.com/cb"], "post_logout_redirect_uris": ["https://spa.example.com/bye"],
        "id_token_lifetime_seconds": 120, "signing_algorithm": "ES256", "is_first_party": true, "name": "Our SPA"});
    let updated = api.patch(&public_path, changes, &current.etag()).await;
    assert_eq!(updated.status, 200, "{updated:?}");
    assert_eq!(updated.body["redirect_uris"], json!(["https://spa.example.com/cb"]));
    assert_eq!(updated.body["post_logout_redirect_uris"], json!(["https://spa.example.com/bye"]));
    assert_eq!(updated.body["id_token_lifetime_seconds"], 120);
    assert_eq!(updated.body["signing_algorithm"], "ES256");
    assert_eq!(updated.body["is_first_party"], true);
    api.patch(&public_path, json!({"grant_types": ["nope"]}), &updated.etag()).await.assert_problem(400, "validation");
    api.patch(&public_path, json!({"name": "x"}), &current.etag()).await.assert_problem(412, "precondition-failed");

    assert_eq!(api.delete(&public_path).await.status, 204);
    assert_eq!(api.delete(&public_path).await.status, 204);
    api.get(&public_path).await.assert_problem(404, "not-found");
}

async fn roles_are_assigned_and_carried_in_access_tokens(stores: Stores) {
    let world = AdminWorld::new(stores).await;
    let api = world.platform().await;
    let acme = world.organization("acme").await;
    let base = format!("/organizations/{}", acme.id);

    let reader = api
        .post(&format!("{base}/roles"), json!({"name": "reader", "description": "Reads", "permissions": ["doc:read"]}))
        .await;
    assert_eq!(reader.status, 201, "{reader:?}");
    let writer =
        api.post(&format!("{base}/roles"), json!({"name": "writer", "permissions": ["doc:write", "doc:read"]})).await;
    assert_eq!(writer.body["permissions"], json!(["doc:read", "doc:write"]));
    api.post(&format!("{base}/roles"), json!({"name": "reader"})).await.assert_problem(409, "conflict");
    api.post(&format!("{base}/roles"), json!({"name": "Bad Name"})).await.assert_problem(400, "validation");
    api.post(&format!("{base}/roles"), json!({"name": "x", "permissions": ["has space"]}))
        .await
        .assert_problem(400, "validation");
    let reader_path = format!("{base}/roles/{}", reader.id());
    let writer_path = format!("{base}/roles/{}", writer.id());

    // Assign both roles to a service account; its client_credentials token carries them.
    let service = world.service_account(&acme, "reporting", &[]).await;
    let app_path = format!("{base}/applications/{}", service.id);
    assert_eq!(api.put(&format!("{app_path}/roles/{}", reader.id())).await.status, 204);
    assert_eq!(api.put(&format!("{app_path}/roles/{}", reader.id())).await.status, 204);
    assert_eq!(api.put(&format!("{app_path}/roles/{}", writer.id())).await.status, 204);
    let held = api.get(&format!("{app_path}/roles")).await;
    let names: Vec<&str> =
        held.body["items"].as_array().unwrap().iter().map(|role| role["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["reader", "writer"]);
    let (status, body) = world.token_response("acme", "reporting", SECRET, "api:read").await;
    assert_eq!(status, 200, "{body}");
    let token_claims = claims(body["access_token"].as_str().unwrap());
    assert_eq!(token_claims["roles"], json!(["reader", "writer"]));
    assert_eq!(token_claims["permissions"], json!(["doc:read", "doc:write"]));
    assert_eq!(token_claims["aud"], json!("reporting"));

    // Updating a role changes what the next token carries.
    let current = api.get(&writer_path).await;
    let renamed =
        api.patch(&writer_path, json!({"name": "editor", "permissions": ["doc:edit"]}), &current.etag()).await;
    assert_eq!(renamed.status, 200, "{renamed:?}");
    api.patch(&writer_path, json!({"name": "reader"}), &renamed.etag()).await.assert_problem(409, "conflict");
    let token_claims =
        claims(world.token_response("acme", "reporting", SECRET, "api:read").await.1["access_token"].as_str().unwrap());
    assert_eq!(token_claims["roles"], json!(["editor", "reader"]));
    assert_eq!(token_claims["permissions"], json!(["doc:edit", "doc:read"]));

    // Users hold roles too.
    let user = api.post(&format!("{base}/users"), json!({"email": "carol@example.com"})).await;
    let user_path = format!("{base}/users/{}", user.id());
    assert_eq!(api.put(&format!("{user_path}/roles/{}", reader.id())).await.status, 204);
    assert_eq!(api.get(&format!("{user_path}/roles")).await.body["items"][0]["name"], "reader");
    assert_eq!(api.delete(&format!("{user_path}/roles/{}", reader.id())).await.status, 204);
    assert_eq!(api.delete(&format!("{user_path}/roles/{}", reader.id())).await.status, 204);
    assert!(api.get(&format!("{user_path}/roles")).await.body["items"].as_array().unwrap().is_empty());
    api.put(&format!("{user_path}/roles/{}", world.ids.uuid())).await.assert_problem(404, "not-found");

    // Unassign from the application, delete a role (idempotently), list.
    assert_eq!(api.delete(&format!("{app_path}/roles/{}", reader.id())).await.status, 204);
    assert_eq!(api.delete(&reader_path).await.status, 204);
    assert_eq!(api.delete(&reader_path).await.status, 204);
    api.get(&reader_path).await.assert_problem(404, "not-found");
    let listed = api.get(&format!("{base}/roles")).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    let token_claims =
        claims(world.token_response("acme", "reporting", SECRET, "api:read").await.1["access_token"].as_str().unwrap());
    assert_eq!(token_claims["roles"], json!(["editor"]));

    // Admin tokens name the admin API as an audience and carry the role.
    let admin_claims = claims(api.token.as_deref().unwrap());
    assert_eq!(admin_claims["aud"], json!([PLATFORM_CLIENT, world.server.url("/api")]));
    assert_eq!(admin_claims["roles"], json!(["platform-admin"]));
}

async fn sessions_keys_and_audit_events(stores: Stores) {
    let world = AdminWorld::new(stores.clone()).await;
    let api = world.platform().await;
    let acme = world.organization("acme").await;
    let base = format!("/organizations/{}", acme.id);
    let user = api.post(&format!("{base}/users"), json!({"email": "dave@example.com"})).await;
    let user_id = user.id().parse().unwrap();
    let sessions_path = format!("{base}/users/{}/sessions", user.id());

    let (first, first_family) = session_with_family(&world, &stores, &acme, user_id).await;
    world.clock.advance(Duration::seconds(1));
    let (second, second_family) = session_with_family(&world, &stores, &acme, user_id).await;
    let listed = api.get(&sessions_path).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let ids: Vec<&str> = listed.body["items"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [first.to_string(), second.to_string()]);
    assert_eq!(api.delete(&format!("{sessions_path}/{first}")).await.status, 204);
    assert_eq!(api.delete(&format!("{sessions_path}/{first}")).await.status, 204);
    assert!(stores.refresh_tokens.find(acme.id, &first_family).await.unwrap().unwrap().1.revoked_at.is_some());
    assert!(stores.refresh_tokens.find(acme.id, &second_family).await.unwrap().unwrap().1.revoked_at.is_none());
    assert_eq!(api.delete(&sessions_path).await.status, 204);
    assert!(api.get(&sessions_path).await.body["items"].as_array().unwrap().is_empty());
    assert!(stores.refresh_tokens.find(acme.id, &second_family).await.unwrap().unwrap().1.revoked_at.is_some());
    assert!(stores.sessions.get(acme.id, second).await.is_err());

    // Signing keys: rotate (staged) publishes a pending key next to the active one.
    let keys_path = format!("{base}/keys");
    let first_rotation = api.post(&format!("{keys_path}/rotate"), json!({"algorithm": "EdDSA"})).await;
    assert_eq!(first_rotation.status, 200, "{first_rotation:?}");
    let staged = api.post(&format!("{keys_path}/rotate"), json!({"algorithm": "EdDSA"})).await;
    assert_eq!(staged.body[0]["key"]["state"], "pending");
    let keys = api.get(&keys_path).await;
    let mut states: Vec<&str> =
        keys.body["items"].as_array().unwrap().iter().map(|k| k["state"].as_str().unwrap()).collect();
    states.sort_unstable();
    assert_eq!(states, ["active", "pending"]);
    assert!(!keys.body.to_string().contains("\"d\""), "no private key material");
    api.post(&format!("{keys_path}/rotate"), json!({"algorithm": "HS256"})).await.assert_problem(400, "validation");

    // The audit log saw every change, filterable.
    let audit = format!("{base}/audit-events");
    let created = api.get(&format!("{audit}?type=user.created")).await;
    assert_eq!(created.status, 200, "{created:?}");
    let events = created.body["items"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["subject"], json!(user.id()));
    assert_eq!(events[0]["actor"], json!(format!("{PLATFORM_CLIENT}@system")));
    assert!(events[0]["correlation_id"].is_string() && events[0]["ip"] == "127.0.0.1", "{events:?}");
    let by_subject = api.get(&format!("{audit}?subject={}", user.id())).await;
    assert!(by_subject.body["items"].as_array().unwrap().len() >= 3);
    let future =
        (world.clock.now() + Duration::hours(1)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let none = api.get(&format!("{audit}?from={}", future.replace('+', "%2B"))).await;
    assert!(none.body["items"].as_array().unwrap().is_empty(), "{none:?}");
    api.get(&format!("{audit}?from=yesterday")).await.assert_problem(400, "validation");
    let page = api.get(&format!("{audit}?limit=1")).await;
    assert!(page.body["next_cursor"].is_string());
}

async fn the_admin_api_checks_tokens_as_a_resource_server(stores: Stores) {
    let world = AdminWorld::new(stores).await;
    let anonymous = world.anonymous().get("/organizations").await;
    anonymous.assert_problem(401, "unauthenticated");
    assert_eq!(anonymous.header("www-authenticate").as_deref(), Some("Bearer realm=\"zenoauth-admin\""));
    for junk in ["Bearer", "Bearer not.a.jwt", "Basic dXNlcjpwYXNz", "Bearer a.b.c"] {
        let reply =
            world.anonymous().send(reqwest::Method::GET, "/organizations", None, &[("authorization", junk)]).await;
        reply.assert_problem(401, "unauthenticated");
        assert!(reply.header("www-authenticate").unwrap().starts_with("Bearer realm=\"zenoauth-admin\", error="));
    }

    // A token of the right issuer without the admin audience (no zenoauth:admin scope).
    let (status, body) = world.token_response("system", PLATFORM_CLIENT, SECRET, "api:read").await;
    assert_eq!(status, 200);
    let plain = world.api(body["access_token"].as_str().unwrap().to_owned()).get("/organizations").await;
    plain.assert_problem(401, "unauthenticated");
    assert!(plain.header("www-authenticate").unwrap().contains("invalid_token"));

    // zenoauth:admin is granted only to applications allowed it.
    let acme = world.organization("acme").await;
    let narrow = world.service_account(&acme, "narrow", &["org-admin"]).await;
    let mut restricted = narrow.clone();
    restricted.allowed_scopes = ScopeSet::parse("api:read").unwrap();
    world.stores.applications.update(&restricted).await.unwrap();
    assert_eq!(world.token_response("acme", "narrow", SECRET, "zenoauth:admin").await.0, 400);

    // An admin-audience token without an admin role is forbidden.
    world.service_account(&acme, "no-role", &[]).await;
    let no_role = world.api(world.token("acme", "no-role").await).get("/organizations").await;
    no_role.assert_problem(403, "forbidden");
    assert!(no_role.header("www-authenticate").unwrap().contains("insufficient_scope"));
    // org-admin of another organization does not make a platform admin; platform-admin outside system neither.
    world.service_account(&acme, "fake-platform", &["platform-admin"]).await;
    world.api(world.token("acme", "fake-platform").await).get("/organizations").await.assert_problem(403, "forbidden");

    // A tampered token fails its signature.
    let token = world.token("system", PLATFORM_CLIENT).await;
    let api = world.api(token.clone());
    assert_eq!(api.get("/organizations").await.status, 200);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut payload = claims(&token);
    payload["roles"] = json!(["platform-admin", "org-admin"]);
    use base64::Engine;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
    world.api(parts.join(".")).get("/organizations").await.assert_problem(401, "unauthenticated");

    // Revoked (RFC 7009 at the issuer) and expired tokens are refused.
    let revoked = world.token("system", PLATFORM_CLIENT).await;
    let revocation = crate::support::client()
        .post(world.server.url("/o/system/revoke"))
        .basic_auth(PLATFORM_CLIENT, Some(SECRET))
        .form(&[("token", revoked.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revocation.status(), 200);
    world.api(revoked).get("/organizations").await.assert_problem(401, "unauthenticated");
    world.clock.advance(Duration::seconds(901));
    api.get("/organizations").await.assert_problem(401, "unauthenticated");
}

/// Authorization-code and refresh tokens carry the user's roles; a user
/// holding org-admin administers their organization with them.
async fn user_tokens_carry_the_users_roles_and_can_administer(stores: Stores) {
    use crate::oidc_support::{obtain_code, token_request, World, REDIRECT};
    let world = World::new(stores.clone()).await;
    let secret = "zcs_admin-console-secret";
    world.add_app("console", Some(secret), "openid zenoauth:admin offline_access", json!({})).await;
    let now = world.clock.now();
    let ids = zenoauth_domain::ids::IdGenerator::new(
        world.clock.clone(),
        std::sync::Arc::new(zenoauth_crypto::OsRandom::new()),
    );
    let role = |name: &str, permissions: &[&str]| zenoauth_domain::roles::Role {
        id: ids.next(),
        organization_id: world.organization.id,
        name: zenoauth_domain::roles::RoleName::parse(name).unwrap(),
        description: String::new(),
        permissions: zenoauth_domain::roles::PermissionSet::parse(permissions.iter().copied()).unwrap(),
        created_at: now,
        updated_at: now,
    };
    let auditor = role("auditor", &["audit:read"]);
    stores.roles.create(&auditor).await.unwrap();
    stores.roles.assign_to_user(world.organization.id, world.user.id, auditor.id).await.unwrap();

    let (_, code, verifier) = obtain_code(&world, "console", "openid zenoauth:admin offline_access").await;
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
    let token_claims = claims(&access);
    assert_eq!(token_claims["sub"], json!(world.user.id.to_string()));
    assert_eq!(token_claims["roles"], json!(["auditor"]));
    assert_eq!(token_claims["permissions"], json!(["audit:read"]));
    assert_eq!(token_claims["aud"], json!(["console", world.server.url("/api")]));
    let api = |token: &str| crate::admin_support::Api::for_tests(world.server.url("/api/v1"), token);
    let organization_path = format!("/organizations/{}", world.organization.id);
    api(&access).get(&organization_path).await.assert_problem(403, "forbidden");

    // org-admin for the user: the refreshed token carries it and administers the organization.
    let admin_role = role("org-admin", &[]);
    stores.roles.create(&admin_role).await.unwrap();
    stores.roles.assign_to_user(world.organization.id, world.user.id, admin_role.id).await.unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    let refreshed =
        token_request(&world, "console", secret, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    let admin_token = refreshed["access_token"].as_str().unwrap();
    assert_eq!(claims(admin_token)["roles"], json!(["auditor", "org-admin"]));
    let reply = api(admin_token).get(&organization_path).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["slug"], "acme");
    let other = world.add_organization("other").await;
    api(admin_token).get(&format!("/organizations/{}", other.id)).await.assert_problem(404, "not-found");
}
