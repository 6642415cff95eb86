//! Contracts of the `MailOutbox` and `AccountTokenStore` ports (email flows).

use std::sync::Arc;

use zenoauth_domain::email::{AccountToken, AccountTokenPurpose, OutboxMessage, OutboxState};
use zenoauth_domain::model::{Organization, User};
use zenoauth_domain::ports::Stores;
use zenoauth_domain::values::Email;

use crate::fixture::{assert_not_found, at, Fixture};

fn message(fx: &Fixture, organization: &Organization, created: i64) -> OutboxMessage {
    let recipient = Email::parse(&format!("{}@example.com", fx.word())).unwrap();
    OutboxMessage::new(fx.uuid(), organization.id, recipient, "Subject ✓", "Body\nline two", at(created))
}

fn token(fx: &Fixture, user: &User, purpose: AccountTokenPurpose, expires: i64) -> AccountToken {
    AccountToken {
        token_digest: fx.digest(),
        organization_id: user.organization_id,
        user_id: user.id,
        purpose,
        email: user.email.clone(),
        password_stamp: Some(fx.digest()),
        created_at: at(0),
        expires_at: at(expires),
    }
}

pub async fn outbox_messages_are_claimed_under_a_lease_then_completed(stores: &Stores) {
    let fx = Fixture::new("outbox_messages_are_claimed_under_a_lease_then_completed");
    let organization = fx.create_organization(stores).await;
    let outbox = &stores.mail_outbox;
    let first = message(&fx, &organization, 1);
    let second = message(&fx, &organization, 2);
    let later = OutboxMessage { next_attempt_at: at(100), ..message(&fx, &organization, 3) };
    for message in [&second, &first, &later] {
        outbox.enqueue(message).await.unwrap();
    }
    assert_eq!(outbox.find(first.id).await.unwrap(), Some(first.clone()));
    let missing = OutboxMessage { organization_id: fx.id(), ..message(&fx, &organization, 1) };
    assert_not_found(outbox.enqueue(&missing).await, "organization");

    let (claim, other) = (fx.uuid(), fx.uuid());
    let claimed = outbox.claim_due(at(10), claim, at(70), 10).await.unwrap();
    assert_eq!(claimed, vec![first.clone(), second.clone()], "due messages, oldest due first");
    // Leased messages are not claimed again until the lease ends.
    assert!(outbox.claim_due(at(20), other, at(80), 10).await.unwrap().is_empty());
    assert!(outbox.complete(first.id, claim).await.unwrap());
    assert_eq!(outbox.find(first.id).await.unwrap(), None, "a sent message is deleted");
    // The lease of `second` ends: another sender takes it; the first lost it.
    let retaken = outbox.claim_due(at(70), other, at(130), 1).await.unwrap();
    assert_eq!(retaken.iter().map(|message| message.id).collect::<Vec<_>>(), vec![second.id]);
    assert!(!outbox.complete(second.id, claim).await.unwrap());
    assert!(!outbox.fail(second.id, claim, "late", Some(at(200))).await.unwrap());
    assert!(outbox.complete(second.id, other).await.unwrap());
    // The limit is honoured, and `later` becomes due at its time.
    assert!(outbox.claim_due(at(99), claim, at(150), 10).await.unwrap().is_empty());
    assert_eq!(outbox.claim_due(at(100), claim, at(150), 10).await.unwrap().len(), 1);
}

pub async fn outbox_failures_are_counted_rescheduled_and_given_up(stores: &Stores) {
    let fx = Fixture::new("outbox_failures_are_counted_rescheduled_and_given_up");
    let organization = fx.create_organization(stores).await;
    let outbox = &stores.mail_outbox;
    let pending = message(&fx, &organization, 0);
    outbox.enqueue(&pending).await.unwrap();
    let claim = fx.uuid();
    assert_eq!(outbox.claim_due(at(1), claim, at(61), 5).await.unwrap().len(), 1);
    assert!(outbox.fail(pending.id, claim, "connection refused", Some(at(30))).await.unwrap());
    let stored = outbox.find(pending.id).await.unwrap().unwrap();
    assert_eq!((stored.attempts, stored.next_attempt_at, stored.state), (1, at(30), OutboxState::Pending));
    assert_eq!(stored.last_error.as_deref(), Some("connection refused"));
    // Released at once: due again at its new time, not before.
    assert!(outbox.claim_due(at(29), claim, at(89), 5).await.unwrap().is_empty());
    let claim = fx.uuid();
    assert_eq!(outbox.claim_due(at(30), claim, at(90), 5).await.unwrap().len(), 1);
    assert!(outbox.fail(pending.id, claim, "550 no such user", None).await.unwrap());
    let failed = outbox.find(pending.id).await.unwrap().unwrap();
    assert_eq!((failed.attempts, failed.state), (2, OutboxState::Failed));
    assert!(outbox.claim_due(at(10_000), fx.uuid(), at(20_000), 5).await.unwrap().is_empty());
}

pub async fn outbox_claims_are_exclusive_under_concurrency(stores: &Stores) {
    let fx = Fixture::new("outbox_claims_are_exclusive_under_concurrency");
    let organization = fx.create_organization(stores).await;
    for created in 0..20 {
        stores.mail_outbox.enqueue(&message(&fx, &organization, created)).await.unwrap();
    }
    let outbox = Arc::clone(&stores.mail_outbox);
    let claimers: Vec<_> = (0..8)
        .map(|_| {
            let outbox = Arc::clone(&outbox);
            let claim = fx.uuid();
            tokio::spawn(async move { outbox.claim_due(at(100), claim, at(200), 3).await.unwrap() })
        })
        .collect();
    let mut ids = Vec::new();
    for claimer in claimers {
        ids.extend(claimer.await.unwrap().into_iter().map(|message| message.id));
    }
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((total, ids.len()), (20, 20), "every message claimed exactly once");
}

pub async fn account_tokens_are_single_use_and_expire(stores: &Stores) {
    let fx = Fixture::new("account_tokens_are_single_use_and_expire");
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "links@example.com").await;
    let tokens = &stores.account_tokens;
    let reset = token(&fx, &user, AccountTokenPurpose::ResetPassword, 100);
    let verify = AccountToken { password_stamp: None, ..token(&fx, &user, AccountTokenPurpose::VerifyEmail, 50) };
    tokens.create(&reset).await.unwrap();
    tokens.create(&verify).await.unwrap();
    let stranger = AccountToken { user_id: fx.id(), ..token(&fx, &user, AccountTokenPurpose::Invitation, 100) };
    assert_not_found(tokens.create(&stranger).await, "user");

    assert_eq!(tokens.find(organization.id, &reset.token_digest, at(99)).await.unwrap(), Some(reset.clone()));
    assert_eq!(tokens.find(organization.id, &reset.token_digest, at(100)).await.unwrap(), None, "expired");
    assert_eq!(tokens.find(organization.id, &verify.token_digest, at(1)).await.unwrap(), Some(verify.clone()));
    // Wrong purpose: not consumed.
    let wrong = tokens.consume(organization.id, &reset.token_digest, AccountTokenPurpose::Invitation, at(1)).await;
    assert_eq!(wrong.unwrap(), None);
    let used = tokens.consume(organization.id, &reset.token_digest, AccountTokenPurpose::ResetPassword, at(1)).await;
    assert_eq!(used.unwrap(), Some(reset.clone()));
    let again = tokens.consume(organization.id, &reset.token_digest, AccountTokenPurpose::ResetPassword, at(1)).await;
    assert_eq!(again.unwrap(), None, "single use");
    let late = tokens.consume(organization.id, &verify.token_digest, AccountTokenPurpose::VerifyEmail, at(50)).await;
    assert_eq!(late.unwrap(), None, "expired links are not consumed");
    assert_eq!(tokens.delete_expired(at(50)).await.unwrap(), 1);
    assert_eq!(tokens.find(organization.id, &verify.token_digest, at(1)).await.unwrap(), None);
}

pub async fn account_tokens_are_isolated_and_go_with_their_user(stores: &Stores) {
    let fx = Fixture::new("account_tokens_are_isolated_and_go_with_their_user");
    let organization = fx.create_organization(stores).await;
    let other = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "owner@example.com").await;
    let tokens = &stores.account_tokens;
    let reset = token(&fx, &user, AccountTokenPurpose::ResetPassword, 100);
    tokens.create(&reset).await.unwrap();
    assert_eq!(tokens.find(other.id, &reset.token_digest, at(1)).await.unwrap(), None);
    let foreign = tokens.consume(other.id, &reset.token_digest, AccountTokenPurpose::ResetPassword, at(1)).await;
    assert_eq!(foreign.unwrap(), None);
    assert!(tokens.find(organization.id, &reset.token_digest, at(1)).await.unwrap().is_some());
    stores.users.delete(organization.id, user.id).await.unwrap();
    assert_eq!(tokens.find(organization.id, &reset.token_digest, at(1)).await.unwrap(), None);
}

pub async fn account_token_consumption_is_single_use_under_concurrency(stores: &Stores) {
    let fx = Fixture::new("account_token_consumption_is_single_use_under_concurrency");
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "race@example.com").await;
    let reset = token(&fx, &user, AccountTokenPurpose::ResetPassword, 100);
    stores.account_tokens.create(&reset).await.unwrap();
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let tokens = Arc::clone(&stores.account_tokens);
            let digest = reset.token_digest;
            let organization = organization.id;
            tokio::spawn(async move {
                tokens.consume(organization, &digest, AccountTokenPurpose::ResetPassword, at(1)).await.unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for racer in racers {
        winners += usize::from(racer.await.unwrap().is_some());
    }
    assert_eq!(winners, 1);
}
