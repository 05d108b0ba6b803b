//! The clock spans are timed with.
//!
//! Readings come from the CPU's time-stamp counter through `quanta`,
//! calibrated once against the OS monotonic clock (quanta falls back to the
//! OS clock where the counter is not invariant). Wall-clock start times are
//! derived from one anchor taken when the clock is first used, so a span
//! reads the counter exactly twice (open and close) and never the wall clock.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

struct Anchor {
    clock: quanta::Clock,
    raw: u64,
    unix_nanos: u64,
}

static ANCHOR: OnceLock<Anchor> = OnceLock::new();

fn anchor() -> &'static Anchor {
    ANCHOR.get_or_init(|| {
        let clock = quanta::Clock::new();
        let raw = clock.raw();
        let unix_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Anchor { clock, raw, unix_nanos }
    })
}

/// A raw monotonic reading, converted to nanoseconds only when a span is
/// finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timestamp(u64);

impl Timestamp {
    /// Reads the clock.
    #[inline]
    pub(crate) fn now() -> Self {
        Self(anchor().clock.raw())
    }

    /// The reading as nanoseconds since the Unix epoch.
    pub(crate) fn unix_nanos(self) -> u64 {
        let anchor = anchor();
        anchor.unix_nanos.saturating_add(anchor.clock.delta_as_nanos(anchor.raw, self.0))
    }

    /// Nanoseconds from `earlier` to `self`, zero if `earlier` is later.
    pub(crate) fn nanos_since(self, earlier: Self) -> u64 {
        anchor().clock.delta_as_nanos(earlier.0, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_monotonic_and_near_wall_time() {
        let first = Timestamp::now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = Timestamp::now();
        assert!(second >= first);
        let elapsed = second.nanos_since(first);
        assert!((1_000_000..1_000_000_000).contains(&elapsed), "{elapsed} ns for a 2 ms sleep");
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        let derived = second.unix_nanos();
        assert!(wall.abs_diff(derived) < 1_000_000_000, "{wall} vs {derived}");
    }
}
