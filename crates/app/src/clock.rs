//! The clock port. Use cases never read the system time directly, so tests can
//! stand at 10 minutes and 1 second exactly.

use time::OffsetDateTime;

pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC, to the microsecond (what the store keeps).
    fn now(&self) -> OffsetDateTime;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        truncate_to_micros(OffsetDateTime::now_utc())
    }
}

pub fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}
