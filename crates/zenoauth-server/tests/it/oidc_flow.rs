//! Complete OpenID Connect flows against the real server, driven by the
//! independently written `openidconnect` crate (discovery, authorization URL
//! with PKCE and nonce, code exchange, ID-token validation, userinfo) and a
//! cookie-jar browser that fills the hosted forms. Every scenario runs over
//! SQLite and over PostgreSQL.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, RefreshToken, Scope, TokenResponse,
};
use serde_json::json;
use zenoauth_domain::ports::Stores;

use crate::oidc_support::{
    assert_oauth_error, authorization_url, authorize_in_browser, browser, exchange, hidden_field, http_client, json,
    location, obtain_code, on_both_databases, pkce, query_param, submit_consent, submit_login, token_request, World,
    BYE, EMAIL, PASSWORD, REDIRECT, USER_SCOPES, WEB_SECRET,
};

/// The full code flow with the `openidconnect` crate for `client_id`, whose
/// ID tokens are signed with `alg`.
async fn code_flow_with_openidconnect(world: &World, client_id: &str, alg: CoreJwsSigningAlgorithm) {
    let http = http_client();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(world.issuer()).unwrap(), &http).await.unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.to_owned()),
        Some(ClientSecret::new(WEB_SECRET.to_owned())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".to_owned()))
        .add_scope(Scope::new("email".to_owned()))
        .add_scope(Scope::new("offline_access".to_owned()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = browser();
    let redirect = authorize_in_browser(world, &browser, url.as_str()).await;
    assert!(redirect.starts_with(REDIRECT), "{redirect}");
    assert_eq!(query_param(&redirect, "state").as_deref(), Some(state.secret().as_str()));
    assert_eq!(query_param(&redirect, "iss"), Some(world.issuer()), "RFC 9207 iss");
    let code = query_param(&redirect, "code").unwrap();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let id_token = tokens.id_token().expect("an ID token for scope openid");
    let id_verifier = client.id_token_verifier().set_allowed_algs(vec![alg]);
    let claims = id_token.claims(&id_verifier, &nonce).unwrap();
    assert_eq!(claims.subject().as_str(), world.user.id.to_string());
    assert_eq!(claims.issuer().as_str(), world.issuer());
    assert!(claims.auth_time().is_some());
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));
    assert!(tokens.refresh_token().is_some(), "offline_access was granted");

    let userinfo: CoreUserInfoClaims =
        client.user_info(tokens.access_token().clone(), None).unwrap().request_async(&http).await.unwrap();
    assert_eq!(userinfo.subject().as_str(), world.user.id.to_string());
    assert_eq!(userinfo.email().map(|email| email.as_str()), Some(EMAIL));
    assert_eq!(userinfo.email_verified(), Some(true));
    let name = userinfo.name().and_then(|name| name.get(None)).map(|name| name.as_str().to_owned());
    assert_eq!(name.as_deref(), Some("Alice Example"));

    let refreshed = client
        .exchange_refresh_token(&RefreshToken::new(tokens.refresh_token().unwrap().secret().clone()))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_ne!(refreshed.refresh_token().unwrap().secret(), tokens.refresh_token().unwrap().secret(), "rotated");
}

async fn openidconnect_code_flow_with_eddsa(stores: Stores) {
    let world = World::new(stores).await;
    code_flow_with_openidconnect(&world, "web", CoreJwsSigningAlgorithm::EdDsa).await;
}

async fn openidconnect_code_flow_with_rs256_and_es256(stores: Stores) {
    let world = World::new(stores).await;
    world.add_app("rs-app", Some(WEB_SECRET), USER_SCOPES, json!({"signing_algorithm": "RS256"})).await;
    world.add_app("es-app", Some(WEB_SECRET), USER_SCOPES, json!({"signing_algorithm": "ES256"})).await;
    code_flow_with_openidconnect(&world, "rs-app", CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256).await;
    code_flow_with_openidconnect(&world, "es-app", CoreJwsSigningAlgorithm::EcdsaP256Sha256).await;
}

/// The hosted pages: escaped organization name, CSP, cookies as documented;
/// consent is remembered; a session gives single sign-on to another app;
/// prompt=login and max_age=0 force the login page again.
async fn pages_sessions_consent_and_sso(stores: Stores) {
    let world = World::new(stores).await;
    world.add_app("first-party", None, "openid email", json!({"is_first_party": true})).await;
    let browser = browser();
    let (_, challenge) = pkce();
    let login = browser.get(authorization_url(&world, "web", "openid email", &challenge, &[])).send().await.unwrap();
    assert_eq!(login.status(), 200);
    let csp = login.headers().get("content-security-policy").unwrap().to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("form-action 'self' http://127.0.0.1:9"), "{csp}");
    assert_eq!(login.headers().get("cache-control").unwrap(), "no-store");
    let page = login.text().await.unwrap();
    assert!(page.contains("Acme &lt;Corp&gt;") && !page.contains("Acme <Corp>"), "the organization name is escaped");
    assert!(page.contains("<label for=\"email\">") && page.contains("<label for=\"password\">"));
    assert!(!page.contains("<script"));

    // Wrong password and unknown user: the same answer.
    let wrong = submit_login(&world, &browser, &page, EMAIL, "wrong").await;
    assert_eq!(wrong.status(), 401);
    let wrong_page = wrong.text().await.unwrap();
    let unknown = submit_login(&world, &browser, &page, "nobody@example.com", PASSWORD).await;
    assert_eq!(unknown.status(), 401);
    let unknown_page = unknown.text().await.unwrap();
    assert!(wrong_page.contains("The email address or password is not correct."));
    assert!(unknown_page.contains("The email address or password is not correct."));
    // A login without the CSRF cookie's token is refused.
    let forged = http_client()
        .post(world.url("/login"))
        .form(&[("csrf_token", "0".repeat(64)), ("email", EMAIL.to_owned()), ("password", PASSWORD.to_owned())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let consent = submit_login(&world, &browser, &page, EMAIL, PASSWORD).await;
    let session_cookie = consent
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .find(|value| value.starts_with("zenoauth_session_acme="))
        .expect("a session cookie");
    assert!(
        session_cookie.contains("HttpOnly")
            && session_cookie.contains("SameSite=Lax")
            && session_cookie.contains("Path=/")
    );
    assert!(!session_cookie.contains("Secure"), "loopback http: no Secure, no __Host- prefix");
    let consent_page = consent.text().await.unwrap();
    assert!(consent_page.contains("The web app") && consent_page.contains("See your email address"));
    let redirect = submit_consent(&world, &browser, &consent_page, "allow").await;
    assert_eq!(redirect.status(), 303);
    assert!(query_param(&location(&redirect), "code").is_some());

    // Remembered consent and the session: straight back with a code.
    let again = browser.get(authorization_url(&world, "web", "openid email", &challenge, &[])).send().await.unwrap();
    assert_eq!(again.status(), 302);
    assert!(query_param(&location(&again), "code").is_some());
    // A wider scope set needs consent again.
    let wider =
        browser.get(authorization_url(&world, "web", "openid email profile", &challenge, &[])).send().await.unwrap();
    assert_eq!(wider.status(), 200);
    assert!(wider.text().await.unwrap().contains("name=\"decision\""));
    // Single sign-on into a first-party app: no login page, no consent page.
    let sso =
        browser.get(authorization_url(&world, "first-party", "openid email", &challenge, &[])).send().await.unwrap();
    assert_eq!(sso.status(), 302);
    assert!(query_param(&location(&sso), "code").is_some());
    // prompt=login and max_age=0 force the login page.
    for extra in [("prompt", "login"), ("max_age", "0")] {
        let forced =
            browser.get(authorization_url(&world, "first-party", "openid", &challenge, &[extra])).send().await.unwrap();
        assert_eq!(forced.status(), 200, "{extra:?}");
        let page = forced.text().await.unwrap();
        assert!(page.contains("name=\"password\""), "{extra:?}");
        // Logging in again satisfies it (no loop back to the login page).
        let done = submit_login(&world, &browser, &page, EMAIL, PASSWORD).await;
        assert_eq!(done.status(), 303, "{extra:?}");
    }
    // Declining consent: access_denied to the client.
    let other = browser.get(authorization_url(&world, "web", "openid profile", &challenge, &[])).send().await.unwrap();
    let denied = submit_consent(&world, &browser, &other.text().await.unwrap(), "deny").await;
    let denied_location = location(&denied);
    assert_eq!(query_param(&denied_location, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&denied_location, "state").as_deref(), Some("state-123"));
}

/// response_mode=form_post: a page with a form to the redirect URI.
async fn form_post_response_mode(stores: Stores) {
    let world = World::new(stores).await;
    world.add_app("first-party", None, "openid", json!({"is_first_party": true})).await;
    let browser = browser();
    let (_, challenge) = pkce();
    let url = authorization_url(&world, "first-party", "openid", &challenge, &[("response_mode", "form_post")]);
    let login = browser.get(url).send().await.unwrap();
    let posted = submit_login(&world, &browser, &login.text().await.unwrap(), EMAIL, PASSWORD).await;
    assert_eq!(posted.status(), 200);
    let csp = posted.headers().get("content-security-policy").unwrap().to_str().unwrap().to_owned();
    assert!(csp.contains("form-action 'self' http://127.0.0.1:9"), "{csp}");
    let page = posted.text().await.unwrap();
    assert!(page.contains(&format!("action=\"{REDIRECT}\"")), "{page}");
    assert!(hidden_field(&page, "code").is_some());
    assert_eq!(hidden_field(&page, "state").as_deref(), Some("state-123"));
    assert_eq!(hidden_field(&page, "iss"), Some(world.issuer()));
}

/// client_credentials: sub is the client; introspection sees the token;
/// userinfo refuses it (no openid scope).
async fn client_credentials_grant(stores: Stores) {
    let world = World::new(stores).await;
    world.add_app("svc", Some("zcs_svc"), "api.read api.write", json!({"grant_types": ["client_credentials"]})).await;
    let response =
        token_request(&world, "svc", "zcs_svc", &[("grant_type", "client_credentials"), ("scope", "api.read")]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
    assert_eq!(response.headers().get("pragma").unwrap(), "no-cache");
    let body = json(response).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "api.read");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let access = body["access_token"].as_str().unwrap().to_owned();

    let introspected = json(
        http_client()
            .post(world.url("/introspect"))
            .basic_auth("web", Some(WEB_SECRET))
            .form(&[("token", access.as_str())])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["sub"], "svc");
    assert_eq!(introspected["client_id"], "svc");
    let userinfo = http_client().get(world.url("/userinfo")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(userinfo.status(), 403);
    assert!(userinfo.headers().get("www-authenticate").unwrap().to_str().unwrap().contains("insufficient_scope"));

    // A client without the grant, and a public client, may not use it.
    let refused = token_request(&world, "web", WEB_SECRET, &[("grant_type", "client_credentials")]).await;
    assert_oauth_error(refused, 400, "unauthorized_client").await;
    // client_secret_post, when that is the registered method.
    world
        .add_app(
            "post-svc",
            Some("zcs_post"),
            "api.read",
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}),
        )
        .await;
    let posted = http_client()
        .post(world.url("/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", "post-svc"), ("client_secret", "zcs_post")])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    // … and Basic is then refused (only the registered method counts).
    let basic = token_request(&world, "post-svc", "zcs_post", &[("grant_type", "client_credentials")]).await;
    assert_oauth_error(basic, 401, "invalid_client").await;
}

/// A public client: PKCE and no secret.
async fn public_client_code_flow(stores: Stores) {
    let world = World::new(stores).await;
    world.add_app("spa", None, "openid email", json!({})).await;
    let (_, code, verifier) = obtain_code(&world, "spa", "openid email").await;
    let response = http_client()
        .post(world.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "spa"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = json(response).await;
    assert!(body["id_token"].is_string());
    assert!(body.get("refresh_token").is_none(), "no offline_access, no refresh token");
}

/// Revocation (RFC 7009) and introspection (RFC 7662).
async fn revocation_and_introspection(stores: Stores) {
    let world = World::new(stores).await;
    let (_, code, verifier) = obtain_code(&world, "web", USER_SCOPES).await;
    let tokens = json(exchange(&world, &code, &verifier).await).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let introspect = |token: String| {
        let world = &world;
        async move {
            json(
                http_client()
                    .post(world.url("/introspect"))
                    .basic_auth("web", Some(WEB_SECRET))
                    .form(&[("token", token.as_str())])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let active = introspect(access.to_owned()).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["scope"], "email offline_access openid profile");
    assert_eq!(active["sub"], world.user.id.to_string());
    assert_eq!(introspect(refresh.to_owned()).await["active"], true);
    assert_eq!(introspect("not-a-token".to_owned()).await, json!({"active": false}));
    // Introspection needs client authentication.
    let anonymous = http_client().post(world.url("/introspect")).form(&[("token", access)]).send().await.unwrap();
    assert_oauth_error(anonymous, 401, "invalid_client").await;

    let revoke = |token: String| {
        let world = &world;
        async move {
            http_client()
                .post(world.url("/revoke"))
                .basic_auth("web", Some(WEB_SECRET))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(revoke(access.to_owned()).await.status(), 200);
    assert_eq!(introspect(access.to_owned()).await, json!({"active": false}));
    let userinfo = http_client().get(world.url("/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(userinfo.status(), 401);
    assert_eq!(revoke(refresh.to_owned()).await.status(), 200);
    let refreshed =
        token_request(&world, "web", WEB_SECRET, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_oauth_error(refreshed, 400, "invalid_grant").await;
    // Unknown tokens: 200 all the same.
    assert_eq!(revoke("unknown".to_owned()).await.status(), 200);
}

/// RP-Initiated Logout: with a valid hint the session ends at once and the
/// user agent goes to the registered URI with state; the refresh family of
/// the session dies; an unregistered URI is an error page; no hint asks first.
async fn end_session_logs_out(stores: Stores) {
    let world = World::new(stores).await;
    let (browser, code, verifier) = obtain_code(&world, "web", USER_SCOPES).await;
    let tokens = json(exchange(&world, &code, &verifier).await).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let unregistered = browser
        .get(world.url("/end_session"))
        .query(&[("id_token_hint", id_token), ("post_logout_redirect_uri", "http://127.0.0.1:9/elsewhere")])
        .send()
        .await
        .unwrap();
    assert_eq!(unregistered.status(), 400);
    assert!(unregistered.headers().get("location").is_none());

    let logout = browser
        .get(world.url("/end_session"))
        .query(&[("id_token_hint", id_token), ("post_logout_redirect_uri", BYE), ("state", "bye-state")])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 302);
    assert_eq!(location(&logout), format!("{BYE}?state=bye-state"));
    let (_, challenge) = pkce();
    let after = browser
        .get(authorization_url(&world, "web", "openid", &challenge, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(query_param(&location(&after), "error").as_deref(), Some("login_required"));
    let refreshed =
        token_request(&world, "web", WEB_SECRET, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_oauth_error(refreshed, 400, "invalid_grant").await;

    // Without a hint: a confirmation page; confirming ends the session.
    let (browser, _, _) = obtain_code(&world, "web", USER_SCOPES).await;
    let confirm = browser.get(world.url("/end_session")).send().await.unwrap();
    assert_eq!(confirm.status(), 200);
    let page = confirm.text().await.unwrap();
    let form = [
        ("csrf_token", hidden_field(&page, "csrf_token").unwrap()),
        ("confirm", "yes".to_owned()),
        ("logout_request", hidden_field(&page, "logout_request").unwrap_or_default()),
    ];
    let done = browser.post(world.url("/end_session")).form(&form).send().await.unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("You are signed out"));
    let after = browser
        .get(authorization_url(&world, "web", "openid", &challenge, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(query_param(&location(&after), "error").as_deref(), Some("login_required"));
}

on_both_databases!(
    openidconnect_code_flow_with_eddsa,
    openidconnect_code_flow_with_rs256_and_es256,
    pages_sessions_consent_and_sso,
    form_post_response_mode,
    client_credentials_grant,
    public_client_code_flow,
    revocation_and_introspection,
    end_session_logs_out,
);

/// The login form's answer may go to the client only at a redirect URI
/// registered for it: a forged `authorize` continuation does not widen the
/// Content-Security-Policy's `form-action`.
#[tokio::test]
async fn form_action_allows_only_a_registered_redirect_uri() {
    let world = World::new(zenoauth_store_memory::MemoryDatabase::new().stores()).await;
    let browser = browser();
    let (_, challenge) = pkce();
    let login = browser.get(authorization_url(&world, "web", "openid", &challenge, &[])).send().await.unwrap();
    let page = login.text().await.unwrap();
    let genuine = hidden_field(&page, "authorize").expect("a continuation");
    let csrf = hidden_field(&page, "csrf_token").unwrap();
    let forged_redirect = genuine.replace(
        &format!("redirect_uri={}", url_encoded(REDIRECT)),
        &format!("redirect_uri={}", url_encoded("https://evil.example/cb")),
    );
    assert_ne!(forged_redirect, genuine, "the continuation carries the redirect URI: {genuine}");
    let unknown_client = genuine.replace("client_id=web", "client_id=nobody");
    let repeated = format!("{genuine}&redirect_uri={}", url_encoded("https://evil.example/cb"));
    for (authorize, allowed) in [
        (genuine.as_str(), true),
        (forged_redirect.as_str(), false),
        (unknown_client.as_str(), false),
        (repeated.as_str(), false),
    ] {
        let form = [
            ("csrf_token", csrf.as_str()),
            ("email", EMAIL),
            ("password", "wrong password!"),
            ("authorize", authorize),
        ];
        let response = browser.post(world.url("/login")).form(&form).send().await.unwrap();
        assert_eq!(response.status(), 401, "{authorize}");
        let csp = response.headers().get("content-security-policy").unwrap().to_str().unwrap().to_owned();
        assert!(!csp.contains("evil.example"), "{authorize}: {csp}");
        assert_eq!(csp.contains("form-action 'self' http://127.0.0.1:9"), allowed, "{authorize}: {csp}");
    }
}

fn url_encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
