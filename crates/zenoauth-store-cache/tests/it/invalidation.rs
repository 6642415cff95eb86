//! What the caches serve, and what makes them stop serving it. "Behind the
//! decorator's back" means a write to the inner store, as another instance
//! (or a tool) would make it.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use zenoauth_domain::ids::{ApplicationId, OrganizationId};
use zenoauth_domain::model::{Application, SigningAlgorithm};
use zenoauth_domain::ports::{ApplicationRepository, PageRequest, Stores};
use zenoauth_domain::values::{ClientId, DisplayName};
use zenoauth_domain::{Error, Result};
use zenoauth_store_cache::{CacheName, CacheSettings, CachedStores, Invalidation, Kind};
use zenoauth_store_memory::MemoryDatabase;
use zenoauth_store_tests::fixture::{at, Fixture};

fn cached(inner: &Stores) -> CachedStores {
    CachedStores::new(inner.clone(), CacheSettings::default(), None)
}

fn figures(cached: &CachedStores, name: CacheName) -> (u64, u64) {
    let stats = cached.stats();
    let figures = stats.caches.iter().find(|figures| figures.name == name).unwrap();
    (figures.hits, figures.misses)
}

fn renamed(application: &Application, name: &str) -> Application {
    Application { name: DisplayName::parse(name).unwrap(), ..application.clone() }
}

#[tokio::test]
async fn an_application_is_served_from_cache_until_its_invalidation() {
    let fixture = Fixture::new("an_application_is_served_from_cache_until_its_invalidation");
    let inner = MemoryDatabase::new().stores();
    let cached = cached(&inner);
    let stores = cached.stores();
    let organization = fixture.create_organization(&inner).await;
    let application = fixture.create_application(&inner, &organization, "web").await;
    let client_id = ClientId::parse("web").unwrap();

    assert_eq!(
        stores.applications.find_by_client_id(organization.id, &client_id).await.unwrap(),
        Some(application.clone())
    );
    assert_eq!(figures(&cached, CacheName::Applications), (0, 1));

    // Changed behind the decorator's back: the cached copy is still served …
    inner.applications.update(&renamed(&application, "Renamed")).await.unwrap();
    let served = stores.applications.find_by_client_id(organization.id, &client_id).await.unwrap().unwrap();
    assert_eq!(served.name.as_str(), "Example app");
    assert_eq!(figures(&cached, CacheName::Applications), (1, 1));

    // … until the invalidation message arrives.
    cached.apply_message(&format!("app:{}:web", organization.id));
    let served = stores.applications.find_by_client_id(organization.id, &client_id).await.unwrap().unwrap();
    assert_eq!(served.name.as_str(), "Renamed");
}

#[tokio::test]
async fn writes_through_the_decorator_are_seen_at_once() {
    let fixture = Fixture::new("writes_through_the_decorator_are_seen_at_once");
    let inner = MemoryDatabase::new().stores();
    let cached = cached(&inner);
    let stores = cached.stores();
    let organization = fixture.create_organization(&stores).await;
    let application = fixture.create_application(&stores, &organization, "web").await;
    let client_id = ClientId::parse("web").unwrap();
    stores.applications.find_by_client_id(organization.id, &client_id).await.unwrap();

    stores.applications.update(&renamed(&application, "Renamed")).await.unwrap();
    let served = stores.applications.find_by_client_id(organization.id, &client_id).await.unwrap().unwrap();
    assert_eq!(served.name.as_str(), "Renamed");

    stores.applications.delete(organization.id, application.id).await.unwrap();
    assert_eq!(stores.applications.find_by_client_id(organization.id, &client_id).await.unwrap(), None);

    // The organization by slug: renamed, then deleted.
    let slug = organization.slug.clone();
    stores.organizations.find_by_slug(&slug).await.unwrap();
    let mut updated = organization.clone();
    updated.name = DisplayName::parse("Other name").unwrap();
    stores.organizations.update(&updated).await.unwrap();
    assert_eq!(stores.organizations.find_by_slug(&slug).await.unwrap().unwrap().name.as_str(), "Other name");
    stores.organizations.delete(organization.id).await.unwrap();
    assert_eq!(stores.organizations.find_by_slug(&slug).await.unwrap(), None);
}

#[tokio::test]
async fn conditional_updates_pass_the_precondition_through_and_invalidate() {
    let fixture = Fixture::new("conditional_updates_pass_the_precondition_through_and_invalidate");
    let inner = MemoryDatabase::new().stores();
    let cached = cached(&inner);
    let stores = cached.stores();
    let organization = fixture.create_organization(&stores).await;
    let application = fixture.create_application(&stores, &organization, "web").await;
    let client_id = ClientId::parse("web").unwrap();
    stores.applications.find_by_client_id(organization.id, &client_id).await.unwrap();

    let read_at = application.updated_at;
    let changed = Application { updated_at: read_at + time::Duration::seconds(1), ..renamed(&application, "Renamed") };
    stores.applications.update_if_unchanged(&changed, read_at).await.unwrap();
    let served = stores.applications.find_by_client_id(organization.id, &client_id).await.unwrap().unwrap();
    assert_eq!(served.name.as_str(), "Renamed");
    // A second writer that read the same version loses, and the cache keeps the winner.
    let lost = stores.applications.update_if_unchanged(&renamed(&application, "Lost"), read_at).await;
    assert!(matches!(lost, Err(Error::PreconditionFailed)), "{lost:?}");
    let served = stores.applications.find_by_client_id(organization.id, &client_id).await.unwrap().unwrap();
    assert_eq!(served.name.as_str(), "Renamed");

    let slug = organization.slug.clone();
    stores.organizations.find_by_slug(&slug).await.unwrap();
    let mut updated = organization.clone();
    updated.name = DisplayName::parse("Other name").unwrap();
    updated.updated_at = organization.updated_at + time::Duration::seconds(1);
    stores.organizations.update_if_unchanged(&updated, organization.updated_at).await.unwrap();
    assert_eq!(stores.organizations.find_by_slug(&slug).await.unwrap().unwrap().name.as_str(), "Other name");
    let lost = stores.organizations.update_if_unchanged(&organization, organization.updated_at).await;
    assert!(matches!(lost, Err(Error::PreconditionFailed)), "{lost:?}");
    assert_eq!(stores.organizations.find_by_slug(&slug).await.unwrap().unwrap().name.as_str(), "Other name");
}

#[tokio::test]
async fn absent_rows_are_never_cached() {
    let fixture = Fixture::new("absent_rows_are_never_cached");
    let inner = MemoryDatabase::new().stores();
    let cached = cached(&inner);
    let stores = cached.stores();
    let organization = fixture.organization();

    assert_eq!(stores.organizations.find_by_slug(&organization.slug).await.unwrap(), None);
    inner.organizations.create(&organization).await.unwrap();
    assert_eq!(stores.organizations.find_by_slug(&organization.slug).await.unwrap(), Some(organization.clone()));

    let client_id = ClientId::parse("late").unwrap();
    assert_eq!(stores.applications.find_by_client_id(organization.id, &client_id).await.unwrap(), None);
    let application = fixture.create_application(&inner, &organization, "late").await;
    assert_eq!(stores.applications.find_by_client_id(organization.id, &client_id).await.unwrap(), Some(application));
}

#[tokio::test]
async fn a_revocation_ends_a_cached_not_revoked_answer() {
    let fixture = Fixture::new("a_revocation_ends_a_cached_not_revoked_answer");
    let inner = MemoryDatabase::new().stores();
    let cached = cached(&inner);
    let stores = cached.stores();
    let organization = fixture.create_organization(&inner).await;

    // Through the decorator: seen at once.
    assert!(!stores.revocations.is_revoked(organization.id, "jti-1").await.unwrap());
    assert!(!stores.revocations.is_revoked(organization.id, "jti-1").await.unwrap());
    assert_eq!(figures(&cached, CacheName::Revocations), (1, 1));
    stores.revocations.revoke(&fixture.revocation(&organization, "jti-1", at(3600))).await.unwrap();
    assert!(stores.revocations.is_revoked(organization.id, "jti-1").await.unwrap());

    // Behind its back (another instance): seen when the message arrives.
    assert!(!stores.revocations.is_revoked(organization.id, "jti-2").await.unwrap());
    inner.revocations.revoke(&fixture.revocation(&organization, "jti-2", at(3600))).await.unwrap();
    assert!(!stores.revocations.is_revoked(organization.id, "jti-2").await.unwrap(), "served from cache");
    cached.apply_message(&format!("revocation:{}:jti-2", organization.id));
    assert!(stores.revocations.is_revoked(organization.id, "jti-2").await.unwrap());
}

#[tokio::test]
async fn a_cached_session_still_expires_and_a_deleted_one_is_gone() {
    let fixture = Fixture::new("a_cached_session_still_expires_and_a_deleted_one_is_gone");
    let inner = MemoryDatabase::new().stores();
    let cached = cached(&inner);
    let stores = cached.stores();
    let organization = fixture.create_organization(&inner).await;
    let user = fixture.create_user(&inner, &organization, "ada@example.com").await;
    let session = fixture.create_session(&inner, &user, at(100)).await;
    let digest = session.token_digest;

    assert_eq!(
        stores.sessions.find_by_token_digest(organization.id, &digest, at(50)).await.unwrap(),
        Some(session.clone())
    );
    assert!(stores.sessions.find_by_token_digest(organization.id, &digest, at(60)).await.unwrap().is_some());
    assert_eq!(figures(&cached, CacheName::Sessions), (1, 1));
    assert_eq!(stores.sessions.find_by_token_digest(organization.id, &digest, at(100)).await.unwrap(), None);

    stores.sessions.delete(organization.id, session.id).await.unwrap();
    assert_eq!(stores.sessions.find_by_token_digest(organization.id, &digest, at(50)).await.unwrap(), None);

    // Deleting the user deletes their sessions, cached ones included.
    let other = fixture.create_session(&inner, &user, at(100)).await;
    assert!(stores
        .sessions
        .find_by_token_digest(organization.id, &other.token_digest, at(50))
        .await
        .unwrap()
        .is_some());
    stores.users.delete(organization.id, user.id).await.unwrap();
    assert_eq!(stores.sessions.find_by_token_digest(organization.id, &other.token_digest, at(50)).await.unwrap(), None);
}

#[tokio::test]
async fn the_key_list_is_cached_per_organization_and_refreshed_by_key_writes() {
    let fixture = Fixture::new("the_key_list_is_cached_per_organization_and_refreshed_by_key_writes");
    let inner = MemoryDatabase::new().stores();
    let cached = cached(&inner);
    let stores = cached.stores();
    let organization = fixture.create_organization(&inner).await;
    let first = fixture.create_signing_key(&inner, &organization, SigningAlgorithm::EdDsa, at(10)).await;

    for _ in 0..3 {
        assert_eq!(stores.signing_keys.list(organization.id).await.unwrap(), vec![first.clone()]);
    }
    assert_eq!(figures(&cached, CacheName::SigningKeyLists), (2, 1));
    let active = stores.signing_keys.find_active(organization.id, SigningAlgorithm::EdDsa).await.unwrap();
    assert_eq!(active, Some(first.clone()));

    let second = fixture.create_signing_key(&stores, &organization, SigningAlgorithm::EdDsa, at(20)).await;
    assert_eq!(stores.signing_keys.list(organization.id).await.unwrap(), vec![second.clone(), first.clone()]);
    assert_eq!(
        stores.signing_keys.find_active(organization.id, SigningAlgorithm::EdDsa).await.unwrap(),
        Some(second.clone())
    );

    stores.signing_keys.retire(organization.id, second.id, at(30), at(40)).await.unwrap();
    let listed = stores.signing_keys.list(organization.id).await.unwrap();
    assert_eq!(listed[0].retired_at, Some(at(30)));
}

#[tokio::test]
async fn role_changes_reach_cached_role_lists() {
    let fixture = Fixture::new("role_changes_reach_cached_role_lists");
    let inner = MemoryDatabase::new().stores();
    let cached = cached(&inner);
    let stores = cached.stores();
    let organization = fixture.create_organization(&inner).await;
    let application = fixture.create_application(&inner, &organization, "svc").await;
    assert!(stores.roles.roles_of_application(organization.id, application.id).await.unwrap().is_empty());
    assert!(stores.roles.roles_of_application(organization.id, application.id).await.unwrap().is_empty());
    assert_eq!(figures(&cached, CacheName::Roles), (1, 1));
    let role = zenoauth_domain::roles::Role {
        id: fixture.id(),
        organization_id: organization.id,
        name: zenoauth_domain::roles::RoleName::parse("reader").unwrap(),
        description: String::new(),
        permissions: Default::default(),
        created_at: at(1),
        updated_at: at(1),
    };
    stores.roles.create(&role).await.unwrap();
    stores.roles.assign_to_application(organization.id, application.id, role.id).await.unwrap();
    let roles = stores.roles.roles_of_application(organization.id, application.id).await.unwrap();
    assert_eq!(roles, vec![role]);
}

#[tokio::test]
async fn an_organization_wide_message_forgets_everything_the_organization_owns() {
    let fixture = Fixture::new("an_organization_wide_message_forgets_everything_the_organization_owns");
    let inner = MemoryDatabase::new().stores();
    let cached = cached(&inner);
    let stores = cached.stores();
    let organization = fixture.create_organization(&inner).await;
    fixture.create_application(&inner, &organization, "web").await;
    let client_id = ClientId::parse("web").unwrap();
    stores.applications.find_by_client_id(organization.id, &client_id).await.unwrap();
    stores.organizations.find_by_slug(&organization.slug).await.unwrap();

    inner.organizations.delete(organization.id).await.unwrap();
    assert!(stores.organizations.find_by_slug(&organization.slug).await.unwrap().is_some(), "served from cache");
    cached.apply(&Invalidation::all_in(Kind::Organization, organization.id));
    assert_eq!(stores.organizations.find_by_slug(&organization.slug).await.unwrap(), None);
    assert_eq!(stores.applications.find_by_client_id(organization.id, &client_id).await.unwrap(), None);
}

#[tokio::test]
async fn an_unreadable_message_empties_every_cache() {
    let fixture = Fixture::new("an_unreadable_message_empties_every_cache");
    let inner = MemoryDatabase::new().stores();
    let cached = cached(&inner);
    let stores = cached.stores();
    let organization = fixture.create_organization(&inner).await;
    stores.organizations.find_by_slug(&organization.slug).await.unwrap();
    inner.organizations.delete(organization.id).await.unwrap();
    cached.apply_message("from-a-future-version:*:x");
    assert_eq!(stores.organizations.find_by_slug(&organization.slug).await.unwrap(), None);
    assert_eq!(cached.stats().flushes, 1);
}

#[tokio::test]
async fn disabled_caches_pass_every_read_through() {
    let fixture = Fixture::new("disabled_caches_pass_every_read_through");
    let inner = MemoryDatabase::new().stores();
    let cached = CachedStores::new(inner.clone(), CacheSettings::disabled(), None);
    let stores = cached.stores();
    let organization = fixture.create_organization(&inner).await;
    stores.organizations.find_by_slug(&organization.slug).await.unwrap();
    inner.organizations.delete(organization.id).await.unwrap();
    assert_eq!(stores.organizations.find_by_slug(&organization.slug).await.unwrap(), None);
    let stats = cached.stats();
    assert_eq!(stats.bypassed, 2);
    assert!(stats.caches.iter().all(|figures| figures.hits + figures.misses == 0));
}

#[tokio::test]
async fn sizes_are_bounded_and_reported() {
    let fixture = Fixture::new("sizes_are_bounded_and_reported");
    let inner = MemoryDatabase::new().stores();
    let settings = CacheSettings { max_entries: 5, ..CacheSettings::default() };
    let cached = CachedStores::new(inner.clone(), settings, None);
    let stores = cached.stores();
    let organization = fixture.create_organization(&inner).await;
    for jti in 0..50 {
        stores.revocations.is_revoked(organization.id, &format!("jti-{jti}")).await.unwrap();
    }
    let stats = cached.settled_stats().await;
    let revocations = stats.caches.iter().find(|figures| figures.name == CacheName::Revocations).unwrap();
    assert!(revocations.entries <= 5, "{revocations:?}");
    assert_eq!(revocations.misses, 50);
}

/// An application store whose read lets a write (from "another instance")
/// land while the read is in flight, after the database answered.
struct RacingApplications {
    inner: Arc<dyn ApplicationRepository>,
    cached: OnceLock<CachedStores>,
    organization: OrganizationId,
}

#[async_trait]
impl ApplicationRepository for RacingApplications {
    async fn create(&self, application: &Application) -> Result<()> {
        self.inner.create(application).await
    }
    async fn get(&self, organization: OrganizationId, id: ApplicationId) -> Result<Application> {
        self.inner.get(organization, id).await
    }
    async fn find_by_client_id(
        &self,
        organization: OrganizationId,
        client_id: &ClientId,
    ) -> Result<Option<Application>> {
        let found = self.inner.find_by_client_id(organization, client_id).await?;
        if let Some(application) = &found {
            self.inner.update(&renamed(application, "Changed meanwhile")).await?;
            self.cached.get().unwrap().apply(&Invalidation::key(
                Kind::Application,
                self.organization,
                client_id.as_str(),
            ));
        }
        Ok(found)
    }
    async fn update(&self, application: &Application) -> Result<()> {
        self.inner.update(application).await
    }
    async fn update_if_unchanged(&self, application: &Application, expected: time::OffsetDateTime) -> Result<()> {
        self.inner.update_if_unchanged(application, expected).await
    }
    async fn delete(&self, organization: OrganizationId, id: ApplicationId) -> Result<()> {
        self.inner.delete(organization, id).await
    }
    async fn list(&self, organization: OrganizationId, page: &PageRequest) -> Result<Vec<Application>> {
        self.inner.list(organization, page).await
    }
}

#[tokio::test]
async fn a_read_that_races_an_invalidation_does_not_leave_a_stale_entry() {
    let fixture = Fixture::new("a_read_that_races_an_invalidation_does_not_leave_a_stale_entry");
    let database = MemoryDatabase::new().stores();
    let organization = fixture.create_organization(&database).await;
    fixture.create_application(&database, &organization, "web").await;
    let racing = Arc::new(RacingApplications {
        inner: database.applications.clone(),
        cached: OnceLock::new(),
        organization: organization.id,
    });
    let inner = Stores { applications: racing.clone(), ..database.clone() };
    let cached = cached(&inner);
    racing.cached.set(cached.clone()).unwrap();
    let client_id = ClientId::parse("web").unwrap();

    let first = cached.stores().applications.find_by_client_id(organization.id, &client_id).await.unwrap().unwrap();
    assert_eq!(first.name.as_str(), "Example app", "the read answers what it read");
    // The stale copy was not kept: the next read goes to the store.
    let next = database.applications.find_by_client_id(organization.id, &client_id).await.unwrap().unwrap();
    assert_eq!(next.name.as_str(), "Changed meanwhile");
    let _ = cached.stores().applications.find_by_client_id(organization.id, &client_id).await.unwrap();
    assert_eq!(figures(&cached, CacheName::Applications), (0, 2));
}
