//! The server's integration tests: the real router on an ephemeral port,
//! the real `zenoauth` binary, and checks that committed docs and samples
//! match the code.

// Test helpers outside `#[test]` functions fail loudly too: that is what they are for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod architecture;
mod binary;
mod docs;
mod http;
mod oidc_errors;
mod oidc_flow;
mod oidc_keys;
mod oidc_support;
mod postgres;
mod support;
