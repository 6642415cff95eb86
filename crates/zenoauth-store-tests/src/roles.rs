//! Contracts of [`RoleRepository`](zenoauth_domain::ports::RoleRepository) and
//! [`ClientSecretStore`](zenoauth_domain::ports::ClientSecretStore).

use zenoauth_domain::model::{ClientType, Organization};
use zenoauth_domain::ports::Stores;
use zenoauth_domain::roles::{PermissionSet, Role, RoleName};

use crate::fixture::{after, assert_conflict, assert_not_found, at, first, Fixture, T0};

fn role(fx: &Fixture, organization: &Organization, name: &str, permissions: &[&str]) -> Role {
    Role {
        id: fx.id(),
        organization_id: organization.id,
        name: RoleName::parse(name).unwrap(),
        description: format!("The {name} role"),
        permissions: PermissionSet::parse(permissions.iter().copied()).unwrap(),
        created_at: T0,
        updated_at: T0,
    }
}

/// Roles read back equal by id, by name and in the list; names are unique
/// per organization; updates write name, description, permissions, updated_at.
pub async fn role_roundtrip_unique_names_and_update(stores: &Stores) {
    let fx = Fixture::new("role_roundtrip_unique_names_and_update");
    let organization = fx.create_organization(stores).await;
    let other = fx.create_organization(stores).await;
    let reader = role(&fx, &organization, "reader", &["doc:read"]);
    stores.roles.create(&reader).await.unwrap();
    assert_eq!(stores.roles.get(organization.id, reader.id).await.unwrap(), reader);
    assert_eq!(stores.roles.find_by_name(organization.id, &reader.name).await.unwrap(), Some(reader.clone()));
    assert_conflict(stores.roles.create(&role(&fx, &organization, "reader", &[])).await, "role_name");
    stores.roles.create(&role(&fx, &other, "reader", &[])).await.unwrap();
    assert_not_found(stores.roles.get(other.id, reader.id).await, "role");
    assert_not_found(stores.roles.create(&role(&fx, &fx.organization(), "x", &[])).await, "organization");

    let writer = role(&fx, &organization, "writer", &[]);
    stores.roles.create(&writer).await.unwrap();
    let changed = Role {
        name: RoleName::parse("editor").unwrap(),
        description: String::new(),
        permissions: PermissionSet::parse(["doc:read", "doc:write"]).unwrap(),
        updated_at: at(60),
        ..writer.clone()
    };
    stores.roles.update(&changed).await.unwrap();
    assert_eq!(stores.roles.get(organization.id, writer.id).await.unwrap(), changed);
    let clash = Role { name: reader.name.clone(), ..changed.clone() };
    assert_conflict(stores.roles.update(&clash).await, "role_name");
    assert_not_found(stores.roles.update(&Role { organization_id: other.id, ..changed.clone() }).await, "role");
    assert_eq!(stores.roles.list(organization.id, &first(10)).await.unwrap(), vec![reader.clone(), changed.clone()]);
    assert_eq!(stores.roles.list(organization.id, &after(reader.id.as_uuid(), 10)).await.unwrap(), vec![changed]);
    assert_not_found(stores.roles.delete(other.id, reader.id).await, "role");
    stores.roles.delete(organization.id, reader.id).await.unwrap();
    assert_not_found(stores.roles.delete(organization.id, reader.id).await, "role");
}

/// Assignments to users and applications are idempotent, listed in name
/// order, never cross organizations, and go with the role, user or application.
pub async fn role_assignments_are_scoped_and_cascade(stores: &Stores) {
    let fx = Fixture::new("role_assignments_are_scoped_and_cascade");
    let organization = fx.create_organization(stores).await;
    let other = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let application = fx.create_application(stores, &organization, "svc").await;
    let foreign_user = fx.create_user(stores, &other, "bob@example.com").await;
    let writer = role(&fx, &organization, "writer", &["doc:write"]);
    let reader = role(&fx, &organization, "reader", &["doc:read"]);
    let foreign_role = role(&fx, &other, "reader", &[]);
    for role in [&writer, &reader, &foreign_role] {
        stores.roles.create(role).await.unwrap();
    }
    stores.roles.assign_to_user(organization.id, user.id, writer.id).await.unwrap();
    stores.roles.assign_to_user(organization.id, user.id, reader.id).await.unwrap();
    stores.roles.assign_to_user(organization.id, user.id, reader.id).await.unwrap();
    let held = stores.roles.roles_of_user(organization.id, user.id).await.unwrap();
    assert_eq!(held, vec![reader.clone(), writer.clone()]);
    assert_not_found(stores.roles.assign_to_user(organization.id, user.id, foreign_role.id).await, "role");
    assert_not_found(stores.roles.assign_to_user(organization.id, foreign_user.id, reader.id).await, "user");
    assert_not_found(stores.roles.assign_to_user(other.id, foreign_user.id, reader.id).await, "role");
    assert!(stores.roles.roles_of_user(other.id, user.id).await.unwrap().is_empty());

    stores.roles.assign_to_application(organization.id, application.id, writer.id).await.unwrap();
    assert_eq!(stores.roles.roles_of_application(organization.id, application.id).await.unwrap(), vec![writer.clone()]);
    assert_not_found(
        stores.roles.assign_to_application(organization.id, application.id, foreign_role.id).await,
        "role",
    );
    assert_not_found(
        stores.roles.assign_to_application(other.id, application.id, foreign_role.id).await,
        "application",
    );

    assert!(stores.roles.unassign_from_user(organization.id, user.id, writer.id).await.unwrap());
    assert!(!stores.roles.unassign_from_user(organization.id, user.id, writer.id).await.unwrap());
    assert!(!stores.roles.unassign_from_user(other.id, user.id, reader.id).await.unwrap());
    stores.roles.delete(organization.id, reader.id).await.unwrap();
    assert!(stores.roles.roles_of_user(organization.id, user.id).await.unwrap().is_empty());
    stores.applications.delete(organization.id, application.id).await.unwrap();
    assert!(stores.roles.roles_of_application(organization.id, application.id).await.unwrap().is_empty());
    assert!(!stores.roles.unassign_from_application(organization.id, application.id, writer.id).await.unwrap());

    stores.roles.assign_to_user(organization.id, user.id, writer.id).await.unwrap();
    stores.users.delete(organization.id, user.id).await.unwrap();
    assert!(stores.roles.roles_of_user(organization.id, user.id).await.unwrap().is_empty());
    stores.organizations.delete(other.id).await.unwrap();
    assert_not_found(stores.roles.get(other.id, foreign_role.id).await, "role");
    assert_eq!(stores.roles.get(organization.id, writer.id).await.unwrap(), writer);
}

/// A rotation replaces the digest at once; the old one is found only until
/// its end, only in its organization, and not at all without a grace period.
pub async fn client_secret_rotation_keeps_the_old_digest_for_the_grace_period(stores: &Stores) {
    let fx = Fixture::new("client_secret_rotation_keeps_the_old_digest_for_the_grace_period");
    let organization = fx.create_organization(stores).await;
    let other = fx.create_organization(stores).await;
    let application = fx.create_application(stores, &organization, "svc").await;
    let old = *application.client_type.secret_digest().unwrap();
    assert_eq!(stores.client_secrets.find_previous(organization.id, application.id, T0).await.unwrap(), None);
    let new = fx.digest();
    stores.client_secrets.rotate(organization.id, application.id, &new, Some(at(100)), at(10)).await.unwrap();
    let stored = stores.applications.get(organization.id, application.id).await.unwrap();
    assert_eq!(stored.client_type.secret_digest(), Some(&new));
    assert_eq!(stored.updated_at, at(10));
    let previous = |now| stores.client_secrets.find_previous(organization.id, application.id, now);
    assert_eq!(previous(at(99)).await.unwrap(), Some(old));
    assert_eq!(previous(at(100)).await.unwrap(), None);
    assert_eq!(stores.client_secrets.find_previous(other.id, application.id, at(50)).await.unwrap(), None);
    assert_not_found(stores.client_secrets.rotate(other.id, application.id, &new, None, at(20)).await, "application");

    let newest = fx.digest();
    stores.client_secrets.rotate(organization.id, application.id, &newest, None, at(20)).await.unwrap();
    assert_eq!(previous(at(21)).await.unwrap(), None);

    let public =
        zenoauth_domain::model::Application { client_type: ClientType::Public, ..fx.application(&organization, "spa") };
    stores.applications.create(&public).await.unwrap();
    assert_not_found(stores.client_secrets.rotate(organization.id, public.id, &new, None, at(20)).await, "application");
}
