//! Brute-force defence through the provider's login use case: counters per
//! account and per source address, progressive delay, lockout that even the
//! right password cannot pass, audit of each lock, and unlock.

use std::sync::Arc;

use serde_json::json;
use time::Duration;
use zenoauth_crypto::{Argon2Hasher, Argon2Params, CryptoOAuth, JwsSigner, KeyEncryptionKey, OsRandom};
use zenoauth_domain::ids::IdGenerator;
use zenoauth_domain::keys::KeyRing;
use zenoauth_domain::model::{Organization, User};
use zenoauth_domain::oauth::{Issuer, LoginError, OpenIdProvider, ProviderPorts};
use zenoauth_domain::ports::{Clock, PasswordHasher, RandomSource, Stores};
use zenoauth_domain::security::audit::{event_types, RecordingAuditSink};
use zenoauth_domain::security::lockout::LoginLockout;
use zenoauth_domain::testing::FixedClock;
use zenoauth_domain::values::{DisplayName, Email, Password, Slug};
use zenoauth_store_memory::MemoryDatabase;

struct World {
    stores: Stores,
    clock: Arc<FixedClock>,
    random: Arc<dyn RandomSource>,
    audit: Arc<RecordingAuditSink>,
    provider: OpenIdProvider,
    issuer: Issuer,
    ids: IdGenerator,
    hasher: Arc<Argon2Hasher>,
}

async fn world(settings: serde_json::Value) -> World {
    let stores = MemoryDatabase::new().stores();
    let random: Arc<dyn RandomSource> = Arc::new(OsRandom::new());
    let clock = Arc::new(FixedClock::at_unix(1_800_000_000));
    let ids = IdGenerator::new(clock.clone(), random.clone());
    let cheap = Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 };
    let hasher = Arc::new(Argon2Hasher::new(cheap, random.clone()).unwrap());
    let signer = Arc::new(JwsSigner::new(KeyEncryptionKey::generate(random.as_ref()), random.clone()));
    let audit = Arc::new(RecordingAuditSink::new());
    let provider = OpenIdProvider::new(
        stores.clone(),
        ProviderPorts {
            hasher: hasher.clone(),
            signer: signer.clone(),
            verifier: signer.clone(),
            crypto: Arc::new(CryptoOAuth::new(random.clone())),
            clock: clock.clone(),
            random: random.clone(),
            keys: KeyRing::new(stores.signing_keys.clone(), signer, clock.clone(), random.clone()),
            audit: audit.clone(),
        },
    );
    let now = clock.now();
    let organization = Organization {
        id: ids.next(),
        slug: Slug::parse("acme").unwrap(),
        name: DisplayName::parse("Acme").unwrap(),
        settings,
        created_at: now,
        updated_at: now,
    };
    stores.organizations.create(&organization).await.unwrap();
    let issuer = Issuer { organization, url: "https://id.example.com/o/acme".to_owned() };
    let world = World { stores, clock, random, audit, provider, issuer, ids, hasher };
    world.add_user("alice@example.com", "pw-alice").await;
    world.add_user("bob@example.com", "pw-bob").await;
    world
}

impl World {
    async fn add_user(&self, email: &str, password: &str) -> User {
        let now = self.clock.now();
        let user = User {
            id: self.ids.next(),
            organization_id: self.issuer.organization.id,
            email: Email::parse(email).unwrap(),
            email_verified: true,
            password_hash: Some(self.hasher.hash(&Password::parse(password).unwrap()).await.unwrap()),
            profile: json!({}),
            is_active: true,
            created_at: now,
            updated_at: now,
        };
        self.stores.users.create(&user).await.unwrap();
        user
    }

    /// `Ok(())` on success, `Err(delay)` on the uniform failure.
    async fn login(&self, email: &str, password: &str, ip: &str) -> Result<(), Duration> {
        match self.provider.login(&self.issuer, email, password, json!({"ip": ip})).await {
            Ok(_) => Ok(()),
            Err(LoginError::InvalidCredentials { delay }) => Err(delay),
            Err(LoginError::Internal(error)) => panic!("internal error: {error}"),
        }
    }

    fn count(&self, event_type: &str) -> usize {
        self.audit.event_types().iter().filter(|recorded| recorded.as_str() == event_type).count()
    }

    fn lockout(&self) -> LoginLockout {
        LoginLockout::new(
            self.stores.login_attempts.clone(),
            self.audit.clone(),
            self.clock.clone(),
            self.random.clone(),
        )
    }
}

#[tokio::test]
async fn an_account_locks_at_the_threshold_and_even_the_right_password_fails_until_it_expires() {
    let world = world(json!({"lockout_threshold": 3, "lockout_duration_seconds": 600})).await;
    let delays: Vec<Duration> = {
        let mut delays = Vec::new();
        for _ in 0..3 {
            delays.push(world.login("alice@example.com", "guess", "192.0.2.1").await.unwrap_err());
        }
        delays
    };
    assert_eq!(delays, [Duration::ZERO, Duration::ZERO, Duration::milliseconds(250)]);
    assert_eq!(world.count(event_types::LOGIN_LOCKED), 1);
    // Locked: the right password fails the same way, from any address.
    assert!(world.login("alice@example.com", "pw-alice", "203.0.113.9").await.is_err());
    assert_eq!(world.count(event_types::LOGIN_LOCKED), 1, "a running lock is audited once");
    let failed = world.audit.events().into_iter().rfind(|e| e.event_type == event_types::LOGIN_FAILED).unwrap();
    assert_eq!(failed.data["reason"], "locked");
    // Other accounts are unaffected.
    world.login("bob@example.com", "pw-bob", "203.0.113.9").await.unwrap();
    world.clock.advance(Duration::seconds(601));
    world.login("alice@example.com", "pw-alice", "203.0.113.9").await.unwrap();
    let alice = Email::parse("alice@example.com").unwrap();
    let counter = world.lockout().account_status(world.issuer.organization.id, &alice).await.unwrap();
    assert_eq!(counter, None, "a successful login clears the account's failures");
}

#[tokio::test]
async fn unknown_accounts_are_counted_and_locked_exactly_like_real_ones() {
    let world = world(json!({"lockout_threshold": 2})).await;
    let mut answers = Vec::new();
    for email in ["alice@example.com", "nobody@example.com"] {
        for _ in 0..3 {
            answers.push(world.login(email, "guess", "192.0.2.2").await.unwrap_err());
        }
    }
    assert_eq!(answers[..3], answers[3..], "the same delays for a real and an unknown account");
    assert_eq!(world.count(event_types::LOGIN_LOCKED), 2);
    let reasons: Vec<String> = world
        .audit
        .events()
        .into_iter()
        .filter(|event| event.event_type == event_types::LOGIN_FAILED)
        .map(|event| event.data["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        reasons,
        ["wrong_password", "wrong_password", "wrong_password", "unknown_user", "unknown_user", "unknown_user"]
    );
}

#[tokio::test]
async fn one_address_spraying_many_accounts_is_locked_out() {
    let world = world(json!({"lockout_address_threshold": 4, "lockout_threshold": 100})).await;
    for index in 0..4 {
        assert!(world.login(&format!("user{index}@example.com"), "guess", "198.51.100.4").await.is_err());
    }
    // The address is locked: even a real user's right password fails from it…
    assert!(world.login("bob@example.com", "pw-bob", "198.51.100.4").await.is_err());
    // …but not from elsewhere.
    world.login("bob@example.com", "pw-bob", "198.51.100.5").await.unwrap();
    let locked: Vec<String> = world
        .audit
        .events()
        .into_iter()
        .filter(|event| event.event_type == event_types::LOGIN_LOCKED)
        .filter_map(|event| event.subject)
        .collect();
    assert_eq!(locked, ["ip:198.51.100.4"]);
    let lockout = world.lockout();
    assert!(lockout.unlock_address(world.issuer.organization.id, "198.51.100.4", "admin").await.unwrap());
    world.login("bob@example.com", "pw-bob", "198.51.100.4").await.unwrap();
}

#[tokio::test]
async fn an_administrator_can_unlock_an_account_and_it_is_audited() {
    let world = world(json!({"lockout_threshold": 1})).await;
    let organization = world.issuer.organization.id;
    let alice = Email::parse("alice@example.com").unwrap();
    assert!(world.login("alice@example.com", "guess", "192.0.2.3").await.is_err());
    let lockout = world.lockout();
    assert!(lockout.is_account_locked(organization, &alice).await.unwrap());
    assert!(world.login("alice@example.com", "pw-alice", "192.0.2.3").await.is_err());
    assert!(lockout.unlock_account(organization, &alice, "admin-user-id").await.unwrap());
    assert!(!lockout.unlock_account(organization, &alice, "admin-user-id").await.unwrap(), "nothing left to unlock");
    assert!(!lockout.is_account_locked(organization, &alice).await.unwrap());
    world.login("alice@example.com", "pw-alice", "192.0.2.3").await.unwrap();
    let unlocked: Vec<_> =
        world.audit.events().into_iter().filter(|event| event.event_type == event_types::LOGIN_UNLOCKED).collect();
    assert_eq!(unlocked.len(), 1);
    assert_eq!(unlocked[0].actor.as_deref(), Some("admin-user-id"));
    assert_eq!(unlocked[0].subject.as_deref(), Some("account:alice@example.com"));
}

#[tokio::test]
async fn successful_logins_and_logouts_are_audited_with_the_user() {
    let world = world(json!({})).await;
    let success = world.provider.login(&world.issuer, "alice@example.com", "pw-alice", json!({})).await.unwrap();
    world.provider.end_session_now(&world.issuer, &success.session).await.unwrap();
    let events = world.audit.events();
    let types: Vec<&str> = events.iter().map(|event| event.event_type.as_str()).collect();
    assert_eq!(types, [event_types::LOGIN_SUCCEEDED, event_types::LOGOUT]);
    let user = success.session.user_id.to_string();
    assert!(events.iter().all(|event| event.subject.as_deref() == Some(user.as_str())));
    assert!(events.iter().all(|event| event.organization_id == world.issuer.organization.id));
    assert_eq!(events[0].data["session_id"], success.session.id.to_string());
}

#[tokio::test]
async fn bootstrap_refuses_a_given_password_that_breaks_the_policy() {
    let database = MemoryDatabase::new();
    let random: Arc<dyn RandomSource> = Arc::new(OsRandom::new());
    let cheap = Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 };
    let hasher = Arc::new(Argon2Hasher::new(cheap, random.clone()).unwrap());
    let signer = Arc::new(JwsSigner::new(KeyEncryptionKey::generate(random.as_ref()), random.clone()));
    let clock = Arc::new(FixedClock::at_unix(1_800_000_000));
    let bootstrap =
        zenoauth_domain::bootstrap::Bootstrap::new(database.stores(), hasher, signer, clock, random.clone());
    let email = Email::parse("operator@example.com").unwrap();
    for (weak, rule) in [("password1234", "commonly"), ("the-operator-pass", "email"), ("short", "minimum length")] {
        let result = bootstrap.run(&email, Some(Password::parse(weak).unwrap())).await;
        match result {
            Err(zenoauth_domain::Error::InvalidInput(error)) => assert!(error.reason.contains(rule), "{weak}: {error}"),
            other => panic!("{weak}: expected a policy error, got {other:?}"),
        }
    }
    let stores = database.stores();
    let system = stores.organizations.find_by_slug(&Slug::system()).await.unwrap().unwrap();
    assert_eq!(stores.users.find_by_email(system.id, &email).await.unwrap(), None, "no admin was created");
    let strong = Password::parse("correct horse battery staple").unwrap();
    assert!(bootstrap.run(&email, Some(strong)).await.unwrap().admin_created);
}
