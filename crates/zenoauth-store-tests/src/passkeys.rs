//! Contracts of the `PasskeyStore` port (WebAuthn credentials and ceremonies in flight).

use std::sync::Arc;

use serde_json::json;
use zenoauth_domain::ids::SessionId;
use zenoauth_domain::mfa::passkeys::{CeremonyPurpose, PasskeyCeremony, PasskeyCredential, PasskeyName};
use zenoauth_domain::model::{Organization, User};
use zenoauth_domain::ports::Stores;

use crate::fixture::{assert_conflict, assert_not_found, at, Fixture};

fn passkey(fx: &Fixture, user: &User, credential_id: &[u8], created: i64) -> PasskeyCredential {
    PasskeyCredential {
        id: fx.uuid(),
        organization_id: user.organization_id,
        user_id: user.id,
        credential_id: credential_id.to_vec(),
        name: PasskeyName::parse("Laptop").unwrap(),
        passkey: json!({"cred": {"cred_id": "AAEC", "counter": 0, "backup_eligible": true, "nested": [1, 2]}}),
        backup_eligible: true,
        backup_state: false,
        sign_count: 0,
        created_at: at(created),
        last_used_at: None,
    }
}

fn ceremony(fx: &Fixture, organization: &Organization, user: Option<&User>, expires: i64) -> PasskeyCeremony {
    PasskeyCeremony {
        handle_digest: fx.digest(),
        organization_id: organization.id,
        purpose: if user.is_some() { CeremonyPurpose::SecondFactor } else { CeremonyPurpose::Passwordless },
        user_id: user.map(|user| user.id),
        session_id: user.map(|_| fx.id::<SessionId>()),
        name: user.map(|_| "Phone".to_owned()),
        state: json!({"kind": "authentication", "state": {"challenge": "abc", "list": [1, 2, 3]}}),
        created_at: at(10),
        expires_at: at(expires),
    }
}

async fn setup(fx: &Fixture, stores: &Stores) -> (Organization, User) {
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "passkeys@example.com").await;
    (organization, user)
}

pub async fn passkeys_roundtrip_unique_per_organization(stores: &Stores) {
    let fx = Fixture::new("passkeys_roundtrip_unique_per_organization");
    let (organization, user) = setup(&fx, stores).await;
    let passkeys = &stores.passkeys;
    assert!(passkeys.list_credentials(organization.id, user.id).await.unwrap().is_empty());
    let second = passkey(&fx, &user, b"credential-two", 20);
    let first = passkey(&fx, &user, b"credential-one", 10);
    passkeys.create_credential(&second).await.unwrap();
    passkeys.create_credential(&first).await.unwrap();
    assert_eq!(passkeys.list_credentials(organization.id, user.id).await.unwrap(), vec![first.clone(), second.clone()]);
    assert_eq!(passkeys.find_credential(organization.id, b"credential-one").await.unwrap(), Some(first.clone()));
    assert_eq!(passkeys.find_credential(organization.id, b"credential-three").await.unwrap(), None);
    // A credential ID is registered once per organization …
    let colleague = fx.create_user(stores, &organization, "colleague@example.com").await;
    assert_conflict(
        passkeys.create_credential(&passkey(&fx, &colleague, b"credential-one", 30)).await,
        "passkey_credential",
    );
    // … but another organization may hold the same one (one person, two tenants), and neither sees the other's.
    let other = fx.create_organization(stores).await;
    let stranger = fx.create_user(stores, &other, "stranger@example.com").await;
    let theirs = passkey(&fx, &stranger, b"credential-one", 40);
    passkeys.create_credential(&theirs).await.unwrap();
    assert_eq!(passkeys.find_credential(other.id, b"credential-one").await.unwrap(), Some(theirs));
    assert_eq!(passkeys.find_credential(organization.id, b"credential-one").await.unwrap(), Some(first.clone()));
    assert!(passkeys.list_credentials(other.id, user.id).await.unwrap().is_empty());
    assert!(passkeys.find_credential(other.id, b"credential-two").await.unwrap().is_none());
    // The user must exist in the credential's organization.
    let mut misplaced = passkey(&fx, &user, b"credential-four", 50);
    misplaced.organization_id = other.id;
    assert_not_found(passkeys.create_credential(&misplaced).await, "user");
}

pub async fn passkey_use_rename_and_removal_are_scoped(stores: &Stores) {
    let fx = Fixture::new("passkey_use_rename_and_removal_are_scoped");
    let (organization, user) = setup(&fx, stores).await;
    let other = fx.create_organization(stores).await;
    let colleague = fx.create_user(stores, &organization, "colleague@example.com").await;
    let passkeys = &stores.passkeys;
    let credential = passkey(&fx, &user, b"credential", 10);
    passkeys.create_credential(&credential).await.unwrap();
    let updated = json!({"cred": {"cred_id": "AAEC", "counter": 7, "backup_state": true}});
    assert!(!passkeys.record_use(other.id, credential.id, &updated, 7, true, at(60)).await.unwrap());
    assert!(passkeys.record_use(organization.id, credential.id, &updated, 7, true, at(60)).await.unwrap());
    let used = passkeys.find_credential(organization.id, b"credential").await.unwrap().unwrap();
    assert_eq!((used.sign_count, used.backup_state, used.last_used_at), (7, true, Some(at(60))));
    assert_eq!(used.passkey, updated);
    assert_eq!((used.name.clone(), used.backup_eligible, used.created_at), (credential.name.clone(), true, at(10)));
    // The counter is compare-and-swapped: a use that does not advance it (a concurrent assertion that read
    // the same count, or a replayed/cloned authenticator) changes nothing and says so.
    let stale = json!({"cred": {"cred_id": "AAEC", "counter": 6}});
    assert!(!passkeys.record_use(organization.id, credential.id, &stale, 7, false, at(61)).await.unwrap(), "equal");
    assert!(!passkeys.record_use(organization.id, credential.id, &stale, 6, false, at(62)).await.unwrap(), "lower");
    let unchanged = passkeys.find_credential(organization.id, b"credential").await.unwrap().unwrap();
    assert_eq!(unchanged, used, "a refused use leaves the record as it was");
    let advanced = json!({"cred": {"cred_id": "AAEC", "counter": 9}});
    assert!(passkeys.record_use(organization.id, credential.id, &advanced, 9, true, at(63)).await.unwrap());
    // 0: an authenticator without a counter, always accepted (and then any later count is "higher").
    assert!(passkeys.record_use(organization.id, credential.id, &updated, 0, true, at(64)).await.unwrap());
    assert!(passkeys.record_use(organization.id, credential.id, &updated, 0, true, at(65)).await.unwrap());
    let zeroed = passkeys.find_credential(organization.id, b"credential").await.unwrap().unwrap();
    assert_eq!((zeroed.sign_count, zeroed.last_used_at), (0, Some(at(65))));
    assert!(passkeys.record_use(organization.id, credential.id, &updated, 7, true, at(66)).await.unwrap());
    // Rename and delete only by the owner, in the owner's organization.
    let name = PasskeyName::parse("Security key").unwrap();
    assert!(!passkeys.rename_credential(organization.id, colleague.id, credential.id, &name).await.unwrap());
    assert!(!passkeys.rename_credential(other.id, user.id, credential.id, &name).await.unwrap());
    assert!(passkeys.rename_credential(organization.id, user.id, credential.id, &name).await.unwrap());
    let listed = passkeys.list_credentials(organization.id, user.id).await.unwrap();
    assert_eq!(listed.iter().map(|passkey| passkey.name.as_str()).collect::<Vec<_>>(), ["Security key"]);
    assert!(!passkeys.delete_credential(organization.id, colleague.id, credential.id).await.unwrap());
    assert!(!passkeys.delete_credential(other.id, user.id, credential.id).await.unwrap());
    assert!(passkeys.delete_credential(organization.id, user.id, credential.id).await.unwrap());
    assert!(!passkeys.delete_credential(organization.id, user.id, credential.id).await.unwrap(), "gone");
    assert!(passkeys.list_credentials(organization.id, user.id).await.unwrap().is_empty());
    assert!(!passkeys.record_use(organization.id, credential.id, &updated, 8, true, at(70)).await.unwrap());
}

pub async fn passkey_ceremonies_are_single_use_and_expire(stores: &Stores) {
    let fx = Fixture::new("passkey_ceremonies_are_single_use_and_expire");
    let (organization, user) = setup(&fx, stores).await;
    let other = fx.create_organization(stores).await;
    let passkeys = &stores.passkeys;
    let live = ceremony(&fx, &organization, Some(&user), 300);
    passkeys.put_ceremony(&live).await.unwrap();
    assert_conflict(passkeys.put_ceremony(&live).await, "passkey_ceremony");
    // Another organization cannot take it (and does not use it up).
    assert_eq!(passkeys.take_ceremony(other.id, &live.handle_digest, at(20)).await.unwrap(), None);
    assert_eq!(passkeys.take_ceremony(organization.id, &live.handle_digest, at(20)).await.unwrap(), Some(live.clone()));
    assert_eq!(passkeys.take_ceremony(organization.id, &live.handle_digest, at(21)).await.unwrap(), None, "single use");
    // An expired ceremony is not handed out, and is gone afterwards.
    let expiring = ceremony(&fx, &organization, None, 100);
    passkeys.put_ceremony(&expiring).await.unwrap();
    assert_eq!(passkeys.take_ceremony(organization.id, &expiring.handle_digest, at(100)).await.unwrap(), None);
    assert_eq!(passkeys.take_ceremony(organization.id, &expiring.handle_digest, at(50)).await.unwrap(), None);
    // Housekeeping removes expired ones only.
    let old = ceremony(&fx, &organization, None, 100);
    let fresh = ceremony(&fx, &other, None, 1000);
    passkeys.put_ceremony(&old).await.unwrap();
    passkeys.put_ceremony(&fresh).await.unwrap();
    assert_eq!(passkeys.delete_expired_ceremonies(at(500)).await.unwrap(), 1);
    assert_eq!(passkeys.take_ceremony(other.id, &fresh.handle_digest, at(500)).await.unwrap(), Some(fresh));
    // The organization (and the user, when named) must exist.
    let mut orphan = ceremony(&fx, &organization, None, 300);
    orphan.organization_id = fx.id();
    assert_not_found(passkeys.put_ceremony(&orphan).await, "organization");
    let mut misplaced = ceremony(&fx, &other, Some(&user), 300);
    misplaced.organization_id = other.id;
    assert_not_found(passkeys.put_ceremony(&misplaced).await, "user");
}

pub async fn passkeys_are_deleted_with_their_user(stores: &Stores) {
    let fx = Fixture::new("passkeys_are_deleted_with_their_user");
    let (organization, user) = setup(&fx, stores).await;
    let keeper = fx.create_user(stores, &organization, "keeper@example.com").await;
    let passkeys = &stores.passkeys;
    passkeys.create_credential(&passkey(&fx, &user, b"leaving", 10)).await.unwrap();
    let kept = passkey(&fx, &keeper, b"staying", 10);
    passkeys.create_credential(&kept).await.unwrap();
    let pending = ceremony(&fx, &organization, Some(&user), 300);
    passkeys.put_ceremony(&pending).await.unwrap();
    stores.users.delete(organization.id, user.id).await.unwrap();
    assert!(passkeys.list_credentials(organization.id, user.id).await.unwrap().is_empty());
    assert_eq!(passkeys.find_credential(organization.id, b"leaving").await.unwrap(), None);
    assert_eq!(passkeys.take_ceremony(organization.id, &pending.handle_digest, at(20)).await.unwrap(), None);
    assert_eq!(passkeys.list_credentials(organization.id, keeper.id).await.unwrap(), vec![kept]);
}

pub async fn passkey_counter_advances_once_under_concurrency(stores: &Stores) {
    let fx = Fixture::new("passkey_counter_advances_once_under_concurrency");
    let (organization, user) = setup(&fx, stores).await;
    let credential = passkey(&fx, &user, b"contested", 10);
    stores.passkeys.create_credential(&credential).await.unwrap();
    // Eight assertions verified against the same stored counter, all reporting 5: one use is recorded.
    let racers: Vec<_> = (0..8)
        .map(|index| {
            let passkeys = Arc::clone(&stores.passkeys);
            let (organization, id) = (organization.id, credential.id);
            tokio::spawn(async move {
                let record = json!({"cred": {"counter": 5, "racer": index}});
                passkeys.record_use(organization, id, &record, 5, false, at(20)).await.unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for racer in racers {
        winners += usize::from(racer.await.unwrap());
    }
    assert_eq!(winners, 1);
    let stored = stores.passkeys.find_credential(organization.id, b"contested").await.unwrap().unwrap();
    assert_eq!(stored.sign_count, 5);
}

pub async fn passkey_ceremony_is_taken_once_under_concurrency(stores: &Stores) {
    let fx = Fixture::new("passkey_ceremony_is_taken_once_under_concurrency");
    let (organization, user) = setup(&fx, stores).await;
    let contested = ceremony(&fx, &organization, Some(&user), 300);
    stores.passkeys.put_ceremony(&contested).await.unwrap();
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let passkeys = Arc::clone(&stores.passkeys);
            let digest = contested.handle_digest;
            let organization = organization.id;
            tokio::spawn(async move { passkeys.take_ceremony(organization, &digest, at(20)).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for racer in racers {
        winners += usize::from(racer.await.unwrap().is_some());
    }
    assert_eq!(winners, 1);
}
