//! A seeded OpenID Provider for the flow tests: the real server on
//! 127.0.0.1:0 over SQLite or PostgreSQL, one organization with a user and
//! several applications, a settable clock, and a "browser" (reqwest with a
//! cookie jar, redirects captured rather than followed) that fills the
//! hosted forms.

use std::sync::Arc;

use serde_json::{json, Value};
use time::OffsetDateTime;
use zenoauth_crypto::{digest_secret, Argon2Hasher, Argon2Params, KeyEncryptionKey, OsRandom};
use zenoauth_domain::ids::IdGenerator;
use zenoauth_domain::model::{Application, ClientType, Organization, User};
use zenoauth_domain::ports::{Clock, PasswordHasher, RandomSource, Stores};
use zenoauth_domain::testing::FixedClock;
use zenoauth_domain::values::{ClientId, DisplayName, Email, Password, RedirectUri, ScopeSet, Slug};
use zenoauth_server::clock::SystemClock;
use zenoauth_server::config::PublicUrl;
use zenoauth_server::http::{AppState, StoresReadiness};
use zenoauth_server::services::Services;

use crate::support::TestServer;

pub const PASSWORD: &str = "correct horse battery staple";
pub const EMAIL: &str = "alice@example.com";
pub const REDIRECT: &str = "http://127.0.0.1:9/callback";
pub const BYE: &str = "http://127.0.0.1:9/bye";
pub const WEB_SECRET: &str = "zcs_web-client-secret-for-tests-only";
pub const USER_SCOPES: &str = "openid profile email offline_access";

/// Runs `$scenario(stores)` once over SQLite and once over PostgreSQL.
macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let (stores, _directory) = $crate::oidc_support::sqlite_stores().await;
                    super::$scenario(stores).await;
                }
            )*
        }
        mod postgres {
            $(
                #[sqlx::test(migrations = false)]
                async fn $scenario(pool: sqlx::PgPool) {
                    let database = zenoauth_store_postgres::PgDatabase::from_pool(pool);
                    database.migrate().await.unwrap();
                    super::$scenario(database.stores()).await;
                }
            )*
        }
    };
}
pub(crate) use on_both_databases;

pub async fn sqlite_stores() -> (Stores, tempfile::TempDir) {
    let directory = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", directory.path().join("oidc.db").display());
    let database = zenoauth_store_sqlite::SqliteDatabase::connect(&url, 4).await.unwrap();
    database.migrate().await.unwrap();
    (database.stores(), directory)
}

/// The running provider and what was seeded into it.
pub struct World {
    pub server: TestServer,
    pub stores: Stores,
    pub clock: Arc<FixedClock>,
    pub organization: Organization,
    pub user: User,
    ids: IdGenerator,
}

impl World {
    pub async fn new(stores: Stores) -> Self {
        Self::new_with(stores, |state| state).await
    }

    /// As [`World::new`], with the server's state adjusted by `configure`
    /// (e.g. `AppState::with_upstream_timeout`).
    pub async fn new_with(stores: Stores, configure: impl FnOnce(AppState) -> AppState) -> Self {
        Self::build(stores, configure, None).await
    }

    /// As [`World::new`], with the public URL on `host` (see [`TestServer::start_on`]).
    pub async fn on_host(stores: Stores, host: &str) -> Self {
        Self::build(stores, |state| state, Some(host)).await
    }

    async fn build(stores: Stores, configure: impl FnOnce(AppState) -> AppState, host: Option<&str>) -> Self {
        let random: Arc<dyn RandomSource> = Arc::new(OsRandom::new());
        let cheap = Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 };
        let hasher = Arc::new(Argon2Hasher::new(cheap, random.clone()).unwrap());
        let clock = Arc::new(FixedClock::new(SystemClock.now()));
        let services = Services::with_key(
            clock.clone(),
            random.clone(),
            hasher.clone(),
            KeyEncryptionKey::generate(random.as_ref()),
        );
        let ids = IdGenerator::new(clock.clone(), random);
        let organization = organization(&ids, clock.now(), "acme", "Acme <Corp>");
        stores.organizations.create(&organization).await.unwrap();
        let hash = hasher.hash(&Password::parse(PASSWORD).unwrap()).await.unwrap();
        let user = User {
            id: ids.next(),
            organization_id: organization.id,
            email: Email::parse(EMAIL).unwrap(),
            email_verified: true,
            password_hash: Some(hash),
            profile: json!({"name": "Alice Example", "given_name": "Alice", "family_name": "Example", "shoe_size": 38}),
            is_active: true,
            created_at: clock.now(),
            updated_at: clock.now(),
        };
        stores.users.create(&user).await.unwrap();
        let placeholder = PublicUrl::parse("http://127.0.0.1").unwrap();
        let state = AppState::new(stores.clone(), Arc::new(StoresReadiness(stores.clone())), services, placeholder);
        let state = configure(state);
        let server = TestServer::start_on(state, host).await;
        let world = Self { server, stores, clock, organization, user, ids };
        world.add_app("web", Some(WEB_SECRET), USER_SCOPES, json!({"post_logout_redirect_uris": [BYE]})).await;
        world
    }

    pub fn issuer(&self) -> String {
        self.issuer_of("acme")
    }

    pub fn issuer_of(&self, slug: &str) -> String {
        self.server.url(&format!("/o/{slug}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer())
    }

    /// Registers an application in the seeded organization.
    pub async fn add_app(&self, client_id: &str, secret: Option<&str>, scopes: &str, settings: Value) -> Application {
        self.add_app_in(&self.organization, client_id, secret, scopes, settings).await
    }

    pub async fn add_app_in(
        &self,
        organization: &Organization,
        client_id: &str,
        secret: Option<&str>,
        scopes: &str,
        settings: Value,
    ) -> Application {
        let now = self.clock.now();
        let application = Application {
            id: self.ids.next(),
            organization_id: organization.id,
            client_id: ClientId::parse(client_id).unwrap(),
            name: DisplayName::parse(&format!("The {client_id} app")).unwrap(),
            client_type: match secret {
                Some(secret) => ClientType::Confidential { secret_digest: digest_secret(secret) },
                None => ClientType::Public,
            },
            redirect_uris: vec![RedirectUri::parse(REDIRECT).unwrap()],
            allowed_scopes: ScopeSet::parse(scopes).unwrap(),
            settings,
            created_at: now,
            updated_at: now,
        };
        self.stores.applications.create(&application).await.unwrap();
        application
    }

    /// A second organization (another issuer).
    pub async fn add_organization(&self, slug: &str) -> Organization {
        let organization = organization(&self.ids, self.clock.now(), slug, slug);
        self.stores.organizations.create(&organization).await.unwrap();
        organization
    }
}

fn organization(ids: &IdGenerator, now: OffsetDateTime, slug: &str, name: &str) -> Organization {
    Organization {
        id: ids.next(),
        slug: Slug::parse(slug).unwrap(),
        name: DisplayName::parse(name).unwrap(),
        settings: json!({}),
        created_at: now,
        updated_at: now,
    }
}

/// A browser: keeps cookies, does not follow redirects (so the test sees them).
pub fn browser() -> reqwest::Client {
    zenoauth_server::install_tls_provider();
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The HTTP client the OAuth libraries use: no redirects, no cookies.
pub fn http_client() -> reqwest::Client {
    zenoauth_server::install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The value of the first `<input … name="NAME" value="…">` in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(unescape(&html[start..end]))
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// A parameter of a URL's query.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url).unwrap();
    parsed.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .unwrap_or_else(|| panic!("expected a redirect, got {}", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Submits the login form of `page` (a login page's HTML).
pub async fn submit_login(
    world: &World,
    browser: &reqwest::Client,
    page: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let mut form = vec![
        ("csrf_token", hidden_field(page, "csrf_token").expect("a login page with a CSRF token")),
        ("email", email.to_owned()),
        ("password", password.to_owned()),
    ];
    if let Some(authorize) = hidden_field(page, "authorize") {
        form.push(("authorize", authorize));
    }
    browser.post(world.url("/login")).form(&form).send().await.unwrap()
}

/// Submits the consent form of `page` with `decision` (`allow` or `deny`).
pub async fn submit_consent(world: &World, browser: &reqwest::Client, page: &str, decision: &str) -> reqwest::Response {
    let form = [
        ("csrf_token", hidden_field(page, "csrf_token").expect("a consent page with a CSRF token")),
        ("authorize", hidden_field(page, "authorize").expect("the carried request")),
        ("decision", decision.to_owned()),
    ];
    browser.post(world.url("/consent")).form(&form).send().await.unwrap()
}

/// Drives the browser from an authorization URL to the client's redirect:
/// logs in if asked, consents if asked. Returns the redirect location.
pub async fn authorize_in_browser(world: &World, browser: &reqwest::Client, authorization_url: &str) -> String {
    let mut response = browser.get(authorization_url).send().await.unwrap();
    for _ in 0..3 {
        if response.status().is_redirection() {
            return location(&response);
        }
        assert_eq!(response.status(), 200, "unexpected status at {}", response.url());
        let page = response.text().await.unwrap();
        response = if page.contains("name=\"password\"") {
            submit_login(world, browser, &page, EMAIL, PASSWORD).await
        } else if page.contains("name=\"decision\"") {
            submit_consent(world, browser, &page, "allow").await
        } else {
            panic!("neither a login nor a consent page: {page}");
        };
    }
    panic!("no redirect after login and consent");
}

/// A PKCE pair: (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    let mut bytes = [0u8; 32];
    OsRandom::new().fill(&mut bytes);
    let verifier: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    let challenge = zenoauth_crypto::pkce_s256_challenge(&verifier);
    (verifier, challenge)
}

/// An authorization URL built by hand (for the error cases).
pub fn authorization_url(
    world: &World,
    client_id: &str,
    scope: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut url = url::Url::parse(&world.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", "state-123")
        .append_pair("nonce", "nonce-456")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    for (name, value) in extra {
        url.query_pairs_mut().append_pair(name, value);
    }
    url.into()
}

/// Logs in and consents in a fresh browser; returns (browser, code, verifier).
pub async fn obtain_code(world: &World, client_id: &str, scope: &str) -> (reqwest::Client, String, String) {
    let browser = browser();
    let (verifier, challenge) = pkce();
    let redirect =
        authorize_in_browser(world, &browser, &authorization_url(world, client_id, scope, &challenge, &[])).await;
    let code = query_param(&redirect, "code").unwrap_or_else(|| panic!("no code in {redirect}"));
    (browser, code, verifier)
}

/// POSTs a token request with Basic client authentication.
pub async fn token_request(world: &World, client_id: &str, secret: &str, form: &[(&str, &str)]) -> reqwest::Response {
    http_client().post(world.url("/token")).basic_auth(client_id, Some(secret)).form(form).send().await.unwrap()
}

/// Exchanges a code as the `web` client.
pub async fn exchange(world: &World, code: &str, verifier: &str) -> reqwest::Response {
    token_request(
        world,
        "web",
        WEB_SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

pub async fn json(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

/// Asserts an RFC 6749 §5.2 error body with `code`, and `no-store`.
pub async fn assert_oauth_error(response: reqwest::Response, status: u16, code: &str) -> reqwest::header::HeaderMap {
    assert_eq!(response.status(), status);
    let headers = response.headers().clone();
    assert_eq!(headers.get("content-type").unwrap(), "application/json");
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    let body = json(response).await;
    assert_eq!(body["error"], code, "{body}");
    headers
}
