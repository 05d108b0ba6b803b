//! The clock spans are timed with.
//!
//! Where the kernel itself keeps time with the CPU's time-stamp counter (a
//! stable TSC, as `fastant` decides once at start-up, the same way fastrace
//! does), a reading is the raw counter, with no call. Elsewhere readings
//! come from `quanta`: its own TSC reading where the CPU reports an
//! invariant counter, else the OS monotonic clock. Wall-clock start times
//! are derived from one anchor taken when the clock is first converted, so a
//! span reads the clock exactly twice (open and close) and never the wall
//! clock.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// A raw monotonic reading, converted to nanoseconds only when a span is
/// finished. All readings of a process come from the same source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timestamp {
    /// The TSC, through `fastant`.
    Cycles(fastant::Instant),
    /// `quanta`'s reading.
    Other(u64),
}

struct Anchor {
    clock: quanta::Clock,
    raw: u64,
    unix_nanos: u64,
}

static ANCHOR: OnceLock<Anchor> = OnceLock::new();
static CYCLES_ANCHOR: OnceLock<fastant::Anchor> = OnceLock::new();

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

/// Calibrates the clock now rather than on the first span.
pub(crate) fn warm_up() {
    if fastant::is_tsc_available() {
        CYCLES_ANCHOR.get_or_init(fastant::Anchor::new);
    } else {
        anchor();
    }
}

impl Timestamp {
    /// Reads the clock.
    #[inline(always)]
    pub(crate) fn now() -> Self {
        if fastant::is_tsc_available() {
            Self::Cycles(fastant::Instant::now())
        } else {
            Self::other()
        }
    }

    #[inline(never)]
    fn other() -> Self {
        Self::Other(anchor().clock.raw())
    }

    /// The reading as nanoseconds since the Unix epoch.
    pub(crate) fn unix_nanos(self) -> u64 {
        match self {
            Self::Cycles(instant) => {
                instant.as_unix_nanos(CYCLES_ANCHOR.get_or_init(fastant::Anchor::new))
            }
            Self::Other(raw) => {
                let anchor = anchor();
                anchor.unix_nanos.saturating_add(anchor.clock.delta_as_nanos(anchor.raw, raw))
            }
        }
    }

    /// A span's start as nanoseconds since the Unix epoch, and its
    /// duration in nanoseconds (zero if `end` reads earlier than `start`).
    #[inline]
    pub(crate) fn span_times(start: Self, end: Self) -> (u64, u64) {
        match (start, end) {
            (Self::Cycles(start), Self::Cycles(end)) => {
                let anchor = CYCLES_ANCHOR.get_or_init(fastant::Anchor::new);
                let start = start.as_unix_nanos(anchor);
                (start, end.as_unix_nanos(anchor).saturating_sub(start))
            }
            _ => (start.unix_nanos(), end.nanos_since(start)),
        }
    }

    /// Nanoseconds from `earlier` to `self`, zero if `earlier` is later.
    pub(crate) fn nanos_since(self, earlier: Self) -> u64 {
        match (earlier, self) {
            (Self::Cycles(earlier), Self::Cycles(later)) => {
                u64::try_from(later.duration_since(earlier).as_nanos()).unwrap_or(u64::MAX)
            }
            (Self::Other(earlier), Self::Other(later)) => {
                anchor().clock.delta_as_nanos(earlier, later)
            }
            // Never: one process reads one source.
            _ => 0,
        }
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
