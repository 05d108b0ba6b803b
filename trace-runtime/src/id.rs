//! Trace and span identifiers.
//!
//! Plain values. The IDs of spans are made by the thread's generator
//! (`local::ids`); [`TraceId::random`] and [`SpanId::random`] serve
//! everything else.

use std::fmt;
use std::num::{NonZeroU64, NonZeroU128};
use std::str::FromStr;

use rand::RngExt;

/// A 128-bit trace identifier, never zero.
///
/// Displays and parses as 32 lower-case hex digits, the W3C Trace Context form.
///
/// ```
/// use trace_runtime::TraceId;
/// let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
/// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!("00000000000000000000000000000000".parse::<TraceId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(NonZeroU128);

/// A 64-bit span identifier, never zero.
///
/// Displays and parses as 16 lower-case hex digits.
///
/// ```
/// use trace_runtime::SpanId;
/// let id = SpanId::random();
/// assert_eq!(id.to_string().parse::<SpanId>(), Ok(id));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(NonZeroU64);

/// Why a string is not a valid [`TraceId`] or [`SpanId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseIdError {
    /// The string does not have exactly 32 (trace) or 16 (span) characters.
    Length,
    /// A character is not a lower-case hex digit.
    Digit,
    /// All digits are zero, which the W3C Trace Context forbids.
    Zero,
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Length => "wrong number of hex digits",
            Self::Digit => "not a lower-case hex digit",
            Self::Zero => "an all-zero ID is invalid",
        })
    }
}

impl std::error::Error for ParseIdError {}

impl TraceId {
    /// Stands in where a frame has no trace (never exported or shown).
    pub(crate) const PLACEHOLDER: Self = Self(NonZeroU128::MIN);

    /// A new random trace ID.
    pub fn random() -> Self {
        let mut rng = rand::rng();
        loop {
            if let Some(id) = Self::from_u128(rng.random()) {
                return id;
            }
        }
    }

    /// The ID with this value, or `None` for zero.
    pub const fn from_u128(value: u128) -> Option<Self> {
        match NonZeroU128::new(value) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The ID as an integer.
    pub const fn to_u128(self) -> u128 {
        self.0.get()
    }

    /// The ID as 16 big-endian bytes, the form OTLP protobuf uses.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.get().to_be_bytes()
    }
}

impl SpanId {
    /// A new random span ID.
    pub fn random() -> Self {
        let mut rng = rand::rng();
        loop {
            if let Some(id) = Self::from_u64(rng.random()) {
                return id;
            }
        }
    }

    /// The ID with this value, or `None` for zero.
    pub const fn from_u64(value: u64) -> Option<Self> {
        match NonZeroU64::new(value) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The ID as an integer.
    pub const fn to_u64(self) -> u64 {
        self.0.get()
    }

    /// The ID as 8 big-endian bytes, the form OTLP protobuf uses.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.get().to_be_bytes()
    }
}

/// Parses exactly `N` lower-case hex digits; upper case is rejected as W3C requires.
fn parse_hex<const N: usize>(s: &str) -> Result<u128, ParseIdError> {
    if s.len() != N {
        return Err(ParseIdError::Length);
    }
    let mut value: u128 = 0;
    for byte in s.bytes() {
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            _ => return Err(ParseIdError::Digit),
        };
        value = (value << 4) | u128::from(digit);
    }
    Ok(value)
}

impl FromStr for TraceId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_u128(parse_hex::<32>(s)?).ok_or(ParseIdError::Zero)
    }
}

impl FromStr for SpanId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let value = parse_hex::<16>(s)?;
        // 16 hex digits always fit in a u64.
        Self::from_u64(value as u64).ok_or(ParseIdError::Zero)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_is_lower_case_and_padded() {
        let trace = TraceId::from_u128(0xab).unwrap();
        assert_eq!(trace.to_string(), "000000000000000000000000000000ab");
        assert_eq!(trace.to_string().parse::<TraceId>(), Ok(trace));
        let span = SpanId::from_u64(0x1f).unwrap();
        assert_eq!(span.to_string(), "000000000000001f");
        assert_eq!(span.to_string().parse::<SpanId>(), Ok(span));
    }

    #[test]
    fn rejects_upper_case_wrong_length_and_zero() {
        assert_eq!("4BF92F3577B34DA6A3CE929D0E0E4736".parse::<TraceId>(), Err(ParseIdError::Digit));
        assert_eq!("abc".parse::<TraceId>(), Err(ParseIdError::Length));
        assert_eq!("0000000000000000".parse::<SpanId>(), Err(ParseIdError::Zero));
        assert_eq!("+00000000000001f".parse::<SpanId>(), Err(ParseIdError::Digit));
    }

    #[test]
    fn random_ids_differ_across_threads() {
        let here = TraceId::random();
        let there = std::thread::spawn(TraceId::random).join().unwrap();
        assert_ne!(here, there);
        assert_ne!(SpanId::random(), SpanId::random());
    }
}
