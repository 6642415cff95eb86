//! `/api/v1/organizations/{org_id}/users/{user_id}/mfa`: which second
//! factors a user has (never a secret), and the administrator's reset for a
//! user who lost their device. A reset removes every factor and recovery
//! code through the domain's MFA use case, and ends the user's sessions
//! and refresh tokens; with the organization's `mfa_policy` at `required`
//! the user is led to enrol again right after their next password login.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use utoipa::ToSchema;
use zenoauth_domain::mfa::TOTP_STEP_SECONDS;
use zenoauth_domain::model::{Organization, User};

use super::auth::Admin;
use super::common::timestamp;
use super::error::AdminError;
use super::record;
use super::users::find_user;
use crate::http::AppState;

/// The audit event of an administrator's reset (data: `before`, `after`,
/// `sessions_ended`).
pub const MFA_RESET_EVENT: &str = "user.mfa_reset";

/// The kind of a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FactorType {
    /// An authenticator app (RFC 6238 TOTP).
    Totp,
    /// A WebAuthn passkey (one entry per registered passkey).
    Webauthn,
}

/// One second factor of a user. No secret, ever.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"type": "totp", "id": "019375c2-6647-70a1-bd25-09f47117c3f9",
    "created_at": "2026-01-02T03:04:05Z", "confirmed_at": "2026-01-02T03:04:35Z",
    "last_used_at": "2026-01-05T08:00:00Z"}))]
pub struct MfaFactorDto {
    #[serde(rename = "type")]
    pub factor_type: FactorType,
    pub id: uuid::Uuid,
    /// When the enrolment began.
    pub created_at: String,
    /// When the user proved the enrolment with a code (it is a factor from then on).
    pub confirmed_at: String,
    /// Start of the 30-second time step of the last accepted code (the
    /// confirmation counts); `null` when unknown.
    pub last_used_at: Option<String>,
    /// The name the user gave a passkey; `null` for TOTP.
    pub name: Option<String>,
}

/// A user's second factors. Other kinds of factor appear in `factors` as
/// they are added; clients should ignore types they do not know.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"factors": [{"type": "totp", "id": "019375c2-6647-70a1-bd25-09f47117c3f9",
    "created_at": "2026-01-02T03:04:05Z", "confirmed_at": "2026-01-02T03:04:35Z",
    "last_used_at": "2026-01-05T08:00:00Z"}], "recovery_codes_remaining": 9}))]
pub struct MfaStatusDto {
    /// Confirmed factors; an enrolment not yet confirmed is not listed.
    pub factors: Vec<MfaFactorDto>,
    /// Unused recovery codes (the codes themselves are stored only as digests).
    pub recovery_codes_remaining: u32,
}

/// What the user has now, read from the stores.
async fn status(state: &AppState, organization: &Organization, user: &User) -> Result<MfaStatusDto, AdminError> {
    let mut factors = Vec::new();
    let totp = state.stores.mfa.find_totp(organization.id, user.id).await?;
    if let Some((credential, confirmed_at)) = totp.and_then(|totp| totp.confirmed_at.map(|at| (totp, at))) {
        let last_used_at = credential
            .last_used_step
            .and_then(|step| step.checked_mul(TOTP_STEP_SECONDS))
            .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
            .map(timestamp);
        factors.push(MfaFactorDto {
            factor_type: FactorType::Totp,
            id: credential.id,
            created_at: timestamp(credential.created_at),
            confirmed_at: timestamp(confirmed_at),
            last_used_at,
            name: None,
        });
    }
    // Passkeys: registered means proven (the registration ceremony verified the key).
    for passkey in state.stores.passkeys.list_credentials(organization.id, user.id).await? {
        factors.push(MfaFactorDto {
            factor_type: FactorType::Webauthn,
            id: passkey.id,
            created_at: timestamp(passkey.created_at),
            confirmed_at: timestamp(passkey.created_at),
            last_used_at: passkey.last_used_at.map(timestamp),
            name: Some(passkey.name.as_str().to_owned()),
        });
    }
    let recovery_codes_remaining = state.stores.mfa.count_recovery_codes(organization.id, user.id).await?;
    Ok(MfaStatusDto { factors, recovery_codes_remaining })
}

/// A user's second factors and how many recovery codes are left.
#[utoipa::path(get, operation_id = "users_mfa_read", path = "/organizations/{org_id}/users/{user_id}/mfa", tag = "users",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "The user's factors (no secrets)", body = MfaStatusDto)),
    security(("bearer" = [])))]
pub async fn read(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let (organization, user) = find_user(&state, &admin, &org_id, &user_id).await?;
    Ok(axum::Json(status(&state, &organization, &user).await?).into_response())
}

/// Reset a user's two-step verification: every factor and recovery code is
/// removed (an unconfirmed enrolment too), and the user's sessions and
/// refresh tokens end. When the organization requires MFA the user enrols
/// again at their next login. Audited as `user.mfa_reset` with before and
/// after. Idempotent.
#[utoipa::path(delete, operation_id = "users_mfa_reset", path = "/organizations/{org_id}/users/{user_id}/mfa", tag = "users",
    params(("org_id" = uuid::Uuid, Path, description = "The organization's id"), ("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses((status = 204, description = "The user has no factor, no recovery code and no session")),
    security(("bearer" = [])))]
pub async fn reset(
    State(state): State<AppState>,
    admin: Admin,
    Path((org_id, user_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let (organization, user) = find_user(&state, &admin, &org_id, &user_id).await?;
    let before = status(&state, &organization, &user).await?;
    // The domain's removal: TOTP, recovery codes and every other factor kind it knows.
    let removed = crate::http::mfa::multi_factor(&state).remove(organization.id, user.id).await?;
    let now = state.services.clock.now();
    state.stores.refresh_tokens.revoke_for_user(organization.id, user.id, now).await?;
    let sessions_ended = state.stores.sessions.delete_for_user(organization.id, user.id).await?;
    let after = status(&state, &organization, &user).await?;
    if removed || !before.factors.is_empty() || before.recovery_codes_remaining > 0 || sessions_ended > 0 {
        let data = json!({"before": before, "after": after, "sessions_ended": sessions_ended});
        record(&state, &admin, organization.id, MFA_RESET_EVENT, user.id.to_string(), data).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
