//! Contracts of [`ApplicationRepository`](zenoauth_domain::ports::ApplicationRepository).

use serde_json::json;
use zenoauth_domain::ids::ApplicationId;
use zenoauth_domain::model::{Application, ClientType};
use zenoauth_domain::ports::Stores;
use zenoauth_domain::values::{ClientId, DisplayName, RedirectUri, ScopeSet};

use crate::fixture::{after, assert_conflict, assert_not_found, at, first, Fixture};

/// Confidential and public applications read back equal, by id and by client_id.
pub async fn application_roundtrip(stores: &Stores) {
    let fx = Fixture::new("application_roundtrip");
    let organization = fx.create_organization(stores).await;
    let confidential = fx.create_application(stores, &organization, "backend-app").await;
    let public = Application {
        client_type: ClientType::Public,
        redirect_uris: vec![RedirectUri::parse("com.example.app:/oauth2redirect").unwrap()],
        allowed_scopes: ScopeSet::default(),
        settings: json!({}),
        ..fx.application(&organization, "spa-app")
    };
    stores.applications.create(&public).await.unwrap();

    assert_eq!(stores.applications.get(organization.id, confidential.id).await.unwrap(), confidential);
    assert_eq!(stores.applications.get(organization.id, public.id).await.unwrap(), public);
    let found = stores.applications.find_by_client_id(organization.id, &confidential.client_id).await.unwrap();
    assert_eq!(found, Some(confidential.clone()));
    let found = stores.applications.find_by_client_id(organization.id, &public.client_id).await.unwrap();
    assert_eq!(found, Some(public.clone()));
    let unknown = ClientId::parse("no-such-app").unwrap();
    assert_eq!(stores.applications.find_by_client_id(organization.id, &unknown).await.unwrap(), None);
    assert_not_found(stores.applications.get(organization.id, fx.id()).await, "application");
    let listed = stores.applications.list(organization.id, &first(10)).await.unwrap();
    assert_eq!(listed, vec![confidential, public]);
}

/// A taken client_id is `Conflict("application_client_id")` within one
/// organization, fine in another; client_ids are case-sensitive.
pub async fn application_client_id_is_unique_within_an_organization(stores: &Stores) {
    let fx = Fixture::new("application_client_id_is_unique_within_an_organization");
    let organization = fx.create_organization(stores).await;
    let other_organization = fx.create_organization(stores).await;
    let application = fx.create_application(stores, &organization, "my-app").await;

    let duplicate = fx.application(&organization, "my-app");
    assert_conflict(stores.applications.create(&duplicate).await, "application_client_id");
    assert_not_found(stores.applications.get(organization.id, duplicate.id).await, "application");

    let elsewhere = fx.create_application(stores, &other_organization, "my-app").await;
    let upper = fx.create_application(stores, &organization, "MY-APP").await;
    let find = |org, client_id: &ClientId| {
        let client_id = client_id.clone();
        async move { stores.applications.find_by_client_id(org, &client_id).await.unwrap() }
    };
    assert_eq!(find(organization.id, &application.client_id).await, Some(application.clone()));
    assert_eq!(find(organization.id, &upper.client_id).await, Some(upper.clone()));
    assert_eq!(find(other_organization.id, &application.client_id).await, Some(elsewhere));
}

/// An application of an organization that does not exist is `NotFound("organization")`.
pub async fn application_requires_an_existing_organization(stores: &Stores) {
    let fx = Fixture::new("application_requires_an_existing_organization");
    let ghost = fx.organization();
    let application = fx.application(&ghost, "app");
    assert_not_found(stores.applications.create(&application).await, "organization");
}

/// `update` writes every mutable field but the client_id (and `created_at`).
pub async fn application_update_writes_every_mutable_field_but_the_client_id(stores: &Stores) {
    let fx = Fixture::new("application_update_writes_every_mutable_field_but_the_client_id");
    let organization = fx.create_organization(stores).await;
    let application = fx.create_application(stores, &organization, "my-app").await;
    let untouched = fx.create_application(stores, &organization, "other-app").await;

    let changed = Application {
        client_id: ClientId::parse("renamed-app").unwrap(),
        name: DisplayName::parse("Renamed app").unwrap(),
        client_type: ClientType::Public,
        redirect_uris: vec![
            RedirectUri::parse("https://new.example.com/b").unwrap(),
            RedirectUri::parse("https://new.example.com/a").unwrap(),
        ],
        allowed_scopes: ScopeSet::parse("openid").unwrap(),
        settings: json!({"grant_types": ["authorization_code"], "id_token_signed_response_alg": "RS256"}),
        created_at: at(100),
        updated_at: at(800),
        ..application.clone()
    };
    stores.applications.update(&changed).await.unwrap();
    let expected =
        Application { client_id: application.client_id.clone(), created_at: application.created_at, ..changed.clone() };
    assert_eq!(stores.applications.get(organization.id, application.id).await.unwrap(), expected);
    let found = stores.applications.find_by_client_id(organization.id, &application.client_id).await.unwrap();
    assert_eq!(found, Some(expected.clone()));
    assert_eq!(stores.applications.find_by_client_id(organization.id, &changed.client_id).await.unwrap(), None);

    let secret = Application {
        client_type: ClientType::Confidential { secret_digest: fx.digest() },
        updated_at: at(801),
        ..expected
    };
    stores.applications.update(&secret).await.unwrap();
    assert_eq!(stores.applications.get(organization.id, application.id).await.unwrap(), secret);
    assert_eq!(stores.applications.get(organization.id, untouched.id).await.unwrap(), untouched);
}

/// Update and delete of an unknown application are `NotFound("application")`.
pub async fn application_update_and_delete_of_missing_are_not_found(stores: &Stores) {
    let fx = Fixture::new("application_update_and_delete_of_missing_are_not_found");
    let organization = fx.create_organization(stores).await;
    let missing = fx.application(&organization, "ghost");
    assert_not_found(stores.applications.update(&missing).await, "application");
    assert_not_found(stores.applications.delete(organization.id, missing.id).await, "application");

    let application = fx.create_application(stores, &organization, "my-app").await;
    let kept = fx.create_application(stores, &organization, "kept-app").await;
    stores.applications.delete(organization.id, application.id).await.unwrap();
    assert_not_found(stores.applications.get(organization.id, application.id).await, "application");
    assert_eq!(stores.applications.find_by_client_id(organization.id, &application.client_id).await.unwrap(), None);
    assert_not_found(stores.applications.delete(organization.id, application.id).await, "application");
    assert_not_found(stores.applications.update(&application).await, "application");
    assert_eq!(stores.applications.get(organization.id, kept.id).await.unwrap(), kept);
    fx.create_application(stores, &organization, "my-app").await;
}

/// Keyset pagination by id within the organization.
pub async fn applications_are_paginated_by_id(stores: &Stores) {
    let fx = Fixture::new("applications_are_paginated_by_id");
    let organization = fx.create_organization(stores).await;
    let other_organization = fx.create_organization(stores).await;
    let mut created = Vec::new();
    for index in 0..5 {
        created.push(fx.create_application(stores, &organization, &format!("app-{index}")).await.id);
        fx.create_application(stores, &other_organization, &format!("app-{index}")).await;
    }
    let ids = |applications: Vec<Application>| applications.into_iter().map(|a| a.id).collect::<Vec<ApplicationId>>();

    let page1 = ids(stores.applications.list(organization.id, &first(2)).await.unwrap());
    assert_eq!(page1, created[0..2].to_vec());
    let page2 = ids(stores.applications.list(organization.id, &after(page1[1], 2)).await.unwrap());
    assert_eq!(page2, created[2..4].to_vec());
    let page3 = ids(stores.applications.list(organization.id, &after(page2[1], 2)).await.unwrap());
    assert_eq!(page3, created[4..].to_vec());
    assert!(stores.applications.list(organization.id, &after(page3[0], 2)).await.unwrap().is_empty());
    assert_eq!(ids(stores.applications.list(organization.id, &first(200)).await.unwrap()), created);
}

/// Another organization's application is unreachable through every method.
pub async fn tenants_are_isolated_for_applications(stores: &Stores) {
    let fx = Fixture::new("tenants_are_isolated_for_applications");
    let mine = fx.create_organization(stores).await;
    let theirs = fx.create_organization(stores).await;
    let own = fx.create_application(stores, &mine, "own-app").await;
    let foreign = fx.create_application(stores, &theirs, "foreign-app").await;

    assert_not_found(stores.applications.get(mine.id, foreign.id).await, "application");
    assert_eq!(stores.applications.find_by_client_id(mine.id, &foreign.client_id).await.unwrap(), None);
    let hijacked = Application {
        organization_id: mine.id,
        redirect_uris: vec![RedirectUri::parse("https://evil.example.net/cb").unwrap()],
        updated_at: at(900),
        ..foreign.clone()
    };
    assert_not_found(stores.applications.update(&hijacked).await, "application");
    assert_not_found(stores.applications.delete(mine.id, foreign.id).await, "application");
    assert_eq!(stores.applications.list(mine.id, &first(200)).await.unwrap(), vec![own.clone()]);

    assert_eq!(stores.applications.get(theirs.id, foreign.id).await.unwrap(), foreign);
    assert_eq!(stores.applications.get(mine.id, own.id).await.unwrap(), own);
}
