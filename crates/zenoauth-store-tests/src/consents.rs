//! Contracts of [`ConsentStore`](zenoauth_domain::ports::ConsentStore) and
//! [`ClientAssertionStore`](zenoauth_domain::ports::ClientAssertionStore).

use std::sync::Arc;

use zenoauth_domain::model::{Consent, Organization, User};
use zenoauth_domain::ports::Stores;
use zenoauth_domain::values::{ClientId, ScopeSet};

use crate::fixture::{assert_not_found, at, Fixture};

fn consent(user: &User, application: &zenoauth_domain::model::Application, scope: &str, seconds: i64) -> Consent {
    Consent {
        organization_id: user.organization_id,
        user_id: user.id,
        application_id: application.id,
        scope: ScopeSet::parse(scope).unwrap(),
        granted_at: at(seconds),
    }
}

/// Saved consents read back exactly; saving again replaces; delete forgets
/// and says whether there was one; list is per user.
pub async fn consent_roundtrip_replace_and_delete(stores: &Stores) {
    let fx = Fixture::new("consent_roundtrip_replace_and_delete");
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let other = fx.create_user(stores, &organization, "bob@example.com").await;
    let first_app = fx.create_application(stores, &organization, "first").await;
    let second_app = fx.create_application(stores, &organization, "second").await;

    assert_eq!(stores.consents.find(organization.id, user.id, first_app.id).await.unwrap(), None);
    let granted = consent(&user, &first_app, "openid profile", 10);
    stores.consents.save(&granted).await.unwrap();
    assert_eq!(stores.consents.find(organization.id, user.id, first_app.id).await.unwrap(), Some(granted));

    let wider = consent(&user, &first_app, "openid profile email", 20);
    stores.consents.save(&wider).await.unwrap();
    assert_eq!(stores.consents.find(organization.id, user.id, first_app.id).await.unwrap(), Some(wider.clone()));
    let second = consent(&user, &second_app, "openid", 30);
    stores.consents.save(&second).await.unwrap();
    stores.consents.save(&consent(&other, &first_app, "openid", 40)).await.unwrap();

    let listed = stores.consents.list_for_user(organization.id, user.id).await.unwrap();
    let mut expected = vec![wider, second];
    expected.sort_by_key(|consent| consent.application_id);
    assert_eq!(listed, expected);

    assert!(stores.consents.delete(organization.id, user.id, first_app.id).await.unwrap());
    assert!(!stores.consents.delete(organization.id, user.id, first_app.id).await.unwrap());
    assert_eq!(stores.consents.find(organization.id, user.id, first_app.id).await.unwrap(), None);
    assert!(stores.consents.find(organization.id, other.id, first_app.id).await.unwrap().is_some());
}

/// A consent names an existing user and application of its organization;
/// another organization's consents are invisible.
pub async fn tenants_are_isolated_for_consents(stores: &Stores) {
    let fx = Fixture::new("tenants_are_isolated_for_consents");
    let mine = fx.create_organization(stores).await;
    let theirs = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &mine, "alice@example.com").await;
    let application = fx.create_application(stores, &mine, "app").await;
    let their_application = fx.create_application(stores, &theirs, "app").await;
    let missing_user = fx.user(&mine, "ghost@example.com");
    let missing_application = fx.application(&mine, "ghost");

    assert_not_found(stores.consents.save(&consent(&missing_user, &application, "openid", 1)).await, "user");
    assert_not_found(stores.consents.save(&consent(&user, &missing_application, "openid", 1)).await, "application");
    assert_not_found(stores.consents.save(&consent(&user, &their_application, "openid", 1)).await, "application");

    stores.consents.save(&consent(&user, &application, "openid", 1)).await.unwrap();
    assert_eq!(stores.consents.find(theirs.id, user.id, application.id).await.unwrap(), None);
    assert!(stores.consents.list_for_user(theirs.id, user.id).await.unwrap().is_empty());
    assert!(!stores.consents.delete(theirs.id, user.id, application.id).await.unwrap());
    assert!(stores.consents.find(mine.id, user.id, application.id).await.unwrap().is_some());
}

/// Deleting the user or the application deletes their consents.
pub async fn consents_go_with_their_user_and_application(stores: &Stores) {
    let fx = Fixture::new("consents_go_with_their_user_and_application");
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let other = fx.create_user(stores, &organization, "bob@example.com").await;
    let application = fx.create_application(stores, &organization, "app").await;
    let other_application = fx.create_application(stores, &organization, "other").await;
    for (who, what) in [(&user, &application), (&other, &application), (&other, &other_application)] {
        stores.consents.save(&consent(who, what, "openid", 1)).await.unwrap();
    }

    stores.users.delete(organization.id, user.id).await.unwrap();
    assert_eq!(stores.consents.find(organization.id, user.id, application.id).await.unwrap(), None);
    stores.applications.delete(organization.id, application.id).await.unwrap();
    assert_eq!(stores.consents.find(organization.id, other.id, application.id).await.unwrap(), None);
    assert!(stores.consents.find(organization.id, other.id, other_application.id).await.unwrap().is_some());
}

fn client(text: &str) -> ClientId {
    ClientId::parse(text).unwrap()
}

/// A jti is accepted once per (organization, client) until it expires; then
/// it may be recorded again. `delete_expired` counts across organizations.
pub async fn client_assertion_jti_is_accepted_once_until_it_expires(stores: &Stores) {
    let fx = Fixture::new("client_assertion_jti_is_accepted_once_until_it_expires");
    let mine: Organization = fx.create_organization(stores).await;
    let theirs = fx.create_organization(stores).await;
    let jtis = &stores.client_assertions;

    assert!(jtis.record_jti(mine.id, &client("app"), "j1", at(100), at(0)).await.unwrap());
    assert!(!jtis.record_jti(mine.id, &client("app"), "j1", at(100), at(50)).await.unwrap());
    assert!(!jtis.record_jti(mine.id, &client("app"), "j1", at(200), at(99)).await.unwrap());
    // Another client, another organization, another jti: independent.
    assert!(jtis.record_jti(mine.id, &client("other"), "j1", at(100), at(50)).await.unwrap());
    assert!(jtis.record_jti(theirs.id, &client("app"), "j1", at(100), at(50)).await.unwrap());
    assert!(jtis.record_jti(mine.id, &client("app"), "j2", at(300), at(50)).await.unwrap());
    // Expired by now (expires_at <= now): usable again.
    assert!(jtis.record_jti(mine.id, &client("app"), "j1", at(400), at(100)).await.unwrap());
    assert!(!jtis.record_jti(mine.id, &client("app"), "j1", at(400), at(399)).await.unwrap());

    assert_eq!(jtis.delete_expired(at(99)).await.unwrap(), 0);
    assert_eq!(jtis.delete_expired(at(100)).await.unwrap(), 2);
    assert_eq!(jtis.delete_expired(at(400)).await.unwrap(), 2);
    assert_not_found(jtis.record_jti(fx.organization().id, &client("app"), "j9", at(100), at(0)).await, "organization");
}

/// Of concurrent callers with one jti, exactly one is accepted.
pub async fn client_assertion_jti_is_single_use_under_concurrency(stores: &Stores) {
    let fx = Fixture::new("client_assertion_jti_is_single_use_under_concurrency");
    let organization = fx.create_organization(stores).await;
    let jtis = Arc::clone(&stores.client_assertions);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let jtis = Arc::clone(&jtis);
        tasks.push(tokio::spawn(async move {
            jtis.record_jti(organization.id, &client("app"), "same", at(100), at(0)).await.unwrap()
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        if task.await.unwrap() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1);
}
