//! The memory store's integration tests: the whole conformance suite, and the
//! fault switches.

// A test binary: its helpers fail the test by panicking, like `#[test]` code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod conformance;
mod faults;
