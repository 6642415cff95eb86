//! The domain's one error enum. Adapters translate their own errors into it;
//! the server translates it into HTTP. It never carries text meant for clients.

use std::error::Error as StdError;

/// Why a domain operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not exist (or belongs to another organization, which is
    /// indistinguishable on purpose).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule was broken; the payload names the rule, e.g. `user_email`.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Input failed validation; the payload says which rule, safe to show.
    #[error("invalid input: {0}")]
    InvalidInput(#[from] ValidationError),
    /// An authorization grant (code, refresh token) is expired, used or revoked.
    #[error("invalid grant")]
    InvalidGrant,
    /// Credentials were missing or wrong.
    #[error("unauthorized")]
    Unauthorized,
    /// A conditional write found the object changed since it was read (its
    /// `updated_at` no longer equals the expected one): a lost update refused.
    #[error("precondition failed")]
    PreconditionFailed,
    /// A dependency (database, hasher pool) could not serve the request.
    #[error("unavailable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
}

impl Error {
    /// Wraps an infrastructure failure.
    pub fn unavailable(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Unavailable(source.into())
    }
}

/// A value object refused its input. The message is written for API clients:
/// it names the rule, never echoes secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    pub field: &'static str,
    pub reason: &'static str,
}

impl ValidationError {
    pub const fn new(field: &'static str, reason: &'static str) -> Self {
        Self { field, reason }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
