//! Contracts of the `MfaStore` port (TOTP credentials and recovery codes).

use std::sync::Arc;

use zenoauth_domain::mfa::TotpCredential;
use zenoauth_domain::model::{Organization, User};
use zenoauth_domain::ports::Stores;

use crate::fixture::{assert_conflict, assert_not_found, at, Fixture};

fn totp(fx: &Fixture, user: &User, secret: &[u8]) -> TotpCredential {
    TotpCredential {
        id: fx.uuid(),
        organization_id: user.organization_id,
        user_id: user.id,
        encrypted_secret: secret.to_vec(),
        confirmed_at: None,
        last_used_step: None,
        created_at: at(10),
    }
}

async fn setup(fx: &Fixture, stores: &Stores) -> (Organization, User) {
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "mfa@example.com").await;
    (organization, user)
}

pub async fn totp_credential_is_replaced_until_confirmed(stores: &Stores) {
    let fx = Fixture::new("totp_credential_is_replaced_until_confirmed");
    let (organization, user) = setup(&fx, stores).await;
    let mfa = &stores.mfa;
    assert_eq!(mfa.find_totp(organization.id, user.id).await.unwrap(), None);
    let first = totp(&fx, &user, b"first sealed secret");
    mfa.put_totp(&first).await.unwrap();
    assert_eq!(mfa.find_totp(organization.id, user.id).await.unwrap(), Some(first.clone()));
    // A second enrolment replaces the unconfirmed one.
    let second = totp(&fx, &user, b"second sealed secret");
    mfa.put_totp(&second).await.unwrap();
    assert_eq!(mfa.find_totp(organization.id, user.id).await.unwrap(), Some(second.clone()));
    assert!(!mfa.confirm_totp(organization.id, first.id, 5, at(20)).await.unwrap(), "the replaced one is gone");
    assert!(mfa.confirm_totp(organization.id, second.id, 5, at(20)).await.unwrap());
    assert!(!mfa.confirm_totp(organization.id, second.id, 6, at(21)).await.unwrap(), "confirmed once");
    let confirmed = mfa.find_totp(organization.id, user.id).await.unwrap().unwrap();
    assert_eq!((confirmed.confirmed_at, confirmed.last_used_step), (Some(at(20)), Some(5)));
    // A confirmed credential is not replaced.
    assert_conflict(mfa.put_totp(&totp(&fx, &user, b"third")).await, "mfa_totp");
    assert_eq!(mfa.find_totp(organization.id, user.id).await.unwrap(), Some(confirmed));
    // Unknown user, or a user of another organization.
    let other = fx.create_organization(stores).await;
    let mut stranger = totp(&fx, &user, b"x");
    stranger.organization_id = other.id;
    assert_not_found(mfa.put_totp(&stranger).await, "user");
}

pub async fn totp_steps_are_used_once_and_only_forward(stores: &Stores) {
    let fx = Fixture::new("totp_steps_are_used_once_and_only_forward");
    let (organization, user) = setup(&fx, stores).await;
    let mfa = &stores.mfa;
    let credential = totp(&fx, &user, b"secret");
    mfa.put_totp(&credential).await.unwrap();
    assert!(!mfa.use_totp_step(organization.id, credential.id, 100).await.unwrap(), "unconfirmed");
    assert!(mfa.confirm_totp(organization.id, credential.id, 100, at(20)).await.unwrap());
    assert!(!mfa.use_totp_step(organization.id, credential.id, 100).await.unwrap(), "the confirming step");
    assert!(!mfa.use_totp_step(organization.id, credential.id, 99).await.unwrap(), "an earlier step");
    assert!(mfa.use_totp_step(organization.id, credential.id, 101).await.unwrap());
    assert!(!mfa.use_totp_step(organization.id, credential.id, 101).await.unwrap(), "a replay");
    let other = fx.create_organization(stores).await;
    assert!(!mfa.use_totp_step(other.id, credential.id, 200).await.unwrap(), "another tenant");
    // Concurrent uses of one step: exactly one wins.
    let stores = Arc::new(stores.clone());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let stores = stores.clone();
            tokio::spawn(async move { stores.mfa.use_totp_step(organization.id, credential.id, 102).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!(wins, 1);
}

pub async fn recovery_codes_are_single_use_and_replaced(stores: &Stores) {
    let fx = Fixture::new("recovery_codes_are_single_use_and_replaced");
    let (organization, user) = setup(&fx, stores).await;
    let mfa = &stores.mfa;
    assert_eq!(mfa.count_recovery_codes(organization.id, user.id).await.unwrap(), 0);
    let old: Vec<_> = (0..3).map(|_| fx.digest()).collect();
    mfa.replace_recovery_codes(organization.id, user.id, &old, at(10)).await.unwrap();
    assert_eq!(mfa.count_recovery_codes(organization.id, user.id).await.unwrap(), 3);
    assert!(mfa.use_recovery_code(organization.id, user.id, &old[0], at(11)).await.unwrap());
    assert!(!mfa.use_recovery_code(organization.id, user.id, &old[0], at(12)).await.unwrap(), "used once");
    assert!(!mfa.use_recovery_code(organization.id, user.id, &fx.digest(), at(12)).await.unwrap(), "unknown");
    assert_eq!(mfa.count_recovery_codes(organization.id, user.id).await.unwrap(), 2);
    let new: Vec<_> = (0..2).map(|_| fx.digest()).collect();
    mfa.replace_recovery_codes(organization.id, user.id, &new, at(13)).await.unwrap();
    assert!(!mfa.use_recovery_code(organization.id, user.id, &old[1], at(14)).await.unwrap(), "replaced");
    assert_eq!(mfa.count_recovery_codes(organization.id, user.id).await.unwrap(), 2);
    // Concurrent uses of one code: exactly one wins.
    let stores_arc = Arc::new(stores.clone());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let stores = stores_arc.clone();
            let digest = new[0];
            tokio::spawn(async move {
                stores.mfa.use_recovery_code(organization.id, user.id, &digest, at(15)).await.unwrap()
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!(wins, 1);
    // Another tenant's view of the same user id is empty; unknown users are not found.
    let other = fx.create_organization(stores).await;
    assert!(!mfa.use_recovery_code(other.id, user.id, &new[1], at(16)).await.unwrap());
    assert_eq!(mfa.count_recovery_codes(other.id, user.id).await.unwrap(), 0);
    assert_not_found(mfa.replace_recovery_codes(other.id, user.id, &new, at(16)).await, "user");
}

pub async fn mfa_credentials_are_deleted_with_their_user(stores: &Stores) {
    let fx = Fixture::new("mfa_credentials_are_deleted_with_their_user");
    let (organization, user) = setup(&fx, stores).await;
    let keeper = fx.create_user(stores, &organization, "keeper@example.com").await;
    let mfa = &stores.mfa;
    for owner in [&user, &keeper] {
        mfa.put_totp(&totp(&fx, owner, b"secret")).await.unwrap();
        mfa.replace_recovery_codes(organization.id, owner.id, &[fx.digest()], at(10)).await.unwrap();
    }
    assert!(mfa.delete_for_user(organization.id, user.id).await.unwrap());
    assert!(!mfa.delete_for_user(organization.id, user.id).await.unwrap(), "nothing left");
    assert_eq!(mfa.find_totp(organization.id, user.id).await.unwrap(), None);
    assert_eq!(mfa.count_recovery_codes(organization.id, user.id).await.unwrap(), 0);
    // Deleting the user deletes the rest.
    stores.users.delete(organization.id, keeper.id).await.unwrap();
    assert_eq!(mfa.find_totp(organization.id, keeper.id).await.unwrap(), None);
    assert_eq!(mfa.count_recovery_codes(organization.id, keeper.id).await.unwrap(), 0);
}
