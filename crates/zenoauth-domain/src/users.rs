//! Changes to a user that every caller (admin API, CLI, email links, login)
//! makes the same way: versions that always move forward, conditional
//! writes that never undo a concurrent change, and setting a password on
//! someone's behalf (policy checked, sessions and refresh tokens ended).

use time::OffsetDateTime;

use crate::error::{Error, Result, ValidationError};
use crate::model::{Organization, User};
use crate::ports::{Clock, PasswordHasher, Stores, UserRepository};
use crate::security::password_policy::PasswordPolicy;
use crate::values::{Email, Password};

/// How many times a change re-reads and re-applies itself after losing a
/// race to a concurrent write before `PreconditionFailed` is returned.
pub const CHANGE_ATTEMPTS: usize = 3;

/// The `updated_at` a write stamps on an object last stamped `previous`: `now`,
/// but always at least a microsecond (the stored precision) later than
/// `previous`, so that every write changes the version that conditional
/// updates (`update_if_unchanged`) compare, even when the clock stands still
/// or steps back. Truncated to whole microseconds.
pub fn next_version(previous: OffsetDateTime, now: OffsetDateTime) -> OffsetDateTime {
    let at_least = previous + time::Duration::MICROSECOND;
    let chosen = if now < at_least { at_least } else { now };
    let excess = i128::from(chosen.nanosecond() % 1_000);
    OffsetDateTime::from_unix_timestamp_nanos(chosen.unix_timestamp_nanos() - excess).unwrap_or(chosen)
}

/// Applies `change` to `user` (as read) and writes it only if the stored row
/// is still the one read; on a lost race the user is read again and the
/// change re-applied, up to [`CHANGE_ATTEMPTS`] times. `change` says whether
/// it changed anything (nothing is written when it did not). Returns the
/// user as written (or as read, unchanged) and whether a write happened.
pub async fn change_user(
    users: &dyn UserRepository,
    clock: &dyn Clock,
    mut user: User,
    mut change: impl FnMut(&mut User) -> bool,
) -> Result<(User, bool)> {
    let mut attempt = 1;
    loop {
        if !change(&mut user) {
            return Ok((user, false));
        }
        let read_at = user.updated_at;
        user.updated_at = next_version(read_at, clock.now());
        match users.update_if_unchanged(&user, read_at).await {
            Ok(()) => return Ok((user, true)),
            Err(Error::PreconditionFailed) if attempt < CHANGE_ATTEMPTS => {
                attempt += 1;
                user = users.get(user.organization_id, user.id).await?;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Parses `password` and checks it against the organization's policy for
/// the user with `email`: the error names the broken rule.
pub fn acceptable_password(
    organization: &Organization,
    password: &str,
    email: &Email,
) -> Result<Password, ValidationError> {
    let password = Password::parse(password)?;
    PasswordPolicy::from_organization(organization)?.check(&password, email)?;
    Ok(password)
}

/// What setting a password on a user's behalf did.
#[derive(Debug, Clone, PartialEq)]
pub struct PasswordSet {
    pub user: User,
    /// Sessions ended (every session of the user).
    pub sessions_ended: u64,
}

/// An administrator sets (or resets) `user`'s password: the policy is
/// checked (`InvalidInput` naming the rule), the password stored without
/// undoing a concurrent change, and — as after a reset link — every session
/// and refresh-token family of the user ended.
pub async fn set_password(
    stores: &Stores,
    hasher: &dyn PasswordHasher,
    clock: &dyn Clock,
    organization: &Organization,
    user: User,
    password: &str,
) -> Result<PasswordSet> {
    let password = acceptable_password(organization, password, &user.email)?;
    let hash = hasher.hash(&password).await?;
    let (user, _) = change_user(stores.users.as_ref(), clock, user, |user| {
        user.password_hash = Some(hash.clone());
        true
    })
    .await?;
    let now = clock.now();
    stores.refresh_tokens.revoke_for_user(organization.id, user.id, now).await?;
    let sessions_ended = stores.sessions.delete_for_user(organization.id, user.id).await?;
    Ok(PasswordSet { user, sessions_ended })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_version_moves_forward_at_microsecond_precision() {
        let previous = time::macros::datetime!(2026-01-01 00:00:00.000_001 UTC);
        let later = time::macros::datetime!(2026-01-01 00:00:05.123_456_789 UTC);
        assert_eq!(next_version(previous, later), time::macros::datetime!(2026-01-01 00:00:05.123_456 UTC));
        let frozen = next_version(previous, previous);
        assert_eq!(frozen, time::macros::datetime!(2026-01-01 00:00:00.000_002 UTC));
        let back = time::macros::datetime!(2025-12-31 00:00:00 UTC);
        assert_eq!(next_version(previous, back), frozen);
        let same = time::macros::datetime!(2026-01-01 00:00:00.000_001_900 UTC);
        assert_eq!(next_version(previous, same), frozen);
    }
}
