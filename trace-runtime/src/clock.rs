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
//!
//! TSC readings are converted with integers only (see [`CycleScale`]): the
//! export thread converts two readings per span, and `fastant`'s own
//! conversion, in floating point, measured 76 instructions a span.

use std::hash::{Hash, Hasher};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
static CYCLES: OnceLock<CycleClock> = OnceLock::new();

/// How TSC readings become Unix nanoseconds.
enum CycleClock {
    /// In integers (the case wherever `fastant` behaves as expected).
    Scaled(CycleScale),
    /// `fastant`'s own conversion, if its scale could not be recovered.
    Float(fastant::Anchor),
}

fn cycles() -> &'static CycleClock {
    CYCLES.get_or_init(|| match CycleScale::recover() {
        Some(scale) => CycleClock::Scaled(scale),
        None => CycleClock::Float(fastant::Anchor::new()),
    })
}

/// `fastant`'s nanoseconds per cycle as an exact binary fraction,
/// `multiplier / 2^(64 + shift)`, with the Unix time of cycle zero: a
/// reading converts with one multiplication (its high half) and a shift.
///
/// `fastant` keeps its scale as the `f64` `1e9 / cycles_per_second` and
/// rounds `cycles as f64 * scale` down. The integers here are that same
/// `f64` (its 53-bit mantissa and its exponent), and the product is exact,
/// so a result differs from `fastant`'s only where the float product
/// rounds across an integer: by at most a nanosecond while counts stay
/// below 2^53 (a month of cycles at 3 GHz from cycle zero, which `fastant`
/// puts at process start), and by a part in 10^16 beyond.
///
/// The multiplier has its top bit set, so the shift is beyond the low 64
/// bits of the product whenever a cycle is shorter than a nanosecond (a
/// TSC above 1 GHz); slower counters keep `fastant`'s conversion.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CycleScale {
    multiplier: u64,
    /// Applied to the high half of the product.
    shift: u32,
    /// The Unix time of cycle zero, in nanoseconds.
    unix_at_zero: u64,
}

impl CycleScale {
    /// The scale `fastant` uses, read back through its public API, and an
    /// anchor taken now; `None` if the scale cannot be found exactly.
    fn recover() -> Option<Self> {
        if !fastant::is_tsc_available() {
            return None;
        }
        // `Instant::ZERO + nanos` is `(nanos as f64 / scale) as u64` cycles:
        // a second gives the cycles per second within one, and a long probe
        // tells the candidates' scales apart (they differ by a part in a
        // billion), computed exactly as `fastant` computes it.
        let cycles_in = |nanos: u64| {
            fastant::Instant::ZERO.checked_add(Duration::from_nanos(nanos)).map(raw_cycles)
        };
        let per_second = cycles_in(1_000_000_000)?;
        let probe = 1_u64 << 50;
        let observed = cycles_in(probe)?;
        let nanos_per_cycle = (per_second.saturating_sub(1)..=per_second.saturating_add(2))
            .map(|candidate| 1e9 / candidate as f64)
            .find(|&scale| (probe as f64 / scale) as u64 == observed)?;
        let bits = nanos_per_cycle.to_bits();
        let exponent = u32::try_from((bits >> 52) & 0x7ff).ok()?;
        // A normal, positive float: mantissa · 2^(exponent - 1075), that is
        // (mantissa << 11) / 2^(64 + 1022 - exponent).
        let shift = 1022_u32.checked_sub(exponent)?;
        if bits >> 63 != 0 || exponent == 0 || shift >= 64 {
            return None;
        }
        let multiplier = ((bits & ((1 << 52) - 1)) | (1 << 52)) << 11;
        let mut scale = Self { multiplier, shift, unix_at_zero: 0 };
        let unix_now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
        let cycles_now = raw_cycles(fastant::Instant::now());
        scale.unix_at_zero =
            u64::try_from(unix_now.as_nanos()).ok()?.wrapping_sub(scale.nanos(cycles_now));
        // The raw count is read through `fastant`'s `Hash`, not its API: a
        // release that hashed otherwise must fall back, not mistime spans.
        // Both conversions of one reading agree to well within a
        // millisecond (their anchors are two wall-clock readings apart).
        let reading = fastant::Instant::now();
        let theirs = reading.as_unix_nanos(&fastant::Anchor::new());
        if scale.unix_nanos(raw_cycles(reading)).abs_diff(theirs) > 1_000_000 {
            return None;
        }
        Some(scale)
    }

    /// Nanoseconds in `cycles`, rounded down.
    #[inline(always)]
    fn nanos(self, cycles: u64) -> u64 {
        let high = (u128::from(cycles) * u128::from(self.multiplier)) >> 64;
        // The high half of a 64-by-64-bit product fits in 64 bits.
        (high as u64) >> self.shift
    }

    /// The Unix time of a reading, in nanoseconds.
    #[inline(always)]
    fn unix_nanos(self, cycles: u64) -> u64 {
        self.unix_at_zero.wrapping_add(self.nanos(cycles))
    }
}

/// The raw count of a `fastant` reading, which it keeps private: its
/// derived `Hash` writes exactly that `u64`, which this hasher keeps
/// (inlined, a plain move).
#[inline(always)]
fn raw_cycles(instant: fastant::Instant) -> u64 {
    struct Raw(u64);
    impl Hasher for Raw {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            if let Ok(bytes) = bytes.try_into() {
                self.0 = u64::from_ne_bytes(bytes);
            }
        }
        fn write_u64(&mut self, value: u64) {
            self.0 = value;
        }
    }
    let mut raw = Raw(0);
    instant.hash(&mut raw);
    raw.0
}

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
        cycles();
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

    /// The reading as one number ordered as readings are (`Ord`):
    /// compared in two instructions with no branch, where the derived
    /// comparison of the enum branches on both variants.
    #[inline(always)]
    pub(crate) fn order_key(self) -> u128 {
        match self {
            Self::Cycles(instant) => u128::from(raw_cycles(instant)),
            Self::Other(raw) => 1 << 64 | u128::from(raw),
        }
    }

    #[inline(never)]
    fn other() -> Self {
        Self::Other(anchor().clock.raw())
    }

    /// The reading as nanoseconds since the Unix epoch.
    pub(crate) fn unix_nanos(self) -> u64 {
        match self {
            Self::Cycles(instant) => match cycles() {
                CycleClock::Scaled(scale) => scale.unix_nanos(raw_cycles(instant)),
                CycleClock::Float(anchor) => instant.as_unix_nanos(anchor),
            },
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
            (Self::Cycles(start), Self::Cycles(end)) => match cycles() {
                CycleClock::Scaled(scale) => {
                    let (start, end) = (raw_cycles(start), raw_cycles(end));
                    (scale.unix_nanos(start), scale.nanos(end.saturating_sub(start)))
                }
                CycleClock::Float(anchor) => float_span_times(anchor, start, end),
            },
            _ => other_span_times(start, end),
        }
    }

    /// Nanoseconds from `earlier` to `self`, zero if `earlier` is later.
    pub(crate) fn nanos_since(self, earlier: Self) -> u64 {
        match (earlier, self) {
            (Self::Cycles(earlier), Self::Cycles(later)) => match cycles() {
                CycleClock::Scaled(scale) => {
                    scale.nanos(raw_cycles(later).saturating_sub(raw_cycles(earlier)))
                }
                CycleClock::Float(_) => {
                    u64::try_from(later.duration_since(earlier).as_nanos()).unwrap_or(u64::MAX)
                }
            },
            (Self::Other(earlier), Self::Other(later)) => {
                anchor().clock.delta_as_nanos(earlier, later)
            }
            // Never: one process reads one source.
            _ => 0,
        }
    }
}

/// Converts the readings of many spans, the clock's scale looked up once
/// (a batch's worth, on the export thread).
#[derive(Clone, Copy)]
pub(crate) struct SpanClock(Option<CycleScale>);

impl SpanClock {
    /// The clock as it converts now.
    pub(crate) fn get() -> Self {
        if fastant::is_tsc_available()
            && let CycleClock::Scaled(scale) = cycles()
        {
            Self(Some(*scale))
        } else {
            Self(None)
        }
    }

    /// [`Timestamp::span_times`].
    #[inline(always)]
    pub(crate) fn span_times(self, start: Timestamp, end: Timestamp) -> (u64, u64) {
        match (self.0, start, end) {
            (Some(scale), Timestamp::Cycles(start), Timestamp::Cycles(end)) => {
                let (start, end) = (raw_cycles(start), raw_cycles(end));
                (scale.unix_nanos(start), scale.nanos(end.saturating_sub(start)))
            }
            _ => unscaled_span_times(start, end),
        }
    }
}

/// [`Timestamp::span_times`] where the TSC is not converted in integers.
#[inline(never)]
fn unscaled_span_times(start: Timestamp, end: Timestamp) -> (u64, u64) {
    Timestamp::span_times(start, end)
}

/// [`Timestamp::span_times`] in `fastant`'s floating point; kept out of
/// line so the integer path inlines small.
#[cold]
#[inline(never)]
fn float_span_times(
    anchor: &fastant::Anchor,
    start: fastant::Instant,
    end: fastant::Instant,
) -> (u64, u64) {
    let start = start.as_unix_nanos(anchor);
    (start, end.as_unix_nanos(anchor).saturating_sub(start))
}

/// [`Timestamp::span_times`] off the TSC.
#[inline(never)]
fn other_span_times(start: Timestamp, end: Timestamp) -> (u64, u64) {
    (start.unix_nanos(), end.nanos_since(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_keys_are_ordered_as_readings_are() {
        let cycles =
            |secs: u64| fastant::Instant::ZERO.checked_add(Duration::from_secs(secs)).unwrap();
        let readings = [
            Timestamp::Cycles(cycles(0)),
            Timestamp::Cycles(cycles(1)),
            Timestamp::Cycles(cycles(1000)),
            Timestamp::Other(0),
            Timestamp::Other(7),
            Timestamp::Other(u64::MAX),
            Timestamp::now(),
        ];
        for a in readings {
            for b in readings {
                assert_eq!(a.order_key().cmp(&b.order_key()), a.cmp(&b), "{a:?} {b:?}");
            }
        }
    }

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

    #[test]
    fn integer_cycle_conversion_matches_fastants_within_a_nanosecond() {
        if !fastant::is_tsc_available() {
            return;
        }
        let CycleClock::Scaled(scale) = cycles() else {
            panic!("fastant's scale was not recovered");
        };
        let start = fastant::Instant::now();
        let mut nanos = 1_u64;
        // Spans from a nanosecond to 30 days, each length with a few
        // neighbours, read from now and from cycle zero.
        while nanos < 30 * 86_400 * 1_000_000_000 {
            for step in 0..7 {
                let length = Duration::from_nanos(nanos + step * 997);
                for from in [start, fastant::Instant::ZERO] {
                    let end = from.checked_add(length).unwrap();
                    let floated = u64::try_from(end.duration_since(from).as_nanos()).unwrap();
                    let cycles = raw_cycles(end) - raw_cycles(from);
                    let exact = scale.nanos(cycles);
                    assert!(exact.abs_diff(floated) <= 1, "{cycles} cycles: {exact} vs {floated}");
                    let (from, end) = (Timestamp::Cycles(from), Timestamp::Cycles(end));
                    assert_eq!(Timestamp::span_times(from, end).1, exact);
                    assert_eq!(
                        SpanClock::get().span_times(from, end),
                        Timestamp::span_times(from, end)
                    );
                }
            }
            nanos = nanos * 3 + 1;
        }
    }

    #[test]
    fn integer_cycle_conversion_keeps_fastants_wall_time() {
        if !fastant::is_tsc_available() {
            return;
        }
        let now = fastant::Instant::now();
        let floated = now.as_unix_nanos(&fastant::Anchor::new());
        let ours = Timestamp::Cycles(now).unix_nanos();
        // Two anchors read a moment apart: they agree to well within a
        // millisecond.
        assert!(ours.abs_diff(floated) < 1_000_000, "{ours} vs {floated}");
        let (start, duration) =
            Timestamp::span_times(Timestamp::Cycles(now), Timestamp::Cycles(now));
        assert_eq!((start, duration), (ours, 0));
        let earlier = Timestamp::Cycles(fastant::Instant::ZERO);
        assert_eq!(Timestamp::span_times(Timestamp::Cycles(now), earlier).1, 0);
    }

    #[test]
    fn the_raw_count_is_fastants() {
        let second = fastant::Instant::ZERO.checked_add(Duration::from_secs(1)).unwrap();
        assert_eq!(raw_cycles(fastant::Instant::ZERO), 0);
        let cycles = raw_cycles(second);
        let later = second.checked_add(Duration::from_secs(1)).unwrap();
        // The count doubles with the time (within rounding) and is plausible
        // for a clock, between 1 MHz and 100 GHz.
        assert!(raw_cycles(later).abs_diff(2 * cycles) <= 2);
        if fastant::is_tsc_available() {
            assert!((1_000_000..100_000_000_000).contains(&cycles), "{cycles}");
        }
    }
}
