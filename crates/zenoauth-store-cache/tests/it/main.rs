//! Tests of the caching decorators over the memory store: the whole
//! conformance suite through the caches (they must not change what any port
//! answers), what is served from cache and when it stops being served, and
//! the invalidation bus.

// Test helpers outside #[test] functions fail their test by panicking too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bus;
mod conformance;
mod invalidation;
