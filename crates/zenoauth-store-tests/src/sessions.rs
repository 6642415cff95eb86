//! Contracts of [`SessionStore`](zenoauth_domain::ports::SessionStore).

use zenoauth_domain::model::Session;
use zenoauth_domain::ports::Stores;

use crate::fixture::{assert_not_found, at, Fixture};

/// Every field reads back equal, by id and by token digest.
pub async fn session_roundtrip(stores: &Stores) {
    let fx = Fixture::new("session_roundtrip");
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let session = fx.create_session(stores, &user, at(3600)).await;

    assert_eq!(stores.sessions.get(organization.id, session.id).await.unwrap(), session);
    let found = stores.sessions.find_by_token_digest(organization.id, &session.token_digest, at(60)).await.unwrap();
    assert_eq!(found, Some(session.clone()));
    assert_eq!(stores.sessions.find_by_token_digest(organization.id, &fx.digest(), at(60)).await.unwrap(), None);
    assert_eq!(stores.sessions.list_for_user(organization.id, user.id, at(60)).await.unwrap(), vec![session]);
    assert_not_found(stores.sessions.get(organization.id, fx.id()).await, "session");
}

/// A session is not found by its digest, nor listed, once `now >= expires_at`.
pub async fn session_is_not_found_after_it_expires(stores: &Stores) {
    let fx = Fixture::new("session_is_not_found_after_it_expires");
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let session = fx.create_session(stores, &user, at(3600)).await;
    let digest = session.token_digest;

    let just_before = at(3600) - time::Duration::microseconds(1);
    assert_eq!(
        stores.sessions.find_by_token_digest(organization.id, &digest, just_before).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(stores.sessions.list_for_user(organization.id, user.id, just_before).await.unwrap(), vec![session]);
    assert_eq!(stores.sessions.find_by_token_digest(organization.id, &digest, at(3600)).await.unwrap(), None);
    assert_eq!(stores.sessions.find_by_token_digest(organization.id, &digest, at(9000)).await.unwrap(), None);
    assert!(stores.sessions.list_for_user(organization.id, user.id, at(3600)).await.unwrap().is_empty());
}

/// `list_for_user` gives the user's unexpired sessions, oldest first, and no one else's.
pub async fn sessions_are_listed_for_a_user_oldest_first(stores: &Stores) {
    let fx = Fixture::new("sessions_are_listed_for_a_user_oldest_first");
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let other = fx.create_user(stores, &organization, "bob@example.com").await;
    let mut sessions = Vec::new();
    for created in [30, 10, 20] {
        let session = Session { created_at: at(created), ..fx.session(&user, at(1000)) };
        stores.sessions.create(&session).await.unwrap();
        sessions.push(session);
    }
    let expired = Session { created_at: at(5), ..fx.session(&user, at(100)) };
    stores.sessions.create(&expired).await.unwrap();
    fx.create_session(stores, &other, at(1000)).await;

    let listed = stores.sessions.list_for_user(organization.id, user.id, at(100)).await.unwrap();
    assert_eq!(listed, vec![sessions[1].clone(), sessions[2].clone(), sessions[0].clone()]);
    assert_eq!(stores.sessions.list_for_user(organization.id, other.id, at(100)).await.unwrap().len(), 1);
    assert!(stores.sessions.list_for_user(organization.id, fx.id(), at(100)).await.unwrap().is_empty());
}

/// `delete` removes one session (`NotFound("session")` when missing);
/// `delete_for_user` removes all of one user's and counts them.
pub async fn session_delete_and_delete_for_user(stores: &Stores) {
    let fx = Fixture::new("session_delete_and_delete_for_user");
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let other = fx.create_user(stores, &organization, "bob@example.com").await;
    let first = fx.create_session(stores, &user, at(1000)).await;
    let second = fx.create_session(stores, &user, at(1000)).await;
    let expired = fx.create_session(stores, &user, at(50)).await;
    let others = fx.create_session(stores, &other, at(1000)).await;

    stores.sessions.delete(organization.id, first.id).await.unwrap();
    assert_not_found(stores.sessions.get(organization.id, first.id).await, "session");
    assert_eq!(stores.sessions.find_by_token_digest(organization.id, &first.token_digest, at(60)).await.unwrap(), None);
    assert_not_found(stores.sessions.delete(organization.id, first.id).await, "session");
    assert_not_found(stores.sessions.delete(organization.id, fx.id()).await, "session");

    assert_eq!(stores.sessions.delete_for_user(organization.id, user.id).await.unwrap(), 2);
    assert_not_found(stores.sessions.get(organization.id, second.id).await, "session");
    assert_not_found(stores.sessions.get(organization.id, expired.id).await, "session");
    assert_eq!(stores.sessions.delete_for_user(organization.id, user.id).await.unwrap(), 0);
    assert_eq!(stores.sessions.get(organization.id, others.id).await.unwrap(), others);
}

/// `delete_expired` removes, across organizations, exactly the sessions with
/// `expires_at <= now`, and counts them.
pub async fn session_delete_expired_counts_only_expired_sessions(stores: &Stores) {
    let fx = Fixture::new("session_delete_expired_counts_only_expired_sessions");
    let mut kept = Vec::new();
    let mut gone = Vec::new();
    for _ in 0..2 {
        let organization = fx.create_organization(stores).await;
        let user = fx.create_user(stores, &organization, "alice@example.com").await;
        gone.push(fx.create_session(stores, &user, at(100)).await);
        gone.push(fx.create_session(stores, &user, at(200)).await);
        kept.push(fx.create_session(stores, &user, at(201)).await);
    }

    assert_eq!(stores.sessions.delete_expired(at(99)).await.unwrap(), 0);
    assert_eq!(stores.sessions.delete_expired(at(200)).await.unwrap(), 4);
    for session in &gone {
        assert_not_found(stores.sessions.get(session.organization_id, session.id).await, "session");
    }
    for session in &kept {
        assert_eq!(&stores.sessions.get(session.organization_id, session.id).await.unwrap(), session);
    }
    assert_eq!(stores.sessions.delete_expired(at(200)).await.unwrap(), 0);
}

/// Another organization's session is unreachable through every method.
pub async fn tenants_are_isolated_for_sessions(stores: &Stores) {
    let fx = Fixture::new("tenants_are_isolated_for_sessions");
    let mine = fx.create_organization(stores).await;
    let theirs = fx.create_organization(stores).await;
    let own_user = fx.create_user(stores, &mine, "own@example.com").await;
    let foreign_user = fx.create_user(stores, &theirs, "foreign@example.com").await;
    let own = fx.create_session(stores, &own_user, at(1000)).await;
    let foreign = fx.create_session(stores, &foreign_user, at(1000)).await;

    assert_not_found(stores.sessions.get(mine.id, foreign.id).await, "session");
    assert_eq!(stores.sessions.find_by_token_digest(mine.id, &foreign.token_digest, at(60)).await.unwrap(), None);
    assert!(stores.sessions.list_for_user(mine.id, foreign_user.id, at(60)).await.unwrap().is_empty());
    assert_not_found(stores.sessions.delete(mine.id, foreign.id).await, "session");
    assert_eq!(stores.sessions.delete_for_user(mine.id, foreign_user.id).await.unwrap(), 0);

    assert_eq!(stores.sessions.get(theirs.id, foreign.id).await.unwrap(), foreign.clone());
    let found = stores.sessions.find_by_token_digest(theirs.id, &foreign.token_digest, at(60)).await.unwrap();
    assert_eq!(found, Some(foreign));
    assert_eq!(stores.sessions.get(mine.id, own.id).await.unwrap(), own);
}

/// `touch` moves `last_seen_at` (read back by every lookup) and nothing else;
/// a missing session, or another organization's, is `NotFound("session")`.
pub async fn session_touch_records_last_seen(stores: &Stores) {
    let fx = Fixture::new("session_touch_records_last_seen");
    let organization = fx.create_organization(stores).await;
    let other = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let session = fx.create_session(stores, &user, at(3600)).await;
    let untouched = fx.create_session(stores, &user, at(3600)).await;

    stores.sessions.touch(organization.id, session.id, at(120)).await.unwrap();
    let touched = Session { last_seen_at: at(120), ..session.clone() };
    assert_eq!(stores.sessions.get(organization.id, session.id).await.unwrap(), touched);
    let found = stores.sessions.find_by_token_digest(organization.id, &session.token_digest, at(130)).await.unwrap();
    assert_eq!(found, Some(touched.clone()));
    assert_eq!(stores.sessions.get(organization.id, untouched.id).await.unwrap(), untouched);

    assert_not_found(stores.sessions.touch(other.id, session.id, at(200)).await, "session");
    assert_not_found(stores.sessions.touch(organization.id, fx.id(), at(200)).await, "session");
    assert_eq!(stores.sessions.get(organization.id, session.id).await.unwrap(), touched);
}
