//! Fault injection: make the next calls fail, every call fail, or every call slow.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use zenoauth_domain::{Error, Result};

/// The error inside the `Error::Unavailable` an injected fault returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InjectedFault;

impl std::fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected fault")
    }
}

impl std::error::Error for InjectedFault {}

/// Switches that make store calls fail or slow, shared by every clone of a
/// [`MemoryDatabase`](crate::MemoryDatabase). A failed call changes nothing.
#[derive(Debug, Default)]
pub struct Faults {
    fail_next: AtomicU64,
    fail_always: AtomicBool,
    latency_micros: AtomicU64,
    calls: AtomicU64,
}

impl Faults {
    /// The next `calls` store calls return `Error::Unavailable` (replacing any
    /// count still pending); `fail_next(0)` cancels.
    pub fn fail_next(&self, calls: u64) {
        self.fail_next.store(calls, Ordering::SeqCst);
    }

    /// While on, every store call returns `Error::Unavailable`.
    pub fn fail_always(&self, on: bool) {
        self.fail_always.store(on, Ordering::SeqCst);
    }

    /// Every store call first awaits `tokio::time::sleep(latency)` (microsecond
    /// resolution); zero turns it off.
    pub fn set_latency(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_micros.store(micros, Ordering::SeqCst);
    }

    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_micros.load(Ordering::SeqCst))
    }

    /// How many store calls were made, failed ones included.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Clears every switch (the call count stays).
    pub fn reset(&self) {
        self.fail_next(0);
        self.fail_always(false);
        self.set_latency(Duration::ZERO);
    }

    /// Runs before every store call: waits, then fails if told to.
    pub(crate) async fn before_call(&self) -> Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let latency = self.latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if self.fail_always.load(Ordering::SeqCst) {
            return Err(Error::unavailable(InjectedFault));
        }
        let pending = self.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1));
        if pending.is_ok() {
            return Err(Error::unavailable(InjectedFault));
        }
        Ok(())
    }
}
