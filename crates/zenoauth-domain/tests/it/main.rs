//! Use-case tests: the domain's services over the memory store and the real
//! crypto adapters, with a fixed clock.

// Fixture helpers outside #[test] functions unwrap too; clippy.toml only
// exempts the test functions themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bootstrap;
mod oauth;
mod passkeys;
mod security;
mod users;
