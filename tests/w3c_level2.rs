//! W3C Trace Context Level 2, end to end through the public API a service
//! uses: an `http::HeaderMap` of incoming lines, a server span continuing
//! the caller's trace, and outgoing calls (`ClientCall`) on the server's
//! thread, on a thread the context was handed to, and in a future polled
//! elsewhere. Each row quotes the rule it checks (W3C Candidate
//! Recommendation "Trace Context Level 2"), and names the test of the
//! official suite (github.com/w3c/trace-context, `test/test.py`) that
//! checks the same, where there is one.

use std::ops::ControlFlow;

use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use trace_runtime::http::{ClientCall, ServerSpan};
use trace_runtime::propagation::{self, Baggage, Extractor, TraceParent};
use trace_runtime::{Context, FutureExt, InMemoryCollector, TraceFlags, Tracer};

const TRACE: &str = "12345678901234567890123456789012";
const PARENT: &str = "1234567890123456";

fn headers(lines: &[(&str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for &(name, value) in lines {
        let name: http::HeaderName = name.parse().expect("a header name");
        map.append(name, HeaderValue::from_bytes(value).expect("a header value"));
    }
    map
}

/// One outgoing call in a client span; its headers.
fn call() -> HeaderMap {
    let mut headers = HeaderMap::new();
    let span = ClientCall::start(&Method::POST, "http://127.0.0.1:7777/callback", &mut headers);
    span.end(Ok::<_, String>(StatusCode::OK));
    headers
}

/// What a service sends on for one request with `incoming` headers: the
/// headers of three outgoing calls, made on the server span's thread, on a
/// thread the context was handed to, and in a future polled on another
/// thread.
fn forward(incoming: &HeaderMap) -> Vec<HeaderMap> {
    let tracer = Tracer::builder("level2").span_processor(InMemoryCollector::new()).build();
    tracer.in_scope(|| {
        let uri = Uri::from_static("/test");
        let _server = ServerSpan::from_parts(&Method::POST, &uri, incoming, "/test");
        let here = call();
        let thread = std::thread::spawn(Context::current().wrap(call)).join().unwrap();
        let future = async { call() }.in_current_context();
        let polled = std::thread::spawn(move || futures::executor::block_on(future)).join();
        vec![here, thread, polled.unwrap()]
    })
}

fn traceparent(headers: &HeaderMap) -> TraceParent {
    let value = headers.get("traceparent").expect("a traceparent").to_str().unwrap();
    TraceParent::parse(value).expect("a valid traceparent")
}

/// The outgoing `tracestate` without our own entry (which comes first).
fn their_tracestate(headers: &HeaderMap) -> String {
    let value = headers.get("tracestate").map_or("", |v| v.to_str().unwrap());
    let own = format!("tr={}", traceparent(headers).parent_id);
    let rest = value.strip_prefix(&own).expect("our entry first");
    rest.strip_prefix(',').unwrap_or(rest).to_owned()
}

/// What the outgoing `traceparent` headers must show.
struct WantParent {
    /// The incoming trace continued (else a new one started).
    continued: bool,
    random: bool,
}

#[test]
fn trace_flags_rules() {
    // (rule, the incoming `traceparent`, what goes out)
    let rows: Vec<(&str, Option<String>, WantParent)> = vec![
        (
            "Random Trace ID Flag: If the flag is set in the incoming `traceparent` header, it \
             MUST also be set in all outgoing `traceparent` headers which use the same \
             `trace-id`. (test_propagates_random_flag: flags `02`)",
            Some(format!("00-{TRACE}-{PARENT}-02")),
            WantParent { continued: true, random: true },
        ),
        (
            "Random Trace ID Flag: If the flag is set in the incoming `traceparent` header, it \
             MUST also be set ... (flags `03`, sampled too)",
            Some(format!("00-{TRACE}-{PARENT}-03")),
            WantParent { continued: true, random: true },
        ),
        (
            "Random Trace ID Flag: If the flag is unset in the incoming `traceparent` header, \
             it MUST also be unset in any outgoing `traceparent` headers which use the same \
             `trace-id`. (flags `01`)",
            Some(format!("00-{TRACE}-{PARENT}-01")),
            WantParent { continued: true, random: false },
        ),
        (
            "Random Trace ID Flag: If the flag is unset in the incoming `traceparent` header, \
             it MUST also be unset ... (flags `00`)",
            Some(format!("00-{TRACE}-{PARENT}-00")),
            WantParent { continued: true, random: false },
        ),
        (
            "Versioning of traceparent: If a higher version is detected, the implementation \
             SHOULD try to parse it ... Parse the `sampled` bit of `flags` (the random bit \
             too, from a version `cc` header with a field appended)",
            Some(format!("cc-{TRACE}-{PARENT}-02-what-the-future-will-be-like")),
            WantParent { continued: true, random: true },
        ),
        (
            "Other Flags: The behavior of other flags, such as (`00000100`) is not defined and \
             is reserved for future use. Vendors MUST set those to zero. (flags `ff`)",
            Some(format!("00-{TRACE}-{PARENT}-ff")),
            WantParent { continued: true, random: true },
        ),
        (
            "trace-id: If the right-most 7 bytes are randomly (or pseudo-randomly) generated, \
             the corresponding random trace id flag SHOULD be set. (no `traceparent`: \
             test_both_traceparent_and_tracestate_missing)",
            None,
            WantParent { continued: false, random: true },
        ),
        (
            "Random Trace ID Flag: When starting or restarting a trace ... When at least the \
             right-most 7 bytes of the `trace-id` are randomly (or pseudo-randomly) generated, \
             the `random-trace-id` flag SHOULD be set to `1`. (restarted: an invalid \
             `traceparent` whose flags had the random bit)",
            Some(format!("00-{TRACE}-0000000000000000-02")),
            WantParent { continued: false, random: true },
        ),
    ];
    for (rule, incoming, want) in rows {
        let lines: Vec<(&str, &[u8])> =
            incoming.iter().map(|value| ("traceparent", value.as_bytes())).collect();
        let outgoing = forward(&headers(&lines));
        let mut parent_ids = Vec::new();
        for headers in &outgoing {
            let sent = traceparent(headers);
            assert_eq!(sent.trace_id.to_string() == TRACE, want.continued, "{rule}: {sent}");
            assert_eq!(sent.flags & TraceParent::FLAG_RANDOM != 0, want.random, "{rule}: {sent}");
            // "Other Flags ... Vendors MUST set those to zero."
            assert_eq!(sent.flags & !0x03, 0, "{rule}: {sent}");
            // "The `sampled` flag has no restriction on its mutations except
            // that it can only be mutated when parent-id is updated": every
            // call has a parent ID of its own.
            assert_ne!(sent.parent_id.to_string(), PARENT, "{rule}: {sent}");
            parent_ids.push(sent.parent_id);
        }
        parent_ids.sort();
        parent_ids.dedup();
        assert_eq!(parent_ids.len(), outgoing.len(), "{rule}: one parent ID per call");
        // All three calls of a request belong to one trace, with one set of flags.
        let first = traceparent(&outgoing[0]);
        for headers in &outgoing[1..] {
            let sent = traceparent(headers);
            assert_eq!((sent.trace_id, sent.flags), (first.trace_id, first.flags), "{rule}");
        }
    }
}

#[test]
fn tracestate_rules() {
    let key256 = "z".repeat(256);
    let key257 = "z".repeat(257);
    let tenant241 = format!("{}@{}", "t".repeat(241), "v".repeat(14));
    let tenant242 = format!("{}@v", "t".repeat(242));
    let system15 = format!("t@{}", "v".repeat(15));
    let members33: Vec<String> = (1..=33).map(|i| format!("bar{i:02}={i:02}")).collect();
    // (rule, `tracestate` lines, what goes out besides our entry)
    let rows: Vec<(&str, Vec<String>, String)> = vec![
        (
            "Key: `key = ( lcalpha / DIGIT ) 0*255 ( keychar )` (a digit first)",
            vec!["1foo=1,0=2".into()],
            "1foo=1,0=2".into(),
        ),
        (
            "Key: `keychar = lcalpha / DIGIT / \"_\" / \"-\"/ \"*\" / \"/\" / \"@\"` \
             (test_tracestate_key_illegal_vendor_format: `foo@=1,bar=2`)",
            vec!["foo@=1,bar=2".into()],
            "foo@=1,bar=2".into(),
        ),
        (
            "Key: `keychar = ... / \"@\"` (test_tracestate_key_illegal_vendor_format: \
             `foo@@bar=1,bar=2`)",
            vec!["foo@@bar=1,bar=2".into()],
            "foo@@bar=1,bar=2".into(),
        ),
        (
            "Key: `keychar = ... / \"@\"` (test_tracestate_key_illegal_vendor_format: \
             `foo@bar@baz=1,bar=2`)",
            vec!["foo@bar@baz=1,bar=2".into()],
            "foo@bar@baz=1,bar=2".into(),
        ),
        (
            "Key: A `key` MUST begin with a lowercase letter or a digit \
             (test_tracestate_key_illegal_vendor_format: `@foo=1,bar=2` drops the header)",
            vec!["@foo=1,bar=2".into()],
            String::new(),
        ),
        (
            "Key: ... and contain up to 256 characters (test_tracestate_key_length_limit: 256)",
            vec!["foo=1".into(), format!("{key256}=1")],
            format!("foo=1,{key256}=1"),
        ),
        (
            "Key: ... and contain up to 256 characters (test_tracestate_key_length_limit: 257)",
            vec!["foo=1".into(), format!("{key257}=1")],
            String::new(),
        ),
        (
            "Key: ... up to 256 characters including ... at signs (`@`) \
             (test_tracestate_key_length_limit: 241 + `@` + 14)",
            vec!["foo=1".into(), format!("{tenant241}=1")],
            format!("foo=1,{tenant241}=1"),
        ),
        (
            "Key: ... up to 256 characters including ... at signs (`@`) \
             (test_tracestate_key_length_limit: 242 + `@` + 1, too long a tenant for Level 1)",
            vec!["foo=1".into(), format!("{tenant242}=1")],
            format!("foo=1,{tenant242}=1"),
        ),
        (
            "Key: ... up to 256 characters including ... at signs (`@`) \
             (test_tracestate_key_length_limit: 1 + `@` + 15, too long a system for Level 1)",
            vec!["foo=1".into(), format!("{system15}=1")],
            format!("foo=1,{system15}=1"),
        ),
        (
            "Mutating the tracestate Field: Vendors receiving a `tracestate` request header \
             MUST send it to outgoing requests. ... vendors MAY also discard duplicate keys \
             that were not generated by them. (test_tracestate_duplicated_keys: `foo=1,foo=1`)",
            vec!["foo=1,foo=1".into()],
            "foo=1".into(),
        ),
        (
            "... vendors MAY also discard duplicate keys that were not generated by them. \
             (test_tracestate_duplicated_keys: `foo=1,foo=2`)",
            vec!["foo=1,foo=2".into()],
            "foo=1".into(),
        ),
        (
            "... vendors MAY also discard duplicate keys that were not generated by them. \
             (test_tracestate_duplicated_keys: `foo=1` twice, on two lines)",
            vec!["foo=1".into(), "foo=1".into()],
            "foo=1".into(),
        ),
        (
            "... vendors MAY also discard duplicate keys that were not generated by them. \
             (test_tracestate_duplicated_keys: `foo=1` and `foo=2` on two lines)",
            vec!["foo=1".into(), "foo=2".into()],
            "foo=1".into(),
        ),
        (
            "Add a new key/value pair. ... Adding a key/value pair MUST NOT result in the same \
             key being present multiple times. (our own key, twice in the request)",
            vec!["tr=1111111111111111,foo=1,tr=2222222222222222".into()],
            "foo=1".into(),
        ),
        (
            "tracestate Header Field Values: When receiving multiple `tracestate` header \
             fields, they MUST be combined into a single header according to [RFC9110]. \
             (test_tracestate_multiple_headers_different_keys)",
            vec!["foo=1,bar=2".into(), "rojo=1,congo=2".into(), "baz=3".into()],
            "foo=1,bar=2,rojo=1,congo=2,baz=3".into(),
        ),
        (
            "There can be a maximum of 32 `list-member`s in a `list`. \
             (test_tracestate_member_count_limit: 33 over four lines drops the header)",
            members33.chunks(10).map(|c| c.join(",")).collect(),
            String::new(),
        ),
        (
            "Value: `value = 0*255(chr) nblk-chr` \
             (test_tracestate_value_illegal_characters: `foo=,bar=3` drops the header)",
            vec!["foo=,bar=3".into()],
            String::new(),
        ),
    ];
    for (rule, lines, want) in rows {
        let parent = format!("00-{TRACE}-{PARENT}-00");
        let mut incoming = vec![("traceparent", parent.as_bytes())];
        incoming.extend(lines.iter().map(|line| ("tracestate", line.as_bytes())));
        for outgoing in forward(&headers(&incoming)) {
            assert_eq!(traceparent(&outgoing).trace_id.to_string(), TRACE, "{rule}");
            assert_eq!(their_tracestate(&outgoing), want, "{rule}");
        }
    }
}

#[test]
fn repeated_tracestate_keys_are_counted() {
    let before = propagation::stats().duplicate_tracestate_keys;
    let parent = format!("00-{TRACE}-{PARENT}-00");
    let incoming =
        headers(&[("traceparent", parent.as_bytes()), ("tracestate", b"foo=1,foo=2,bar=1,foo=3")]);
    let context = propagation::extract(&incoming);
    assert_eq!(context.trace_state().to_string(), "foo=1,bar=1");
    // Other tests of this binary may add to the count meanwhile, never take.
    assert!(propagation::stats().duplicate_tracestate_keys >= before + 2);
}

#[test]
fn an_unreadable_traceparent_line_is_still_a_line() {
    // Two readable lines restart the trace (test_traceparent_duplicated); a
    // line that is not text counts the same, in either order.
    let valid = format!("00-{TRACE}-{PARENT}-01");
    let other = format!("00-{}1-{PARENT}-01", &TRACE[..31]);
    let cases: [[&[u8]; 2]; 3] = [
        [valid.as_bytes(), other.as_bytes()],
        [valid.as_bytes(), b"00-\xff"],
        [b"\xff\xfe", valid.as_bytes()],
    ];
    for lines in cases {
        let before = propagation::stats().malformed_traceparent;
        let incoming = headers(&[("traceparent", lines[0]), ("traceparent", lines[1])]);
        assert_eq!(propagation::extract(&incoming).span_context(), None, "{lines:?}");
        assert!(propagation::stats().malformed_traceparent > before);
        for outgoing in forward(&incoming) {
            let sent = traceparent(&outgoing);
            assert_ne!(sent.trace_id.to_string(), TRACE, "{lines:?}");
            assert_ne!(sent.trace_id.to_string(), other[3..35], "{lines:?}");
        }
    }
}

#[test]
fn an_unreadable_tracestate_line_drops_the_tracestate_alone() {
    let parent = format!("00-{TRACE}-{PARENT}-01");
    let incoming = headers(&[
        ("traceparent", parent.as_bytes()),
        ("tracestate", b"foo=1"),
        ("tracestate", b"bar=caf\xe9"),
    ]);
    let context = propagation::extract(&incoming);
    assert_eq!(context.span_context().map(|s| s.trace_id.to_string()).as_deref(), Some(TRACE));
    assert!(context.trace_state().is_empty());
}

/// A carrier of many header lines (more than an `http::HeaderMap` holds)
/// that counts the values the propagators read.
struct Lines {
    lines: Vec<(&'static str, String)>,
    read: std::cell::Cell<usize>,
}

impl Lines {
    fn new(lines: Vec<(&'static str, String)>) -> Self {
        Self { lines, read: 0.into() }
    }

    fn values<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a str> + use<'a> {
        let key = key.to_owned();
        self.lines.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(&key)).map(|(_, v)| {
            self.read.set(self.read.get() + 1);
            v.as_str()
        })
    }
}

impl Extractor for Lines {
    fn get(&self, key: &str) -> Option<&str> {
        self.values(key).next()
    }

    fn get_all(&self, key: &str) -> Vec<&str> {
        self.values(key).collect()
    }

    fn for_each_value(&self, key: &str, visit: &mut dyn FnMut(Option<&str>) -> ControlFlow<()>) {
        for value in self.values(key) {
            if visit(Some(value)).is_break() {
                return;
            }
        }
    }
}

#[test]
fn a_hundred_thousand_tracestate_lines_are_read_only_to_the_limit() {
    let mut lines = vec![("traceparent", format!("00-{TRACE}-{PARENT}-01"))];
    lines.extend(std::iter::repeat_n(("tracestate", "a=1".to_owned()), 100_000));
    let carrier = Lines::new(lines);
    let context = propagation::extract(&carrier);
    // "There can be a maximum of 32 list-members in a list": the 33rd
    // member ends the reading, and the header is dropped.
    assert!(context.trace_state().is_empty());
    assert_eq!(context.span_context().map(|s| s.flags), Some(TraceFlags::SAMPLED));
    // One `traceparent` line and 33 `tracestate` lines.
    assert_eq!(carrier.read.get(), 1 + 33);
}

#[test]
fn a_ten_megabyte_baggage_is_read_only_to_its_limit() {
    let huge = (0..1_100_000).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join(",");
    assert!(huge.len() > 10_000_000);
    let before = propagation::stats().dropped_baggage_members;
    let context = propagation::extract(&headers(&[("baggage", huge.as_bytes())]));
    assert_eq!(context.baggage().len(), Baggage::MAX_MEMBERS);
    // Each member read past the 64th is counted, and the unread rest once:
    // a few thousand, not 1.1 million. (Other tests of this binary drop no
    // baggage members.)
    let dropped = propagation::stats().dropped_baggage_members - before;
    assert!((1..=Baggage::MAX_LEN / 4).contains(&(dropped as usize)), "{dropped} dropped");

    // The same members on 1.1 million lines: read up to the limit only.
    let carrier = Lines::new((0..1_100_000).map(|i| ("baggage", format!("k{i}=v"))).collect());
    let context = propagation::extract(&carrier);
    assert_eq!(context.baggage().len(), Baggage::MAX_MEMBERS);
    assert!(carrier.read.get() <= Baggage::MAX_LEN / 4, "{} lines read", carrier.read.get());
}

#[test]
fn an_unsampled_trace_started_here_sends_the_random_flag_too() {
    // "When at least the right-most 7 bytes of the trace-id are randomly
    // (or pseudo-randomly) generated, the random-trace-id flag SHOULD be set
    // to 1": whatever the sampling decision (spans under an unsampled span
    // share its frame, or get one when a future carries them).
    let tracer = Tracer::builder("unsampled")
        .sampler(trace_runtime::Sampler::AlwaysOff)
        .span_processor(InMemoryCollector::new())
        .build();
    let outgoing = tracer.in_scope(|| {
        let _root = trace_runtime::span("request").start();
        let here = call();
        let future = async { call() }.in_current_context();
        let polled = std::thread::spawn(move || futures::executor::block_on(future)).join();
        [here, polled.unwrap()]
    });
    for headers in &outgoing {
        assert_eq!(traceparent(headers).flags, TraceFlags::RANDOM.bits());
    }
}
