//! A running server for the admin API tests: the system organization with a
//! platform-admin service account, helpers to make organization admins, and
//! tokens obtained for real from the token endpoint (client_credentials with
//! scope `zenoauth:admin`).

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use zenoauth_crypto::{digest_secret, Argon2Hasher, Argon2Params, KeyEncryptionKey, OsRandom};
use zenoauth_domain::ids::IdGenerator;
use zenoauth_domain::model::{Application, ClientType, Organization};
use zenoauth_domain::ports::{Clock, RandomSource, Stores};
use zenoauth_domain::roles::{PermissionSet, Role, RoleName};
use zenoauth_domain::testing::FixedClock;
use zenoauth_domain::values::{ClientId, DisplayName, ScopeSet, Slug};
use zenoauth_server::clock::SystemClock;
use zenoauth_server::config::PublicUrl;
use zenoauth_server::http::{AppState, HttpLimits, StoresReadiness};
use zenoauth_server::services::Services;

use crate::support::TestServer;

pub const PLATFORM_CLIENT: &str = "platform-cli";
pub const SECRET: &str = "zcs_admin-test-secret-not-for-production";

/// The server and what was seeded into it.
pub struct AdminWorld {
    pub server: TestServer,
    pub stores: Stores,
    pub clock: Arc<FixedClock>,
    pub system: Organization,
    pub ids: IdGenerator,
    pub services: Services,
}

/// One reply of the admin API.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|value| value.to_str().unwrap().to_owned())
    }

    pub fn etag(&self) -> String {
        self.header("etag").unwrap_or_else(|| panic!("no ETag: {self:?}"))
    }

    /// Asserts a problem+json of `status` whose type ends with `/problems/{kind}`.
    pub fn assert_problem(&self, status: u16, kind: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.header("content-type").as_deref(), Some("application/problem+json"), "{self:?}");
        let expected = format!("https://zenoauth.dev/problems/{kind}");
        assert_eq!(self.body["type"], json!(expected), "{self:?}");
        assert_eq!(self.body["status"], json!(status));
    }

    pub fn id(&self) -> String {
        self.body["id"].as_str().unwrap_or_else(|| panic!("no id: {self:?}")).to_owned()
    }
}

impl AdminWorld {
    pub async fn new(stores: Stores) -> Self {
        Self::with_limits(stores, HttpLimits::default()).await
    }

    pub async fn with_limits(stores: Stores, limits: HttpLimits) -> Self {
        let random: Arc<dyn RandomSource> = Arc::new(OsRandom::new());
        let cheap = Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 };
        let hasher = Arc::new(Argon2Hasher::new(cheap, random.clone()).unwrap());
        let clock = Arc::new(FixedClock::new(SystemClock.now()));
        let services =
            Services::with_key(clock.clone(), random.clone(), hasher, KeyEncryptionKey::generate(random.as_ref()));
        let ids = IdGenerator::new(clock.clone(), random);
        let now = clock.now();
        let system = Organization {
            id: ids.next(),
            slug: Slug::system(),
            name: DisplayName::parse("System").unwrap(),
            settings: json!({}),
            created_at: now,
            updated_at: now,
        };
        stores.organizations.create(&system).await.unwrap();
        let placeholder = PublicUrl::parse("http://127.0.0.1").unwrap();
        let state =
            AppState::new(stores.clone(), Arc::new(StoresReadiness(stores.clone())), services.clone(), placeholder)
                .with_limits(limits);
        let server = TestServer::start(state).await;
        let world = Self { server, stores, clock, system, ids, services };
        world.service_account(&world.system, PLATFORM_CLIENT, &["platform-admin"]).await;
        world
    }

    /// An organization made directly in the store.
    pub async fn organization(&self, slug: &str) -> Organization {
        let now = self.clock.now();
        let organization = Organization {
            id: self.ids.next(),
            slug: Slug::parse(slug).unwrap(),
            name: DisplayName::parse(slug).unwrap(),
            settings: json!({}),
            created_at: now,
            updated_at: now,
        };
        self.stores.organizations.create(&organization).await.unwrap();
        organization
    }

    /// The role `name` of `organization`, made if missing.
    pub async fn role(&self, organization: &Organization, name: &str, permissions: &[&str]) -> Role {
        let role_name = RoleName::parse(name).unwrap();
        if let Some(role) = self.stores.roles.find_by_name(organization.id, &role_name).await.unwrap() {
            return role;
        }
        let now = self.clock.now();
        let role = Role {
            id: self.ids.next(),
            organization_id: organization.id,
            name: role_name,
            description: String::new(),
            permissions: PermissionSet::parse(permissions.iter().copied()).unwrap(),
            created_at: now,
            updated_at: now,
        };
        self.stores.roles.create(&role).await.unwrap();
        role
    }

    /// A confidential client_credentials application allowed `zenoauth:admin`, holding `roles`.
    pub async fn service_account(&self, organization: &Organization, client_id: &str, roles: &[&str]) -> Application {
        let now = self.clock.now();
        let application = Application {
            id: self.ids.next(),
            organization_id: organization.id,
            client_id: ClientId::parse(client_id).unwrap(),
            name: DisplayName::parse(client_id).unwrap(),
            client_type: ClientType::Confidential { secret_digest: digest_secret(SECRET) },
            redirect_uris: vec![],
            allowed_scopes: ScopeSet::parse("zenoauth:admin api:read").unwrap(),
            settings: json!({"grant_types": ["client_credentials"]}),
            created_at: now,
            updated_at: now,
        };
        self.stores.applications.create(&application).await.unwrap();
        for name in roles {
            let role = self.role(organization, name, &[]).await;
            self.stores.roles.assign_to_application(organization.id, application.id, role.id).await.unwrap();
        }
        application
    }

    /// The token endpoint's answer to client_credentials for `scope`.
    pub async fn token_response(&self, slug: &str, client_id: &str, secret: &str, scope: &str) -> (u16, Value) {
        let response = crate::support::client()
            .post(self.server.url(&format!("/o/{slug}/token")))
            .basic_auth(client_id, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// An admin-API access token, obtained for real from the token endpoint.
    pub async fn token(&self, slug: &str, client_id: &str) -> String {
        let (status, body) = self.token_response(slug, client_id, SECRET, "zenoauth:admin").await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// The platform admin's API client.
    pub async fn platform(&self) -> Api {
        self.api(self.token("system", PLATFORM_CLIENT).await)
    }

    /// A new organization with an org-admin service account, and its API client.
    pub async fn org_admin(&self, slug: &str) -> (Organization, Api) {
        let organization = self.organization(slug).await;
        let client_id = format!("{slug}-admin");
        self.service_account(&organization, &client_id, &["org-admin"]).await;
        let api = self.api(self.token(slug, &client_id).await);
        (organization, api)
    }

    pub fn api(&self, token: String) -> Api {
        Api { base: self.server.url("/api/v1"), token: Some(token), client: crate::support::client() }
    }

    pub fn anonymous(&self) -> Api {
        Api { base: self.server.url("/api/v1"), token: None, client: crate::support::client() }
    }
}

/// The claims of a JWS, unverified (the tests check what the server put there).
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// An admin API client with (or without) a bearer token.
pub struct Api {
    pub base: String,
    pub token: Option<String>,
    client: reqwest::Client,
}

impl Api {
    /// A client of the admin API at `base` with `token`.
    pub fn for_tests(base: String, token: &str) -> Self {
        Self { base, token: Some(token.to_owned()), client: crate::support::client() }
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    pub async fn put(&self, path: &str) -> Reply {
        self.send(Method::PUT, path, None, &[]).await
    }

    pub async fn patch(&self, path: &str, body: Value, etag: &str) -> Reply {
        self.send(Method::PATCH, path, Some(body), &[("if-match", etag)]).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None, &[]).await
    }
}
