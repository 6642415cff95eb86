//! Contracts of [`UserRepository`](zenoauth_domain::ports::UserRepository).

use serde_json::{json, Value as Json};
use zenoauth_domain::ids::UserId;
use zenoauth_domain::model::User;
use zenoauth_domain::ports::{Stores, UserQuery};
use zenoauth_domain::values::{Email, PasswordHash};

use crate::fixture::{after, assert_conflict, assert_not_found, at, first, Fixture};

/// Every field reads back equal, by id and by (case-insensitive) email.
pub async fn user_roundtrip(stores: &Stores) {
    let fx = Fixture::new("user_roundtrip");
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "Ada.Lovelace@Example.com").await;
    let mut passwordless = fx.user(&organization, "invited@example.com");
    passwordless.password_hash = None;
    passwordless.email_verified = false;
    passwordless.profile = json!({});
    passwordless.is_active = false;
    stores.users.create(&passwordless).await.unwrap();

    assert_eq!(user.email.as_str(), "ada.lovelace@example.com");
    assert_eq!(stores.users.get(organization.id, user.id).await.unwrap(), user);
    assert_eq!(stores.users.get(organization.id, passwordless.id).await.unwrap(), passwordless);
    let shouted = Email::parse("ADA.LOVELACE@EXAMPLE.COM").unwrap();
    assert_eq!(stores.users.find_by_email(organization.id, &shouted).await.unwrap(), Some(user.clone()));
    let unknown = Email::parse("nobody@example.com").unwrap();
    assert_eq!(stores.users.find_by_email(organization.id, &unknown).await.unwrap(), None);
    assert_not_found(stores.users.get(organization.id, fx.id()).await, "user");
    let listed = stores.users.list(organization.id, &UserQuery::default(), &first(10)).await.unwrap();
    assert_eq!(listed, vec![user, passwordless]);
}

/// The same email (in any case) twice in one organization is `Conflict("user_email")`;
/// in two organizations it is fine.
pub async fn user_email_is_unique_within_an_organization(stores: &Stores) {
    let fx = Fixture::new("user_email_is_unique_within_an_organization");
    let organization = fx.create_organization(stores).await;
    let other_organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;

    let duplicate = fx.user(&organization, "Alice@EXAMPLE.com");
    assert_conflict(stores.users.create(&duplicate).await, "user_email");
    assert_not_found(stores.users.get(organization.id, duplicate.id).await, "user");

    let elsewhere = fx.user(&other_organization, "ALICE@example.com");
    stores.users.create(&elsewhere).await.unwrap();
    assert_eq!(stores.users.get(other_organization.id, elsewhere.id).await.unwrap(), elsewhere);
    assert_eq!(stores.users.find_by_email(organization.id, &user.email).await.unwrap(), Some(user.clone()));
    assert_eq!(stores.users.find_by_email(other_organization.id, &user.email).await.unwrap(), Some(elsewhere));
}

/// A user of an organization that does not exist is `NotFound("organization")`.
pub async fn user_requires_an_existing_organization(stores: &Stores) {
    let fx = Fixture::new("user_requires_an_existing_organization");
    let ghost = fx.organization();
    let user = fx.user(&ghost, "alice@example.com");
    assert_not_found(stores.users.create(&user).await, "organization");
}

/// `update` writes every mutable field; a taken email is `Conflict("user_email")`
/// and leaves the row as it was.
pub async fn user_update_writes_every_mutable_field(stores: &Stores) {
    let fx = Fixture::new("user_update_writes_every_mutable_field");
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let other = fx.create_user(stores, &organization, "bob@example.com").await;

    let changed = User {
        email: Email::parse("Alice.Smith@example.com").unwrap(),
        email_verified: false,
        password_hash: None,
        profile: json!({"given_name": "Alice", "age": 37, "tags": ["a", "b"]}),
        is_active: false,
        updated_at: at(600),
        ..user.clone()
    };
    stores.users.update(&changed).await.unwrap();
    assert_eq!(stores.users.get(organization.id, user.id).await.unwrap(), changed);
    assert_eq!(stores.users.find_by_email(organization.id, &user.email).await.unwrap(), None);
    assert_eq!(stores.users.find_by_email(organization.id, &changed.email).await.unwrap(), Some(changed.clone()));

    let rehashed = User {
        password_hash: Some(PasswordHash::parse("$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA").unwrap()),
        updated_at: at(601),
        ..changed.clone()
    };
    stores.users.update(&rehashed).await.unwrap();
    assert_eq!(stores.users.get(organization.id, user.id).await.unwrap(), rehashed);

    let stealing = User { email: Email::parse("ALICE.smith@example.com").unwrap(), ..other.clone() };
    assert_conflict(stores.users.update(&stealing).await, "user_email");
    assert_eq!(stores.users.get(organization.id, other.id).await.unwrap(), other);
}

/// Update and delete of an unknown user are `NotFound("user")`; a deleted user is gone
/// and their email is free again.
pub async fn user_update_and_delete_of_missing_are_not_found(stores: &Stores) {
    let fx = Fixture::new("user_update_and_delete_of_missing_are_not_found");
    let organization = fx.create_organization(stores).await;
    let missing = fx.user(&organization, "ghost@example.com");
    assert_not_found(stores.users.update(&missing).await, "user");
    assert_not_found(stores.users.delete(organization.id, missing.id).await, "user");

    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let kept = fx.create_user(stores, &organization, "bob@example.com").await;
    stores.users.delete(organization.id, user.id).await.unwrap();
    assert_not_found(stores.users.get(organization.id, user.id).await, "user");
    assert_eq!(stores.users.find_by_email(organization.id, &user.email).await.unwrap(), None);
    assert_not_found(stores.users.delete(organization.id, user.id).await, "user");
    assert_not_found(stores.users.update(&user).await, "user");
    assert_eq!(stores.users.get(organization.id, kept.id).await.unwrap(), kept);

    let again = fx.create_user(stores, &organization, "alice@example.com").await;
    assert_eq!(stores.users.find_by_email(organization.id, &user.email).await.unwrap(), Some(again));
}

/// Keyset pagination by id within the organization.
pub async fn users_are_paginated_by_id(stores: &Stores) {
    let fx = Fixture::new("users_are_paginated_by_id");
    let organization = fx.create_organization(stores).await;
    let other_organization = fx.create_organization(stores).await;
    let mut created = Vec::new();
    for index in 0..5 {
        created.push(fx.create_user(stores, &organization, &format!("user{index}@example.com")).await.id);
        fx.create_user(stores, &other_organization, &format!("user{index}@example.com")).await;
    }
    let query = UserQuery::default();
    let ids = |users: Vec<User>| users.into_iter().map(|user| user.id).collect::<Vec<UserId>>();

    let page1 = ids(stores.users.list(organization.id, &query, &first(2)).await.unwrap());
    assert_eq!(page1, created[0..2].to_vec());
    let page2 = ids(stores.users.list(organization.id, &query, &after(page1[1], 2)).await.unwrap());
    assert_eq!(page2, created[2..4].to_vec());
    let page3 = ids(stores.users.list(organization.id, &query, &after(page2[1], 2)).await.unwrap());
    assert_eq!(page3, created[4..].to_vec());
    assert!(stores.users.list(organization.id, &query, &after(page3[0], 2)).await.unwrap().is_empty());
    let all = ids(stores.users.list(organization.id, &query, &first(200)).await.unwrap());
    assert_eq!(all, created);
}

fn prefix(text: &str) -> UserQuery {
    UserQuery { email_prefix: Some(text.to_owned()), profile_attribute: None }
}

fn attribute(name: &str, value: Json) -> UserQuery {
    UserQuery { email_prefix: None, profile_attribute: Some((name.to_owned(), value)) }
}

async fn emails(stores: &Stores, organization: zenoauth_domain::ids::OrganizationId, query: &UserQuery) -> Vec<String> {
    let users = stores.users.list(organization, query, &first(200)).await.unwrap();
    users.into_iter().map(|user| user.email.as_str().to_owned()).collect()
}

/// `email_prefix` matches the start of the normalised email, case-insensitively,
/// with `%`, `_` and `\` taken literally.
pub async fn users_are_filtered_by_email_prefix(stores: &Stores) {
    let fx = Fixture::new("users_are_filtered_by_email_prefix");
    let organization = fx.create_organization(stores).await;
    let other_organization = fx.create_organization(stores).await;
    for email in ["alice@example.com", "alfred@example.com", "bob@example.com", "a_b@example.com", "axb@example.com"] {
        fx.create_user(stores, &organization, email).await;
    }
    for email in ["100%@example.com", "1000@example.com", "x\\y@example.com", "xzy@example.com"] {
        fx.create_user(stores, &organization, email).await;
    }
    fx.create_user(stores, &other_organization, "alina@example.com").await;
    let id = organization.id;

    assert_eq!(emails(stores, id, &prefix("al")).await, ["alice@example.com", "alfred@example.com"]);
    assert_eq!(emails(stores, id, &prefix("AL")).await, ["alice@example.com", "alfred@example.com"]);
    assert_eq!(emails(stores, id, &prefix("alice@example.com")).await, ["alice@example.com"]);
    assert_eq!(emails(stores, id, &prefix("a_")).await, ["a_b@example.com"]);
    assert_eq!(emails(stores, id, &prefix("100%")).await, ["100%@example.com"]);
    assert_eq!(emails(stores, id, &prefix("x\\")).await, ["x\\y@example.com"]);
    assert!(emails(stores, id, &prefix("lice")).await.is_empty());
    assert!(emails(stores, id, &prefix("zed")).await.is_empty());
    assert_eq!(emails(stores, id, &prefix("")).await.len(), 9);

    let one = stores.users.list(id, &prefix("al"), &first(1)).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].email.as_str(), "alice@example.com");
    let next = stores.users.list(id, &prefix("al"), &after(one[0].id, 1)).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].email.as_str(), "alfred@example.com");
}

/// `profile_attribute` matches a top-level attribute equal in type and value.
pub async fn users_are_filtered_by_profile_attribute(stores: &Stores) {
    let fx = Fixture::new("users_are_filtered_by_profile_attribute");
    let organization = fx.create_organization(stores).await;
    let other_organization = fx.create_organization(stores).await;
    let profiles = [
        ("eng@example.com", json!({"department": "eng", "level": 1, "admin": true})),
        ("ops@example.com", json!({"department": "ops", "level": "1", "admin": false})),
        ("nested@example.com", json!({"team": {"department": "eng"}, "level": 2, "admin": "true"})),
        ("empty@example.com", json!({})),
    ];
    for (email, profile) in profiles {
        let user = User { profile, ..fx.user(&organization, email) };
        stores.users.create(&user).await.unwrap();
    }
    let stranger = User { profile: json!({"department": "eng"}), ..fx.user(&other_organization, "x@example.com") };
    stores.users.create(&stranger).await.unwrap();
    let id = organization.id;

    assert_eq!(emails(stores, id, &attribute("department", json!("eng"))).await, ["eng@example.com"]);
    assert_eq!(emails(stores, id, &attribute("department", json!("ops"))).await, ["ops@example.com"]);
    assert_eq!(emails(stores, id, &attribute("level", json!(1))).await, ["eng@example.com"]);
    assert_eq!(emails(stores, id, &attribute("level", json!("1"))).await, ["ops@example.com"]);
    assert_eq!(emails(stores, id, &attribute("level", json!(2))).await, ["nested@example.com"]);
    assert_eq!(emails(stores, id, &attribute("admin", json!(true))).await, ["eng@example.com"]);
    assert_eq!(emails(stores, id, &attribute("admin", json!(false))).await, ["ops@example.com"]);
    assert_eq!(emails(stores, id, &attribute("admin", json!("true"))).await, ["nested@example.com"]);
    assert!(emails(stores, id, &attribute("department", json!("sales"))).await.is_empty());
    assert!(emails(stores, id, &attribute("missing", json!("eng"))).await.is_empty());
    assert!(emails(stores, id, &attribute("team", json!("eng"))).await.is_empty());

    let both = UserQuery {
        email_prefix: Some("e".to_owned()),
        profile_attribute: Some(("department".to_owned(), json!("eng"))),
    };
    assert_eq!(emails(stores, id, &both).await, ["eng@example.com"]);
    let neither = UserQuery {
        email_prefix: Some("o".to_owned()),
        profile_attribute: Some(("department".to_owned(), json!("eng"))),
    };
    assert!(emails(stores, id, &neither).await.is_empty());
}

/// Another organization's user is unreachable through every method.
pub async fn tenants_are_isolated_for_users(stores: &Stores) {
    let fx = Fixture::new("tenants_are_isolated_for_users");
    let mine = fx.create_organization(stores).await;
    let theirs = fx.create_organization(stores).await;
    let own = fx.create_user(stores, &mine, "own@example.com").await;
    let foreign = fx.create_user(stores, &theirs, "foreign@example.com").await;

    assert_not_found(stores.users.get(mine.id, foreign.id).await, "user");
    assert_eq!(stores.users.find_by_email(mine.id, &foreign.email).await.unwrap(), None);
    let hijacked = User { organization_id: mine.id, is_active: false, updated_at: at(700), ..foreign.clone() };
    assert_not_found(stores.users.update(&hijacked).await, "user");
    assert_not_found(stores.users.delete(mine.id, foreign.id).await, "user");
    let listed = stores.users.list(mine.id, &UserQuery::default(), &first(200)).await.unwrap();
    assert_eq!(listed, vec![own.clone()]);
    let by_prefix = stores.users.list(mine.id, &prefix("foreign"), &first(200)).await.unwrap();
    assert!(by_prefix.is_empty());

    assert_eq!(stores.users.get(theirs.id, foreign.id).await.unwrap(), foreign);
    assert_eq!(stores.users.get(mine.id, own.id).await.unwrap(), own);
}
