//! Account security (issue 5): the names and shape of audit events the use
//! cases emit through [`crate::ports::AuditSink`], brute-force defence for
//! password logins (failure counters per account and per source address,
//! progressive delay, temporary lockout, unlock), and the per-organization
//! password policy with its built-in list of common passwords.

pub mod audit;
pub mod lockout;
pub mod password_policy;
