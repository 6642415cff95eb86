//! Contracts of the optimistic-concurrency writes: `update_if_unchanged` of
//! organizations, users and applications writes only while the stored
//! `updated_at` is the one the writer read, in one atomic step.

use std::fmt::Debug;
use std::future::Future;

use time::{Duration, OffsetDateTime};
use zenoauth_domain::model::{Application, Organization, User};
use zenoauth_domain::ports::Stores;
use zenoauth_domain::values::DisplayName;
use zenoauth_domain::{Error, Result};

use crate::fixture::{assert_not_found, at, Fixture};

/// How many writers race in the concurrent contract.
const WRITERS: i64 = 8;

fn assert_stale<T: Debug>(result: Result<T>) {
    assert!(matches!(result, Err(Error::PreconditionFailed)), "expected PreconditionFailed, got {result:?}");
}

/// An instant with sub-second digits, as a real clock gives (microseconds survive every store).
fn precise(seconds: i64) -> OffsetDateTime {
    at(seconds) + Duration::microseconds(123_456)
}

/// A matching `updated_at` lets the write through (at microsecond precision);
/// a stale one is `PreconditionFailed` and writes nothing; an unknown row, or
/// one of another organization, is `NotFound`.
pub async fn conditional_updates_apply_only_while_unchanged(stores: &Stores) {
    let fx = Fixture::new("conditional_updates_apply_only_while_unchanged");
    let organization = fx.create_organization(stores).await;
    let other = fx.create_organization(stores).await;

    // Organizations.
    let read = stores.organizations.get(organization.id).await.unwrap();
    let first = Organization { name: DisplayName::parse("First").unwrap(), updated_at: precise(10), ..read.clone() };
    stores.organizations.update_if_unchanged(&first, read.updated_at).await.unwrap();
    let stored = stores.organizations.get(organization.id).await.unwrap();
    assert_eq!(stored, first);
    let lost = Organization { name: DisplayName::parse("Lost").unwrap(), updated_at: at(11), ..read.clone() };
    assert_stale(stores.organizations.update_if_unchanged(&lost, read.updated_at).await);
    assert_eq!(stores.organizations.get(organization.id).await.unwrap(), first);
    let second = Organization { name: DisplayName::parse("Second").unwrap(), updated_at: at(12), ..stored.clone() };
    stores.organizations.update_if_unchanged(&second, stored.updated_at).await.unwrap();
    assert_eq!(stores.organizations.get(organization.id).await.unwrap(), second);
    assert_not_found(stores.organizations.update_if_unchanged(&fx.organization(), at(1)).await, "organization");

    // Users.
    let user = fx.create_user(stores, &organization, "ada@example.com").await;
    let first = User { is_active: false, updated_at: precise(20), ..user.clone() };
    stores.users.update_if_unchanged(&first, user.updated_at).await.unwrap();
    let stored = stores.users.get(organization.id, user.id).await.unwrap();
    assert_eq!(stored, first);
    assert_stale(stores.users.update_if_unchanged(&User { updated_at: at(21), ..user.clone() }, user.updated_at).await);
    assert_eq!(stores.users.get(organization.id, user.id).await.unwrap(), first);
    let second = User { is_active: true, updated_at: at(22), ..stored.clone() };
    stores.users.update_if_unchanged(&second, stored.updated_at).await.unwrap();
    assert_eq!(stores.users.get(organization.id, user.id).await.unwrap(), second);
    let hijacked = User { organization_id: other.id, ..second.clone() };
    assert_not_found(stores.users.update_if_unchanged(&hijacked, second.updated_at).await, "user");
    assert_not_found(stores.users.update_if_unchanged(&fx.user(&organization, "x@example.com"), at(3)).await, "user");

    // Applications.
    let application = fx.create_application(stores, &organization, "web").await;
    let first =
        Application { name: DisplayName::parse("First").unwrap(), updated_at: precise(30), ..application.clone() };
    stores.applications.update_if_unchanged(&first, application.updated_at).await.unwrap();
    let stored = stores.applications.get(organization.id, application.id).await.unwrap();
    assert_eq!(stored, first);
    let lost = Application { name: DisplayName::parse("Lost").unwrap(), ..application.clone() };
    assert_stale(stores.applications.update_if_unchanged(&lost, application.updated_at).await);
    assert_eq!(stores.applications.get(organization.id, application.id).await.unwrap(), first);
    let second = Application { name: DisplayName::parse("Second").unwrap(), updated_at: at(32), ..stored.clone() };
    stores.applications.update_if_unchanged(&second, stored.updated_at).await.unwrap();
    assert_eq!(stores.applications.get(organization.id, application.id).await.unwrap(), second);
    let hijacked = Application { organization_id: other.id, ..second.clone() };
    assert_not_found(stores.applications.update_if_unchanged(&hijacked, second.updated_at).await, "application");
    let missing = fx.application(&organization, "missing");
    assert_not_found(stores.applications.update_if_unchanged(&missing, at(5)).await, "application");
}

/// Runs `WRITERS` writes at once (each on its own task); exactly one may
/// succeed, every other one must be `PreconditionFailed`. Returns the winner's index.
async fn race<F, Fut>(write: F) -> i64
where
    F: Fn(i64) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let tasks: Vec<_> = (0..WRITERS).map(|index| (index, tokio::spawn(write(index)))).collect();
    let mut winners = Vec::new();
    for (index, task) in tasks {
        match task.await.unwrap() {
            Ok(()) => winners.push(index),
            Err(Error::PreconditionFailed) => {}
            Err(other) => panic!("writer {index}: expected Ok or PreconditionFailed, got {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of {WRITERS} concurrent writers may win, won: {winners:?}");
    winners[0]
}

/// `WRITERS` concurrent conditional updates that all read the same version:
/// exactly one succeeds and the stored row is the winner's.
pub async fn concurrent_conditional_updates_let_exactly_one_win(stores: &Stores) {
    let fx = Fixture::new("concurrent_conditional_updates_let_exactly_one_win");
    let organization = fx.create_organization(stores).await;

    let read = organization.updated_at;
    let version = |index: i64| Organization {
        name: DisplayName::parse(&format!("Writer {index}")).unwrap(),
        updated_at: precise(100 + index),
        ..organization.clone()
    };
    let winner = race(|index| {
        let (repository, changed) = (stores.organizations.clone(), version(index));
        async move { repository.update_if_unchanged(&changed, read).await }
    })
    .await;
    assert_eq!(stores.organizations.get(organization.id).await.unwrap(), version(winner));

    let user = fx.create_user(stores, &organization, "ada@example.com").await;
    let version = |index: i64| User {
        profile: serde_json::json!({"writer": index}),
        updated_at: precise(200 + index),
        ..user.clone()
    };
    let winner = race(|index| {
        let (repository, changed) = (stores.users.clone(), version(index));
        async move { repository.update_if_unchanged(&changed, user.updated_at).await }
    })
    .await;
    assert_eq!(stores.users.get(organization.id, user.id).await.unwrap(), version(winner));

    let application = fx.create_application(stores, &organization, "web").await;
    let version = |index: i64| Application {
        name: DisplayName::parse(&format!("Writer {index}")).unwrap(),
        updated_at: precise(300 + index),
        ..application.clone()
    };
    let winner = race(|index| {
        let (repository, changed) = (stores.applications.clone(), version(index));
        async move { repository.update_if_unchanged(&changed, application.updated_at).await }
    })
    .await;
    assert_eq!(stores.applications.get(organization.id, application.id).await.unwrap(), version(winner));
}
