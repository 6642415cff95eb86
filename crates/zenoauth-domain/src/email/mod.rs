//! Email flows (issue 5): the durable outbox of messages to send
//! ([`OutboxMessage`], retried with [`Backoff`]), and the single-use account
//! links mailed to users — email verification, password reset and
//! invitation ([`AccountToken`]) — with the use case that issues and redeems
//! them and changes a password ([`AccountLinks`]).
//!
//! A link's token is stored only as a digest, expires soon, is consumed by
//! its first use, and carries a stamp of the user's password hash at issue:
//! once the password changes (by any path: reset, admin API, CLI), every
//! older link stops working.

mod links;
mod outbox;

pub use links::{AccountLinks, AccountLinksPorts, LinkError, PasswordChange};
pub use outbox::{Backoff, OutboxMessage, OutboxState};

use time::OffsetDateTime;

use crate::ids::{OrganizationId, UserId};
use crate::values::{Email, SecretDigest};

/// What an account link lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountTokenPurpose {
    /// Confirms that the user receives mail at `email`.
    VerifyEmail,
    /// Sets a new password for a user who forgot theirs.
    ResetPassword,
    /// Sets the first password of an invited user (and verifies the email).
    Invitation,
}

impl AccountTokenPurpose {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::Invitation => "invitation",
        }
    }

    pub fn parse(text: &str) -> Result<Self, crate::ValidationError> {
        match text {
            "verify_email" => Ok(Self::VerifyEmail),
            "reset_password" => Ok(Self::ResetPassword),
            "invitation" => Ok(Self::Invitation),
            _ => Err(crate::ValidationError::new("purpose", "must be verify_email, reset_password or invitation")),
        }
    }
}

/// An issued account link, by the digest of its token.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountToken {
    pub token_digest: SecretDigest,
    pub organization_id: OrganizationId,
    pub user_id: UserId,
    pub purpose: AccountTokenPurpose,
    /// The address the link was sent to; it must still be the user's.
    pub email: Email,
    /// Digest of the user's password hash when the link was issued (`None`:
    /// no password); a different current hash means the password changed.
    pub password_stamp: Option<SecretDigest>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}
