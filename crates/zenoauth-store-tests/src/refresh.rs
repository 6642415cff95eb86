//! Contracts of [`RefreshTokenStore`](zenoauth_domain::ports::RefreshTokenStore).

use zenoauth_domain::model::{RefreshRotation, RefreshToken, RefreshTokenFamily};
use zenoauth_domain::ports::Stores;

use crate::fixture::{assert_invalid_grant, assert_not_found, at, Fixture};

/// A family and its first token read back equal through `find`.
pub async fn refresh_family_roundtrip(stores: &Stores) {
    let fx = Fixture::new("refresh_family_roundtrip");
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let application = fx.create_application(stores, &organization, "app").await;
    let session = fx.create_session(stores, &user, at(3600)).await;
    let code = fx.create_code(stores, &application, &user, Some(&session), at(600)).await;
    let (family, token) =
        fx.create_family(stores, &application, Some(&user), Some(&session), Some(&code), at(86_400)).await;
    let (machine_family, machine_token) = fx.create_family(stores, &application, None, None, None, at(3600)).await;

    let found = stores.refresh_tokens.find(organization.id, &token.token_digest).await.unwrap();
    assert_eq!(found, Some((token, family)));
    let found = stores.refresh_tokens.find(organization.id, &machine_token.token_digest).await.unwrap();
    assert_eq!(found, Some((machine_token, machine_family)));
    assert_eq!(stores.refresh_tokens.find(organization.id, &fx.digest()).await.unwrap(), None);
}

/// Rotating the current token succeeds; presenting a rotated token again is
/// `ReuseDetected` and revokes the family, after which even its current token
/// is `InvalidGrant`. `find` shows every token whatever its state.
pub async fn refresh_token_rotation_and_reuse_detection(stores: &Stores) {
    let fx = Fixture::new("refresh_token_rotation_and_reuse_detection");
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let application = fx.create_application(stores, &organization, "app").await;
    let (family, token_a) = fx.create_family(stores, &application, Some(&user), None, None, at(86_400)).await;
    let (token_b, token_c) = (fx.digest(), fx.digest());
    let org = organization.id;

    let rotation = stores.refresh_tokens.rotate(org, &token_a.token_digest, &token_b, at(3610), at(10)).await.unwrap();
    assert_eq!(rotation, RefreshRotation::Rotated(family.clone()));
    let (found_a, _) = stores.refresh_tokens.find(org, &token_a.token_digest).await.unwrap().unwrap();
    assert_eq!(found_a, RefreshToken { rotated_at: Some(at(10)), ..token_a.clone() });
    let expected_b = RefreshToken {
        token_digest: token_b,
        family_id: family.id,
        organization_id: org,
        created_at: at(10),
        expires_at: at(3610),
        rotated_at: None,
    };
    assert_eq!(stores.refresh_tokens.find(org, &token_b).await.unwrap(), Some((expected_b, family.clone())));

    let rotation = stores.refresh_tokens.rotate(org, &token_b, &token_c, at(3620), at(20)).await.unwrap();
    assert_eq!(rotation, RefreshRotation::Rotated(family.clone()));

    let revoked = RefreshTokenFamily { revoked_at: Some(at(30)), ..family.clone() };
    let reuse = stores.refresh_tokens.rotate(org, &token_a.token_digest, &fx.digest(), at(3630), at(30)).await.unwrap();
    assert_eq!(reuse, RefreshRotation::ReuseDetected(revoked.clone()));
    let (_, found_family) = stores.refresh_tokens.find(org, &token_c).await.unwrap().unwrap();
    assert_eq!(found_family, revoked);

    assert_invalid_grant(stores.refresh_tokens.rotate(org, &token_c, &fx.digest(), at(3640), at(40)).await);
    // Still reuse (the first revocation time stays) for any rotated token.
    let reuse = stores.refresh_tokens.rotate(org, &token_b, &fx.digest(), at(3650), at(50)).await.unwrap();
    assert_eq!(reuse, RefreshRotation::ReuseDetected(revoked.clone()));
    let (found_c, found_family) = stores.refresh_tokens.find(org, &token_c).await.unwrap().unwrap();
    assert_eq!(found_c.rotated_at, None);
    assert_eq!(found_family, revoked);
}

/// Of 16 concurrent rotations of one token exactly one is `Rotated`, the
/// others `ReuseDetected`, and the family ends revoked.
pub async fn refresh_token_rotation_is_single_use_under_concurrency(stores: &Stores) {
    const CALLERS: usize = 16;
    let fx = Fixture::new("refresh_token_rotation_is_single_use_under_concurrency");
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let application = fx.create_application(stores, &organization, "app").await;
    let (family, token) = fx.create_family(stores, &application, Some(&user), None, None, at(86_400)).await;

    let successors: Vec<_> = (0..CALLERS).map(|_| fx.digest()).collect();
    let tasks: Vec<_> = successors
        .iter()
        .map(|successor| {
            let stores = stores.clone();
            let (presented, successor, organization) = (token.token_digest, *successor, organization.id);
            tokio::spawn(async move {
                stores.refresh_tokens.rotate(organization, &presented, &successor, at(3600), at(10)).await
            })
        })
        .collect();
    let mut rotated = 0;
    let mut reused = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            RefreshRotation::Rotated(got) => {
                assert_eq!(got.id, family.id);
                rotated += 1;
            }
            RefreshRotation::ReuseDetected(got) => {
                assert_eq!(got.id, family.id);
                assert!(got.revoked_at.is_some(), "reuse must revoke the family");
                reused += 1;
            }
        }
    }
    assert_eq!((rotated, reused), (1, CALLERS - 1));

    let (_, found_family) = stores.refresh_tokens.find(organization.id, &token.token_digest).await.unwrap().unwrap();
    assert_eq!(found_family.revoked_at, Some(at(10)));
    let mut current = Vec::new();
    for successor in &successors {
        if let Some((successor_token, _)) = stores.refresh_tokens.find(organization.id, successor).await.unwrap() {
            current.push(successor_token);
        }
    }
    assert_eq!(current.len(), 1, "exactly one successor token is stored");
    let winner = current[0].token_digest;
    assert_invalid_grant(stores.refresh_tokens.rotate(organization.id, &winner, &fx.digest(), at(3600), at(20)).await);
}

/// Unknown tokens, expired tokens or families (`expires_at <= now`) and
/// revoked families are `InvalidGrant`.
pub async fn refresh_token_unknown_expired_or_revoked_is_invalid_grant(stores: &Stores) {
    let fx = Fixture::new("refresh_token_unknown_expired_or_revoked_is_invalid_grant");
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let application = fx.create_application(stores, &organization, "app").await;
    let org = organization.id;

    assert_invalid_grant(stores.refresh_tokens.rotate(org, &fx.digest(), &fx.digest(), at(900), at(10)).await);

    let (_, expiring) = fx.create_family(stores, &application, Some(&user), None, None, at(1000)).await;
    assert_invalid_grant(
        stores.refresh_tokens.rotate(org, &expiring.token_digest, &fx.digest(), at(2000), at(1000)).await,
    );
    let (_, live) = fx.create_family(stores, &application, Some(&user), None, None, at(1000)).await;
    let just_before = at(1000) - time::Duration::microseconds(1);
    let rotation = stores.refresh_tokens.rotate(org, &live.token_digest, &fx.digest(), at(1000), just_before).await;
    assert!(matches!(rotation, Ok(RefreshRotation::Rotated(_))), "got {rotation:?}");

    // A token that ends before its family.
    let (short_family, short_token) = fx.family(&application, Some(&user), None, None, at(1000));
    let short_token = RefreshToken { expires_at: at(500), ..short_token };
    stores.refresh_tokens.create_family(&short_family, &short_token).await.unwrap();
    assert_invalid_grant(
        stores.refresh_tokens.rotate(org, &short_token.token_digest, &fx.digest(), at(900), at(500)).await,
    );

    let (revoked_family, revoked_token) =
        fx.create_family(stores, &application, Some(&user), None, None, at(1000)).await;
    stores.refresh_tokens.revoke_family(org, revoked_family.id, at(20)).await.unwrap();
    assert_invalid_grant(
        stores.refresh_tokens.rotate(org, &revoked_token.token_digest, &fx.digest(), at(900), at(30)).await,
    );
    let (found_token, found_family) =
        stores.refresh_tokens.find(org, &revoked_token.token_digest).await.unwrap().unwrap();
    assert_eq!(found_token, revoked_token);
    assert_eq!(found_family.revoked_at, Some(at(20)));
}

/// `revoke_family` sets `revoked_at`; an unknown family is `NotFound("refresh_token_family")`.
pub async fn refresh_family_revoke_and_missing_is_not_found(stores: &Stores) {
    let fx = Fixture::new("refresh_family_revoke_and_missing_is_not_found");
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let application = fx.create_application(stores, &organization, "app").await;
    let (family, token) = fx.create_family(stores, &application, Some(&user), None, None, at(1000)).await;
    let (other_family, other_token) = fx.create_family(stores, &application, Some(&user), None, None, at(1000)).await;

    stores.refresh_tokens.revoke_family(organization.id, family.id, at(40)).await.unwrap();
    let found = stores.refresh_tokens.find(organization.id, &token.token_digest).await.unwrap();
    assert_eq!(found, Some((token, RefreshTokenFamily { revoked_at: Some(at(40)), ..family })));
    let found = stores.refresh_tokens.find(organization.id, &other_token.token_digest).await.unwrap();
    assert_eq!(found, Some((other_token, other_family)));
    assert_not_found(
        stores.refresh_tokens.revoke_family(organization.id, fx.id(), at(40)).await,
        "refresh_token_family",
    );
}

/// `revoke_for_code`, `revoke_for_session` and `revoke_for_user` revoke exactly
/// the matching families, count those newly revoked, and keep earlier revocation times.
pub async fn refresh_families_are_revoked_for_code_session_and_user(stores: &Stores) {
    let fx = Fixture::new("refresh_families_are_revoked_for_code_session_and_user");
    let organization = fx.create_organization(stores).await;
    let org = organization.id;
    let alice = fx.create_user(stores, &organization, "alice@example.com").await;
    let bob = fx.create_user(stores, &organization, "bob@example.com").await;
    let application = fx.create_application(stores, &organization, "app").await;
    let alice_session = fx.create_session(stores, &alice, at(3600)).await;
    let alice_other_session = fx.create_session(stores, &alice, at(3600)).await;
    let bob_session = fx.create_session(stores, &bob, at(3600)).await;
    let alice_code = fx.create_code(stores, &application, &alice, Some(&alice_session), at(600)).await;
    let bob_code = fx.create_code(stores, &application, &bob, Some(&bob_session), at(600)).await;
    let end = at(86_400);

    let (_, from_code) =
        fx.create_family(stores, &application, Some(&alice), Some(&alice_session), Some(&alice_code), end).await;
    let (_, from_code_too) = fx.create_family(stores, &application, Some(&alice), None, Some(&alice_code), end).await;
    let (_, from_session) =
        fx.create_family(stores, &application, Some(&alice), Some(&alice_other_session), None, end).await;
    let (_, from_user) = fx.create_family(stores, &application, Some(&alice), None, None, end).await;
    let (_, bobs) = fx.create_family(stores, &application, Some(&bob), Some(&bob_session), Some(&bob_code), end).await;
    let (_, machine) = fx.create_family(stores, &application, None, None, None, end).await;
    let revoked_at = |token: &RefreshToken| {
        let digest = token.token_digest;
        async move {
            let (_, family) = stores.refresh_tokens.find(org, &digest).await.unwrap().unwrap();
            family.revoked_at
        }
    };

    assert_eq!(stores.refresh_tokens.revoke_for_code(org, alice_code.id, at(100)).await.unwrap(), 2);
    assert_eq!(stores.refresh_tokens.revoke_for_code(org, alice_code.id, at(101)).await.unwrap(), 0);
    assert_eq!(revoked_at(&from_code).await, Some(at(100)));
    assert_eq!(revoked_at(&from_code_too).await, Some(at(100)));
    assert_eq!(revoked_at(&from_session).await, None);

    assert_eq!(stores.refresh_tokens.revoke_for_session(org, alice_other_session.id, at(200)).await.unwrap(), 1);
    assert_eq!(stores.refresh_tokens.revoke_for_session(org, alice_session.id, at(201)).await.unwrap(), 0);
    assert_eq!(stores.refresh_tokens.revoke_for_session(org, alice_other_session.id, at(202)).await.unwrap(), 0);
    assert_eq!(revoked_at(&from_session).await, Some(at(200)));
    assert_eq!(revoked_at(&from_user).await, None);

    assert_eq!(stores.refresh_tokens.revoke_for_user(org, alice.id, at(300)).await.unwrap(), 1);
    assert_eq!(stores.refresh_tokens.revoke_for_user(org, alice.id, at(301)).await.unwrap(), 0);
    assert_eq!(revoked_at(&from_user).await, Some(at(300)));
    assert_eq!(revoked_at(&from_code).await, Some(at(100)));
    assert_eq!(revoked_at(&from_session).await, Some(at(200)));
    assert_eq!(revoked_at(&bobs).await, None);
    assert_eq!(revoked_at(&machine).await, None);

    assert_eq!(stores.refresh_tokens.revoke_for_code(org, bob_code.id, at(400)).await.unwrap(), 1);
    assert_eq!(revoked_at(&bobs).await, Some(at(400)));
    assert_eq!(stores.refresh_tokens.revoke_for_user(org, bob.id, at(401)).await.unwrap(), 0);
    assert_eq!(stores.refresh_tokens.revoke_for_user(org, fx.id(), at(402)).await.unwrap(), 0);
    assert_eq!(revoked_at(&machine).await, None);
}

/// `delete_expired` removes, across organizations, the families (and their
/// tokens) with `expires_at <= now`, and counts the families.
pub async fn refresh_delete_expired_counts_families(stores: &Stores) {
    let fx = Fixture::new("refresh_delete_expired_counts_families");
    let mut kept = Vec::new();
    let mut gone = Vec::new();
    for _ in 0..2 {
        let organization = fx.create_organization(stores).await;
        let user = fx.create_user(stores, &organization, "alice@example.com").await;
        let application = fx.create_application(stores, &organization, "app").await;
        let (_, rotated) = fx.create_family(stores, &application, Some(&user), None, None, at(100)).await;
        let successor = fx.digest();
        stores
            .refresh_tokens
            .rotate(organization.id, &rotated.token_digest, &successor, at(100), at(50))
            .await
            .unwrap();
        gone.push((organization.id, rotated.token_digest));
        gone.push((organization.id, successor));
        let (_, token) = fx.create_family(stores, &application, Some(&user), None, None, at(200)).await;
        gone.push((organization.id, token.token_digest));
        let (_, token) = fx.create_family(stores, &application, None, None, None, at(201)).await;
        kept.push((organization.id, token));
    }

    assert_eq!(stores.refresh_tokens.delete_expired(at(99)).await.unwrap(), 0);
    assert_eq!(stores.refresh_tokens.delete_expired(at(200)).await.unwrap(), 4);
    assert_eq!(stores.refresh_tokens.delete_expired(at(200)).await.unwrap(), 0);
    for (organization, digest) in &gone {
        assert_eq!(stores.refresh_tokens.find(*organization, digest).await.unwrap(), None);
    }
    for (organization, token) in &kept {
        let (found, _) = stores.refresh_tokens.find(*organization, &token.token_digest).await.unwrap().unwrap();
        assert_eq!(&found, token);
    }
}

/// Another organization's refresh tokens are unreachable through every method.
pub async fn tenants_are_isolated_for_refresh_tokens(stores: &Stores) {
    let fx = Fixture::new("tenants_are_isolated_for_refresh_tokens");
    let mine = fx.create_organization(stores).await;
    let theirs = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &theirs, "alice@example.com").await;
    let application = fx.create_application(stores, &theirs, "app").await;
    let session = fx.create_session(stores, &user, at(3600)).await;
    let code = fx.create_code(stores, &application, &user, Some(&session), at(600)).await;
    let (family, token) =
        fx.create_family(stores, &application, Some(&user), Some(&session), Some(&code), at(86_400)).await;
    let digest = token.token_digest;

    assert_eq!(stores.refresh_tokens.find(mine.id, &digest).await.unwrap(), None);
    assert_invalid_grant(stores.refresh_tokens.rotate(mine.id, &digest, &fx.digest(), at(3600), at(10)).await);
    assert_not_found(stores.refresh_tokens.revoke_family(mine.id, family.id, at(10)).await, "refresh_token_family");
    assert_eq!(stores.refresh_tokens.revoke_for_code(mine.id, code.id, at(10)).await.unwrap(), 0);
    assert_eq!(stores.refresh_tokens.revoke_for_session(mine.id, session.id, at(10)).await.unwrap(), 0);
    assert_eq!(stores.refresh_tokens.revoke_for_user(mine.id, user.id, at(10)).await.unwrap(), 0);

    assert_eq!(stores.refresh_tokens.find(theirs.id, &digest).await.unwrap(), Some((token, family.clone())));
    let rotation = stores.refresh_tokens.rotate(theirs.id, &digest, &fx.digest(), at(3600), at(20)).await.unwrap();
    assert_eq!(rotation, RefreshRotation::Rotated(family));
}

/// `revoke_for_user_application` revokes exactly the user's unrevoked
/// families at that application, in that organization, and counts them.
pub async fn refresh_families_are_revoked_for_user_and_application(stores: &Stores) {
    let fx = Fixture::new("refresh_families_are_revoked_for_user_and_application");
    let organization = fx.create_organization(stores).await;
    let org = organization.id;
    let other = fx.create_organization(stores).await;
    let alice = fx.create_user(stores, &organization, "alice@example.com").await;
    let bob = fx.create_user(stores, &organization, "bob@example.com").await;
    let app = fx.create_application(stores, &organization, "app").await;
    let other_app = fx.create_application(stores, &organization, "other-app").await;
    let end = at(86_400);
    let (_, first) = fx.create_family(stores, &app, Some(&alice), None, None, end).await;
    let (_, second) = fx.create_family(stores, &app, Some(&alice), None, None, end).await;
    let (_, elsewhere) = fx.create_family(stores, &other_app, Some(&alice), None, None, end).await;
    let (_, bobs) = fx.create_family(stores, &app, Some(&bob), None, None, end).await;
    let (_, machine) = fx.create_family(stores, &app, None, None, None, end).await;
    let revoked_at = |token: &RefreshToken| {
        let digest = token.token_digest;
        async move {
            let (_, family) = stores.refresh_tokens.find(org, &digest).await.unwrap().unwrap();
            family.revoked_at
        }
    };

    let refresh = &stores.refresh_tokens;
    assert_eq!(refresh.revoke_for_user_application(other.id, alice.id, app.id, at(50)).await.unwrap(), 0);
    assert_eq!(revoked_at(&first).await, None);
    assert_eq!(refresh.revoke_for_user_application(org, alice.id, app.id, at(100)).await.unwrap(), 2);
    assert_eq!(refresh.revoke_for_user_application(org, alice.id, app.id, at(101)).await.unwrap(), 0);
    assert_eq!(revoked_at(&first).await, Some(at(100)));
    assert_eq!(revoked_at(&second).await, Some(at(100)));
    assert_eq!(revoked_at(&elsewhere).await, None);
    assert_eq!(revoked_at(&bobs).await, None);
    assert_eq!(revoked_at(&machine).await, None);
}
