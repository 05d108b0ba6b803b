//! The W3C `trace-flags`: what a span tells the spans it calls about its trace.

use std::fmt;
use std::ops::BitOr;

/// The trace flags a span carries and passes on (W3C Trace Context Level 2,
/// `trace-flags`): `sampled` (the caller may have recorded trace data) and
/// `random` (the right-most 7 bytes of the trace ID are random).
///
/// Only the flags the Recommendation defines are kept: "The behavior of other
/// flags ... is not defined and is reserved for future use. Vendors MUST set
/// those to zero." A trace started here has the random flag (our trace IDs
/// are random); a continued trace keeps its caller's.
///
/// ```
/// use trace_runtime::TraceFlags;
///
/// let flags = TraceFlags::from_bits(0x07); // 0x04 is reserved
/// assert_eq!(flags, TraceFlags::SAMPLED | TraceFlags::RANDOM);
/// assert!(flags.sampled() && flags.random());
/// assert_eq!(flags.with_sampled(false).bits(), 0x02);
/// assert_eq!(format!("{:02x}", flags.bits()), "03");
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// No flag set.
    pub const NONE: Self = Self(0);

    /// `sampled` (`00000001`): the caller may have recorded trace data.
    pub const SAMPLED: Self = Self(0x01);

    /// `random-trace-id` (`00000010`): at least the right-most 7 bytes of
    /// the trace ID were chosen randomly.
    pub const RANDOM: Self = Self(0x02);

    /// The flags of a `trace-flags` byte, the reserved ones cleared.
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits & (Self::SAMPLED.0 | Self::RANDOM.0))
    }

    /// The flags as the `trace-flags` byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether the `sampled` flag is set.
    pub const fn sampled(self) -> bool {
        self.0 & Self::SAMPLED.0 != 0
    }

    /// Whether the `random-trace-id` flag is set.
    pub const fn random(self) -> bool {
        self.0 & Self::RANDOM.0 != 0
    }

    /// The same flags with `sampled` set or cleared.
    #[must_use]
    pub const fn with_sampled(self, sampled: bool) -> Self {
        if sampled { Self(self.0 | Self::SAMPLED.0) } else { Self(self.0 & !Self::SAMPLED.0) }
    }

    /// The same flags with `random` set or cleared.
    #[must_use]
    pub const fn with_random(self, random: bool) -> Self {
        if random { Self(self.0 | Self::RANDOM.0) } else { Self(self.0 & !Self::RANDOM.0) }
    }
}

impl BitOr for TraceFlags {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// Names the flags set: `TraceFlags(sampled | random)`.
impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = match (self.sampled(), self.random()) {
            (false, false) => "none",
            (true, false) => "sampled",
            (false, true) => "random",
            (true, true) => "sampled | random",
        };
        write!(f, "TraceFlags({names})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_flags_are_cleared() {
        // Level 2 §3.2.2.5.3 "Other Flags": "Vendors MUST set those to zero."
        for bits in 0..=u8::MAX {
            assert_eq!(TraceFlags::from_bits(bits).bits(), bits & 0x03, "{bits:#04x}");
        }
    }

    #[test]
    fn setting_one_flag_keeps_the_other() {
        let both = TraceFlags::SAMPLED | TraceFlags::RANDOM;
        assert_eq!(both.with_sampled(false), TraceFlags::RANDOM);
        assert_eq!(both.with_random(false), TraceFlags::SAMPLED);
        assert_eq!(TraceFlags::NONE.with_sampled(true).with_random(true), both);
        assert_eq!(format!("{both:?}"), "TraceFlags(sampled | random)");
    }
}
