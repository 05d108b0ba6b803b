//! The clock spans are timed with.
//!
//! Durations come from the monotonic clock; wall-clock start times are
//! derived from one anchor taken when the clock is first used, so each span
//! reads the clock exactly twice (open and close) and never the wall clock.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

struct Anchor {
    instant: Instant,
    unix_nanos: u64,
}

static ANCHOR: OnceLock<Anchor> = OnceLock::new();

fn anchor() -> &'static Anchor {
    ANCHOR.get_or_init(|| Anchor {
        instant: Instant::now(),
        unix_nanos: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
    })
}

/// A monotonic reading, in nanoseconds since the process's clock anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timestamp(u64);

impl Timestamp {
    /// Reads the monotonic clock.
    pub(crate) fn now() -> Self {
        let anchor = anchor();
        let since = anchor.instant.elapsed().as_nanos();
        Self(u64::try_from(since).unwrap_or(u64::MAX))
    }

    /// The reading as nanoseconds since the Unix epoch.
    pub(crate) fn unix_nanos(self) -> u64 {
        anchor().unix_nanos.saturating_add(self.0)
    }

    /// Nanoseconds from `earlier` to `self`, zero if `earlier` is later.
    pub(crate) fn nanos_since(self, earlier: Self) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_monotonic_and_near_wall_time() {
        let first = Timestamp::now();
        let second = Timestamp::now();
        assert!(second >= first);
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        let derived = second.unix_nanos();
        assert!(wall.abs_diff(derived) < 1_000_000_000, "{wall} vs {derived}");
    }
}
