//! Behaviour particular to this adapter, beyond the conformance suite.

use std::sync::Arc;

use time::macros::datetime;
use zenoauth_domain::mfa::TotpCredential;
use zenoauth_domain::model::{CodeRedemption, Session, User};
use zenoauth_domain::Error;
use zenoauth_store_tests::fixture::{at, Fixture};

use crate::fresh_database;

/// SQLite cannot SET NULL one column of a composite foreign key; triggers do it,
/// so codes and families outlive their session and code, as on PostgreSQL.
#[tokio::test]
async fn deleting_a_session_or_code_detaches_what_was_issued_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(&dir).await.unwrap();
    let stores = database.stores();
    let fx = Fixture::new("detach");
    let organization = fx.create_organization(&stores).await;
    let user = fx.create_user(&stores, &organization, "alice@example.com").await;
    let application = fx.create_application(&stores, &organization, "app").await;
    let session = fx.create_session(&stores, &user, at(10_000)).await;
    let code = fx.create_code(&stores, &application, &user, Some(&session), at(600)).await;
    let (family, first) =
        fx.create_family(&stores, &application, Some(&user), Some(&session), Some(&code), at(86_400)).await;
    let org = organization.id;
    assert!(matches!(
        stores.authorization_codes.redeem(org, &code.code_digest, at(20)).await.unwrap(),
        CodeRedemption::Redeemed(_)
    ));

    stores.sessions.delete(org, session.id).await.unwrap();
    match stores.authorization_codes.redeem(org, &code.code_digest, at(30)).await.unwrap() {
        CodeRedemption::Replayed(replayed) => assert_eq!(replayed.session_id, None),
        other => panic!("expected a replay, got {other:?}"),
    }
    let (_, found) = stores.refresh_tokens.find(org, &first.token_digest).await.unwrap().unwrap();
    assert_eq!(found.session_id, None);
    assert_eq!(found.authorization_code_id, Some(code.id));

    assert_eq!(stores.authorization_codes.delete_expired(at(600)).await.unwrap(), 1);
    let (_, found) = stores.refresh_tokens.find(org, &first.token_digest).await.unwrap().unwrap();
    assert_eq!(found.authorization_code_id, None);
    assert_eq!(found.id, family.id);
}

/// Nothing can point across tenants: a session for another organization's user is refused.
#[tokio::test]
async fn a_session_cannot_name_another_organizations_user() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(&dir).await.unwrap();
    let stores = database.stores();
    let fx = Fixture::new("cross-tenant");
    let mine = fx.create_organization(&stores).await;
    let theirs = fx.create_organization(&stores).await;
    let their_user = fx.create_user(&stores, &theirs, "bob@example.com").await;
    let session = Session { organization_id: mine.id, ..fx.session(&their_user, at(100)) };
    let error = stores.sessions.create(&session).await.unwrap_err();
    assert!(matches!(error, Error::NotFound("user")), "{error:?}");
    let orphan = Session { organization_id: fx.id(), ..fx.session(&their_user, at(100)) };
    let error = stores.sessions.create(&orphan).await.unwrap_err();
    assert!(matches!(error, Error::NotFound("organization")), "{error:?}");
}

#[tokio::test]
async fn instants_round_trip_at_microsecond_precision() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(&dir).await.unwrap();
    let stores = database.stores();
    let fx = Fixture::new("micros");
    let organization = fx.create_organization(&stores).await;
    let user = User {
        created_at: datetime!(1969-07-20 20:17:40.123_456 UTC),
        updated_at: datetime!(2262-04-11 23:47:16.854_775 +02:00),
        ..fx.user(&organization, "alice@example.com")
    };
    stores.users.create(&user).await.unwrap();
    assert_eq!(stores.users.get(organization.id, user.id).await.unwrap(), user);
}

/// A row this adapter would never write surfaces as `Unavailable`, not as a panic or bad data.
#[tokio::test]
async fn a_stored_value_the_domain_refuses_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(&dir).await.unwrap();
    let stores = database.stores();
    let fx = Fixture::new("corrupt");
    let organization = fx.create_organization(&stores).await;
    let user = fx.create_user(&stores, &organization, "alice@example.com").await;
    sqlx::query("UPDATE users SET email = 'not an email' WHERE id = ?")
        .bind(user.id.as_uuid())
        .execute(database.pool())
        .await
        .unwrap();
    let error = stores.users.get(organization.id, user.id).await.unwrap_err();
    assert!(matches!(error, Error::Unavailable(_)), "{error:?}");
}

/// Many writers at once on a file with several connections: every write
/// succeeds (queued on the busy timeout), none fails with "database is locked".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_queue_instead_of_failing() {
    const WRITERS: usize = 48;
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(&dir).await.unwrap();
    let stores = database.stores();
    let fx = Arc::new(Fixture::new("writers"));
    let organization = fx.create_organization(&stores).await;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|n| {
            let (stores, fx, organization) = (stores.clone(), fx.clone(), organization.clone());
            tokio::spawn(async move {
                let user = fx.user(&organization, &format!("user{n}@example.com"));
                stores.users.create(&user).await?;
                let events = [
                    fx.audit_event(&organization, "user.created", at(1)),
                    fx.audit_event(&organization, "user.updated", at(2)),
                ];
                stores.audit.append(&events).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(database.pool()).await.unwrap();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events").fetch_one(database.pool()).await.unwrap();
    assert_eq!((users, events), (48, 96));
}

/// MFA writes read the user first, then write: in a deferred transaction two
/// of them deadlock on the read-to-write upgrade and one fails at once with
/// "database is locked". Run as `BEGIN IMMEDIATE`, they queue instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_mfa_writes_queue_instead_of_failing() {
    const WRITERS: usize = 32;
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(&dir).await.unwrap();
    let stores = database.stores();
    let fx = Arc::new(Fixture::new("mfa-writers"));
    let organization = fx.create_organization(&stores).await;
    let user = fx.create_user(&stores, &organization, "mfa@example.com").await;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|n| {
            let (stores, fx, user) = (stores.clone(), fx.clone(), user.clone());
            tokio::spawn(async move {
                let credential = TotpCredential {
                    id: fx.uuid(),
                    organization_id: user.organization_id,
                    user_id: user.id,
                    encrypted_secret: vec![u8::try_from(n).unwrap(); 20],
                    confirmed_at: None,
                    last_used_step: None,
                    created_at: at(10),
                };
                stores.mfa.put_totp(&credential).await?;
                stores
                    .mfa
                    .replace_recovery_codes(user.organization_id, user.id, &[fx.digest(), fx.digest()], at(11))
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(stores.mfa.count_recovery_codes(organization.id, user.id).await.unwrap(), 2);
}
