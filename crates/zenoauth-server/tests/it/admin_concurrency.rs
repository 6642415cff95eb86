//! Lost updates under a race: two PATCHes carrying the same ETag, sent at
//! once, answer one 200 and one 412, and the stored object is the winner's —
//! also when both requests pass the `If-Match` check before either writes,
//! because the stores' conditional write is what decides.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::Barrier;
use zenoauth_domain::ids::{OrganizationId, UserId};
use zenoauth_domain::model::User;
use zenoauth_domain::ports::{PageRequest, Stores, UserQuery, UserRepository};
use zenoauth_domain::values::Email;
use zenoauth_domain::Result;

use crate::admin_support::{AdminWorld, Reply};
use crate::oidc_support::on_both_databases;

on_both_databases!(
    two_patches_with_one_etag_answer_200_and_412,
    patches_that_both_pass_the_etag_check_still_lose_one_update,
);

/// The two replies, sorted by status: exactly one 200 and one 412.
fn one_winner(first: Reply, second: Reply) -> Reply {
    let (winner, loser) = if first.status == 200 { (first, second) } else { (second, first) };
    assert_eq!(winner.status, 200, "{winner:?}");
    loser.assert_problem(412, "precondition-failed");
    winner
}

async fn two_patches_with_one_etag_answer_200_and_412(stores: Stores) {
    let world = AdminWorld::new(stores).await;
    let api = world.platform().await;
    let acme = world.organization("acme").await;

    let organization = format!("/organizations/{}", acme.id);
    let users = format!("{organization}/users");
    let user = api.post(&users, json!({"email": "ada@example.com"})).await;
    assert_eq!(user.status, 201, "{user:?}");
    let user = format!("{users}/{}", user.id());
    let applications = format!("{organization}/applications");
    let body = json!({"client_id": "billing", "name": "Billing", "grant_types": ["client_credentials"]});
    let application = api.post(&applications, body).await;
    assert_eq!(application.status, 201, "{application:?}");
    let application = format!("{applications}/{}", application.body["application"]["id"].as_str().unwrap());

    for (path, field, values) in [
        (&organization, "name", [json!("Acme A"), json!("Acme B")]),
        (&user, "profile", [json!({"writer": "a"}), json!({"writer": "b"})]),
        (&application, "name", [json!("Web A"), json!("Web B")]),
    ] {
        let etag = api.get(path).await.etag();
        let (first, second) = tokio::join!(
            api.patch(path, json!({ field: values[0] }), &etag),
            api.patch(path, json!({ field: values[1] }), &etag),
        );
        let winner = one_winner(first, second);
        let stored = api.get(path).await;
        assert_eq!(stored.body, winner.body, "{path}: the stored object is the winner's");
        assert_eq!(stored.etag(), winner.etag());
        assert_ne!(winner.etag(), etag);
    }
}

/// Holds the next `held` reads of a user until two are waiting, so that both
/// PATCHes read (and pass the ETag check on) the same version before either writes.
struct SimultaneousReads {
    inner: Arc<dyn UserRepository>,
    held: AtomicUsize,
    barrier: Barrier,
}

#[async_trait]
impl UserRepository for SimultaneousReads {
    async fn create(&self, user: &User) -> Result<()> {
        self.inner.create(user).await
    }
    async fn get(&self, organization: OrganizationId, id: UserId) -> Result<User> {
        let read = self.inner.get(organization, id).await;
        let hold = self.held.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| held.checked_sub(1)).is_ok();
        if hold {
            self.barrier.wait().await;
        }
        read
    }
    async fn find_by_email(&self, organization: OrganizationId, email: &Email) -> Result<Option<User>> {
        self.inner.find_by_email(organization, email).await
    }
    async fn update(&self, user: &User) -> Result<()> {
        self.inner.update(user).await
    }
    async fn update_if_unchanged(&self, user: &User, expected_updated_at: OffsetDateTime) -> Result<()> {
        self.inner.update_if_unchanged(user, expected_updated_at).await
    }
    async fn delete(&self, organization: OrganizationId, id: UserId) -> Result<()> {
        self.inner.delete(organization, id).await
    }
    async fn list(&self, organization: OrganizationId, query: &UserQuery, page: &PageRequest) -> Result<Vec<User>> {
        self.inner.list(organization, query, page).await
    }
}

async fn patches_that_both_pass_the_etag_check_still_lose_one_update(stores: Stores) {
    let gate = Arc::new(SimultaneousReads {
        inner: stores.users.clone(),
        held: AtomicUsize::new(0),
        barrier: Barrier::new(2),
    });
    let world = AdminWorld::new(Stores { users: gate.clone(), ..stores }).await;
    let api = world.platform().await;
    let acme = world.organization("acme").await;
    let users = format!("/organizations/{}/users", acme.id);
    let created = api.post(&users, json!({"email": "ada@example.com", "profile": {"dept": "none"}})).await;
    assert_eq!(created.status, 201, "{created:?}");
    let path = format!("{users}/{}", created.id());
    let etag = api.get(&path).await.etag();

    // Both handlers read the same version and pass `If-Match` before either writes.
    gate.held.store(2, Ordering::SeqCst);
    let (first, second) = tokio::join!(
        api.patch(&path, json!({"profile": {"dept": "finance"}}), &etag),
        api.patch(&path, json!({"email_verified": true}), &etag),
    );
    assert_eq!(gate.held.load(Ordering::SeqCst), 0, "both requests read through the gate");
    let winner = one_winner(first, second);
    let stored = api.get(&path).await;
    assert_eq!(stored.body, winner.body, "the loser wrote nothing");
    let dept_changed = stored.body["profile"] == json!({"dept": "finance"});
    let verified = stored.body["email_verified"] == json!(true);
    assert!(dept_changed != verified, "exactly one of the two changes landed: {stored:?}");
}
