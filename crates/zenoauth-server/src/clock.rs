//! The wall clock: the one place in ZenoAuth that reads it.

use time::OffsetDateTime;
use zenoauth_domain::ports::Clock;

/// The [`Clock`] port over the operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The clippy.toml ban exists so that everything else reads time through
    // this port; this is the port's production implementation.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
