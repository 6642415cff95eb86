//! Contracts of the `FederationStore` port: upstream providers, linked
//! identities and logins in flight.

use std::collections::BTreeMap;

use zenoauth_domain::federation::{ClaimMapping, FederatedIdentity, FederationLogin, IdentityProvider, ProviderKind};
use zenoauth_domain::federation::{IdentityDeletion, PendingLink};
use zenoauth_domain::model::{Organization, User};
use zenoauth_domain::ports::Stores;

use crate::fixture::{assert_conflict, assert_not_found, at, Fixture};

fn provider(fx: &Fixture, organization: &Organization, name: &str) -> IdentityProvider {
    IdentityProvider {
        id: fx.uuid(),
        organization_id: organization.id,
        name: name.to_owned(),
        kind: ProviderKind::Oidc,
        issuer: "https://idp.example.com/realms/corp".to_owned(),
        authorization_endpoint: None,
        token_endpoint: None,
        userinfo_endpoint: None,
        subject_claim: "sub".to_owned(),
        email_claim: "email".to_owned(),
        icon_url: None,
        trust_upstream_amr: false,
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

pub async fn oauth2_providers_keep_their_endpoints_claims_icon_and_amr_trust(stores: &Stores) {
    let fx = Fixture::new("oauth2_providers_keep_their_endpoints_claims_icon_and_amr_trust");
    let organization = fx.create_organization(stores).await;
    let other = fx.create_organization(stores).await;
    let store = &stores.federation;
    let github = IdentityProvider {
        kind: ProviderKind::OAuth2,
        issuer: "https://github.com".to_owned(),
        authorization_endpoint: Some("https://github.com/login/oauth/authorize".to_owned()),
        token_endpoint: Some("https://github.com/login/oauth/access_token".to_owned()),
        userinfo_endpoint: Some("https://api.github.com/user".to_owned()),
        subject_claim: "id".to_owned(),
        email_claim: "primary_email".to_owned(),
        icon_url: Some("data:image/svg+xml;base64,PHN2Zy8+".to_owned()),
        scopes: vec!["read:user".to_owned(), "user:email".to_owned()],
        ..provider(&fx, &organization, "GitHub")
    };
    store.create_provider(&github).await.unwrap();
    assert_eq!(store.find_provider(organization.id, github.id).await.unwrap(), Some(github.clone()));
    let oidc = IdentityProvider { trust_upstream_amr: true, ..provider(&fx, &organization, "Corp") };
    store.create_provider(&oidc).await.unwrap();
    assert_eq!(store.list_providers(organization.id).await.unwrap(), vec![github.clone(), oidc.clone()]);

    // Every new field is written by an update, and only in this tenant.
    let changed = IdentityProvider {
        userinfo_endpoint: Some("https://api.github.com/user?v=2".to_owned()),
        subject_claim: "node_id".to_owned(),
        email_claim: "email".to_owned(),
        icon_url: None,
        updated_at: at(5),
        ..github.clone()
    };
    store.update_provider(&changed).await.unwrap();
    assert_eq!(store.find_provider(organization.id, github.id).await.unwrap(), Some(changed.clone()));
    let back_to_oidc = IdentityProvider {
        kind: ProviderKind::Oidc,
        authorization_endpoint: None,
        token_endpoint: None,
        userinfo_endpoint: None,
        subject_claim: "sub".to_owned(),
        trust_upstream_amr: true,
        icon_url: Some("https://cdn.example.com/corp.png".to_owned()),
        updated_at: at(6),
        ..changed.clone()
    };
    assert_not_found(
        store.update_provider(&IdentityProvider { organization_id: other.id, ..back_to_oidc.clone() }).await,
        "identity_provider",
    );
    assert_eq!(store.find_provider(organization.id, github.id).await.unwrap(), Some(changed));
    store.update_provider(&back_to_oidc).await.unwrap();
    assert_eq!(store.find_provider(organization.id, github.id).await.unwrap(), Some(back_to_oidc));
    assert!(store.list_providers(other.id).await.unwrap().is_empty());
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

fn pending_link(fx: &Fixture, provider: &IdentityProvider, user: &User, expires: i64) -> PendingLink {
    PendingLink {
        token_digest: fx.digest(),
        organization_id: provider.organization_id,
        provider_id: provider.id,
        subject: "upstream/ü 1".to_owned(),
        user_id: user.id,
        claims: serde_json::json!({"sub": "upstream/ü 1", "groups": ["eng"]}),
        continuation: "client_id=app&scope=openid".to_owned(),
        created_at: at(0),
        expires_at: at(expires),
    }
}

pub async fn federated_identities_are_deleted_only_for_their_user(stores: &Stores) {
    let fx = Fixture::new("federated_identities_are_deleted_only_for_their_user");
    let organization = fx.create_organization(stores).await;
    let other = fx.create_organization(stores).await;
    let store = &stores.federation;
    let corp = provider(&fx, &organization, "Corp");
    store.create_provider(&corp).await.unwrap();
    let alice = fx.create_user(stores, &organization, "alice@example.com").await;
    let bob = fx.create_user(stores, &organization, "bob@example.com").await;
    let subject = "a/b c%2F?é";
    let link = identity(&corp, &alice, subject, 1);
    store.link_identity(&link).await.unwrap();
    store.link_identity(&identity(&corp, &alice, "second", 2)).await.unwrap();

    assert!(!store.delete_identity(organization.id, bob.id, corp.id, subject).await.unwrap(), "another user's");
    assert!(!store.delete_identity(other.id, alice.id, corp.id, subject).await.unwrap(), "tenant isolation");
    assert!(!store.delete_identity(organization.id, alice.id, corp.id, "a/b c").await.unwrap(), "exact subject");
    assert_eq!(store.find_identity(organization.id, corp.id, subject).await.unwrap(), Some(link));
    assert!(store.delete_identity(organization.id, alice.id, corp.id, subject).await.unwrap());
    assert!(!store.delete_identity(organization.id, alice.id, corp.id, subject).await.unwrap(), "gone");
    assert_eq!(store.find_identity(organization.id, corp.id, subject).await.unwrap(), None);
    let left = store.identities_of_user(organization.id, alice.id).await.unwrap();
    assert_eq!(left.iter().map(|identity| identity.subject.as_str()).collect::<Vec<_>>(), ["second"]);
}

pub async fn pending_links_are_single_use_isolated_and_expire(stores: &Stores) {
    let fx = Fixture::new("pending_links_are_single_use_isolated_and_expire");
    let organization = fx.create_organization(stores).await;
    let other = fx.create_organization(stores).await;
    let store = &stores.federation;
    let corp = provider(&fx, &organization, "Corp");
    store.create_provider(&corp).await.unwrap();
    let alice = fx.create_user(stores, &organization, "alice@example.com").await;

    let pending = pending_link(&fx, &corp, &alice, 600);
    store.put_pending_link(&pending).await.unwrap();
    assert_eq!(store.take_pending_link(other.id, &pending.token_digest, at(1)).await.unwrap(), None, "isolation");
    assert_eq!(
        store.take_pending_link(organization.id, &pending.token_digest, at(1)).await.unwrap(),
        Some(pending.clone())
    );
    assert_eq!(store.take_pending_link(organization.id, &pending.token_digest, at(2)).await.unwrap(), None, "once");

    let expiring = pending_link(&fx, &corp, &alice, 600);
    store.put_pending_link(&expiring).await.unwrap();
    assert_eq!(store.take_pending_link(organization.id, &expiring.token_digest, at(600)).await.unwrap(), None);
    assert_eq!(store.take_pending_link(organization.id, &expiring.token_digest, at(1)).await.unwrap(), None);

    let stranger = fx.user(&organization, "stranger@example.com");
    assert_not_found(store.put_pending_link(&pending_link(&fx, &corp, &stranger, 600)).await, "user");
    let gone = provider(&fx, &organization, "Gone");
    assert_not_found(store.put_pending_link(&pending_link(&fx, &gone, &alice, 600)).await, "identity_provider");

    // They go with their user and with their provider.
    let of_user = pending_link(&fx, &corp, &alice, 600);
    store.put_pending_link(&of_user).await.unwrap();
    stores.users.delete(organization.id, alice.id).await.unwrap();
    assert_eq!(store.take_pending_link(organization.id, &of_user.token_digest, at(1)).await.unwrap(), None);
    let bob = fx.create_user(stores, &organization, "bob@example.com").await;
    let of_provider = pending_link(&fx, &corp, &bob, 600);
    store.put_pending_link(&of_provider).await.unwrap();
    assert!(store.delete_provider(organization.id, corp.id).await.unwrap());
    assert_eq!(store.take_pending_link(organization.id, &of_provider.token_digest, at(1)).await.unwrap(), None);
}

pub async fn providers_know_whether_users_are_linked_to_them(stores: &Stores) {
    let fx = Fixture::new("providers_know_whether_users_are_linked_to_them");
    let organization = fx.create_organization(stores).await;
    let other = fx.create_organization(stores).await;
    let store = &stores.federation;
    let corp = provider(&fx, &organization, "Corp");
    let partner = provider(&fx, &organization, "Partner");
    store.create_provider(&corp).await.unwrap();
    store.create_provider(&partner).await.unwrap();
    let alice = fx.create_user(stores, &organization, "alice@example.com").await;
    assert!(!store.provider_has_identities(organization.id, corp.id).await.unwrap());

    let link = identity(&corp, &alice, "upstream-1", 1);
    store.link_identity(&link).await.unwrap();
    assert!(store.provider_has_identities(organization.id, corp.id).await.unwrap());
    assert!(!store.provider_has_identities(organization.id, partner.id).await.unwrap(), "another provider");
    assert!(!store.provider_has_identities(other.id, corp.id).await.unwrap(), "tenant isolation");
    assert!(!store.provider_has_identities(organization.id, fx.uuid()).await.unwrap(), "no such provider");

    assert!(store.delete_identity(organization.id, alice.id, corp.id, "upstream-1").await.unwrap());
    assert!(!store.provider_has_identities(organization.id, corp.id).await.unwrap(), "the last link is gone");
}

pub async fn expired_federation_logins_and_pending_links_are_deleted(stores: &Stores) {
    let fx = Fixture::new("expired_federation_logins_and_pending_links_are_deleted");
    let organization = fx.create_organization(stores).await;
    let other = fx.create_organization(stores).await;
    let store = &stores.federation;
    let corp = provider(&fx, &organization, "Corp");
    let partner = provider(&fx, &other, "Partner");
    store.create_provider(&corp).await.unwrap();
    store.create_provider(&partner).await.unwrap();
    let alice = fx.create_user(stores, &organization, "alice@example.com").await;
    let bob = fx.create_user(stores, &other, "bob@example.com").await;

    // Every organization's expired rows go; unexpired ones stay.
    let old_login = login(&fx, &corp, 300);
    let other_old_login = login(&fx, &partner, 500);
    let fresh_login = login(&fx, &corp, 1000);
    for login in [&old_login, &other_old_login, &fresh_login] {
        store.put_login(login).await.unwrap();
    }
    let old_link = pending_link(&fx, &corp, &alice, 300);
    let other_old_link = pending_link(&fx, &partner, &bob, 500);
    let fresh_link = pending_link(&fx, &corp, &alice, 1000);
    for link in [&old_link, &other_old_link, &fresh_link] {
        store.put_pending_link(link).await.unwrap();
    }
    assert_eq!(store.delete_expired_logins(at(500)).await.unwrap(), 2);
    assert_eq!(store.delete_expired_logins(at(500)).await.unwrap(), 0, "already gone");
    assert_eq!(store.delete_expired_pending_links(at(500)).await.unwrap(), 2);
    assert_eq!(store.delete_expired_pending_links(at(500)).await.unwrap(), 0, "already gone");
    assert_eq!(store.take_login(organization.id, &fresh_login.state_digest, at(1)).await.unwrap(), Some(fresh_login));
    assert_eq!(store.take_login(organization.id, &old_login.state_digest, at(1)).await.unwrap(), None);
    assert_eq!(
        store.take_pending_link(organization.id, &fresh_link.token_digest, at(1)).await.unwrap(),
        Some(fresh_link)
    );
    assert_eq!(store.take_pending_link(other.id, &other_old_link.token_digest, at(1)).await.unwrap(), None);
}

pub async fn a_users_last_link_is_kept_even_under_concurrent_removals(stores: &Stores) {
    let fx = Fixture::new("a_users_last_link_is_kept_even_under_concurrent_removals");
    let organization = fx.create_organization(stores).await;
    let other = fx.create_organization(stores).await;
    let store = &stores.federation;
    let corp = provider(&fx, &organization, "Corp");
    store.create_provider(&corp).await.unwrap();
    let alice = fx.create_user(stores, &organization, "alice@example.com").await;
    let bob = fx.create_user(stores, &organization, "bob@example.com").await;
    store.link_identity(&identity(&corp, &alice, "one", 1)).await.unwrap();
    store.link_identity(&identity(&corp, &alice, "two", 2)).await.unwrap();
    store.link_identity(&identity(&corp, &bob, "bob", 3)).await.unwrap();

    let unless_last = |user: &User, subject: &'static str| {
        let (organization, user) = (user.organization_id, user.id);
        async move { store.delete_identity_unless_last(organization, user, corp.id, subject).await.unwrap() }
    };
    assert_eq!(unless_last(&bob, "one").await, IdentityDeletion::NotFound, "another user's link");
    assert_eq!(
        store.delete_identity_unless_last(other.id, alice.id, corp.id, "one").await.unwrap(),
        IdentityDeletion::NotFound,
        "tenant isolation"
    );
    assert_eq!(unless_last(&bob, "bob").await, IdentityDeletion::Last);
    assert_eq!(
        store.find_identity(organization.id, corp.id, "bob").await.unwrap().map(|link| link.user_id),
        Some(bob.id)
    );

    // Two concurrent removals of alice's last two links: one goes, one stays.
    let racers: Vec<_> = ["one", "two"]
        .into_iter()
        .map(|subject| {
            let federation = std::sync::Arc::clone(&stores.federation);
            let (organization, user, provider) = (organization.id, alice.id, corp.id);
            tokio::spawn(async move {
                federation.delete_identity_unless_last(organization, user, provider, subject).await.unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for racer in racers {
        outcomes.push(racer.await.unwrap());
    }
    outcomes.sort_by_key(|outcome| *outcome == IdentityDeletion::Last);
    assert_eq!(outcomes, [IdentityDeletion::Deleted, IdentityDeletion::Last]);
    assert_eq!(store.identities_of_user(organization.id, alice.id).await.unwrap().len(), 1);
    assert_eq!(unless_last(&alice, "gone").await, IdentityDeletion::NotFound);
}
