//! Contracts of [`RevocationStore`](zenoauth_domain::ports::RevocationStore).

use zenoauth_domain::ports::Stores;

use crate::fixture::{at, Fixture};

/// Revoking twice succeeds; `is_revoked` answers for its own organization only.
pub async fn revocation_is_idempotent_and_scoped_to_its_organization(stores: &Stores) {
    let fx = Fixture::new("revocation_is_idempotent_and_scoped_to_its_organization");
    let mine = fx.create_organization(stores).await;
    let theirs = fx.create_organization(stores).await;

    assert!(!stores.revocations.is_revoked(mine.id, "jti-1").await.unwrap());
    stores.revocations.revoke(&fx.revocation(&mine, "jti-1", at(900))).await.unwrap();
    stores.revocations.revoke(&fx.revocation(&mine, "jti-1", at(900))).await.unwrap();
    assert!(stores.revocations.is_revoked(mine.id, "jti-1").await.unwrap());
    assert!(!stores.revocations.is_revoked(theirs.id, "jti-1").await.unwrap());
    assert!(!stores.revocations.is_revoked(mine.id, "jti-2").await.unwrap());
    assert!(!stores.revocations.is_revoked(mine.id, "JTI-1").await.unwrap());

    stores.revocations.revoke(&fx.revocation(&theirs, "jti-1", at(900))).await.unwrap();
    assert!(stores.revocations.is_revoked(theirs.id, "jti-1").await.unwrap());
}

/// `delete_expired` removes, across organizations, the revocations with
/// `expires_at <= now`, and counts them.
pub async fn revocation_delete_expired_counts(stores: &Stores) {
    let fx = Fixture::new("revocation_delete_expired_counts");
    let mine = fx.create_organization(stores).await;
    let theirs = fx.create_organization(stores).await;
    for organization in [&mine, &theirs] {
        stores.revocations.revoke(&fx.revocation(organization, "early", at(100))).await.unwrap();
        stores.revocations.revoke(&fx.revocation(organization, "edge", at(200))).await.unwrap();
        stores.revocations.revoke(&fx.revocation(organization, "late", at(201))).await.unwrap();
    }

    assert_eq!(stores.revocations.delete_expired(at(99)).await.unwrap(), 0);
    assert_eq!(stores.revocations.delete_expired(at(200)).await.unwrap(), 4);
    assert_eq!(stores.revocations.delete_expired(at(200)).await.unwrap(), 0);
    for organization in [&mine, &theirs] {
        assert!(!stores.revocations.is_revoked(organization.id, "early").await.unwrap());
        assert!(!stores.revocations.is_revoked(organization.id, "edge").await.unwrap());
        assert!(stores.revocations.is_revoked(organization.id, "late").await.unwrap());
    }
}
