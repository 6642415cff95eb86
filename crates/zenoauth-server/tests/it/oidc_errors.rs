//! One test per error case the RFCs name (issue 3, Proof), plus malformed,
//! oversized and repeated input. Each runs over SQLite and PostgreSQL.

use std::sync::Arc;

use serde_json::json;
use time::Duration;
use zenoauth_crypto::{JwsSigner, KeyEncryptionKey, OsRandom};
use zenoauth_domain::ids::{OrganizationId, SigningKeyId};
use zenoauth_domain::model::SigningAlgorithm;
use zenoauth_domain::ports::{Clock, RandomSource, Stores, TokenSigner};

use crate::oidc_support::{
    assert_oauth_error, authorization_url, browser, exchange, http_client, json, location, obtain_code,
    on_both_databases, pkce, query_param, token_request, World, REDIRECT, USER_SCOPES, WEB_SECRET,
};

/// RFC 6749 §5.2: wrong secret → 401 invalid_client with WWW-Authenticate Basic.
async fn wrong_client_secret_is_401_with_basic_challenge(stores: Stores) {
    let world = World::new(stores).await;
    let response = token_request(&world, "web", "zcs_wrong", &[("grant_type", "client_credentials")]).await;
    let headers = assert_oauth_error(response, 401, "invalid_client").await;
    let challenge = headers.get("www-authenticate").unwrap().to_str().unwrap();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");
    // Unknown client: the same.
    let unknown = token_request(&world, "nobody", WEB_SECRET, &[("grant_type", "client_credentials")]).await;
    assert_oauth_error(unknown, 401, "invalid_client").await;
}

/// RFC 6749 §4.1.2.1: an unregistered redirect_uri (or unknown client) gets
/// an error page, never a redirect.
async fn unregistered_redirect_uri_shows_a_page_and_never_redirects(stores: Stores) {
    let world = World::new(stores).await;
    let (_, challenge) = pkce();
    for (client_id, redirect_uri) in [
        ("web", "http://127.0.0.1:9/evil"),
        ("web", "http://127.0.0.1:9/callback/"),
        ("web", "http://127.0.0.1:9/callback?x=1"),
        ("nobody", REDIRECT),
    ] {
        let mut url = url::Url::parse(&world.url("/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "openid")
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let response = browser().get(url.as_str()).send().await.unwrap();
        assert_eq!(response.status(), 400, "{client_id} {redirect_uri}");
        assert!(response.headers().get("location").is_none());
        assert!(response.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/html"));
    }
}

/// RFC 6749 §4.1.2 / RFC 9700 §4.5: a replayed code is refused and the
/// refresh token issued from it is revoked.
async fn code_replay_is_refused_and_revokes_what_it_issued(stores: Stores) {
    let world = World::new(stores).await;
    let (_, code, verifier) = obtain_code(&world, "web", USER_SCOPES).await;
    let first = exchange(&world, &code, &verifier).await;
    assert_eq!(first.status(), 200);
    let tokens = json(first).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_oauth_error(exchange(&world, &code, &verifier).await, 400, "invalid_grant").await;
    let refreshed =
        token_request(&world, "web", WEB_SECRET, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_oauth_error(refreshed, 400, "invalid_grant").await;
}

/// RFC 7636 §4.6: a wrong or missing code_verifier is invalid_grant.
async fn pkce_mismatch_or_missing_verifier_is_invalid_grant(stores: Stores) {
    let world = World::new(stores).await;
    let (_, code, _) = obtain_code(&world, "web", "openid").await;
    let (other_verifier, _) = pkce();
    assert_oauth_error(exchange(&world, &code, &other_verifier).await, 400, "invalid_grant").await;
    let (_, code, _) = obtain_code(&world, "web", "openid").await;
    let missing = token_request(
        &world,
        "web",
        WEB_SECRET,
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT)],
    )
    .await;
    assert_oauth_error(missing, 400, "invalid_grant").await;
    // An authorization request without PKCE never gets a code.
    let mut url = url::Url::parse(&world.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "web")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid")
        .append_pair("state", "s");
    let response = browser().get(url.as_str()).send().await.unwrap();
    let location = location(&response);
    assert_eq!(query_param(&location, "error").as_deref(), Some("invalid_request"));
    assert_eq!(query_param(&location, "state").as_deref(), Some("s"));
}

/// Codes live at most 60 s.
async fn expired_code_is_invalid_grant(stores: Stores) {
    let world = World::new(stores).await;
    let (_, code, verifier) = obtain_code(&world, "web", "openid").await;
    world.clock.advance(Duration::seconds(61));
    assert_oauth_error(exchange(&world, &code, &verifier).await, 400, "invalid_grant").await;
}

/// RFC 9700 §4.14.2: reusing a rotated refresh token revokes the family.
async fn refresh_token_reuse_revokes_the_family(stores: Stores) {
    let world = World::new(stores).await;
    let (_, code, verifier) = obtain_code(&world, "web", USER_SCOPES).await;
    let first = json(exchange(&world, &code, &verifier).await).await["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| {
        let world = &world;
        async move {
            token_request(world, "web", WEB_SECRET, &[("grant_type", "refresh_token"), ("refresh_token", &token)]).await
        }
    };
    let rotated = refresh(first.clone()).await;
    assert_eq!(rotated.status(), 200);
    let second = json(rotated).await["refresh_token"].as_str().unwrap().to_owned();
    assert_oauth_error(refresh(first).await, 400, "invalid_grant").await;
    assert_oauth_error(refresh(second).await, 400, "invalid_grant").await;
    // Bound to its client: another client cannot use it.
    let (_, code, verifier) = obtain_code(&world, "web", USER_SCOPES).await;
    let third = json(exchange(&world, &code, &verifier).await).await["refresh_token"].as_str().unwrap().to_owned();
    world.add_app("other", Some("zcs_other"), USER_SCOPES, json!({})).await;
    let stolen =
        token_request(&world, "other", "zcs_other", &[("grant_type", "refresh_token"), ("refresh_token", &third)])
            .await;
    assert_oauth_error(stolen, 400, "invalid_grant").await;
    assert_eq!(refresh(third).await.status(), 200, "the theft attempt did not consume it");
}

/// A token of organization A means nothing at organization B.
async fn token_of_one_organization_is_inactive_at_another(stores: Stores) {
    let world = World::new(stores).await;
    let other = world.add_organization("other").await;
    world.add_app_in(&other, "b-app", Some("zcs_b"), "openid", json!({})).await;
    let (_, code, verifier) = obtain_code(&world, "web", USER_SCOPES).await;
    let tokens = json(exchange(&world, &code, &verifier).await).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let other_issuer = world.issuer_of("other");
    for token in [access, refresh] {
        let introspected = http_client()
            .post(format!("{other_issuer}/introspect"))
            .basic_auth("b-app", Some("zcs_b"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(json(introspected).await, json!({"active": false}));
    }
    let userinfo = http_client().get(format!("{other_issuer}/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(userinfo.status(), 401);
    assert!(userinfo.headers().get("www-authenticate").unwrap().to_str().unwrap().contains("invalid_token"));
    // And A's client does not exist at B.
    let foreign_client = http_client()
        .post(format!("{other_issuer}/token"))
        .basic_auth("web", Some(WEB_SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .unwrap();
    assert_oauth_error(foreign_client, 401, "invalid_client").await;
}

/// OIDC Core §3.1.2.6: prompt=none without a session → login_required, with state and iss.
async fn prompt_none_without_session_is_login_required(stores: Stores) {
    let world = World::new(stores).await;
    let (_, challenge) = pkce();
    let response = browser()
        .get(authorization_url(&world, "web", "openid", &challenge, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let location = location(&response);
    assert!(location.starts_with(REDIRECT));
    assert_eq!(query_param(&location, "error").as_deref(), Some("login_required"));
    assert_eq!(query_param(&location, "state").as_deref(), Some("state-123"));
    assert_eq!(query_param(&location, "iss"), Some(world.issuer()));
}

/// A JWT whose payload was altered, or one signed by a key the organization
/// never published (unknown kid), is refused everywhere.
async fn tampered_or_unknown_kid_tokens_are_refused(stores: Stores) {
    let world = World::new(stores).await;
    let (_, code, verifier) = obtain_code(&world, "web", USER_SCOPES).await;
    let tokens = json(exchange(&world, &code, &verifier).await).await;
    let access = tokens["access_token"].as_str().unwrap();
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    let payload = parts[1].clone();
    // Flip one character of the payload (still valid base64url).
    let flipped = if payload.ends_with('A') { 'B' } else { 'A' };
    parts[1] = format!("{}{flipped}", &payload[..payload.len() - 1]);
    let tampered = parts.join(".");

    let random: Arc<dyn RandomSource> = Arc::new(OsRandom::new());
    let stranger = JwsSigner::new(KeyEncryptionKey::generate(random.as_ref()), random.clone());
    let key = stranger
        .generate(
            SigningKeyId::from_uuid(uuid::Uuid::from_u128(1)),
            OrganizationId::from_uuid(uuid::Uuid::from_u128(2)),
            SigningAlgorithm::EdDsa,
            world.clock.now(),
        )
        .unwrap();
    let now = world.clock.now().unix_timestamp();
    let forged = stranger
        .sign(
            &key,
            "at+jwt",
            &json!({"iss": world.issuer(), "sub": world.user.id.to_string(), "aud": "web", "client_id": "web",
                    "scope": "openid email", "jti": "forged", "iat": now, "exp": now + 600}),
        )
        .unwrap();
    for token in [tampered.as_str(), forged.as_str(), "garbage", "a.b.c"] {
        let userinfo = http_client().get(world.url("/userinfo")).bearer_auth(token).send().await.unwrap();
        assert_eq!(userinfo.status(), 401, "{token}");
        let introspected = http_client()
            .post(world.url("/introspect"))
            .basic_auth("web", Some(WEB_SECRET))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(json(introspected).await, json!({"active": false}), "{token}");
    }
    // An ID token is not an access token (typ differs).
    let id_token = tokens["id_token"].as_str().unwrap();
    let userinfo = http_client().get(world.url("/userinfo")).bearer_auth(id_token).send().await.unwrap();
    assert_eq!(userinfo.status(), 401);
    // No token at all: a bare challenge.
    let anonymous = http_client().get(world.url("/userinfo")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().get("www-authenticate").unwrap().to_str().unwrap().starts_with("Bearer realm="));
}

/// RFC 6749 §3.1: repeated parameters are invalid_request; missing,
/// oversized and wrongly encoded requests get clear errors, never
/// problem+json, and change nothing.
async fn bad_input_gets_clear_oauth_errors(stores: Stores) {
    let world = World::new(stores).await;
    let (_, challenge) = pkce();
    // Token endpoint: repeated, missing, unknown, oversized, not a form.
    let repeated = http_client()
        .post(world.url("/token"))
        .basic_auth("web", Some(WEB_SECRET))
        .body("grant_type=client_credentials&grant_type=refresh_token")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_oauth_error(repeated, 400, "invalid_request").await;
    assert_oauth_error(token_request(&world, "web", WEB_SECRET, &[]).await, 400, "invalid_request").await;
    let unknown = token_request(&world, "web", WEB_SECRET, &[("grant_type", "password")]).await;
    assert_oauth_error(unknown, 400, "unsupported_grant_type").await;
    let no_code = token_request(&world, "web", WEB_SECRET, &[("grant_type", "authorization_code")]).await;
    assert_oauth_error(no_code, 400, "invalid_request").await;
    let long = "x".repeat(9000);
    let oversized =
        token_request(&world, "web", WEB_SECRET, &[("grant_type", "authorization_code"), ("code", &long)]).await;
    assert_oauth_error(oversized, 400, "invalid_request").await;
    let json_body = http_client()
        .post(world.url("/token"))
        .basic_auth("web", Some(WEB_SECRET))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_oauth_error(json_body, 400, "invalid_request").await;
    for endpoint in ["/token", "/introspect", "/revoke"] {
        let get = http_client().get(world.url(endpoint)).send().await.unwrap();
        let headers = assert_oauth_error(get, 405, "invalid_request").await;
        assert_eq!(headers.get("allow").unwrap(), "POST");
    }
    let two_methods = http_client()
        .post(world.url("/token"))
        .basic_auth("web", Some(WEB_SECRET))
        .form(&[("grant_type", "client_credentials"), ("client_id", "web"), ("client_secret", WEB_SECRET)])
        .send()
        .await
        .unwrap();
    assert_oauth_error(two_methods, 400, "invalid_request").await;
    let bad_basic = http_client()
        .post(world.url("/token"))
        .header("authorization", "Basic !!!notbase64")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(bad_basic, 401, "invalid_client").await;
    let bad_code = token_request(
        &world,
        "web",
        WEB_SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("code", "zac_nope"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &"a".repeat(43)),
        ],
    )
    .await;
    assert_oauth_error(bad_code, 400, "invalid_grant").await;

    // Authorization endpoint: repeated → redirect with invalid_request; missing client → page; oversized → page.
    let repeated = format!("{}&scope=openid", authorization_url(&world, "web", "openid", &challenge, &[]));
    let response = browser().get(repeated).send().await.unwrap();
    assert_eq!(query_param(&location(&response), "error").as_deref(), Some("invalid_request"));
    let repeated_client = format!("{}&client_id=web", authorization_url(&world, "web", "openid", &challenge, &[]));
    assert_eq!(browser().get(repeated_client).send().await.unwrap().status(), 400);
    let no_client = browser().get(world.url("/authorize?response_type=code")).send().await.unwrap();
    assert_eq!(no_client.status(), 400);
    assert!(no_client.headers().get("location").is_none());
    let huge = authorization_url(&world, "web", "openid", &challenge, &[("state", &"s".repeat(20_000))]);
    let response = browser().get(huge).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    for (extra, error) in [
        (("response_type", "token"), "unsupported_response_type"),
        (("scope", "openid admin"), "invalid_scope"),
        (("prompt", "none login"), "invalid_request"),
        (("max_age", "-1"), "invalid_request"),
        (("code_challenge_method", "plain"), "invalid_request"),
        (("response_mode", "fragment"), "invalid_request"),
        (("request", "eyJ"), "request_not_supported"),
    ] {
        let mut url = url::Url::parse(&authorization_url(&world, "web", "openid", &challenge, &[])).unwrap();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(name, _)| name != extra.0)
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs).append_pair(extra.0, extra.1);
        let response = browser().get(url.as_str()).send().await.unwrap();
        assert_eq!(query_param(&location(&response), "error").as_deref(), Some(error), "{extra:?}");
    }
    // Userinfo with a malformed Authorization header.
    let malformed = http_client().get(world.url("/userinfo")).header("authorization", "Bearer").send().await.unwrap();
    assert_eq!(malformed.status(), 401);
}

/// RFC 7523 private_key_jwt: an assertion signed by the registered key is
/// accepted once; a replay, a wrong audience or a foreign key are refused.
async fn private_key_jwt_authenticates_once_per_jti(stores: Stores) {
    let world = World::new(stores).await;
    let random: Arc<dyn RandomSource> = Arc::new(OsRandom::new());
    let client_keys = JwsSigner::new(KeyEncryptionKey::generate(random.as_ref()), random.clone());
    let key = client_keys
        .generate(
            SigningKeyId::from_uuid(uuid::Uuid::from_u128(3)),
            OrganizationId::from_uuid(uuid::Uuid::from_u128(4)),
            SigningAlgorithm::Es256,
            world.clock.now(),
        )
        .unwrap();
    let stranger = client_keys
        .generate(
            SigningKeyId::from_uuid(uuid::Uuid::from_u128(5)),
            OrganizationId::from_uuid(uuid::Uuid::from_u128(6)),
            SigningAlgorithm::Es256,
            world.clock.now(),
        )
        .unwrap();
    world
        .add_app(
            "jwt-svc",
            Some("zcs_unused"),
            "api.read",
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
                   "jwks": {"keys": [key.public_jwk.clone()]}}),
        )
        .await;
    let now = world.clock.now().unix_timestamp();
    let assertion = |signing_key: &zenoauth_domain::model::SigningKey, jti: &str, aud: String| {
        client_keys
            .sign(
                signing_key,
                "JWT",
                &json!({"iss": "jwt-svc", "sub": "jwt-svc", "aud": aud, "jti": jti, "iat": now, "exp": now + 120}),
            )
            .unwrap()
    };
    let token_endpoint = world.url("/token");
    let post = |assertion: String| {
        let token_endpoint = token_endpoint.clone();
        async move {
            http_client()
                .post(token_endpoint)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                    ("client_assertion", assertion.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let first = assertion(&key, "jti-1", token_endpoint.clone());
    assert_eq!(post(first.clone()).await.status(), 200);
    assert_oauth_error(post(first).await, 401, "invalid_client").await;
    assert_eq!(post(assertion(&key, "jti-2", world.issuer())).await.status(), 200, "aud = issuer is accepted too");
    assert_oauth_error(
        post(assertion(&key, "jti-3", "https://elsewhere.example".to_owned())).await,
        401,
        "invalid_client",
    )
    .await;
    assert_oauth_error(post(assertion(&stranger, "jti-4", token_endpoint.clone())).await, 401, "invalid_client").await;
    // A secret is not accepted for a private_key_jwt client.
    let secret = token_request(&world, "jwt-svc", "zcs_unused", &[("grant_type", "client_credentials")]).await;
    assert_oauth_error(secret, 401, "invalid_client").await;
}

on_both_databases!(
    wrong_client_secret_is_401_with_basic_challenge,
    unregistered_redirect_uri_shows_a_page_and_never_redirects,
    code_replay_is_refused_and_revokes_what_it_issued,
    pkce_mismatch_or_missing_verifier_is_invalid_grant,
    expired_code_is_invalid_grant,
    refresh_token_reuse_revokes_the_family,
    token_of_one_organization_is_inactive_at_another,
    prompt_none_without_session_is_login_required,
    tampered_or_unknown_kid_tokens_are_refused,
    bad_input_gets_clear_oauth_errors,
    private_key_jwt_authenticates_once_per_jti,
);
