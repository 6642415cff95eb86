//! Deletes take what the deleted object owns with them, and nothing else.

use zenoauth_domain::model::{Application, SigningAlgorithm, SigningKey};
use zenoauth_domain::model::{AuthorizationCode, CodeRedemption, Organization, RefreshToken, Session, User};
use zenoauth_domain::ports::{AuditQuery, Stores, UserQuery};

use crate::fixture::{assert_invalid_grant, assert_not_found, at, first, Fixture};

/// One organization populated through every store.
struct Tenant {
    organization: Organization,
    user: User,
    application: Application,
    session: Session,
    code: AuthorizationCode,
    token: RefreshToken,
    key: SigningKey,
}

async fn populate(fx: &Fixture, stores: &Stores) -> Tenant {
    let organization = fx.create_organization(stores).await;
    let user = fx.create_user(stores, &organization, "alice@example.com").await;
    let application = fx.create_application(stores, &organization, "app").await;
    let session = fx.create_session(stores, &user, at(3600)).await;
    let code = fx.create_code(stores, &application, &user, Some(&session), at(600)).await;
    let (_, token) = fx.create_family(stores, &application, Some(&user), Some(&session), Some(&code), at(86_400)).await;
    let key = fx.create_signing_key(stores, &organization, SigningAlgorithm::EdDsa, at(10)).await;
    stores.revocations.revoke(&fx.revocation(&organization, "jti-1", at(900))).await.unwrap();
    stores.audit.append(&[fx.audit_event(&organization, "user.created", at(10))]).await.unwrap();
    Tenant { organization, user, application, session, code, token, key }
}

/// Asserts everything of `tenant` is still there, unchanged and usable.
async fn assert_intact(stores: &Stores, tenant: &Tenant) {
    let org = tenant.organization.id;
    assert_eq!(stores.organizations.get(org).await.unwrap(), tenant.organization);
    assert_eq!(stores.users.get(org, tenant.user.id).await.unwrap(), tenant.user);
    assert_eq!(stores.applications.get(org, tenant.application.id).await.unwrap(), tenant.application);
    assert_eq!(stores.sessions.get(org, tenant.session.id).await.unwrap(), tenant.session);
    let found = stores.refresh_tokens.find(org, &tenant.token.token_digest).await.unwrap();
    assert_eq!(found.map(|(token, _)| token), Some(tenant.token.clone()));
    assert_eq!(stores.signing_keys.list(org).await.unwrap(), vec![tenant.key.clone()]);
    assert!(stores.revocations.is_revoked(org, "jti-1").await.unwrap());
    assert_eq!(stores.audit.list(org, &AuditQuery::default(), &first(10)).await.unwrap().len(), 1);
    let redeemed = stores.authorization_codes.redeem(org, &tenant.code.code_digest, at(30)).await.unwrap();
    assert!(matches!(redeemed, CodeRedemption::Redeemed(_)), "got {redeemed:?}");
}

/// Deleting an organization removes its users, applications, sessions, codes,
/// refresh families, signing keys, revocations and audit events.
pub async fn deleting_an_organization_removes_everything_it_owns(stores: &Stores) {
    let fx = Fixture::new("deleting_an_organization_removes_everything_it_owns");
    let doomed = populate(&fx, stores).await;
    let survivor = populate(&fx, stores).await;
    let org = doomed.organization.id;

    stores.organizations.delete(org).await.unwrap();

    assert_not_found(stores.organizations.get(org).await, "organization");
    assert_not_found(stores.users.get(org, doomed.user.id).await, "user");
    assert_eq!(stores.users.find_by_email(org, &doomed.user.email).await.unwrap(), None);
    assert!(stores.users.list(org, &UserQuery::default(), &first(10)).await.unwrap().is_empty());
    assert_not_found(stores.applications.get(org, doomed.application.id).await, "application");
    assert!(stores.applications.list(org, &first(10)).await.unwrap().is_empty());
    assert_not_found(stores.sessions.get(org, doomed.session.id).await, "session");
    assert_invalid_grant(stores.authorization_codes.redeem(org, &doomed.code.code_digest, at(30)).await);
    assert_eq!(stores.refresh_tokens.find(org, &doomed.token.token_digest).await.unwrap(), None);
    assert!(stores.signing_keys.list(org).await.unwrap().is_empty());
    assert!(!stores.revocations.is_revoked(org, "jti-1").await.unwrap());
    assert!(stores.audit.list(org, &AuditQuery::default(), &first(10)).await.unwrap().is_empty());
    // Nothing was left behind for housekeeping to find.
    assert_eq!(stores.sessions.delete_expired(at(1_000_000)).await.unwrap(), 1);
    assert_eq!(stores.authorization_codes.delete_expired(at(1_000_000)).await.unwrap(), 1);
    assert_eq!(stores.refresh_tokens.delete_expired(at(1_000_000)).await.unwrap(), 1);
    assert_eq!(stores.revocations.delete_expired(at(1_000_000)).await.unwrap(), 1);

    assert_eq!(stores.organizations.get(survivor.organization.id).await.unwrap(), survivor.organization);
    assert_eq!(stores.users.get(survivor.organization.id, survivor.user.id).await.unwrap(), survivor.user);
    assert_eq!(stores.signing_keys.list(survivor.organization.id).await.unwrap(), vec![survivor.key]);
    assert_eq!(stores.audit.list(survivor.organization.id, &AuditQuery::default(), &first(10)).await.unwrap().len(), 1);
}

/// Deleting a user removes their sessions, codes and refresh families, and
/// nothing of other users.
pub async fn deleting_a_user_removes_their_sessions_codes_and_refresh_tokens(stores: &Stores) {
    let fx = Fixture::new("deleting_a_user_removes_their_sessions_codes_and_refresh_tokens");
    let doomed = populate(&fx, stores).await;
    let org = doomed.organization.id;
    let other = fx.create_user(stores, &doomed.organization, "bob@example.com").await;
    let other_session = fx.create_session(stores, &other, at(3600)).await;
    let other_code = fx.create_code(stores, &doomed.application, &other, Some(&other_session), at(600)).await;
    let (_, other_token) =
        fx.create_family(stores, &doomed.application, Some(&other), Some(&other_session), None, at(86_400)).await;
    let (_, machine_token) = fx.create_family(stores, &doomed.application, None, None, None, at(86_400)).await;

    stores.users.delete(org, doomed.user.id).await.unwrap();

    assert_not_found(stores.users.get(org, doomed.user.id).await, "user");
    assert_not_found(stores.sessions.get(org, doomed.session.id).await, "session");
    assert_invalid_grant(stores.authorization_codes.redeem(org, &doomed.code.code_digest, at(30)).await);
    assert_eq!(stores.refresh_tokens.find(org, &doomed.token.token_digest).await.unwrap(), None);

    assert_eq!(stores.users.get(org, other.id).await.unwrap(), other);
    assert_eq!(stores.sessions.get(org, other_session.id).await.unwrap(), other_session);
    let redeemed = stores.authorization_codes.redeem(org, &other_code.code_digest, at(30)).await.unwrap();
    assert!(matches!(redeemed, CodeRedemption::Redeemed(_)), "got {redeemed:?}");
    assert!(stores.refresh_tokens.find(org, &other_token.token_digest).await.unwrap().is_some());
    assert!(stores.refresh_tokens.find(org, &machine_token.token_digest).await.unwrap().is_some());
    assert_eq!(stores.applications.get(org, doomed.application.id).await.unwrap(), doomed.application);
    assert_eq!(stores.signing_keys.list(org).await.unwrap(), vec![doomed.key]);
}

/// Deleting an application removes its codes and refresh families, and
/// nothing of other applications (nor the users' sessions).
pub async fn deleting_an_application_removes_its_codes_and_refresh_tokens(stores: &Stores) {
    let fx = Fixture::new("deleting_an_application_removes_its_codes_and_refresh_tokens");
    let doomed = populate(&fx, stores).await;
    let org = doomed.organization.id;
    let other = fx.create_application(stores, &doomed.organization, "other-app").await;
    let other_code = fx.create_code(stores, &other, &doomed.user, Some(&doomed.session), at(600)).await;
    let (_, other_token) =
        fx.create_family(stores, &other, Some(&doomed.user), Some(&doomed.session), None, at(86_400)).await;
    let (_, machine_token) = fx.create_family(stores, &doomed.application, None, None, None, at(86_400)).await;

    stores.applications.delete(org, doomed.application.id).await.unwrap();

    assert_not_found(stores.applications.get(org, doomed.application.id).await, "application");
    assert_invalid_grant(stores.authorization_codes.redeem(org, &doomed.code.code_digest, at(30)).await);
    assert_eq!(stores.refresh_tokens.find(org, &doomed.token.token_digest).await.unwrap(), None);
    assert_eq!(stores.refresh_tokens.find(org, &machine_token.token_digest).await.unwrap(), None);

    assert_eq!(stores.applications.get(org, other.id).await.unwrap(), other);
    let redeemed = stores.authorization_codes.redeem(org, &other_code.code_digest, at(30)).await.unwrap();
    assert!(matches!(redeemed, CodeRedemption::Redeemed(_)), "got {redeemed:?}");
    assert!(stores.refresh_tokens.find(org, &other_token.token_digest).await.unwrap().is_some());
    assert_eq!(stores.users.get(org, doomed.user.id).await.unwrap(), doomed.user);
    assert_eq!(stores.sessions.get(org, doomed.session.id).await.unwrap(), doomed.session);
}

/// After each cascade the untouched tenant still works end to end.
pub async fn cascades_leave_other_tenants_intact(stores: &Stores) {
    let fx = Fixture::new("cascades_leave_other_tenants_intact");
    let doomed = populate(&fx, stores).await;
    let survivor = populate(&fx, stores).await;
    let org = doomed.organization.id;
    stores.applications.delete(org, doomed.application.id).await.unwrap();
    stores.users.delete(org, doomed.user.id).await.unwrap();
    stores.organizations.delete(org).await.unwrap();
    assert_intact(stores, &survivor).await;
}
