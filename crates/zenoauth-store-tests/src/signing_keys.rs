//! Contracts of [`SigningKeyRepository`](zenoauth_domain::ports::SigningKeyRepository).

use zenoauth_domain::model::{KeyState, SigningAlgorithm, SigningKey};
use zenoauth_domain::ports::Stores;

use crate::fixture::{assert_not_found, at, Fixture};

/// Keys of every algorithm read back equal, listed newest first.
pub async fn signing_key_roundtrip_and_list_newest_first(stores: &Stores) {
    let fx = Fixture::new("signing_key_roundtrip_and_list_newest_first");
    let organization = fx.create_organization(stores).await;
    let eddsa = fx.create_signing_key(stores, &organization, SigningAlgorithm::EdDsa, at(10)).await;
    let es256 = fx.create_signing_key(stores, &organization, SigningAlgorithm::Es256, at(30)).await;
    let rs256 = fx.create_signing_key(stores, &organization, SigningAlgorithm::Rs256, at(20)).await;
    let retired = SigningKey {
        state: KeyState::Retired,
        retired_at: Some(at(40)),
        expires_at: Some(at(5000)),
        ..fx.signing_key(&organization, SigningAlgorithm::EdDsa, at(5))
    };
    stores.signing_keys.create(&retired).await.unwrap();

    let listed = stores.signing_keys.list(organization.id).await.unwrap();
    assert_eq!(listed, vec![es256.clone(), rs256.clone(), eddsa.clone(), retired]);
    assert_eq!(listed[0].encrypted_private_key, es256.encrypted_private_key);
    assert_eq!(listed[0].public_jwk, es256.public_jwk);
    assert_eq!(stores.signing_keys.find_active(organization.id, SigningAlgorithm::Es256).await.unwrap(), Some(es256));
    assert_eq!(stores.signing_keys.find_active(organization.id, SigningAlgorithm::Rs256).await.unwrap(), Some(rs256));
    assert_eq!(stores.signing_keys.find_active(organization.id, SigningAlgorithm::EdDsa).await.unwrap(), Some(eddsa));
}

/// `find_active` is the newest active key of the algorithm, never a retired one.
pub async fn signing_key_find_active_is_newest_active_per_algorithm(stores: &Stores) {
    let fx = Fixture::new("signing_key_find_active_is_newest_active_per_algorithm");
    let organization = fx.create_organization(stores).await;
    let org = organization.id;
    let older = fx.create_signing_key(stores, &organization, SigningAlgorithm::EdDsa, at(10)).await;
    let newer = fx.create_signing_key(stores, &organization, SigningAlgorithm::EdDsa, at(20)).await;
    let rs256 = SigningKey {
        state: KeyState::Retired,
        retired_at: Some(at(40)),
        expires_at: Some(at(5000)),
        ..fx.signing_key(&organization, SigningAlgorithm::Rs256, at(30))
    };
    stores.signing_keys.create(&rs256).await.unwrap();

    assert_eq!(stores.signing_keys.find_active(org, SigningAlgorithm::EdDsa).await.unwrap(), Some(newer.clone()));
    assert_eq!(stores.signing_keys.find_active(org, SigningAlgorithm::Es256).await.unwrap(), None);
    assert_eq!(stores.signing_keys.find_active(org, SigningAlgorithm::Rs256).await.unwrap(), None);

    stores.signing_keys.retire(org, newer.id, at(50), at(3650)).await.unwrap();
    assert_eq!(stores.signing_keys.find_active(org, SigningAlgorithm::EdDsa).await.unwrap(), Some(older.clone()));
    stores.signing_keys.retire(org, older.id, at(60), at(3660)).await.unwrap();
    assert_eq!(stores.signing_keys.find_active(org, SigningAlgorithm::EdDsa).await.unwrap(), None);
}

/// A retired key stops signing but stays listed until `delete_expired` passes
/// its `expires_at`; active keys are never deleted by housekeeping.
pub async fn signing_key_retired_stays_published_until_expired(stores: &Stores) {
    let fx = Fixture::new("signing_key_retired_stays_published_until_expired");
    let organization = fx.create_organization(stores).await;
    let other_organization = fx.create_organization(stores).await;
    let org = organization.id;
    let old = fx.create_signing_key(stores, &organization, SigningAlgorithm::EdDsa, at(10)).await;
    let current = fx.create_signing_key(stores, &organization, SigningAlgorithm::EdDsa, at(20)).await;
    let elsewhere = fx.create_signing_key(stores, &other_organization, SigningAlgorithm::EdDsa, at(15)).await;

    stores.signing_keys.retire(org, old.id, at(100), at(200)).await.unwrap();
    let retired =
        SigningKey { state: KeyState::Retired, retired_at: Some(at(100)), expires_at: Some(at(200)), ..old.clone() };
    assert_eq!(stores.signing_keys.list(org).await.unwrap(), vec![current.clone(), retired]);

    assert_eq!(stores.signing_keys.delete_expired(at(199)).await.unwrap(), 0);
    assert_eq!(stores.signing_keys.list(org).await.unwrap().len(), 2);
    assert_eq!(stores.signing_keys.delete_expired(at(200)).await.unwrap(), 1);
    assert_eq!(stores.signing_keys.list(org).await.unwrap(), vec![current.clone()]);
    assert_eq!(stores.signing_keys.delete_expired(at(1_000_000)).await.unwrap(), 0);
    assert_eq!(stores.signing_keys.list(org).await.unwrap(), vec![current]);
    assert_eq!(stores.signing_keys.list(other_organization.id).await.unwrap(), vec![elsewhere]);
}

/// Retiring an unknown key is `NotFound("signing_key")`.
pub async fn signing_key_retire_of_missing_is_not_found(stores: &Stores) {
    let fx = Fixture::new("signing_key_retire_of_missing_is_not_found");
    let organization = fx.create_organization(stores).await;
    assert_not_found(stores.signing_keys.retire(organization.id, fx.id(), at(1), at(2)).await, "signing_key");
}

/// Another organization's keys are unreachable through every method.
pub async fn tenants_are_isolated_for_signing_keys(stores: &Stores) {
    let fx = Fixture::new("tenants_are_isolated_for_signing_keys");
    let mine = fx.create_organization(stores).await;
    let theirs = fx.create_organization(stores).await;
    let own = fx.create_signing_key(stores, &mine, SigningAlgorithm::EdDsa, at(10)).await;
    let foreign = fx.create_signing_key(stores, &theirs, SigningAlgorithm::Es256, at(20)).await;

    assert_eq!(stores.signing_keys.list(mine.id).await.unwrap(), vec![own.clone()]);
    assert_eq!(stores.signing_keys.find_active(mine.id, SigningAlgorithm::Es256).await.unwrap(), None);
    assert_not_found(stores.signing_keys.retire(mine.id, foreign.id, at(30), at(40)).await, "signing_key");
    assert_eq!(stores.signing_keys.list(theirs.id).await.unwrap(), vec![foreign.clone()]);
    assert_eq!(stores.signing_keys.find_active(theirs.id, SigningAlgorithm::Es256).await.unwrap(), Some(foreign));
    assert_eq!(stores.signing_keys.find_active(mine.id, SigningAlgorithm::EdDsa).await.unwrap(), Some(own));
}

/// A pending key is listed (published) but never found active until
/// `activate`; activating is idempotent, and a retired, missing or foreign
/// key cannot be activated. A pending key can be retired without signing.
pub async fn signing_key_pending_is_published_but_signs_only_once_activated(stores: &Stores) {
    let fx = Fixture::new("signing_key_pending_is_published_but_signs_only_once_activated");
    let organization = fx.create_organization(stores).await;
    let other_organization = fx.create_organization(stores).await;
    let org = organization.id;
    let current = fx.create_signing_key(stores, &organization, SigningAlgorithm::EdDsa, at(10)).await;
    let pending =
        SigningKey { state: KeyState::Pending, ..fx.signing_key(&organization, SigningAlgorithm::EdDsa, at(20)) };
    stores.signing_keys.create(&pending).await.unwrap();

    assert_eq!(stores.signing_keys.list(org).await.unwrap(), vec![pending.clone(), current.clone()]);
    assert_eq!(stores.signing_keys.find_active(org, SigningAlgorithm::EdDsa).await.unwrap(), Some(current.clone()));
    assert_not_found(stores.signing_keys.activate(other_organization.id, pending.id).await, "signing_key");
    assert_not_found(stores.signing_keys.activate(org, fx.id()).await, "signing_key");
    assert_eq!(stores.signing_keys.find_active(org, SigningAlgorithm::EdDsa).await.unwrap(), Some(current.clone()));

    stores.signing_keys.activate(org, pending.id).await.unwrap();
    let activated = SigningKey { state: KeyState::Active, ..pending.clone() };
    assert_eq!(stores.signing_keys.find_active(org, SigningAlgorithm::EdDsa).await.unwrap(), Some(activated.clone()));
    stores.signing_keys.activate(org, pending.id).await.unwrap();
    assert_eq!(stores.signing_keys.list(org).await.unwrap(), vec![activated, current.clone()]);

    stores.signing_keys.retire(org, current.id, at(30), at(300)).await.unwrap();
    assert_not_found(stores.signing_keys.activate(org, current.id).await, "signing_key");

    let never_signed =
        SigningKey { state: KeyState::Pending, ..fx.signing_key(&organization, SigningAlgorithm::Es256, at(40)) };
    stores.signing_keys.create(&never_signed).await.unwrap();
    stores.signing_keys.retire(org, never_signed.id, at(50), at(60)).await.unwrap();
    let listed = stores.signing_keys.list(org).await.unwrap();
    let retired = listed.iter().find(|key| key.id == never_signed.id).unwrap();
    assert_eq!(
        (retired.state, retired.retired_at, retired.expires_at),
        (KeyState::Retired, Some(at(50)), Some(at(60)))
    );
    assert_eq!(stores.signing_keys.find_active(org, SigningAlgorithm::Es256).await.unwrap(), None);
    assert_eq!(stores.signing_keys.delete_expired(at(60)).await.unwrap(), 1);
}
