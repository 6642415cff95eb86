//! Contracts of [`AuthorizationCodeStore`](zenoauth_domain::ports::AuthorizationCodeStore).

use zenoauth_domain::model::{AuthorizationCode, CodeRedemption};
use zenoauth_domain::ports::Stores;

use crate::fixture::{assert_invalid_grant, at, Fixture};

/// The first `redeem` gets the whole code, now consumed; every later one is a
/// `Replayed` carrying the code as it was consumed.
pub async fn authorization_code_is_redeemed_once_then_replayed(stores: &Stores) {
    let fx = Fixture::new("authorization_code_is_redeemed_once_then_replayed");
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let application = fx.create_application(stores, &organization, "app").await;
    let session = fx.create_session(stores, &user, at(3600)).await;
    let code = fx.create_code(stores, &application, &user, Some(&session), at(600)).await;
    let bare = AuthorizationCode { nonce: None, session_id: None, ..fx.code(&application, &user, None, at(600)) };
    stores.authorization_codes.create(&bare).await.unwrap();

    let consumed = AuthorizationCode { consumed_at: Some(at(30)), ..code.clone() };
    let redeemed = stores.authorization_codes.redeem(organization.id, &code.code_digest, at(30)).await.unwrap();
    assert_eq!(redeemed, CodeRedemption::Redeemed(consumed.clone()));
    let replayed = stores.authorization_codes.redeem(organization.id, &code.code_digest, at(31)).await.unwrap();
    assert_eq!(replayed, CodeRedemption::Replayed(consumed.clone()));
    let replayed = stores.authorization_codes.redeem(organization.id, &code.code_digest, at(40)).await.unwrap();
    assert_eq!(replayed, CodeRedemption::Replayed(consumed));

    let redeemed = stores.authorization_codes.redeem(organization.id, &bare.code_digest, at(45)).await.unwrap();
    assert_eq!(redeemed, CodeRedemption::Redeemed(AuthorizationCode { consumed_at: Some(at(45)), ..bare }));
}

/// Unknown codes, and codes at or after `expires_at`, are `InvalidGrant`.
pub async fn authorization_code_unknown_or_expired_is_invalid_grant(stores: &Stores) {
    let fx = Fixture::new("authorization_code_unknown_or_expired_is_invalid_grant");
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let application = fx.create_application(stores, &organization, "app").await;
    let expired = fx.create_code(stores, &application, &user, None, at(600)).await;
    let fresh = fx.create_code(stores, &application, &user, None, at(600)).await;

    assert_invalid_grant(stores.authorization_codes.redeem(organization.id, &fx.digest(), at(30)).await);
    assert_invalid_grant(stores.authorization_codes.redeem(organization.id, &expired.code_digest, at(600)).await);
    assert_invalid_grant(stores.authorization_codes.redeem(organization.id, &expired.code_digest, at(900)).await);
    let just_before = at(600) - time::Duration::microseconds(1);
    let redeemed = stores.authorization_codes.redeem(organization.id, &fresh.code_digest, just_before).await.unwrap();
    assert!(matches!(redeemed, CodeRedemption::Redeemed(_)), "got {redeemed:?}");
}

/// Of 16 concurrent `redeem` calls on one code exactly one is `Redeemed`.
pub async fn authorization_code_is_single_use_under_concurrency(stores: &Stores) {
    const CALLERS: usize = 16;
    let fx = Fixture::new("authorization_code_is_single_use_under_concurrency");
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let application = fx.create_application(stores, &organization, "app").await;
    let code = fx.create_code(stores, &application, &user, None, at(600)).await;

    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let stores = stores.clone();
            let digest = code.code_digest;
            let organization = organization.id;
            tokio::spawn(async move { stores.authorization_codes.redeem(organization, &digest, at(30)).await })
        })
        .collect();
    let mut redeemed = 0;
    let mut replayed = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            CodeRedemption::Redeemed(got) => {
                assert_eq!(got.id, code.id);
                redeemed += 1;
            }
            CodeRedemption::Replayed(got) => {
                assert_eq!(got.consumed_at, Some(at(30)));
                replayed += 1;
            }
        }
    }
    assert_eq!((redeemed, replayed), (1, CALLERS - 1));
}

/// `delete_expired` removes, across organizations, exactly the codes with
/// `expires_at <= now` (consumed or not), and counts them.
pub async fn authorization_code_delete_expired_counts(stores: &Stores) {
    let fx = Fixture::new("authorization_code_delete_expired_counts");
    let mut kept = Vec::new();
    let mut gone = Vec::new();
    for _ in 0..2 {
        let organization = fx.create_organization(stores).await;
        let user = fx.create_user(stores, &organization, "alice@example.com").await;
        let application = fx.create_application(stores, &organization, "app").await;
        let consumed = fx.create_code(stores, &application, &user, None, at(100)).await;
        stores.authorization_codes.redeem(organization.id, &consumed.code_digest, at(50)).await.unwrap();
        gone.push(consumed);
        gone.push(fx.create_code(stores, &application, &user, None, at(200)).await);
        kept.push(fx.create_code(stores, &application, &user, None, at(201)).await);
    }

    assert_eq!(stores.authorization_codes.delete_expired(at(99)).await.unwrap(), 0);
    assert_eq!(stores.authorization_codes.delete_expired(at(200)).await.unwrap(), 4);
    assert_eq!(stores.authorization_codes.delete_expired(at(200)).await.unwrap(), 0);
    for code in &gone {
        // Gone, not replayed: a replay would have to find the row.
        assert_invalid_grant(stores.authorization_codes.redeem(code.organization_id, &code.code_digest, at(50)).await);
    }
    for code in &kept {
        let redeemed = stores.authorization_codes.redeem(code.organization_id, &code.code_digest, at(60)).await;
        assert!(matches!(redeemed, Ok(CodeRedemption::Redeemed(_))), "got {redeemed:?}");
    }
}

/// Redeeming another organization's code is `InvalidGrant` and does not consume it.
pub async fn tenants_are_isolated_for_authorization_codes(stores: &Stores) {
    let fx = Fixture::new("tenants_are_isolated_for_authorization_codes");
    let mine = fx.create_organization(stores).await;
    let theirs = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &theirs, "alice@example.com").await;
    let application = fx.create_application(stores, &theirs, "app").await;
    let code = fx.create_code(stores, &application, &user, None, at(600)).await;

    assert_invalid_grant(stores.authorization_codes.redeem(mine.id, &code.code_digest, at(30)).await);
    assert_invalid_grant(stores.authorization_codes.redeem(mine.id, &code.code_digest, at(31)).await);
    let redeemed = stores.authorization_codes.redeem(theirs.id, &code.code_digest, at(32)).await.unwrap();
    assert_eq!(redeemed, CodeRedemption::Redeemed(AuthorizationCode { consumed_at: Some(at(32)), ..code.clone() }));
    assert_invalid_grant(stores.authorization_codes.redeem(mine.id, &code.code_digest, at(33)).await);
}

/// `record_access_token` remembers the jti of the access token minted from a
/// code (the last one recorded wins) for `issued_access_token`, within the
/// code's organization only; a missing code is `NotFound("authorization_code")`.
pub async fn authorization_code_remembers_its_access_token(stores: &Stores) {
    let fx = Fixture::new("authorization_code_remembers_its_access_token");
    let organization = fx.create_organization(stores).await;
    let other = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let application = fx.create_application(stores, &organization, "app").await;
    let code = fx.create_code(stores, &application, &user, None, at(600)).await;
    let silent = fx.create_code(stores, &application, &user, None, at(600)).await;
    let codes = &stores.authorization_codes;

    assert_eq!(codes.issued_access_token(organization.id, code.id).await.unwrap(), None);
    codes.redeem(organization.id, &code.code_digest, at(30)).await.unwrap();
    codes.record_access_token(organization.id, code.id, "jti-1", at(930)).await.unwrap();
    assert_eq!(codes.issued_access_token(organization.id, code.id).await.unwrap(), Some(("jti-1".to_owned(), at(930))));
    codes.record_access_token(organization.id, code.id, "jti-2", at(940)).await.unwrap();
    assert_eq!(codes.issued_access_token(organization.id, code.id).await.unwrap(), Some(("jti-2".to_owned(), at(940))));
    assert_eq!(codes.issued_access_token(organization.id, silent.id).await.unwrap(), None);

    // Another organization neither reads nor writes it.
    assert_eq!(codes.issued_access_token(other.id, code.id).await.unwrap(), None);
    let foreign = codes.record_access_token(other.id, code.id, "jti-3", at(950)).await;
    assert!(matches!(foreign, Err(zenoauth_domain::Error::NotFound("authorization_code"))), "{foreign:?}");
    let missing = codes.record_access_token(organization.id, fx.id(), "jti-4", at(950)).await;
    assert!(matches!(missing, Err(zenoauth_domain::Error::NotFound("authorization_code"))), "{missing:?}");
    assert_eq!(codes.issued_access_token(organization.id, code.id).await.unwrap(), Some(("jti-2".to_owned(), at(940))));

    // The record goes with the code.
    assert_eq!(codes.delete_expired(at(600)).await.unwrap(), 2);
    assert_eq!(codes.issued_access_token(organization.id, code.id).await.unwrap(), None);
}
