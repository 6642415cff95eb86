//! Contracts of [`OrganizationRepository`](zenoauth_domain::ports::OrganizationRepository).

use serde_json::json;
use zenoauth_domain::ids::OrganizationId;
use zenoauth_domain::ports::Stores;
use zenoauth_domain::values::{DisplayName, Slug};

use crate::fixture::{after, assert_conflict, assert_not_found, at, first, Fixture};

/// Every field reads back equal, by id and by slug; list contains it.
pub async fn organization_roundtrip(stores: &Stores) {
    let fx = Fixture::new("organization_roundtrip");
    let organization = fx.create_organization(stores).await;
    let other = fx.create_organization(stores).await;

    assert_eq!(stores.organizations.get(organization.id).await.unwrap(), organization);
    assert_eq!(stores.organizations.find_by_slug(&organization.slug).await.unwrap(), Some(organization.clone()));
    assert_eq!(stores.organizations.find_by_slug(&other.slug).await.unwrap(), Some(other.clone()));
    assert_eq!(stores.organizations.find_by_slug(&Slug::parse("no-such-org").unwrap()).await.unwrap(), None);
    assert_not_found(stores.organizations.get(fx.id()).await, "organization");

    let listed = stores.organizations.list(&first(200)).await.unwrap();
    assert!(listed.contains(&organization) && listed.contains(&other), "list misses a created organization");
}

/// A second organization with a taken slug is refused and not stored.
pub async fn organization_slug_is_unique(stores: &Stores) {
    let fx = Fixture::new("organization_slug_is_unique");
    let organization = fx.create_organization(stores).await;
    let mut duplicate = fx.organization();
    duplicate.slug = organization.slug.clone();

    assert_conflict(stores.organizations.create(&duplicate).await, "organization_slug");
    assert_not_found(stores.organizations.get(duplicate.id).await, "organization");
    assert_eq!(stores.organizations.get(organization.id).await.unwrap(), organization);
}

/// `update` writes name, settings and `updated_at`; the slug (and `created_at`) stay.
pub async fn organization_update_writes_name_settings_and_updated_at(stores: &Stores) {
    let fx = Fixture::new("organization_update_writes_name_settings_and_updated_at");
    let organization = fx.create_organization(stores).await;
    let untouched = fx.create_organization(stores).await;

    let mut changed = organization.clone();
    changed.name = DisplayName::parse("Renamed").unwrap();
    changed.settings = json!({"branding": {"color": "#000000"}, "locales": ["en", "de"]});
    changed.updated_at = at(500);
    changed.slug = Slug::parse(&format!("renamed-{}", fx.word())).unwrap();
    changed.created_at = at(400);
    stores.organizations.update(&changed).await.unwrap();

    let expected = zenoauth_domain::model::Organization {
        slug: organization.slug.clone(),
        created_at: organization.created_at,
        ..changed.clone()
    };
    assert_eq!(stores.organizations.get(organization.id).await.unwrap(), expected);
    assert_eq!(stores.organizations.find_by_slug(&organization.slug).await.unwrap(), Some(expected));
    assert_eq!(stores.organizations.find_by_slug(&changed.slug).await.unwrap(), None);
    assert_eq!(stores.organizations.get(untouched.id).await.unwrap(), untouched);
}

/// Update and delete of an unknown id are `NotFound("organization")`; a
/// deleted organization is gone and its slug is free again.
pub async fn organization_update_and_delete_of_missing_are_not_found(stores: &Stores) {
    let fx = Fixture::new("organization_update_and_delete_of_missing_are_not_found");
    let missing = fx.organization();
    assert_not_found(stores.organizations.update(&missing).await, "organization");
    assert_not_found(stores.organizations.delete(missing.id).await, "organization");

    let organization = fx.create_organization(stores).await;
    let kept = fx.create_organization(stores).await;
    stores.organizations.delete(organization.id).await.unwrap();
    assert_not_found(stores.organizations.get(organization.id).await, "organization");
    assert_eq!(stores.organizations.find_by_slug(&organization.slug).await.unwrap(), None);
    assert_not_found(stores.organizations.delete(organization.id).await, "organization");
    assert_not_found(stores.organizations.update(&organization).await, "organization");
    assert_eq!(stores.organizations.get(kept.id).await.unwrap(), kept);

    let reborn = zenoauth_domain::model::Organization { id: fx.id(), ..organization.clone() };
    stores.organizations.create(&reborn).await.unwrap();
    assert_eq!(stores.organizations.find_by_slug(&organization.slug).await.unwrap(), Some(reborn));
}

/// Keyset pagination by id: `after` is exclusive, `limit` is respected, the
/// order is stable and every organization appears exactly once.
pub async fn organizations_are_paginated_by_id(stores: &Stores) {
    let fx = Fixture::new("organizations_are_paginated_by_id");
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(fx.create_organization(stores).await.id);
    }

    let mut seen: Vec<OrganizationId> = Vec::new();
    let mut page = first(2);
    loop {
        let items = stores.organizations.list(&page).await.unwrap();
        assert!(items.len() <= 2, "limit not respected: {} items", items.len());
        let Some(last) = items.last() else { break };
        page = after(last.id, 2);
        seen.extend(items.iter().map(|organization| organization.id));
    }
    assert!(seen.windows(2).all(|pair| pair[0] < pair[1]), "pages are not in strictly increasing id order");
    let mine: Vec<OrganizationId> = seen.iter().copied().filter(|id| created.contains(id)).collect();
    assert_eq!(mine, created);

    let rest = stores.organizations.list(&after(created[1], 200)).await.unwrap();
    assert!(rest.iter().all(|organization| organization.id > created[1]), "`after` must be exclusive");
    let rest_mine: Vec<OrganizationId> = rest.iter().map(|o| o.id).filter(|id| created.contains(id)).collect();
    assert_eq!(rest_mine, created[2..].to_vec());
    assert_eq!(stores.organizations.list(&first(1)).await.unwrap().len(), 1);
    assert!(stores.organizations.list(&after(uuid::Uuid::max(), 10)).await.unwrap().is_empty());
}
