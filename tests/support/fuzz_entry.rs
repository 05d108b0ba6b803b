//! The fuzz targets' bodies, one function per target, shared by the
//! cargo-fuzz crate in `fuzz/` and by `tests/fuzz_corpus.rs`, which replays
//! the seed corpus and every crash found through the same functions.
//!
//! Each function feeds `data` to a parser that reads input from outside the
//! process and panics only when an invariant breaks: a value that parsed
//! must format to text that parses back to the same value.

use std::collections::HashMap;

use trace_analysis::{read_jsonl, read_otlp_json, read_spans};
use trace_runtime::export::write_jsonl_line;
use trace_runtime::propagation::{self, B3, Baggage, TraceParent, TraceState};

/// A target's body: feeds it one input, panicking on a finding.
pub type Target = fn(&[u8]);

/// Every target: its name (the directory under `fuzz/corpus/` and
/// `fuzz/artifacts/`) and its body.
pub const TARGETS: &[(&str, Target)] = &[
    ("traceparent", traceparent),
    ("tracestate", tracestate),
    ("baggage", baggage),
    ("b3_single", b3_single),
    ("b3_multi", b3_multi),
    ("extract", extract),
    ("jsonl", jsonl),
    ("otlp_json", otlp_json),
];

/// `traceparent`: parse, and parse the formatted value back.
pub fn traceparent(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(parent) = TraceParent::parse(&text) {
        let formatted = parent.to_string();
        assert_eq!(TraceParent::parse(&formatted), Ok(parent), "{formatted:?}");
    }
}

/// `tracestate`, one field per line: the fields parse as if joined with
/// commas, and a parsed value formats to text that parses back to it.
pub fn tracestate(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let fields: Vec<&str> = text.split('\n').collect();
    let state = TraceState::parse_all(fields.iter().copied());
    assert_eq!(state, TraceState::parse(&fields.join(",")), "fields {fields:?}");
    if let Ok(state) = state {
        let formatted = state.to_string();
        assert_eq!(TraceState::parse(&formatted), Ok(state), "{formatted:?}");
    }
}

/// `baggage`, one field per line: formatting drops only whole members (to
/// stay within the limits), and what it writes is a fixed point.
pub fn baggage(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parsed = Baggage::parse_all(text.split('\n'), |_| {});
    assert!(parsed.len() <= Baggage::MAX_MEMBERS);
    let formatted = parsed.to_string();
    assert!(formatted.len() <= Baggage::MAX_BYTES);
    let reparsed = Baggage::parse(&formatted);
    assert_eq!(reparsed.to_string(), formatted);
    if reparsed.len() == parsed.len() {
        assert_eq!(reparsed, parsed, "{formatted:?}");
    } else {
        // The members written are some of those parsed, in order.
        let mut kept = parsed.iter();
        for member in reparsed.iter() {
            assert!(kept.any(|m| m == member), "{member:?} was not parsed from {text:?}");
        }
    }
}

/// The single `b3` header: parse, and parse the formatted value back.
pub fn b3_single(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(b3) = B3::parse_single(&text) {
        let formatted = b3.to_string();
        assert_eq!(B3::parse_single(&formatted), Ok(b3), "{formatted:?}");
    }
}

/// The `X-B3-*` headers. The first byte says which of the five are present
/// (one bit each); the rest, split at newlines, gives their values in order.
pub fn b3_multi(data: &[u8]) {
    const NAMES: [&str; 5] = [
        B3::TRACE_ID_HEADER,
        B3::SPAN_ID_HEADER,
        B3::PARENT_SPAN_ID_HEADER,
        B3::SAMPLED_HEADER,
        B3::FLAGS_HEADER,
    ];
    let Some((&present, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let mut values = text.split('\n');
    let mut headers = HashMap::new();
    for (bit, name) in NAMES.iter().enumerate() {
        if present & (1 << bit) != 0 {
            headers.insert(*name, values.next().unwrap_or_default());
        }
    }
    if let Ok(Some(b3)) = B3::parse_multi(|name| headers.get(name).copied()) {
        let mut written = HashMap::new();
        b3.write_multi(|name, value| {
            written.insert(name, value);
        });
        let reparsed = B3::parse_multi(|name| written.get(name).map(String::as_str));
        assert_eq!(reparsed, Ok(Some(b3)), "{written:?}");
    }
}

/// The composite extraction over a map of headers, one `name: value` per
/// line. What was extracted, injected and extracted again gives the same
/// span, the same trace state with our own entry in front, and the baggage
/// as formatted.
pub fn extract(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let headers: HashMap<String, String> = text
        .split('\n')
        .map(|line| line.split_once(':').unwrap_or((line, "")))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let context = propagation::extract(&headers);

    let mut outgoing: HashMap<String, String> = HashMap::new();
    propagation::inject_context(&context, &mut outgoing);
    let again = propagation::extract(&outgoing);
    assert_eq!(again.span_context(), context.span_context(), "{outgoing:?}");
    if let Some(span) = context.span_context() {
        assert!(span.remote);
        let mut state = context.trace_state().clone();
        state.insert("tr", &span.span_id.to_string()).unwrap();
        assert_eq!(again.trace_state(), &state, "{outgoing:?}");
    }
    assert_eq!(again.baggage().to_string(), context.baggage().to_string(), "{outgoing:?}");
}

/// JSON Lines span files: reading never fails on in-memory input, and every
/// span read is written and read back unchanged.
pub fn jsonl(data: &[u8]) {
    let outcome = read_jsonl(data).expect("reading from memory cannot fail");
    assert_round_trip_through_jsonl(&outcome.spans);
}

/// JSON span documents: OTLP JSON, and through the format detection of
/// `read_spans` Jaeger and Zipkin JSON as well. Reading never fails on
/// in-memory input, and every skipped record says why.
pub fn otlp_json(data: &[u8]) {
    for outcome in [read_otlp_json(data), read_spans(data)] {
        let outcome = outcome.expect("reading from memory cannot fail");
        assert_eq!(outcome.first_error.is_some(), outcome.malformed_lines > 0);
    }
}

fn assert_round_trip_through_jsonl(spans: &[trace_runtime::SpanData]) {
    let mut text = String::new();
    for span in spans {
        write_jsonl_line(span, &mut text);
    }
    let again = read_jsonl(text.as_bytes()).expect("reading from memory cannot fail");
    assert_eq!(again.malformed_lines, 0, "{:?}\n{text}", again.first_error);
    assert_eq!(again.spans, spans, "{text}");
}
