//! Carrying a trace across process boundaries in HTTP headers.
//!
//! This module holds the header formats as plain values: each type parses a
//! header value received from another service and formats the value to send
//! on. None of them touches a carrier or the current context, so they can be
//! tested, and reused by any transport, on their own.
//!
//! | Header(s)                 | Type            | Specification                    |
//! |---------------------------|-----------------|----------------------------------|
//! | `traceparent`             | [`TraceParent`] | W3C Trace Context Level 2        |
//! | `tracestate`              | [`TraceState`]  | W3C Trace Context Level 2        |
//! | `baggage`                 | [`Baggage`]     | W3C Baggage                      |
//! | `b3`, or `X-B3-*` (multi) | [`B3`]          | openzipkin/b3-propagation        |
//!
//! Parsing never panics and never reads or allocates more than a fixed
//! amount, whatever the input: a `traceparent` or `tracestate` over its
//! limit ([`TraceParent::MAX_LEN`], [`TraceState::MAX_LEN`] bytes, 32
//! `tracestate` members) is rejected without reading the rest, and a
//! `baggage` header is read up to [`Baggage::MAX_LEN`] bytes, the rest
//! dropped unread. The propagators read a header's lines one at a time
//! ([`Extractor::for_each_value`]) and stop at these limits, so a header
//! repeated 100,000 times costs no more than one at the limit.
//! A rejected value comes back as a [`HeaderError`], whose `Display` says what
//! is wrong, for logging and counting malformed headers.
//!
//! ```
//! use trace_runtime::propagation::{TraceParent, TraceState};
//!
//! let parent = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")?;
//! assert!(parent.sampled());
//!
//! let mut state = TraceState::parse("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")?;
//! state.insert("congo", "ucfJifl5GOE")?;
//! assert_eq!(state.to_string(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
//! # Ok::<(), trace_runtime::propagation::HeaderError>(())
//! ```

use std::error::Error;
use std::fmt;

use crate::id::ParseIdError;

mod b3;
pub(crate) mod baggage;
mod carrier;
mod propagator;
mod traceparent;
pub(crate) mod tracestate;

pub use b3::{B3, B3Context};
pub use baggage::{Baggage, BaggageMember, BaggageProperty};
pub use carrier::{Extractor, Injector};
pub use propagator::{
    B3Encoding, B3Propagator, BaggagePropagator, CompositePropagator, PropagationStats, Propagator,
    TraceContextPropagator, extract, inject, inject_context, set_propagator, stats,
};
pub use traceparent::TraceParent;
pub use tracestate::TraceState;

/// Why a header value was rejected.
///
/// ```
/// use trace_runtime::propagation::{HeaderError, TraceParent};
/// let err = TraceParent::parse("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// assert_eq!(err, Err(HeaderError::ForbiddenVersion));
/// assert_eq!(err.unwrap_err().to_string(), "version `ff` is forbidden");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// The value is longer than this crate reads, so it was not parsed.
    TooLong {
        /// The most bytes accepted for this header.
        limit: usize,
    },
    /// The `traceparent` version is not two lower-case hex digits followed by `-`.
    Version,
    /// The `traceparent` version is `ff`, which the Recommendation forbids.
    ForbiddenVersion,
    /// The value does not have the length its format requires.
    Length,
    /// A field is not followed by the `-` its format requires, or there are
    /// too many fields.
    Separator,
    /// The trace ID (`trace-id`, `X-B3-TraceId`) is not valid.
    TraceId(ParseIdError),
    /// The parent ID (`parent-id`, `X-B3-ParentSpanId`) is not valid.
    ParentId(ParseIdError),
    /// The B3 span ID is not valid.
    SpanId(ParseIdError),
    /// The `trace-flags` are not two lower-case hex digits.
    Flags,
    /// The B3 sampling state, `X-B3-Sampled` or `X-B3-Flags` has an unknown value.
    SamplingState,
    /// B3 identifiers are incomplete: a trace ID needs a span ID and the
    /// reverse, and a parent span ID needs both.
    MissingId,
    /// A list member is not of the form `key=value`.
    Member,
    /// A list member's key breaks the key grammar.
    Key,
    /// A list member's value breaks the value grammar.
    Value,
    /// A baggage property is neither `key` nor `key=value`.
    Property,
    /// A `%` in a baggage value is not followed by two hex digits.
    PercentEncoding,
    /// The value is not text: it has bytes outside visible ASCII, so it
    /// cannot be read (an `http::HeaderValue` that is not `to_str`-able).
    NotText,
    /// The list has more members than its format allows.
    TooManyMembers {
        /// The most members the format allows.
        limit: usize,
    },
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { limit } => write!(f, "longer than {limit} bytes"),
            Self::Version => f.write_str("version is not two lower-case hex digits and `-`"),
            Self::ForbiddenVersion => f.write_str("version `ff` is forbidden"),
            Self::Length => f.write_str("wrong length"),
            Self::Separator => f.write_str("missing or misplaced `-` separator"),
            Self::TraceId(e) => write!(f, "invalid trace ID: {e}"),
            Self::ParentId(e) => write!(f, "invalid parent ID: {e}"),
            Self::SpanId(e) => write!(f, "invalid span ID: {e}"),
            Self::Flags => f.write_str("trace-flags are not two lower-case hex digits"),
            Self::SamplingState => f.write_str("unknown sampling state"),
            Self::MissingId => f.write_str("trace ID or span ID missing"),
            Self::Member => f.write_str("list member is not `key=value`"),
            Self::Key => f.write_str("invalid key"),
            Self::Value => f.write_str("invalid value"),
            Self::Property => f.write_str("invalid property"),
            Self::PercentEncoding => f.write_str("`%` not followed by two hex digits"),
            Self::NotText => f.write_str("not visible ASCII text"),
            Self::TooManyMembers { limit } => write!(f, "more than {limit} list members"),
        }
    }
}

impl Error for HeaderError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::TraceId(e) | Self::ParentId(e) | Self::SpanId(e) => Some(e),
            _ => None,
        }
    }
}

/// Removes HTTP optional whitespace (spaces and horizontal tabs, RFC 7230
/// `OWS`) from both ends.
fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// The value of two lower-case hex digits, or `None`.
fn lower_hex_byte(pair: [u8; 2]) -> Option<u8> {
    fn digit(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        }
    }
    Some((digit(pair[0])? << 4) | digit(pair[1])?)
}
