//! Translation of sqlx errors into the domain's [`Error`]: named constraints
//! become `Conflict`/`NotFound`, everything else is `Unavailable`.

use sqlx::error::ErrorKind;
use zenoauth_domain::{Error, ValidationError};

/// What a broken constraint means to the domain, by the constraint's name in
/// `migrations/postgres`.
fn constraint_error(constraint: &str) -> Option<Error> {
    let error = match constraint {
        // Uniqueness rules.
        "organizations_slug_key" => Error::Conflict("organization_slug"),
        "organizations_pkey" => Error::Conflict("organization_id"),
        "users_organization_email_key" => Error::Conflict("user_email"),
        "users_pkey" => Error::Conflict("user_id"),
        "applications_organization_client_id_key" => Error::Conflict("application_client_id"),
        "applications_pkey" => Error::Conflict("application_id"),
        "sessions_pkey" => Error::Conflict("session_id"),
        "sessions_token_digest_key" => Error::Conflict("session_token"),
        "authorization_codes_pkey" => Error::Conflict("authorization_code_id"),
        "authorization_codes_code_digest_key" => Error::Conflict("authorization_code"),
        "refresh_token_families_pkey" => Error::Conflict("refresh_token_family_id"),
        "refresh_tokens_pkey" => Error::Conflict("refresh_token"),
        "signing_keys_pkey" => Error::Conflict("signing_key_id"),
        "audit_events_pkey" => Error::Conflict("audit_event_id"),
        "mail_outbox_pkey" => Error::Conflict("outbox_message_id"),
        "account_tokens_pkey" => Error::Conflict("account_token"),
        "mail_outbox_organization_fkey" | "account_tokens_organization_fkey" => Error::NotFound("organization"),
        "account_tokens_user_fkey" => Error::NotFound("user"),
        // Missing parents on insert (a parent in another organization is missing too).
        "users_organization_fkey"
        | "applications_organization_fkey"
        | "sessions_organization_fkey"
        | "authorization_codes_organization_fkey"
        | "refresh_token_families_organization_fkey"
        | "refresh_tokens_organization_fkey"
        | "revocations_organization_fkey"
        | "signing_keys_organization_fkey"
        | "audit_events_organization_fkey" => Error::NotFound("organization"),
        "sessions_user_fkey" | "authorization_codes_user_fkey" | "refresh_token_families_user_fkey" => {
            Error::NotFound("user")
        }
        "authorization_codes_application_fkey" | "refresh_token_families_application_fkey" => {
            Error::NotFound("application")
        }
        "authorization_codes_session_fkey" | "refresh_token_families_session_fkey" => Error::NotFound("session"),
        "refresh_token_families_authorization_code_fkey" => Error::NotFound("authorization_code"),
        "refresh_tokens_family_fkey" => Error::NotFound("refresh_token_family"),
        _ => return None,
    };
    Some(error)
}

/// Maps a sqlx error from any store statement.
pub(crate) fn db_error(error: sqlx::Error) -> Error {
    if let sqlx::Error::Database(database_error) = &error {
        if matches!(database_error.kind(), ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation) {
            if let Some(mapped) = database_error.constraint().and_then(constraint_error) {
                return mapped;
            }
        }
    }
    Error::unavailable(error)
}

/// A stored value that the domain no longer accepts: the row is corrupt.
#[derive(Debug, thiserror::Error)]
#[error("corrupt row: {table}.{column}: {reason}")]
pub(crate) struct CorruptRow {
    table: &'static str,
    column: &'static str,
    reason: String,
}

pub(crate) fn corrupt(table: &'static str, column: &'static str, reason: impl ToString) -> Error {
    Error::unavailable(CorruptRow { table, column, reason: reason.to_string() })
}

/// Turns a value object's refusal of a stored value into a corrupt-row error.
pub(crate) trait OrCorrupt<T> {
    fn or_corrupt(self, table: &'static str, column: &'static str) -> Result<T, Error>;
}

impl<T> OrCorrupt<T> for Result<T, ValidationError> {
    fn or_corrupt(self, table: &'static str, column: &'static str) -> Result<T, Error> {
        self.map_err(|reason| corrupt(table, column, reason))
    }
}
