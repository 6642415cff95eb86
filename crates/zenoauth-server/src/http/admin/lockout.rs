//! Brute-force lockout administration (issue 5: "admins can unlock"):
//! `/api/v1/organizations/{org_id}/users/{user_id}/lockout` shows a user's
//! failed-login counter and lifts its lock, and
//! `/api/v1/organizations/{org_id}/lockouts/addresses/{address}` lifts a
//! source address's lock (e.g. an office NAT locked by password spraying).
//! The domain's [`LoginLockout`] does the work and audits each lift as
//! `login.unlocked` with the admin as actor.

use std::net::IpAddr;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use zenoauth_domain::security::lockout::LoginLockout;

use super::auth::Admin;
use super::common::{path_id, timestamp};
use super::error::AdminError;
use super::users::find_user;
use crate::http::AppState;

/// The state's lockout administration, built once at first use over its
/// failed-login store, audit pipeline, clock and randomness.
pub fn login_lockout(state: &AppState) -> &LoginLockout {
    state.login_lockout.get_or_init(|| {
        LoginLockout::new(
            state.stores.login_attempts.clone(),
            state.security.audit_sink(),
            state.services.clock.clone(),
            state.services.random.clone(),
        )
    })
}

/// A user's failed-login counter (the account key: their email).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"locked": true, "failures": 5, "locked_until": "2026-01-02T03:19:05Z",
    "last_failed_at": "2026-01-02T03:04:05Z"}))]
pub struct LockoutStatusDto {
    /// Whether password logins of this account are refused now.
    pub locked: bool,
    /// Failures counted in the current window (0 without a counter).
    pub failures: u32,
    /// When the lock ends; `null` when the account was never locked in this window.
    pub locked_until: Option<String>,
    /// The last failure; `null` without a counter.
    pub last_failed_at: Option<String>,
}

/// A user's brute-force lockout: whether the account is locked, until when,
/// and how many failed logins count against it.
#[utoipa::path(get, operation_id = "users_lockout_read", path = "/organizations/{org_id}/users/{user_id}/lockout", tag = "users",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "The account's failed-login counter (zeros and nulls without one)", body = LockoutStatusDto)),
    security(("bearer" = [])))]
pub async fn read(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let (organization, user) = find_user(&state, &admin, &org_id, &user_id).await?;
    let attempts = login_lockout(&state).account_status(organization.id, &user.email).await?;
    let now = state.services.clock.now();
    let status = match attempts {
        Some(attempts) => LockoutStatusDto {
            locked: attempts.is_locked_at(now),
            failures: attempts.failures,
            locked_until: attempts.locked_until.map(timestamp),
            last_failed_at: Some(timestamp(attempts.last_failed_at)),
        },
        None => LockoutStatusDto { locked: false, failures: 0, locked_until: None, last_failed_at: None },
    };
    Ok(axum::Json(status).into_response())
}

/// Unlock a user: lifts the account's lock and forgets its failed logins.
/// Audited as `login.unlocked` (subject `account:{email}`). Idempotent.
#[utoipa::path(delete, operation_id = "users_lockout_unlock", path = "/organizations/{org_id}/users/{user_id}/lockout", tag = "users",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 204, description = "The account is not locked and has no failures counted")),
    security(("bearer" = [])))]
pub async fn unlock_user(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let (organization, user) = find_user(&state, &admin, &org_id, &user_id).await?;
    login_lockout(&state).unlock_account(organization.id, &user.email, &admin.actor()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Unlock a source address: lifts its lock and forgets its failed logins
/// (an address locks when many accounts are guessed from it, e.g. behind a
/// shared NAT). The address is IPv4 or IPv6 text; an IPv4-mapped IPv6
/// address is its IPv4 address, as the login path counts it. Audited as
/// `login.unlocked` (subject `ip:{address}`). Idempotent.
#[utoipa::path(delete, operation_id = "lockouts_unlock_address", path = "/organizations/{org_id}/lockouts/addresses/{address}", tag = "users",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"),
        ("address" = String, Path, description = "An IPv4 or IPv6 address, e.g. `192.0.2.7` or `2001:db8::7`")),
    responses((status = 204, description = "The address is not locked and has no failures counted")),
    security(("bearer" = [])))]
pub async fn unlock_address(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, address)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let organization = admin.organization(&state, path_id(&org_id)?).await?;
    let address = parse_address(&address)?;
    login_lockout(&state).unlock_address(organization.id, &address, &admin.actor()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The address as the login path keys it: parsed, canonical (IPv4-mapped
/// IPv6 becomes IPv4), in the standard text form.
fn parse_address(text: &str) -> Result<String, AdminError> {
    text.parse::<IpAddr>()
        .map(|address| address.to_canonical().to_string())
        .map_err(|_| AdminError::validation("address must be an IPv4 or IPv6 address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_keyed_as_the_login_path_keys_them() {
        assert_eq!(parse_address("192.0.2.7").unwrap(), "192.0.2.7");
        assert_eq!(parse_address("::ffff:192.0.2.7").unwrap(), "192.0.2.7");
        assert_eq!(parse_address("2001:DB8:0:0::7").unwrap(), "2001:db8::7");
        for bad in ["", "not-an-ip", "192.0.2.256", "192.0.2.7/24", " 192.0.2.7"] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }
}
