//! B3, Zipkin's propagation format: the single `b3` header and the
//! `X-B3-*` multi-header form.

use std::fmt;

use super::{HeaderError, trim_ows};
use crate::id::{ParseIdError, SpanId, TraceId};

/// A B3 trace context: identifiers with an optional sampling decision.
///
/// B3 trace IDs are 64 or 128 bits; a 64-bit one (16 hex digits) is held
/// left-padded with zeros, and written back as 16 digits.
///
/// ```
/// use trace_runtime::propagation::B3Context;
/// use trace_runtime::{SpanId, TraceId};
///
/// let context = B3Context {
///     sampled: Some(true),
///     ..B3Context::new(TraceId::from_u128(0xa).unwrap(), SpanId::from_u64(0xb).unwrap())
/// };
/// assert_eq!(context.to_string(), "000000000000000a-000000000000000b-1");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct B3Context {
    /// The trace (`X-B3-TraceId`).
    pub trace_id: TraceId,
    /// The span that sent the request (`X-B3-SpanId`). Unlike W3C, B3 has
    /// client and server share this span ID.
    pub span_id: SpanId,
    /// The sampling decision: `Some(true)` accept, `Some(false)` deny, `None`
    /// defer to the receiver.
    pub sampled: Option<bool>,
    /// Debug: force tracing. Debug implies accept, so parsing sets `sampled`
    /// to `Some(true)` with it, and formatting writes only the debug flag.
    pub debug: bool,
    /// The parent of `span_id` (`X-B3-ParentSpanId`), absent on a root span.
    pub parent_span_id: Option<SpanId>,
}

/// What a B3 header carries: a whole context, or only a sampling decision
/// (`b3: 0` denies without sending identifiers).
///
/// ```
/// use trace_runtime::propagation::B3;
///
/// let b3 = B3::parse_single("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90")?;
/// let context = b3.context().unwrap();
/// assert_eq!(context.span_id.to_string(), "e457b5a2e4d86bd1");
/// assert_eq!(b3.sampled(), Some(true));
///
/// assert_eq!(B3::parse_single("0")?, B3::SamplingOnly { sampled: false, debug: false });
/// # Ok::<(), trace_runtime::propagation::HeaderError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum B3 {
    /// Identifiers, with or without a sampling decision.
    Context(B3Context),
    /// A sampling decision without identifiers.
    SamplingOnly {
        /// Accept (`true`) or deny (`false`); `true` whenever `debug` is.
        sampled: bool,
        /// Debug: force tracing.
        debug: bool,
    },
}

impl B3Context {
    /// A context with these identifiers, no parent, not debug, and the
    /// sampling decision deferred.
    pub const fn new(trace_id: TraceId, span_id: SpanId) -> Self {
        Self { trace_id, span_id, sampled: None, debug: false, parent_span_id: None }
    }
}

/// Writes the single-header form, `{trace}-{span}[-{sampling}][-{parent}]`.
///
/// The sampling state is `d` for debug, else `1` or `0`, and left out when
/// deferred. A deferred context with a parent is written `{trace}-{span}-{parent}`,
/// as Brave (Zipkin's reference tracer) writes it.
impl fmt::Display for B3Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", B3TraceId(self.trace_id), self.span_id)?;
        if let Some(state) = sampling_state(self.sampled, self.debug) {
            write!(f, "-{state}")?;
        }
        if let Some(parent) = self.parent_span_id {
            write!(f, "-{parent}")?;
        }
        Ok(())
    }
}

impl B3 {
    /// The single header's name.
    pub const SINGLE_HEADER: &'static str = "b3";
    /// The multi-header trace ID header's name, lower-case.
    pub const TRACE_ID_HEADER: &'static str = "x-b3-traceid";
    /// The multi-header span ID header's name, lower-case.
    pub const SPAN_ID_HEADER: &'static str = "x-b3-spanid";
    /// The multi-header parent span ID header's name, lower-case.
    pub const PARENT_SPAN_ID_HEADER: &'static str = "x-b3-parentspanid";
    /// The multi-header sampling decision header's name, lower-case.
    pub const SAMPLED_HEADER: &'static str = "x-b3-sampled";
    /// The multi-header debug flag header's name, lower-case.
    pub const FLAGS_HEADER: &'static str = "x-b3-flags";

    /// The longest single-header value, in bytes, after trimming whitespace:
    /// a 32-digit trace ID, span ID, sampling state and parent span ID.
    pub const MAX_LEN: usize = 32 + 1 + 16 + 1 + 1 + 1 + 16;

    /// Parses a `b3` single-header value:
    /// `{trace}-{span}[-{sampling}][-{parent}]`, or a sampling state alone
    /// (`0`, `1` or `d`). IDs are lower-case hex; surrounding spaces and tabs
    /// are ignored.
    ///
    /// ```
    /// use trace_runtime::propagation::{B3, HeaderError};
    /// let b3 = B3::parse_single("a3ce929d0e0e4736-00f067aa0ba902b7-d")?;
    /// let context = b3.context().unwrap();
    /// assert_eq!(context.trace_id.to_u128(), 0xa3ce929d0e0e4736);
    /// assert!(context.debug);
    /// assert_eq!(b3.to_string(), "a3ce929d0e0e4736-00f067aa0ba902b7-d");
    ///
    /// assert_eq!(B3::parse_single("a3ce929d0e0e4736-00f067aa0ba902b7-x"), Err(HeaderError::SamplingState));
    /// # Ok::<(), HeaderError>(())
    /// ```
    pub fn parse_single(value: &str) -> Result<Self, HeaderError> {
        let value = trim_ows(value);
        if value.len() > Self::MAX_LEN {
            return Err(HeaderError::TooLong { limit: Self::MAX_LEN });
        }
        let mut fields = value.split('-');
        let first = fields.next().unwrap_or_default();
        let Some(second) = fields.next() else {
            if first.len() != 1 {
                return Err(HeaderError::MissingId);
            }
            let (sampled, debug) = parse_sampling_state(first)?;
            return Ok(Self::SamplingOnly { sampled, debug });
        };
        let mut context = B3Context::new(parse_trace_id(first)?, parse_span_id(second)?);
        match fields.next() {
            None => {}
            // A deferred decision with a parent: `{trace}-{span}-{parent}`.
            Some(third) if third.len() == 16 => context.parent_span_id = Some(parse_parent(third)?),
            Some(third) => {
                let (sampled, debug) = parse_sampling_state(third)?;
                context.sampled = Some(sampled);
                context.debug = debug;
                if let Some(fourth) = fields.next() {
                    context.parent_span_id = Some(parse_parent(fourth)?);
                }
            }
        }
        if fields.next().is_some() {
            return Err(HeaderError::Separator);
        }
        Ok(Self::Context(context))
    }

    /// Parses the `X-B3-*` multi-header form, reading each header through
    /// `get`, which is called with the lower-case names in this type's
    /// constants and should match case-insensitively.
    ///
    /// Returns `Ok(None)` when none of the headers is present. As the B3
    /// specification allows, `X-B3-Sampled` may also be `true` or `false`.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use trace_runtime::propagation::B3;
    ///
    /// let headers = HashMap::from([
    ///     ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
    ///     ("x-b3-spanid", "e457b5a2e4d86bd1"),
    ///     ("x-b3-sampled", "1"),
    /// ]);
    /// let b3 = B3::parse_multi(|name| headers.get(name).copied())?.unwrap();
    /// assert_eq!(b3.to_string(), "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1");
    ///
    /// assert_eq!(B3::parse_multi(|_| None)?, None);
    /// # Ok::<(), trace_runtime::propagation::HeaderError>(())
    /// ```
    pub fn parse_multi<'a>(
        get: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<Option<Self>, HeaderError> {
        let field = |name: &str| get(name).map(trim_ows);
        let debug = match field(Self::FLAGS_HEADER) {
            None | Some("0") => false,
            Some("1") => true,
            Some(_) => return Err(HeaderError::SamplingState),
        };
        let sampled = match field(Self::SAMPLED_HEADER) {
            None => None,
            Some("1" | "true") => Some(true),
            Some("0" | "false") => Some(false),
            Some(_) => return Err(HeaderError::SamplingState),
        };
        // Debug implies accept.
        let sampled = if debug { Some(true) } else { sampled };
        let parent_span_id = field(Self::PARENT_SPAN_ID_HEADER).map(parse_parent).transpose()?;
        match (field(Self::TRACE_ID_HEADER), field(Self::SPAN_ID_HEADER)) {
            (Some(trace_id), Some(span_id)) => Ok(Some(Self::Context(B3Context {
                trace_id: parse_trace_id(trace_id)?,
                span_id: parse_span_id(span_id)?,
                sampled,
                debug,
                parent_span_id,
            }))),
            (None, None) if parent_span_id.is_none() => {
                Ok(sampled.map(|sampled| Self::SamplingOnly { sampled, debug }))
            }
            _ => Err(HeaderError::MissingId),
        }
    }

    /// Writes the `X-B3-*` multi-header form, calling `set` with each
    /// lower-case header name and its value. Debug is sent as
    /// `X-B3-Flags: 1` alone, without `X-B3-Sampled`.
    ///
    /// ```
    /// use trace_runtime::propagation::B3;
    /// let b3 = B3::parse_single("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0")?;
    /// let mut headers = Vec::new();
    /// b3.write_multi(|name, value| headers.push((name, value)));
    /// assert_eq!(headers, [
    ///     ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7".to_string()),
    ///     ("x-b3-spanid", "e457b5a2e4d86bd1".to_string()),
    ///     ("x-b3-sampled", "0".to_string()),
    /// ]);
    /// # Ok::<(), trace_runtime::propagation::HeaderError>(())
    /// ```
    pub fn write_multi(&self, mut set: impl FnMut(&'static str, String)) {
        let (sampled, debug) = match self {
            Self::Context(context) => {
                set(Self::TRACE_ID_HEADER, B3TraceId(context.trace_id).to_string());
                set(Self::SPAN_ID_HEADER, context.span_id.to_string());
                if let Some(parent) = context.parent_span_id {
                    set(Self::PARENT_SPAN_ID_HEADER, parent.to_string());
                }
                (context.sampled, context.debug)
            }
            Self::SamplingOnly { sampled, debug } => (Some(*sampled), *debug),
        };
        if debug {
            set(Self::FLAGS_HEADER, "1".to_owned());
        } else if let Some(sampled) = sampled {
            set(Self::SAMPLED_HEADER, if sampled { "1" } else { "0" }.to_owned());
        }
    }

    /// The identifiers, unless only a sampling decision was sent.
    pub fn context(&self) -> Option<&B3Context> {
        match self {
            Self::Context(context) => Some(context),
            Self::SamplingOnly { .. } => None,
        }
    }

    /// The sampling decision, `None` when deferred. Debug counts as accept.
    pub fn sampled(&self) -> Option<bool> {
        match self {
            Self::Context(context) if context.debug => Some(true),
            Self::Context(context) => context.sampled,
            Self::SamplingOnly { sampled, debug } => Some(*sampled || *debug),
        }
    }
}

impl From<B3Context> for B3 {
    fn from(context: B3Context) -> Self {
        Self::Context(context)
    }
}

/// Writes the single-header form: see [`B3Context`]'s `Display`, or the
/// sampling state alone (`0`, `1` or `d`).
impl fmt::Display for B3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Context(context) => context.fmt(f),
            Self::SamplingOnly { sampled, debug } => {
                f.write_str(sampling_state(Some(*sampled), *debug).unwrap_or("0"))
            }
        }
    }
}

/// A trace ID in B3 form: 16 hex digits when the high 64 bits are zero (a
/// padded 64-bit ID), else 32.
struct B3TraceId(TraceId);

impl fmt::Display for B3TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.0.to_u128();
        if id >> 64 == 0 { write!(f, "{id:016x}") } else { write!(f, "{id:032x}") }
    }
}

/// The single-header sampling state: `d`, `1`, `0`, or `None` when deferred.
fn sampling_state(sampled: Option<bool>, debug: bool) -> Option<&'static str> {
    match (debug, sampled) {
        (true, _) => Some("d"),
        (false, Some(true)) => Some("1"),
        (false, Some(false)) => Some("0"),
        (false, None) => None,
    }
}

/// `(sampled, debug)` for a single-header sampling state.
fn parse_sampling_state(state: &str) -> Result<(bool, bool), HeaderError> {
    match state {
        "0" => Ok((false, false)),
        "1" => Ok((true, false)),
        "d" => Ok((true, true)),
        _ => Err(HeaderError::SamplingState),
    }
}

/// A 32-digit trace ID, or a 16-digit one left-padded to 128 bits.
fn parse_trace_id(hex: &str) -> Result<TraceId, HeaderError> {
    match hex.len() {
        32 => hex.parse().map_err(HeaderError::TraceId),
        16 => {
            let low = hex.parse::<SpanId>().map_err(HeaderError::TraceId)?;
            TraceId::from_u128(u128::from(low.to_u64()))
                .ok_or(HeaderError::TraceId(ParseIdError::Zero))
        }
        _ => Err(HeaderError::TraceId(ParseIdError::Length)),
    }
}

fn parse_span_id(hex: &str) -> Result<SpanId, HeaderError> {
    hex.parse().map_err(HeaderError::SpanId)
}

fn parse_parent(hex: &str) -> Result<SpanId, HeaderError> {
    hex.parse().map_err(HeaderError::ParentId)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";
    const SPAN: &str = "e457b5a2e4d86bd1";
    const PARENT: &str = "05e3ac9a4f6e3b90";

    fn context(sampled: Option<bool>, debug: bool, parent: bool) -> B3 {
        B3::Context(B3Context {
            trace_id: TRACE.parse().unwrap(),
            span_id: SPAN.parse().unwrap(),
            sampled,
            debug,
            parent_span_id: parent.then(|| PARENT.parse().unwrap()),
        })
    }

    #[test]
    fn single_header_forms() {
        let cases = [
            (format!("{TRACE}-{SPAN}-1-{PARENT}"), context(Some(true), false, true)),
            (format!("{TRACE}-{SPAN}-0"), context(Some(false), false, false)),
            (format!("{TRACE}-{SPAN}-d"), context(Some(true), true, false)),
            (format!("{TRACE}-{SPAN}"), context(None, false, false)),
            (format!("{TRACE}-{SPAN}-{PARENT}"), context(None, false, true)),
            (format!(" \t{TRACE}-{SPAN}-1\t "), context(Some(true), false, false)),
            ("0".into(), B3::SamplingOnly { sampled: false, debug: false }),
            ("1".into(), B3::SamplingOnly { sampled: true, debug: false }),
            ("d".into(), B3::SamplingOnly { sampled: true, debug: true }),
        ];
        for (header, want) in cases {
            assert_eq!(B3::parse_single(&header), Ok(want), "{header:?}");
        }
    }

    #[test]
    fn single_header_64_bit_trace_id_is_left_padded() {
        let b3 = B3::parse_single(&format!("{}-{SPAN}-1", &TRACE[16..])).unwrap();
        let trace_id = b3.context().unwrap().trace_id;
        assert_eq!(trace_id.to_string(), format!("{}{}", "0".repeat(16), &TRACE[16..]));
        assert_eq!(b3.to_string(), format!("{}-{SPAN}-1", &TRACE[16..]));
    }

    #[test]
    fn single_header_errors() {
        let too_long = format!("{TRACE}-{SPAN}-1-{PARENT}0");
        let cases = [
            ("", HeaderError::MissingId),
            ("x", HeaderError::SamplingState),
            (TRACE, HeaderError::MissingId),
            (&too_long, HeaderError::TooLong { limit: B3::MAX_LEN }),
            (&format!("{TRACE}-{SPAN}-x"), HeaderError::SamplingState),
            (&format!("{TRACE}-{SPAN}-true"), HeaderError::SamplingState),
            (&format!("{}-{SPAN}-1-{PARENT}-1", &TRACE[16..]), HeaderError::Separator),
            (&format!("{TRACE}-{SPAN}-{PARENT}-1"), HeaderError::Separator),
            (&format!("{TRACE}-{SPAN}-1-"), HeaderError::ParentId(ParseIdError::Length)),
            (
                &format!("{TRACE}-{SPAN}-1-{}", "0".repeat(16)),
                HeaderError::ParentId(ParseIdError::Zero),
            ),
            (&format!("{}-{SPAN}", &TRACE[..20]), HeaderError::TraceId(ParseIdError::Length)),
            (
                &format!("{}-{SPAN}", TRACE.to_uppercase()),
                HeaderError::TraceId(ParseIdError::Digit),
            ),
            (&format!("{}-{SPAN}", "0".repeat(16)), HeaderError::TraceId(ParseIdError::Zero)),
            (&format!("{}-{SPAN}", "0".repeat(32)), HeaderError::TraceId(ParseIdError::Zero)),
            (&format!("{TRACE}-{}", "0".repeat(16)), HeaderError::SpanId(ParseIdError::Zero)),
            (&format!("{TRACE}--1"), HeaderError::SpanId(ParseIdError::Length)),
            (&format!("{TRACE}-{}é-1", &SPAN[..14]), HeaderError::SpanId(ParseIdError::Digit)),
        ];
        for (header, want) in cases {
            assert_eq!(B3::parse_single(header), Err(want), "{header:?}");
        }
    }

    fn parse_multi(headers: &[(&str, &str)]) -> Result<Option<B3>, HeaderError> {
        let map: HashMap<String, &str> =
            headers.iter().map(|(name, value)| (name.to_ascii_lowercase(), *value)).collect();
        B3::parse_multi(|name| map.get(name).copied())
    }

    #[test]
    fn multi_header_forms() {
        let ids = [("X-B3-TraceId", TRACE), ("X-B3-SpanId", SPAN)];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut headers = ids.to_vec();
            headers.extend_from_slice(extra);
            parse_multi(&headers)
        };
        assert_eq!(with(&[]), Ok(Some(context(None, false, false))));
        assert_eq!(
            with(&[("X-B3-ParentSpanId", PARENT), ("X-B3-Sampled", "1")]),
            Ok(Some(context(Some(true), false, true)))
        );
        assert_eq!(with(&[("X-B3-Sampled", "0")]), Ok(Some(context(Some(false), false, false))));
        assert_eq!(with(&[("X-B3-Sampled", "true")]), Ok(Some(context(Some(true), false, false))));
        assert_eq!(
            with(&[("X-B3-Sampled", "false")]),
            Ok(Some(context(Some(false), false, false)))
        );
        assert_eq!(with(&[("X-B3-Flags", "1")]), Ok(Some(context(Some(true), true, false))));
        assert_eq!(
            with(&[("X-B3-Flags", "1"), ("X-B3-Sampled", "0")]),
            Ok(Some(context(Some(true), true, false))),
            "debug implies accept"
        );
        assert_eq!(with(&[("X-B3-Flags", "0")]), Ok(Some(context(None, false, false))));
        assert_eq!(with(&[("X-B3-Sampled", "yes")]), Err(HeaderError::SamplingState));
        assert_eq!(with(&[("X-B3-Flags", "2")]), Err(HeaderError::SamplingState));

        // Without identifiers.
        assert_eq!(parse_multi(&[]), Ok(None));
        assert_eq!(
            parse_multi(&[("X-B3-Sampled", "0")]),
            Ok(Some(B3::SamplingOnly { sampled: false, debug: false }))
        );
        assert_eq!(
            parse_multi(&[("X-B3-Flags", "1")]),
            Ok(Some(B3::SamplingOnly { sampled: true, debug: true }))
        );
        assert_eq!(parse_multi(&[("X-B3-TraceId", TRACE)]), Err(HeaderError::MissingId));
        assert_eq!(parse_multi(&[("X-B3-SpanId", SPAN)]), Err(HeaderError::MissingId));
        assert_eq!(parse_multi(&[("X-B3-ParentSpanId", PARENT)]), Err(HeaderError::MissingId));

        // Values are checked like the single header's fields.
        assert_eq!(
            parse_multi(&[("X-B3-TraceId", &TRACE[16..]), ("X-B3-SpanId", " \t1234567890abcdef ")])
                .unwrap()
                .unwrap()
                .to_string(),
            format!("{}-1234567890abcdef", &TRACE[16..])
        );
        assert_eq!(
            parse_multi(&[("X-B3-TraceId", TRACE), ("X-B3-SpanId", "x")]),
            Err(HeaderError::SpanId(ParseIdError::Length))
        );
    }

    fn all_values() -> Vec<B3> {
        let mut values = vec![
            B3::SamplingOnly { sampled: false, debug: false },
            B3::SamplingOnly { sampled: true, debug: false },
            B3::SamplingOnly { sampled: true, debug: true },
        ];
        for parent in [false, true] {
            for (sampled, debug) in
                [(None, false), (Some(false), false), (Some(true), false), (Some(true), true)]
            {
                values.push(context(sampled, debug, parent));
            }
        }
        let short = B3Context::new(TraceId::from_u128(0x1234).unwrap(), SpanId::random());
        values.push(short.into());
        values
    }

    #[test]
    fn single_header_format_then_parse_gives_the_same_value() {
        for value in all_values() {
            let header = value.to_string();
            assert!(header.len() <= B3::MAX_LEN);
            assert_eq!(B3::parse_single(&header), Ok(value), "{header}");
        }
    }

    #[test]
    fn multi_header_format_then_parse_gives_the_same_value() {
        for value in all_values() {
            let mut headers = HashMap::new();
            value.write_multi(|name, v| {
                assert!(headers.insert(name, v).is_none(), "{name} written twice");
            });
            let debug = matches!(value, B3::SamplingOnly { debug: true, .. })
                || value.context().is_some_and(|c| c.debug);
            assert_eq!(
                headers.contains_key(B3::SAMPLED_HEADER),
                !debug && value.sampled().is_some()
            );
            let parsed = B3::parse_multi(|name| headers.get(name).map(String::as_str));
            assert_eq!(parsed, Ok(Some(value)), "{headers:?}");
        }
    }

    #[test]
    fn sampled_counts_debug_as_accept() {
        assert_eq!(context(None, false, false).sampled(), None);
        assert_eq!(context(Some(false), false, false).sampled(), Some(false));
        assert_eq!(context(None, true, false).sampled(), Some(true));
        assert_eq!(B3::SamplingOnly { sampled: false, debug: true }.sampled(), Some(true));
    }
}
