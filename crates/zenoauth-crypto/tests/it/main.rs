//! The crate's one integration-test binary.

// Test code: helpers outside `#[test]` functions may unwrap too (clippy.toml
// only exempts the test functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod jws;
mod password;
mod secrets;
