//! Contracts of the `LoginAttemptStore` port (brute-force defence counters).

use std::sync::Arc;

use zenoauth_domain::ports::Stores;
use zenoauth_domain::Error;

use crate::fixture::{at, Fixture};

/// Window starts before every instant the contracts use: no restart.
fn forever() -> time::OffsetDateTime {
    at(-1_000_000)
}

pub async fn login_attempts_count_and_lock_at_the_threshold(stores: &Stores) {
    let fx = Fixture::new("login_attempts_count_and_lock_at_the_threshold");
    let organization = fx.create_organization(stores).await;
    let attempts = &stores.login_attempts;
    assert_eq!(attempts.find(organization.id, "account:a@example.com").await.unwrap(), None);
    for (second, expected) in [(1, 1), (2, 2)] {
        let state =
            attempts.record_failure(organization.id, "account:a@example.com", at(second), forever(), 3, at(100)).await;
        let state = state.unwrap();
        assert_eq!((state.failures, state.locked_until), (expected, None));
        assert_eq!(state.window_started_at, at(1));
        assert_eq!(state.last_failed_at, at(second));
    }
    let locked = attempts.record_failure(organization.id, "account:a@example.com", at(3), forever(), 3, at(100)).await;
    let locked = locked.unwrap();
    assert_eq!((locked.failures, locked.locked_until), (3, Some(at(100))));
    assert!(locked.is_locked_at(at(99)) && !locked.is_locked_at(at(100)));
    // A running lock is never extended by further failures.
    let again = attempts.record_failure(organization.id, "account:a@example.com", at(4), forever(), 3, at(500)).await;
    let again = again.unwrap();
    assert_eq!((again.failures, again.locked_until), (4, Some(at(100))));
    assert_eq!(attempts.find(organization.id, "account:a@example.com").await.unwrap(), Some(again));
    // A threshold of one locks on the first failure.
    let first = attempts.record_failure(organization.id, "ip:192.0.2.1", at(5), forever(), 1, at(60)).await.unwrap();
    assert_eq!((first.failures, first.locked_until), (1, Some(at(60))));
}

pub async fn login_attempts_restart_after_the_window_or_the_lock(stores: &Stores) {
    let fx = Fixture::new("login_attempts_restart_after_the_window_or_the_lock");
    let organization = fx.create_organization(stores).await;
    let attempts = &stores.login_attempts;
    let key = "account:b@example.com";
    attempts.record_failure(organization.id, key, at(10), at(0), 5, at(1000)).await.unwrap();
    attempts.record_failure(organization.id, key, at(20), at(0), 5, at(1000)).await.unwrap();
    // The window now starts after the first failure: the count restarts.
    let restarted = attempts.record_failure(organization.id, key, at(30), at(11), 5, at(1000)).await.unwrap();
    assert_eq!((restarted.failures, restarted.window_started_at), (1, at(30)));
    // Lock, then fail again after the lock ended: the count restarts, unlocked.
    for second in 31..35 {
        attempts.record_failure(organization.id, key, at(second), at(0), 5, at(40)).await.unwrap();
    }
    let locked = attempts.find(organization.id, key).await.unwrap().unwrap();
    assert_eq!((locked.failures, locked.locked_until), (5, Some(at(40))));
    let after = attempts.record_failure(organization.id, key, at(40), at(0), 5, at(2000)).await.unwrap();
    assert_eq!((after.failures, after.locked_until, after.window_started_at), (1, None, at(40)));
}

pub async fn login_attempts_clear_and_delete_stale(stores: &Stores) {
    let fx = Fixture::new("login_attempts_clear_and_delete_stale");
    let organization = fx.create_organization(stores).await;
    let attempts = &stores.login_attempts;
    attempts.record_failure(organization.id, "account:old", at(10), forever(), 9, at(1000)).await.unwrap();
    attempts.record_failure(organization.id, "account:locked", at(10), forever(), 1, at(1000)).await.unwrap();
    attempts.record_failure(organization.id, "account:new", at(500), forever(), 9, at(1000)).await.unwrap();
    // Stale: last failure before 100 and no lock running at 100.
    assert_eq!(attempts.delete_stale(at(100)).await.unwrap(), 1);
    assert_eq!(attempts.find(organization.id, "account:old").await.unwrap(), None);
    assert!(attempts.find(organization.id, "account:locked").await.unwrap().is_some());
    assert!(attempts.clear(organization.id, "account:locked").await.unwrap());
    assert!(!attempts.clear(organization.id, "account:locked").await.unwrap());
    assert_eq!(attempts.find(organization.id, "account:locked").await.unwrap(), None);
    assert!(attempts.find(organization.id, "account:new").await.unwrap().is_some());
}

pub async fn login_attempts_are_counted_once_under_concurrency(stores: &Stores) {
    let fx = Fixture::new("login_attempts_are_counted_once_under_concurrency");
    let organization = fx.create_organization(stores).await;
    let attempts = Arc::clone(&stores.login_attempts);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let attempts = Arc::clone(&attempts);
        tasks.push(tokio::spawn(async move {
            attempts.record_failure(organization.id, "ip:198.51.100.7", at(1), forever(), 10, at(100)).await.unwrap()
        }));
    }
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(task.await.unwrap().failures);
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=16).collect::<Vec<u32>>());
    let state = attempts.find(organization.id, "ip:198.51.100.7").await.unwrap().unwrap();
    assert_eq!((state.failures, state.locked_until), (16, Some(at(100))));
}

pub async fn tenants_are_isolated_for_login_attempts(stores: &Stores) {
    let fx = Fixture::new("tenants_are_isolated_for_login_attempts");
    let mine = fx.create_organization(stores).await;
    let theirs = fx.create_organization(stores).await;
    let attempts = &stores.login_attempts;
    attempts.record_failure(mine.id, "account:c@example.com", at(1), forever(), 1, at(100)).await.unwrap();
    assert_eq!(attempts.find(theirs.id, "account:c@example.com").await.unwrap(), None);
    assert!(!attempts.clear(theirs.id, "account:c@example.com").await.unwrap());
    let theirs_state = attempts.record_failure(theirs.id, "account:c@example.com", at(2), forever(), 5, at(100)).await;
    assert_eq!(theirs_state.unwrap().failures, 1);
    let missing = fx.organization();
    let result = attempts.record_failure(missing.id, "account:c@example.com", at(3), forever(), 5, at(100)).await;
    assert!(matches!(result, Err(Error::NotFound("organization"))), "{result:?}");
    // Deleting an organization removes its counters.
    stores.organizations.delete(mine.id).await.unwrap();
    assert_eq!(attempts.find(mine.id, "account:c@example.com").await.unwrap(), None);
}
