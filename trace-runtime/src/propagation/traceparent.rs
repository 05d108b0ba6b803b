//! The W3C `traceparent` header: which trace a request belongs to, and which
//! span sent it.

use std::fmt;
use std::str::FromStr;

use super::{HeaderError, lower_hex_byte, trim_ows};
use crate::id::{ParseIdError, SpanId, TraceId};

/// The value of a `traceparent` header, as the W3C Trace Context
/// Recommendation defines it: `version-trace_id-parent_id-trace_flags`.
///
/// Parsing accepts version `00` and, forward-compatibly, any higher version
/// except `ff`; formatting always writes version `00`, the highest this crate
/// knows, as the Recommendation requires.
///
/// ```
/// use trace_runtime::propagation::TraceParent;
/// use trace_runtime::{SpanId, TraceId};
///
/// let parent = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")?;
/// assert_eq!(parent.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736".parse::<TraceId>().unwrap());
/// assert_eq!(parent.parent_id, "00f067aa0ba902b7".parse::<SpanId>().unwrap());
/// assert!(parent.sampled());
///
/// // The outgoing header names our own span as the parent.
/// let ours = SpanId::random();
/// let outgoing = TraceParent { parent_id: ours, ..parent };
/// assert_eq!(
///     outgoing.to_string(),
///     format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{ours}-01"),
/// );
/// # Ok::<(), trace_runtime::propagation::HeaderError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The trace the request belongs to (`trace-id`).
    pub trace_id: TraceId,
    /// The span that sent the request (`parent-id`).
    pub parent_id: SpanId,
    /// The `trace-flags` bit field, kept whole: see [`TraceParent::FLAG_SAMPLED`]
    /// and [`TraceParent::FLAG_RANDOM`].
    pub flags: u8,
}

impl TraceParent {
    /// The header name, lower-case as the Recommendation advises sending it.
    pub const HEADER: &'static str = "traceparent";

    /// The longest value [`TraceParent::parse`] reads, in bytes, surrounding
    /// whitespace included. Version `00` is 55 bytes; the spare room is for
    /// fields that future versions may append.
    pub const MAX_LEN: usize = 512;

    /// The `sampled` flag: the caller may have recorded trace data.
    pub const FLAG_SAMPLED: u8 = 0x01;

    /// The `random` flag of Trace Context Level 2: the trace ID's right-most
    /// 7 bytes are random.
    pub const FLAG_RANDOM: u8 = 0x02;

    /// A `traceparent` for the given IDs and flags.
    ///
    /// ```
    /// use trace_runtime::propagation::TraceParent;
    /// use trace_runtime::{SpanId, TraceId};
    /// let parent = TraceParent::new(TraceId::random(), SpanId::random(), TraceParent::FLAG_SAMPLED);
    /// assert_eq!(parent.to_string().len(), 55);
    /// ```
    pub const fn new(trace_id: TraceId, parent_id: SpanId, flags: u8) -> Self {
        Self { trace_id, parent_id, flags }
    }

    /// Whether the `sampled` flag is set (`flags & 1`).
    pub const fn sampled(&self) -> bool {
        self.flags & Self::FLAG_SAMPLED != 0
    }

    /// Parses a `traceparent` header value.
    ///
    /// Leading and trailing spaces and tabs are ignored, as HTTP field values
    /// allow. Any error means the header must be ignored and the trace
    /// restarted (and `tracestate` dropped with it).
    ///
    /// ```
    /// use trace_runtime::propagation::{HeaderError, TraceParent};
    /// // A higher version may append fields; only the first four are read.
    /// let future = TraceParent::parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz")?;
    /// assert_eq!(future.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    /// // Version 00 may not.
    /// assert_eq!(
    ///     TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz"),
    ///     Err(HeaderError::Length),
    /// );
    /// # Ok::<(), HeaderError>(())
    /// ```
    pub fn parse(value: &str) -> Result<Self, HeaderError> {
        if value.len() > Self::MAX_LEN {
            return Err(HeaderError::TooLong { limit: Self::MAX_LEN });
        }
        let value = trim_ows(value);
        let bytes = value.as_bytes();

        // version "-": two lower-case hex digits and a dash, or restart.
        let version = match bytes {
            [hi, lo, b'-', ..] => lower_hex_byte([*hi, *lo]).ok_or(HeaderError::Version)?,
            _ => return Err(HeaderError::Version),
        };
        if version == 0xff {
            return Err(HeaderError::ForbiddenVersion);
        }
        // Version 00 is exactly 55 characters; a higher version at least 55,
        // with anything after the flags set off by a dash.
        if bytes.len() < VERSION_00_LEN || (version == 0 && bytes.len() != VERSION_00_LEN) {
            return Err(HeaderError::Length);
        }
        if bytes[35] != b'-' || bytes[52] != b'-' {
            return Err(HeaderError::Separator);
        }
        if bytes.len() > VERSION_00_LEN && bytes[VERSION_00_LEN] != b'-' {
            return Err(HeaderError::Separator);
        }

        // `get` rather than indexing: a multi-byte character must not panic.
        let field = |range: std::ops::Range<usize>| value.get(range).ok_or(ParseIdError::Digit);
        let trace_id =
            field(3..35).and_then(str::parse::<TraceId>).map_err(HeaderError::TraceId)?;
        let parent_id =
            field(36..52).and_then(str::parse::<SpanId>).map_err(HeaderError::ParentId)?;
        let flags = lower_hex_byte([bytes[53], bytes[54]]).ok_or(HeaderError::Flags)?;
        Ok(Self { trace_id, parent_id, flags })
    }
}

/// `00-` + 32 + `-` + 16 + `-` + 2.
const VERSION_00_LEN: usize = 55;

impl FromStr for TraceParent {
    type Err = HeaderError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Writes the version `00` form: `00-<32 hex>-<16 hex>-<2 hex>`.
impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{}-{}-{:02x}", self.trace_id, self.parent_id, self.flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT: &str = "00f067aa0ba902b7";

    fn header(version: &str, trace: &str, parent: &str, flags: &str) -> String {
        format!("{version}-{trace}-{parent}-{flags}")
    }

    /// What parsing one header must give: the re-formatted header, or an error.
    type Want = Result<String, HeaderError>;

    fn ok(s: impl Into<String>) -> Want {
        Ok(s.into())
    }

    /// One row per rule of the W3C Trace Context Recommendation (2021-11-23,
    /// §3.2 "Traceparent Header"), the rule quoted word for word.
    fn rules() -> Vec<(&'static str, String, Want)> {
        let canonical = header("00", TRACE, PARENT, "01");
        vec![
            (
                "§3.2.3 Valid traceparent when caller sampled this request: \
                 `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`",
                canonical.clone(),
                ok(&canonical),
            ),
            (
                "§3.2.3 Valid traceparent when caller didn’t sample this request: \
                 `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00`",
                header("00", TRACE, PARENT, "00"),
                ok(header("00", TRACE, PARENT, "00")),
            ),
            (
                "§3.2.2 `HEXDIGLC = DIGIT / \"a\" / \"b\" / \"c\" / \"d\" / \"e\" / \"f\" ; \
                 lowercase hex character`",
                header("00", "4BF92F3577B34DA6A3CE929D0E0E4736", PARENT, "01"),
                Err(HeaderError::TraceId(ParseIdError::Digit)),
            ),
            (
                "§3.2.2 `value = version \"-\" version-format` ... \
                 The dash (`-`) character is used as a delimiter between fields.",
                format!("00-{TRACE}_{PARENT}-01"),
                Err(HeaderError::Separator),
            ),
            (
                "§3.2.2.1 `version = 2HEXDIGLC ; this document assumes version 00. \
                 Version ff is forbidden`",
                header("0g", TRACE, PARENT, "01"),
                Err(HeaderError::Version),
            ),
            (
                "§3.2.2.1 Version (`version`) is 1 byte representing an 8-bit unsigned \
                 integer. Version `ff` is invalid.",
                header("ff", TRACE, PARENT, "01"),
                Err(HeaderError::ForbiddenVersion),
            ),
            (
                "§3.2.2.2 The following `version-format` definition is used for version `00`. \
                 `version-format = trace-id \"-\" parent-id \"-\" trace-flags`",
                format!("{canonical}-extra"),
                Err(HeaderError::Length),
            ),
            (
                "§3.2.2.2 `trace-id = 32HEXDIGLC ; 16 bytes array identifier. \
                 All zeroes forbidden`",
                header("00", &TRACE[1..], PARENT, "01"),
                Err(HeaderError::Length),
            ),
            (
                "§3.2.2.3 All bytes as zero (`00000000000000000000000000000000`) is \
                 considered an invalid value.",
                header("00", &"0".repeat(32), PARENT, "01"),
                Err(HeaderError::TraceId(ParseIdError::Zero)),
            ),
            (
                "§3.2.2.3 If the `trace-id` value is invalid (for example if it contains \
                 non-allowed characters or all zeros), vendors MUST ignore the `traceparent`.",
                header("00", "4bf92f3577b34da6a3ce929d0e0e473g", PARENT, "01"),
                Err(HeaderError::TraceId(ParseIdError::Digit)),
            ),
            (
                "§3.2.2.2 `parent-id = 16HEXDIGLC ; 8 bytes array identifier. \
                 All zeroes forbidden`",
                header("00", TRACE, &PARENT[1..], "01"),
                Err(HeaderError::Length),
            ),
            (
                "§3.2.2.4 All bytes as zero (`0000000000000000`) is considered an invalid value.",
                header("00", TRACE, &"0".repeat(16), "01"),
                Err(HeaderError::ParentId(ParseIdError::Zero)),
            ),
            (
                "§3.2.2.4 Vendors MUST ignore the `traceparent` when the `parent-id` is \
                 invalid (for example, if it contains non-lowercase hex characters).",
                header("00", TRACE, "00F067AA0BA902B7", "01"),
                Err(HeaderError::ParentId(ParseIdError::Digit)),
            ),
            (
                "§3.2.2.2 `trace-flags = 2HEXDIGLC ; 8 bit flags. Currently, only one bit \
                 is used. See below for details`",
                header("00", TRACE, PARENT, "0x"),
                Err(HeaderError::Flags),
            ),
            (
                "§3.2.2.5 Like other fields, `trace-flags` is hex-encoded. For example, all \
                 `8` flags set would be `ff` and no flags set would be `00`.",
                header("00", TRACE, PARENT, "ff"),
                ok(header("00", TRACE, PARENT, "ff")),
            ),
            (
                "§3.2.2.5.2 The behavior of other flags, such as (`00000100`) is not defined \
                 and is reserved for future use. (An unknown flag does not invalidate the header.)",
                header("00", TRACE, PARENT, "04"),
                ok(header("00", TRACE, PARENT, "04")),
            ),
            (
                "§3.2.4 Pass-through services should not analyze the version. They should \
                 expect that headers may have larger size limits in the future and only \
                 disallow prohibitively large headers.",
                format!("{}-{}", header("01", TRACE, PARENT, "01"), "x".repeat(400)),
                ok(&canonical),
            ),
            (
                "§3.2.4 ... and only disallow prohibitively large headers. \
                 (This crate's bound is TraceParent::MAX_LEN.)",
                format!("{}-{}", header("01", TRACE, PARENT, "01"), "x".repeat(500)),
                Err(HeaderError::TooLong { limit: TraceParent::MAX_LEN }),
            ),
            (
                "§3.2.4 When the version prefix cannot be parsed (it's not 2 hex characters \
                 followed by a dash (`-`)), the implementation should restart the trace.",
                format!("000{TRACE}-{PARENT}-01"),
                Err(HeaderError::Version),
            ),
            (
                "§3.2.4 If a higher version is detected, the implementation SHOULD try to \
                 parse it",
                header("cc", TRACE, PARENT, "01"),
                ok(&canonical),
            ),
            (
                "§3.2.4 If the size of the header is shorter than 55 characters, the vendor \
                 should not parse the header and should restart the trace.",
                header("cc", TRACE, PARENT, "0"),
                Err(HeaderError::Length),
            ),
            (
                "§3.2.4 Parse `trace-id` (from the first dash through the next 32 \
                 characters). Vendors MUST check that the 32 characters are hex, and that \
                 they are followed by a dash (`-`).",
                format!("cc-{TRACE}.{PARENT}-01"),
                Err(HeaderError::Separator),
            ),
            (
                "§3.2.4 Parse `parent-id` (from the second dash at the 35th position through \
                 the next 16 characters). Vendors MUST check that the 16 characters are hex \
                 and followed by a dash.",
                header("cc", TRACE, "00f067aa0ba902bz", "01"),
                Err(HeaderError::ParentId(ParseIdError::Digit)),
            ),
            (
                "§3.2.4 Parse the `sampled` bit of `flags` (2 characters from the third \
                 dash). Vendors MUST check that the 2 characters are either the end of the \
                 string or a dash.",
                format!("{}.what-the-future-will-be-like", header("cc", TRACE, PARENT, "01")),
                Err(HeaderError::Separator),
            ),
            (
                "§3.2.4 Vendors MUST NOT parse or assume anything about unknown fields for \
                 this version. Vendors MUST use these fields to construct the new \
                 `traceparent` field according to the highest version of the specification \
                 known to the implementation (in this specification it is `00`).",
                format!("{}-what-the-future-will-be-like", header("cc", TRACE, PARENT, "01")),
                ok(&canonical),
            ),
            (
                "RFC 7230 §3.2.4 OWS occurring before the first non-whitespace octet of the \
                 field value or after the last non-whitespace octet of the field value ought \
                 to be excluded by parsers when extracting the field value from a header field.",
                format!(" \t{canonical}\t "),
                ok(&canonical),
            ),
        ]
    }

    #[test]
    fn traceparent_validity_rules() {
        for (rule, input, want) in rules() {
            let got = TraceParent::parse(&input).map(|p| p.to_string());
            assert_eq!(got, want, "\nrule: {rule}\ninput: {input:?}");
        }
    }

    #[test]
    fn sampled_is_the_low_bit_of_the_flags() {
        // §3.2.2.5: "a flag `00000001` could be encoded as `01` in hex, or `09`
        // in hex if present with the flag `00001000`."
        for (flags, sampled) in [("00", false), ("01", true), ("09", true), ("08", false)] {
            let parent = TraceParent::parse(&header("00", TRACE, PARENT, flags)).unwrap();
            assert_eq!(parent.sampled(), sampled, "flags {flags}");
        }
        let random = TraceParent::parse(&header("00", TRACE, PARENT, "03")).unwrap();
        assert_eq!(random.flags, TraceParent::FLAG_SAMPLED | TraceParent::FLAG_RANDOM);
    }

    #[test]
    fn format_then_parse_gives_the_same_value() {
        for flags in [0x00, 0x01, 0x02, 0x03, 0xff] {
            let parent = TraceParent::new(TraceId::random(), SpanId::random(), flags);
            assert_eq!(TraceParent::parse(&parent.to_string()), Ok(parent));
            assert_eq!(parent.to_string().parse(), Ok(parent));
        }
    }

    #[test]
    fn odd_input_is_rejected_without_panicking() {
        let multibyte = format!("00-{}é{}-{PARENT}-01", &TRACE[..15], &TRACE[17..]);
        assert_eq!(multibyte.len(), 55);
        let inputs = [
            "",
            " ",
            "0",
            "00",
            "00-",
            "é",
            "00-é",
            &multibyte,
            &format!("00-{TRACE}-{PARENT}-é"),
            &format!("00-{TRACE}-{}é-01", &PARENT[..14]),
        ];
        for input in inputs {
            assert!(TraceParent::parse(input).is_err(), "{input:?}");
        }
    }
}
