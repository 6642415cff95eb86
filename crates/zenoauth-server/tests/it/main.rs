//! The server's integration tests: the real router on an ephemeral port,
//! the real `zenoauth` binary, and checks that committed docs and samples
//! match the code.

// Test helpers outside `#[test]` functions fail loudly too: that is what they are for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin_api;
mod admin_cli;
mod admin_concurrency;
mod admin_isolation;
mod admin_lockout;
mod admin_mfa;
mod admin_offboarding;
mod admin_support;
mod architecture;
mod binary;
mod docs;
mod email_flows;
mod email_outbox;
mod email_support;
mod federation_flow;
mod federation_linking;
mod federation_upstream;
mod http;
mod mfa_passkeys;
mod mfa_totp;
mod oidc_errors;
mod oidc_flow;
mod oidc_keys;
mod oidc_lifecycle;
mod oidc_support;
mod passkey_authenticator;
mod perf_cache;
mod postgres;
mod security_admission;
mod security_audit;
mod security_headers;
mod security_lockout;
mod security_password_policy;
mod security_rate_limit;
mod security_support;
mod security_tls;
mod security_trusted_proxies;
mod support;
