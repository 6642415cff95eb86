//! A server with chosen security settings for the security tests: one
//! organization (`acme`) with a user and a confidential client, a settable
//! clock, and a login helper that fills the real login form.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use serde_json::{json, Value};
use zenoauth_crypto::{digest_secret, Argon2Hasher, Argon2Params, KeyEncryptionKey, OsRandom};
use zenoauth_domain::ids::IdGenerator;
use zenoauth_domain::model::{Application, AuditEvent, ClientType, Organization, User};
use zenoauth_domain::ports::{AuditQuery, Clock, PageRequest, PasswordHasher, RandomSource, Stores};
use zenoauth_domain::testing::FixedClock;
use zenoauth_domain::values::{ClientId, DisplayName, Email, Password, RedirectUri, ScopeSet, Slug};
use zenoauth_server::clock::SystemClock;
use zenoauth_server::config::PublicUrl;
use zenoauth_server::http::security::SecuritySettings;
use zenoauth_server::http::{AppState, HttpLimits, StoresReadiness};
use zenoauth_server::services::Services;

use crate::oidc_support::{browser, hidden_field, EMAIL, PASSWORD, REDIRECT, WEB_SECRET};

/// How the site is built.
pub struct SiteOptions {
    pub security: SecuritySettings,
    pub argon2: Argon2Params,
    pub max_concurrent_hashes: Option<usize>,
    pub organization_settings: Value,
    pub limits: HttpLimits,
}

impl Default for SiteOptions {
    fn default() -> Self {
        Self {
            security: SecuritySettings::default(),
            argon2: Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 },
            max_concurrent_hashes: None,
            organization_settings: json!({}),
            limits: HttpLimits::default(),
        }
    }
}

/// The server of a [`Site`]: like `support::TestServer`, but served with
/// the site's connection limits. Stops when dropped.
pub struct SiteServer {
    pub address: std::net::SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl SiteServer {
    pub async fn start(state: AppState) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let state = state.with_public_url(PublicUrl::from_socket_addr(address));
        let limits = state.security.settings.connections;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(zenoauth_server::http::security::connections::serve(
            listener,
            zenoauth_server::http::app(state),
            async {
                let _ = stopped.await;
            },
            Duration::from_secs(5),
            limits,
        ));
        Self { address, _stop: stop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

pub struct Site {
    pub server: SiteServer,
    pub stores: Stores,
    pub clock: Arc<FixedClock>,
    pub state: AppState,
    pub organization: Organization,
}

impl Site {
    pub async fn start(stores: Stores, options: SiteOptions) -> Self {
        let random: Arc<dyn RandomSource> = Arc::new(OsRandom::new());
        let mut hasher = Argon2Hasher::new(options.argon2, random.clone()).unwrap();
        if let Some(permits) = options.max_concurrent_hashes {
            hasher = hasher.with_max_concurrent(std::num::NonZeroUsize::new(permits).unwrap());
        }
        let hasher = Arc::new(hasher);
        let clock = Arc::new(FixedClock::new(SystemClock.now()));
        let kek = KeyEncryptionKey::generate(random.as_ref());
        let services = Services::with_key(clock.clone(), random.clone(), hasher.clone(), kek);
        let ids = IdGenerator::new(clock.clone(), random);
        let now = clock.now();
        let organization = Organization {
            id: ids.next(),
            slug: Slug::parse("acme").unwrap(),
            name: DisplayName::parse("Acme").unwrap(),
            settings: options.organization_settings,
            created_at: now,
            updated_at: now,
        };
        stores.organizations.create(&organization).await.unwrap();
        let user = User {
            id: ids.next(),
            organization_id: organization.id,
            email: Email::parse(EMAIL).unwrap(),
            email_verified: true,
            password_hash: Some(hasher.hash(&Password::parse(PASSWORD).unwrap()).await.unwrap()),
            profile: json!({}),
            is_active: true,
            created_at: now,
            updated_at: now,
        };
        stores.users.create(&user).await.unwrap();
        for client_id in ["web", "other"] {
            let application = Application {
                id: ids.next(),
                organization_id: organization.id,
                client_id: ClientId::parse(client_id).unwrap(),
                name: DisplayName::parse(client_id).unwrap(),
                client_type: ClientType::Confidential { secret_digest: digest_secret(WEB_SECRET) },
                redirect_uris: vec![RedirectUri::parse(REDIRECT).unwrap()],
                allowed_scopes: ScopeSet::parse("openid profile email offline_access api").unwrap(),
                settings: json!({"grant_types": ["authorization_code", "refresh_token", "client_credentials"]}),
                created_at: now,
                updated_at: now,
            };
            stores.applications.create(&application).await.unwrap();
        }
        let placeholder = PublicUrl::parse("http://127.0.0.1").unwrap();
        let state = AppState::new(stores.clone(), Arc::new(StoresReadiness(stores.clone())), services, placeholder)
            .with_limits(options.limits)
            .with_security(options.security);
        let server = SiteServer::start(state.clone()).await;
        Self { server, stores, clock, state, organization }
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(&format!("/o/acme{path}"))
    }
}

/// Every audit event of `organization`, oldest first.
pub async fn audit_events(stores: &Stores, organization: &Organization) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    let mut after = None;
    loop {
        let page = PageRequest::new(after, 200).unwrap();
        let batch = stores.audit.list(organization.id, &AuditQuery::default(), &page).await.unwrap();
        let Some(last) = batch.last() else { break };
        after = Some(last.id.as_uuid());
        events.extend(batch);
    }
    events
}

/// Waits (up to 10 s) until the audit log holds events of every type in
/// `wanted`; returns them all.
pub async fn wait_for_audit(stores: &Stores, organization: &Organization, wanted: &[&str]) -> Vec<AuditEvent> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = audit_events(stores, organization).await;
        if wanted.iter().all(|kind| events.iter().any(|event| event.event_type == *kind)) {
            return events;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {wanted:?}; have {:?}", types(&events));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn types(events: &[AuditEvent]) -> Vec<String> {
    events.iter().map(|event| event.event_type.clone()).collect()
}

/// One login through the real form (GET the page for its CSRF token, POST
/// it) in `browser`: status, page text and how long the POST took.
pub async fn login(
    browser: &reqwest::Client,
    login_url: &str,
    email: &str,
    password: &str,
) -> (u16, String, Duration, reqwest::header::HeaderMap) {
    let page = browser.get(login_url).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&page, "csrf_token").expect("a login page with a CSRF token");
    let form = [("csrf_token", csrf.as_str()), ("email", email), ("password", password)];
    let started = Instant::now();
    let response = browser.post(login_url).form(&form).send().await.unwrap();
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap(), elapsed, headers)
}

/// A fresh cookie-keeping browser.
pub fn new_browser() -> reqwest::Client {
    browser()
}

/// The page text with the per-request CSRF token blanked, for comparing answers.
pub fn without_csrf(page: &str) -> String {
    match hidden_field(page, "csrf_token") {
        Some(token) => page.replace(&token, "CSRF"),
        None => page.to_owned(),
    }
}
