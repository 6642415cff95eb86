//! Writes to users never undo a concurrent change (conditional updates with
//! re-read and re-apply), and an administrator's password set follows the
//! policy and ends the user's sessions.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use zenoauth_crypto::{Argon2Hasher, Argon2Params, CryptoOAuth, JwsSigner, KeyEncryptionKey, OsRandom};
use zenoauth_domain::email::{AccountLinks, AccountLinksPorts, AccountTokenPurpose, LinkError};
use zenoauth_domain::ids::{IdGenerator, OrganizationId, UserId};
use zenoauth_domain::keys::KeyRing;
use zenoauth_domain::model::{Organization, User};
use zenoauth_domain::oauth::{Issuer, OpenIdProvider, ProviderPorts};
use zenoauth_domain::ports::{Clock, PageRequest, PasswordHasher, RandomSource, Stores, UserQuery, UserRepository};
use zenoauth_domain::security::audit::RecordingAuditSink;
use zenoauth_domain::testing::FixedClock;
use zenoauth_domain::values::{DisplayName, Email, Password, Slug};
use zenoauth_domain::Error;
use zenoauth_store_memory::MemoryDatabase;

/// What the concurrent writer does to the stored user.
type Race = Box<dyn FnOnce(&mut User) + Send>;

/// A user store where another writer gets in first: on the first write,
/// `race` is applied to the stored user (as a concurrent admin would) just
/// before the write itself goes through.
struct Racing {
    inner: Arc<dyn UserRepository>,
    race: Mutex<Option<Race>>,
}

impl Racing {
    async fn interfere(&self, user: &User) {
        let race = self.race.lock().unwrap().take();
        if let Some(race) = race {
            let mut stored = self.inner.get(user.organization_id, user.id).await.unwrap();
            race(&mut stored);
            stored.updated_at = zenoauth_domain::users::next_version(stored.updated_at, stored.updated_at);
            self.inner.update(&stored).await.unwrap();
        }
    }
}

#[async_trait]
impl UserRepository for Racing {
    async fn create(&self, user: &User) -> zenoauth_domain::Result<()> {
        self.inner.create(user).await
    }
    async fn get(&self, organization: OrganizationId, id: UserId) -> zenoauth_domain::Result<User> {
        self.inner.get(organization, id).await
    }
    async fn find_by_email(
        &self,
        organization: OrganizationId,
        email: &Email,
    ) -> zenoauth_domain::Result<Option<User>> {
        self.inner.find_by_email(organization, email).await
    }
    async fn update(&self, user: &User) -> zenoauth_domain::Result<()> {
        self.interfere(user).await;
        self.inner.update(user).await
    }
    async fn update_if_unchanged(&self, user: &User, expected: OffsetDateTime) -> zenoauth_domain::Result<()> {
        self.interfere(user).await;
        self.inner.update_if_unchanged(user, expected).await
    }
    async fn delete(&self, organization: OrganizationId, id: UserId) -> zenoauth_domain::Result<()> {
        self.inner.delete(organization, id).await
    }
    async fn list(
        &self,
        organization: OrganizationId,
        query: &UserQuery,
        page: &PageRequest,
    ) -> zenoauth_domain::Result<Vec<User>> {
        self.inner.list(organization, query, page).await
    }
}

struct World {
    stores: Stores,
    racing: Arc<Racing>,
    clock: Arc<FixedClock>,
    hasher: Arc<Argon2Hasher>,
    provider: OpenIdProvider,
    links: AccountLinks,
    issuer: Issuer,
    user: User,
}

fn cheap(memory_kib: u32) -> Argon2Params {
    Argon2Params { memory_kib, iterations: 1, parallelism: 1 }
}

/// The user's hash uses `stored` parameters; the services hash with 64 KiB.
async fn world(stored: u32) -> World {
    let mut stores = MemoryDatabase::new().stores();
    let racing = Arc::new(Racing { inner: stores.users.clone(), race: Mutex::new(None) });
    stores.users = racing.clone();
    let random: Arc<dyn RandomSource> = Arc::new(OsRandom::new());
    let clock = Arc::new(FixedClock::at_unix(1_800_000_000));
    let ids = IdGenerator::new(clock.clone(), random.clone());
    let hasher = Arc::new(Argon2Hasher::new(cheap(64), random.clone()).unwrap());
    let signer = Arc::new(JwsSigner::new(KeyEncryptionKey::generate(random.as_ref()), random.clone()));
    let keys = KeyRing::new(stores.signing_keys.clone(), signer.clone(), clock.clone(), random.clone());
    let crypto = Arc::new(CryptoOAuth::new(random.clone()));
    let audit = Arc::new(RecordingAuditSink::new());
    let provider = OpenIdProvider::new(
        stores.clone(),
        ProviderPorts {
            hasher: hasher.clone(),
            signer: signer.clone(),
            verifier: signer,
            crypto: crypto.clone(),
            clock: clock.clone(),
            random: random.clone(),
            keys,
            audit: audit.clone(),
        },
    );
    let links = AccountLinks::new(
        stores.clone(),
        AccountLinksPorts { hasher: hasher.clone(), crypto, clock: clock.clone(), random: random.clone(), audit },
    );
    let now = clock.now();
    let organization = Organization {
        id: ids.next(),
        slug: Slug::parse("acme").unwrap(),
        name: DisplayName::parse("Acme").unwrap(),
        settings: json!({}),
        created_at: now,
        updated_at: now,
    };
    stores.organizations.create(&organization).await.unwrap();
    let stored_hasher = Argon2Hasher::new(cheap(stored), random).unwrap();
    let user = User {
        id: ids.next(),
        organization_id: organization.id,
        email: Email::parse("alice@example.com").unwrap(),
        email_verified: false,
        password_hash: Some(stored_hasher.hash(&Password::parse("pw").unwrap()).await.unwrap()),
        profile: json!({}),
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    stores.users.create(&user).await.unwrap();
    let issuer = Issuer { organization, url: "https://id.example.com/o/acme".to_owned() };
    World { stores, racing, clock, hasher, provider, links, issuer, user }
}

impl World {
    fn race(&self, race: impl FnOnce(&mut User) + Send + 'static) {
        *self.racing.race.lock().unwrap() = Some(Box::new(race));
    }

    async fn stored(&self) -> User {
        self.stores.users.get(self.issuer.organization.id, self.user.id).await.unwrap()
    }
}

#[tokio::test]
async fn a_reset_link_never_undoes_a_concurrent_deactivation() {
    let world = world(64).await;
    let token = world.links.issue(&world.user, AccountTokenPurpose::ResetPassword, Duration::hours(1)).await.unwrap();
    world.race(|user| user.is_active = false);
    let organization = &world.issuer.organization;
    let result =
        world.links.set_password(organization, &token, AccountTokenPurpose::ResetPassword, "a fresh long secret").await;
    assert!(matches!(result, Err(LinkError::Invalid)), "{result:?}");
    let stored = world.stored().await;
    assert!(!stored.is_active, "the deactivation stands");
    assert_eq!(stored.password_hash, world.user.password_hash, "no password set for a deactivated user");
}

#[tokio::test]
async fn a_reset_link_reapplies_itself_over_a_concurrent_profile_change() {
    let world = world(64).await;
    let token = world.links.issue(&world.user, AccountTokenPurpose::ResetPassword, Duration::hours(1)).await.unwrap();
    world.race(|user| user.profile = json!({"department": "sales"}));
    let organization = &world.issuer.organization;
    let change = world
        .links
        .set_password(organization, &token, AccountTokenPurpose::ResetPassword, "a fresh long secret")
        .await
        .unwrap();
    let stored = world.stored().await;
    assert_eq!(stored.profile, json!({"department": "sales"}), "the concurrent change is kept");
    assert!(stored.email_verified);
    let hash = stored.password_hash.clone().unwrap();
    assert!(world.hasher.verify(&Password::parse("a fresh long secret").unwrap(), &hash).await.unwrap());
    assert!(stored.updated_at > world.user.updated_at);
    assert_eq!(change.user, stored);
}

#[tokio::test]
async fn verifying_an_email_keeps_a_concurrent_change() {
    let world = world(64).await;
    let token = world.links.issue(&world.user, AccountTokenPurpose::VerifyEmail, Duration::hours(1)).await.unwrap();
    world.race(|user| user.profile = json!({"name": "Alice"}));
    world.links.verify_email(&world.issuer.organization, &token).await.unwrap();
    let stored = world.stored().await;
    assert!(stored.email_verified);
    assert_eq!(stored.profile, json!({"name": "Alice"}));
}

#[tokio::test]
async fn verifying_an_email_does_not_verify_an_address_changed_meanwhile() {
    let world = world(64).await;
    let token = world.links.issue(&world.user, AccountTokenPurpose::VerifyEmail, Duration::hours(1)).await.unwrap();
    world.race(|user| user.email = Email::parse("mallory@example.com").unwrap());
    let result = world.links.verify_email(&world.issuer.organization, &token).await;
    assert!(matches!(result, Err(LinkError::Invalid)), "{result:?}");
    let stored = world.stored().await;
    assert_eq!(stored.email.as_str(), "mallory@example.com");
    assert!(!stored.email_verified);
}

#[tokio::test]
async fn a_login_rehash_never_undoes_a_concurrent_deactivation() {
    // Stored with outdated parameters: the login rehashes.
    let world = world(32).await;
    world.race(|user| user.is_active = false);
    world.provider.login(&world.issuer, "alice@example.com", "pw", json!({})).await.unwrap();
    let stored = world.stored().await;
    assert!(!stored.is_active, "the deactivation stands");
    assert_eq!(stored.password_hash, world.user.password_hash, "the rehash was skipped");
}

#[tokio::test]
async fn a_login_rehash_moves_the_version_forward_even_when_the_clock_stands_still() {
    let world = world(32).await;
    world.provider.login(&world.issuer, "alice@example.com", "pw", json!({})).await.unwrap();
    let stored = world.stored().await;
    assert_ne!(stored.password_hash, world.user.password_hash, "rehashed");
    assert!(stored.updated_at > world.user.updated_at, "the version moved although the clock did not");
}

#[tokio::test]
async fn an_admin_password_set_follows_the_policy_and_ends_every_session() {
    let world = world(64).await;
    let organization = world.issuer.organization.clone();
    let session = world.provider.login(&world.issuer, "alice@example.com", "pw", json!({})).await.unwrap();
    let (stores, hasher, clock) = (&world.stores, world.hasher.as_ref(), world.clock.as_ref());
    for weak in ["short", "password123", "alice-secret-2026"] {
        let refused =
            zenoauth_domain::users::set_password(stores, hasher, clock, &organization, world.stored().await, weak)
                .await;
        assert!(matches!(refused, Err(Error::InvalidInput(_))), "{weak}: {refused:?}");
    }
    let live = world.provider.current_session(&world.issuer, Some(&session.cookie.plaintext)).await.unwrap();
    assert!(live.is_some(), "a refused password changes nothing");
    world.race(|user| user.profile = json!({"department": "sales"}));
    let set = zenoauth_domain::users::set_password(
        stores,
        hasher,
        clock,
        &organization,
        world.stored().await,
        "a fresh long secret",
    )
    .await
    .unwrap();
    assert_eq!(set.sessions_ended, 1);
    let stored = world.stored().await;
    assert_eq!(stored.profile, json!({"department": "sales"}), "the concurrent change is kept");
    let hash = stored.password_hash.clone().unwrap();
    assert!(world.hasher.verify(&Password::parse("a fresh long secret").unwrap(), &hash).await.unwrap());
    let live = world.provider.current_session(&world.issuer, Some(&session.cookie.plaintext)).await.unwrap();
    assert_eq!(live, None, "the session ended");
}
