//! The per-organization password policy, applied wherever a password is set
//! (bootstrap, and the admin API's user endpoints): a minimum length, not
//! containing the email's local part, and not among the 30,000 most common
//! passwords. The list ships inside the binary (`common_passwords.txt`, from
//! zxcvbn, MIT — see `common_passwords.LICENSE.txt`) and is checked in
//! memory against a set built once.

use std::collections::HashSet;
use std::sync::OnceLock;

use serde_json::Value as Json;

use crate::error::ValidationError;
use crate::model::Organization;
use crate::values::{Email, Password};

const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// How many passwords the built-in list holds.
pub fn common_password_count() -> usize {
    common_passwords().len()
}

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| COMMON_PASSWORDS.lines().filter(|line| !line.is_empty()).collect())
}

/// Whether `password` (compared in lower case) is on the built-in list.
pub fn is_common(password: &str) -> bool {
    common_passwords().contains(password.to_lowercase().as_str())
}

/// An organization's password rules, with defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// In characters (Unicode scalar values).
    pub min_length: usize,
    /// Refuse passwords containing the email's local part (3+ characters).
    pub forbid_email: bool,
    /// Refuse passwords on the built-in common-password list.
    pub forbid_common: bool,
}

impl Default for PasswordPolicy {
    /// At least 8 characters (NIST SP 800-63B §3.1.1.2), no email, not common.
    fn default() -> Self {
        Self { min_length: 8, forbid_email: true, forbid_common: true }
    }
}

impl PasswordPolicy {
    /// Reads `organization.settings`: `password_min_length` (1–128, default
    /// 8), `password_forbid_email` (default true), `password_forbid_common`
    /// (default true).
    pub fn from_organization(organization: &Organization) -> Result<Self, ValidationError> {
        let settings = &organization.settings;
        let flag = |field: &'static str| match settings.get(field) {
            None | Some(Json::Null) => Ok(true),
            Some(value) => value.as_bool().ok_or(ValidationError::new(field, "must be true or false")),
        };
        let min_length = match settings.get("password_min_length") {
            None | Some(Json::Null) => 8,
            Some(value) => value
                .as_u64()
                .filter(|length| (1..=128).contains(length))
                .and_then(|length| usize::try_from(length).ok())
                .ok_or(ValidationError::new("password_min_length", "must be a whole number from 1 to 128"))?,
        };
        Ok(Self {
            min_length,
            forbid_email: flag("password_forbid_email")?,
            forbid_common: flag("password_forbid_common")?,
        })
    }

    /// Whether `password` may be set for the user with `email`. The error
    /// names the broken rule (safe to show; it never echoes the password).
    pub fn check(&self, password: &Password, email: &Email) -> Result<(), ValidationError> {
        let text = password.expose();
        if text.chars().count() < self.min_length {
            return Err(ValidationError::new("password", "is shorter than the organization's minimum length"));
        }
        let lowered = text.to_lowercase();
        if self.forbid_email {
            let local = email.as_str().split('@').next().unwrap_or_default();
            if local.chars().count() >= 3 && lowered.contains(local) {
                return Err(ValidationError::new("password", "must not contain the email address"));
            }
        }
        if self.forbid_common && common_passwords().contains(lowered.as_str()) {
            return Err(ValidationError::new("password", "is one of the most commonly used passwords"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::lockout::tests::organization;
    use serde_json::json;

    fn check(policy: &PasswordPolicy, password: &str, email: &str) -> Result<(), &'static str> {
        policy.check(&Password::parse(password).unwrap(), &Email::parse(email).unwrap()).map_err(|error| error.reason)
    }

    #[test]
    fn the_built_in_list_has_tens_of_thousands_of_entries() {
        assert_eq!(common_password_count(), 30_000);
        assert!(is_common("password") && is_common("Dragon") && is_common("qwerty123"));
        assert!(!is_common("correct horse battery staple"));
    }

    #[test]
    fn the_default_policy_refuses_short_common_and_email_passwords() {
        let policy = PasswordPolicy::default();
        let email = "alice.liddell@example.com";
        assert!(check(&policy, "short", email).unwrap_err().contains("minimum length"));
        assert!(check(&policy, "xxALICE.LIDDELLxx", email).unwrap_err().contains("email"));
        assert!(check(&policy, "password1234", email).unwrap_err().contains("commonly"));
        assert!(check(&policy, "Baseball", email).unwrap_err().contains("commonly"));
        assert_eq!(check(&policy, "correct horse battery staple", email), Ok(()));
        // Multi-byte characters count as one each.
        assert_eq!(check(&policy, "ğğğğğğğğ", email), Ok(()));
        // A very short local part is not a meaningful match.
        assert_eq!(check(&policy, "tango-al-mango-x", "al@example.com"), Ok(()));
    }

    #[test]
    fn organizations_can_tune_the_policy() {
        let strict = organization(json!({"password_min_length": 20}));
        let policy = PasswordPolicy::from_organization(&strict).unwrap();
        assert!(check(&policy, "correct horse battery", "a@b.example").is_ok());
        assert!(check(&policy, "correct horse batt", "a@b.example").is_err());
        let lax = organization(json!({"password_forbid_common": false, "password_forbid_email": false}));
        let policy = PasswordPolicy::from_organization(&lax).unwrap();
        assert_eq!(check(&policy, "password", "password@example.com"), Ok(()));
        for bad in [json!({"password_min_length": 0}), json!({"password_forbid_common": "no"})] {
            assert!(PasswordPolicy::from_organization(&organization(bad)).is_err());
        }
    }
}
