//! Tenant isolation of the admin API: an organization admin of A gets 404
//! for each of B's objects on every endpoint (no existence leak), changes
//! nothing of B's, and cannot assign B's roles; only platform admins create
//! or delete organizations or touch the platform-admin role.

use serde_json::json;
use zenoauth_domain::ports::Stores;

use crate::admin_support::{AdminWorld, Reply};
use crate::oidc_support::on_both_databases;

on_both_databases!(an_organization_admin_sees_nothing_of_another_organization);

fn assert_hidden(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 404, "{what}: {reply:?}");
    assert_eq!(reply.body["type"], "https://zenoauth.dev/problems/not-found", "{what}");
}

async fn an_organization_admin_sees_nothing_of_another_organization(stores: Stores) {
    let world = AdminWorld::new(stores.clone()).await;
    let platform = world.platform().await;
    let (a, admin_a) = world.org_admin("org-a").await;
    let (b, admin_b) = world.org_admin("org-b").await;

    // B's objects, made by B's own admin.
    let b_base = format!("/organizations/{}", b.id);
    let b_user = admin_b.post(&format!("{b_base}/users"), json!({"email": "bee@example.com"})).await;
    assert_eq!(b_user.status, 201, "{b_user:?}");
    let b_app = admin_b.post(&format!("{b_base}/applications"), json!({"client_id": "b-app", "name": "B"})).await;
    assert_eq!(b_app.status, 201, "{b_app:?}");
    let b_app_id = b_app.body["application"]["id"].as_str().unwrap().to_owned();
    let b_role = admin_b.post(&format!("{b_base}/roles"), json!({"name": "b-role"})).await;
    let (b_user_id, b_role_id) = (b_user.id(), b_role.id());
    let b_session = world.ids.uuid();

    // A's own objects, to pair with B's ids.
    let a_base = format!("/organizations/{}", a.id);
    let a_user = admin_a.post(&format!("{a_base}/users"), json!({"email": "ay@example.com"})).await;
    let a_app = admin_a.post(&format!("{a_base}/applications"), json!({"client_id": "a-app", "name": "A"})).await;
    let a_app_id = a_app.body["application"]["id"].as_str().unwrap().to_owned();
    let a_role = admin_a.post(&format!("{a_base}/roles"), json!({"name": "a-role"})).await;
    let (a_user_id, a_role_id) = (a_user.id(), a_role.id());

    let etag = "*";
    // Every endpoint under B's organization id.
    let get_paths = [
        b_base.clone(),
        format!("{b_base}/users"),
        format!("{b_base}/users/{b_user_id}"),
        format!("{b_base}/users/{b_user_id}/roles"),
        format!("{b_base}/users/{b_user_id}/sessions"),
        format!("{b_base}/applications"),
        format!("{b_base}/applications/{b_app_id}"),
        format!("{b_base}/applications/{b_app_id}/roles"),
        format!("{b_base}/roles"),
        format!("{b_base}/roles/{b_role_id}"),
        format!("{b_base}/keys"),
        format!("{b_base}/audit-events"),
    ];
    for path in &get_paths {
        assert_hidden(&admin_a.get(path).await, &format!("GET {path}"));
    }
    for (path, body) in [
        (b_base.clone(), json!({"name": "pwned"})),
        (format!("{b_base}/users/{b_user_id}"), json!({"is_active": false})),
        (format!("{b_base}/applications/{b_app_id}"), json!({"name": "pwned"})),
        (format!("{b_base}/roles/{b_role_id}"), json!({"name": "pwned"})),
    ] {
        assert_hidden(&admin_a.patch(&path, body, etag).await, &format!("PATCH {path}"));
    }
    for (path, body) in [
        (format!("{b_base}/users"), json!({"email": "evil@example.com"})),
        (format!("{b_base}/users/{b_user_id}/deactivate"), json!({})),
        (format!("{b_base}/users/{b_user_id}/reactivate"), json!({})),
        (format!("{b_base}/applications"), json!({"name": "evil"})),
        (format!("{b_base}/applications/{b_app_id}/secret"), json!({})),
        (format!("{b_base}/roles"), json!({"name": "evil"})),
        (format!("{b_base}/keys/rotate"), json!({})),
    ] {
        assert_hidden(&admin_a.post(&path, body).await, &format!("POST {path}"));
    }
    let password = admin_a
        .send(
            reqwest::Method::PUT,
            &format!("{b_base}/users/{b_user_id}/password"),
            Some(json!({"password": "x"})),
            &[],
        )
        .await;
    assert_hidden(&password, "PUT password");
    for path in [
        format!("{b_base}/users/{b_user_id}/roles/{b_role_id}"),
        format!("{b_base}/applications/{b_app_id}/roles/{b_role_id}"),
    ] {
        assert_hidden(&admin_a.put(&path).await, &format!("PUT {path}"));
        assert_hidden(&admin_a.delete(&path).await, &format!("DELETE {path}"));
    }
    for path in [
        b_base.clone(),
        format!("{b_base}/users/{b_user_id}"),
        format!("{b_base}/users/{b_user_id}/sessions"),
        format!("{b_base}/users/{b_user_id}/sessions/{b_session}"),
        format!("{b_base}/applications/{b_app_id}"),
        format!("{b_base}/roles/{b_role_id}"),
    ] {
        assert_hidden(&admin_a.delete(&path).await, &format!("DELETE {path}"));
    }

    // B's object ids under A's organization: not found either.
    for path in [
        format!("{a_base}/users/{b_user_id}/roles"),
        format!("{a_base}/users/{b_user_id}/sessions"),
        format!("{a_base}/applications/{b_app_id}/roles"),
    ] {
        assert_hidden(&admin_a.get(&path).await, &format!("GET {path}"));
    }
    for path in [
        format!("{a_base}/users/{b_user_id}"),
        format!("{a_base}/applications/{b_app_id}"),
        format!("{a_base}/roles/{b_role_id}"),
    ] {
        assert_hidden(&admin_a.get(&path).await, &format!("GET {path}"));
        assert_hidden(&admin_a.patch(&path, json!({}), etag).await, &format!("PATCH {path}"));
    }
    assert_hidden(&admin_a.delete(&format!("{a_base}/users/{b_user_id}/sessions")).await, "DELETE B's user's sessions");
    assert_hidden(
        &admin_a.post(&format!("{a_base}/applications/{b_app_id}/secret"), json!({})).await,
        "rotate B's secret",
    );
    assert_hidden(
        &admin_a.post(&format!("{a_base}/users/{b_user_id}/deactivate"), json!({})).await,
        "deactivate B's user",
    );
    // Deleting B's ids through A's organization deletes nothing (204: nothing of A's is there).
    for path in [
        format!("{a_base}/users/{b_user_id}"),
        format!("{a_base}/applications/{b_app_id}"),
        format!("{a_base}/roles/{b_role_id}"),
    ] {
        assert_eq!(admin_a.delete(&path).await.status, 204, "DELETE {path}");
    }
    // A cannot assign B's roles to A's users or applications.
    assert_hidden(
        &admin_a.put(&format!("{a_base}/users/{a_user_id}/roles/{b_role_id}")).await,
        "assign B's role to a user",
    );
    assert_hidden(
        &admin_a.put(&format!("{a_base}/applications/{a_app_id}/roles/{b_role_id}")).await,
        "assign B's role to an app",
    );
    // … nor A's roles to B's users.
    assert_hidden(&admin_a.put(&format!("{a_base}/users/{b_user_id}/roles/{a_role_id}")).await, "assign to B's user");

    // Nothing of B's changed.
    let b_view = admin_b.get(&format!("{b_base}/users/{b_user_id}")).await;
    assert_eq!(b_view.status, 200);
    assert_eq!(b_view.body["is_active"], true);
    assert_eq!(admin_b.get(&format!("{b_base}/applications/{b_app_id}")).await.status, 200);
    assert_eq!(admin_b.get(&format!("{b_base}/roles/{b_role_id}")).await.body["name"], "b-role");
    assert!(admin_b.get(&format!("{b_base}/users/{b_user_id}/roles")).await.body["items"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(admin_b.get(b_base.as_str()).await.body["name"], "org-b");
    assert!(stores.users.get(b.id, b_user_id.parse().unwrap()).await.is_ok());

    // An org admin lists only its own organization and creates or deletes none.
    let listed = admin_a.get("/organizations").await;
    let slugs: Vec<&str> =
        listed.body["items"].as_array().unwrap().iter().map(|o| o["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["org-a"]);
    assert_eq!(admin_a.post("/organizations", json!({"slug": "mine", "name": "x"})).await.status, 403);
    assert_eq!(admin_a.delete(&a_base).await.status, 403);
    assert_eq!(admin_a.get(&a_base).await.status, 200);
    assert_hidden(&admin_a.get(&format!("/organizations/{}", world.system.id)).await, "the system organization");

    // The platform admin sees everything.
    assert_eq!(platform.get(&format!("{b_base}/users/{b_user_id}")).await.status, 200);
    assert_eq!(platform.get("/organizations").await.body["items"].as_array().unwrap().len(), 3);

    // An org-admin of the system organization cannot make anyone a platform admin.
    let system_admin_app = world.service_account(&world.system, "system-ops", &["org-admin"]).await;
    let system_admin = world.api(world.token("system", "system-ops").await);
    let platform_role = world.role(&world.system, "platform-admin", &[]).await;
    let system_base = format!("/organizations/{}", world.system.id);
    let escalate = system_admin
        .put(&format!("{system_base}/applications/{}/roles/{}", system_admin_app.id, platform_role.id))
        .await;
    assert_eq!(escalate.status, 403, "{escalate:?}");
    assert_eq!(system_admin.delete(&format!("{system_base}/roles/{}", platform_role.id)).await.status, 403);
    assert_eq!(system_admin.post(&format!("{system_base}/roles"), json!({"name": "other"})).await.status, 201);
}
