//! Contracts of the `FederationStore` port: upstream providers, linked
//! identities and logins in flight.

use std::collections::BTreeMap;

use zenoauth_domain::federation::{ClaimMapping, FederatedIdentity, FederationLogin, IdentityProvider};
use zenoauth_domain::model::{Organization, User};
use zenoauth_domain::ports::Stores;

use crate::fixture::{assert_conflict, assert_not_found, at, Fixture};

fn provider(fx: &Fixture, organization: &Organization, name: &str) -> IdentityProvider {
    IdentityProvider {
        id: fx.uuid(),
        organization_id: organization.id,
        name: name.to_owned(),
        issuer: "https://idp.example.com/realms/corp".to_owned(),
        client_id: "zenoauth".to_owned(),
        encrypted_client_secret: Some(vec![1, 2, 3, 250]),
        scopes: vec!["openid".to_owned(), "email".to_owned()],
        enabled: true,
        jit_provisioning: true,
        link_by_verified_email: false,
        claim_mapping: ClaimMapping {
            attributes: BTreeMap::from([("department".to_owned(), "dept".to_owned())]),
            groups_claim: Some("groups".to_owned()),
            roles: BTreeMap::from([("eng".to_owned(), "developer".to_owned())]),
        },
        created_at: at(0),
        updated_at: at(0),
    }
}

fn identity(provider: &IdentityProvider, user: &User, subject: &str, created: i64) -> FederatedIdentity {
    FederatedIdentity {
        organization_id: user.organization_id,
        provider_id: provider.id,
        subject: subject.to_owned(),
        user_id: user.id,
        created_at: at(created),
    }
}

fn login(fx: &Fixture, provider: &IdentityProvider, expires: i64) -> FederationLogin {
    FederationLogin {
        state_digest: fx.digest(),
        organization_id: provider.organization_id,
        provider_id: provider.id,
        nonce: fx.word(),
        code_verifier: fx.word(),
        continuation: "client_id=app&scope=openid".to_owned(),
        created_at: at(0),
        expires_at: at(expires),
    }
}

pub async fn identity_providers_roundtrip_with_unique_names(stores: &Stores) {
    let fx = Fixture::new("identity_providers_roundtrip_with_unique_names");
    let organization = fx.create_organization(stores).await;
    let other = fx.create_organization(stores).await;
    let store = &stores.federation;
    let corp = provider(&fx, &organization, "Corp");
    store.create_provider(&corp).await.unwrap();
    assert_eq!(store.find_provider(organization.id, corp.id).await.unwrap(), Some(corp.clone()));
    assert_eq!(store.find_provider(other.id, corp.id).await.unwrap(), None, "tenant isolation");
    assert_conflict(store.create_provider(&provider(&fx, &organization, "Corp")).await, "identity_provider_name");
    store.create_provider(&provider(&fx, &other, "Corp")).await.unwrap();
    let missing = provider(&fx, &organization, "Nowhere");
    let missing = IdentityProvider { organization_id: fx.id(), ..missing };
    assert_not_found(store.create_provider(&missing).await, "organization");

    let public = IdentityProvider { encrypted_client_secret: None, ..provider(&fx, &organization, "Public") };
    store.create_provider(&public).await.unwrap();
    let listed = store.list_providers(organization.id).await.unwrap();
    assert_eq!(listed, vec![corp.clone(), public.clone()], "in id order, only this organization's");

    let updated = IdentityProvider {
        name: "Corp SSO".to_owned(),
        enabled: false,
        scopes: vec!["openid".to_owned()],
        claim_mapping: ClaimMapping::default(),
        encrypted_client_secret: Some(vec![9]),
        created_at: at(50),
        updated_at: at(60),
        ..corp.clone()
    };
    store.update_provider(&updated).await.unwrap();
    let found = store.find_provider(organization.id, corp.id).await.unwrap().unwrap();
    assert_eq!(found, IdentityProvider { created_at: at(0), ..updated.clone() }, "created_at is kept");
    assert_conflict(
        store.update_provider(&IdentityProvider { name: "Public".to_owned(), ..updated.clone() }).await,
        "identity_provider_name",
    );
    assert_not_found(
        store.update_provider(&IdentityProvider { organization_id: other.id, ..updated.clone() }).await,
        "identity_provider",
    );
    assert!(!store.delete_provider(other.id, corp.id).await.unwrap());
    assert!(store.delete_provider(organization.id, corp.id).await.unwrap());
    assert!(!store.delete_provider(organization.id, corp.id).await.unwrap());
    assert_eq!(store.list_providers(organization.id).await.unwrap(), vec![public]);
    stores.organizations.delete(organization.id).await.unwrap();
    assert!(store.list_providers(organization.id).await.unwrap().is_empty());
}

pub async fn federated_identities_link_once_and_go_with_user_and_provider(stores: &Stores) {
    let fx = Fixture::new("federated_identities_link_once_and_go_with_user_and_provider");
    let organization = fx.create_organization(stores).await;
    let store = &stores.federation;
    let corp = provider(&fx, &organization, "Corp");
    let partner = provider(&fx, &organization, "Partner");
    store.create_provider(&corp).await.unwrap();
    store.create_provider(&partner).await.unwrap();
    let alice = fx.create_user(stores, &organization, "alice@example.com").await;
    let bob = fx.create_user(stores, &organization, "bob@example.com").await;

    let alice_corp = identity(&corp, &alice, "upstream-1", 1);
    store.link_identity(&alice_corp).await.unwrap();
    assert_conflict(store.link_identity(&identity(&corp, &bob, "upstream-1", 2)).await, "federated_identity");
    let alice_partner = identity(&partner, &alice, "upstream-1", 3);
    store.link_identity(&alice_partner).await.unwrap();
    let bob_corp = identity(&corp, &bob, "upstream-2", 4);
    store.link_identity(&bob_corp).await.unwrap();
    assert_eq!(store.find_identity(organization.id, corp.id, "upstream-1").await.unwrap(), Some(alice_corp.clone()));
    assert_eq!(store.find_identity(organization.id, corp.id, "nobody").await.unwrap(), None);
    assert_eq!(
        store.identities_of_user(organization.id, alice.id).await.unwrap(),
        vec![alice_corp.clone(), alice_partner.clone()]
    );

    let stranger = fx.user(&organization, "stranger@example.com");
    assert_not_found(store.link_identity(&identity(&corp, &stranger, "upstream-3", 5)).await, "user");
    let gone = provider(&fx, &organization, "Gone");
    assert_not_found(store.link_identity(&identity(&gone, &alice, "upstream-3", 5)).await, "identity_provider");

    // Deleting the provider removes its links; deleting a user removes theirs.
    assert!(store.delete_provider(organization.id, partner.id).await.unwrap());
    assert_eq!(store.identities_of_user(organization.id, alice.id).await.unwrap(), vec![alice_corp]);
    stores.users.delete(organization.id, alice.id).await.unwrap();
    assert_eq!(store.find_identity(organization.id, corp.id, "upstream-1").await.unwrap(), None);
    assert_eq!(store.find_identity(organization.id, corp.id, "upstream-2").await.unwrap(), Some(bob_corp));
}

pub async fn federation_logins_are_single_use_and_expire(stores: &Stores) {
    let fx = Fixture::new("federation_logins_are_single_use_and_expire");
    let organization = fx.create_organization(stores).await;
    let other = fx.create_organization(stores).await;
    let store = &stores.federation;
    let corp = provider(&fx, &organization, "Corp");
    store.create_provider(&corp).await.unwrap();

    let pending = login(&fx, &corp, 600);
    store.put_login(&pending).await.unwrap();
    assert_eq!(store.take_login(other.id, &pending.state_digest, at(1)).await.unwrap(), None, "tenant isolation");
    assert_eq!(store.take_login(organization.id, &pending.state_digest, at(1)).await.unwrap(), Some(pending.clone()));
    assert_eq!(store.take_login(organization.id, &pending.state_digest, at(2)).await.unwrap(), None, "single use");

    let expiring = login(&fx, &corp, 600);
    store.put_login(&expiring).await.unwrap();
    assert_eq!(store.take_login(organization.id, &expiring.state_digest, at(600)).await.unwrap(), None);
    assert_eq!(store.take_login(organization.id, &expiring.state_digest, at(1)).await.unwrap(), None, "removed");

    let gone = provider(&fx, &organization, "Gone");
    assert!(store.put_login(&login(&fx, &gone, 600)).await.is_err(), "the provider must exist");
    let orphaned = login(&fx, &corp, 600);
    store.put_login(&orphaned).await.unwrap();
    assert!(store.delete_provider(organization.id, corp.id).await.unwrap());
    assert_eq!(store.take_login(organization.id, &orphaned.state_digest, at(1)).await.unwrap(), None);
}
