//! Properties of propagation over random input: inject-then-extract gives
//! back every valid context, and extraction from arbitrary headers neither
//! panics nor allocates more than a fixed bound per header, however long
//! the header.
//!
//! The allocation bounds are measured by a counting global allocator: bytes
//! requested on the current thread (each allocation's size, and each
//! reallocation's growth), freed or not, so churn counts as much as what
//! is kept.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;
use trace_runtime::propagation::{self, Baggage, BaggageMember, TraceState};
use trace_runtime::{Context, SpanContext, SpanId, TraceFlags, TraceId};

/// `cases` cases; a failing case's seed is saved beside this file (in
/// `properties.proptest-regressions`) and tried first from then on.
fn config(cases: u32) -> ProptestConfig {
    let persistence = FileFailurePersistence::WithSource("proptest-regressions");
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(persistence)),
        ..ProptestConfig::default()
    }
}

// --- Counting allocator -----------------------------------------------------

/// [`System`], counting the bytes requested on each thread.
struct CountingAllocator;

thread_local! {
    /// Bytes requested by this thread so far. Const-initialised and without
    /// a destructor, so the allocator can use it without allocating.
    static REQUESTED: Cell<usize> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    // After the thread's locals are gone (thread exit) there is nothing to count.
    let _ = REQUESTED.try_with(|requested| requested.set(requested.get() + bytes));
}

// SAFETY: every call is forwarded unchanged to `System`.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size.saturating_sub(layout.size()));
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The bytes `extract` requests for `headers`, on this thread.
fn bytes_allocated_extracting(headers: &HashMap<String, String>) -> usize {
    // The first extraction initialises the global propagator: not per header.
    let _ = propagation::extract(&HashMap::<String, String>::new());
    let before = REQUESTED.with(Cell::get);
    let context = propagation::extract(headers);
    let requested = REQUESTED.with(Cell::get) - before;
    drop(context);
    requested
}

// --- Allocation bounds ------------------------------------------------------

/// `traceparent`, `b3` and `X-B3-*`: a value longer than its format's
/// fixed length is rejected before any work, and parsing a shorter one
/// allocates nothing. What remains is the carrier's list of values for a
/// header, a few words. (Measured: 16 bytes.)
const FIXED_FORMAT_BOUND: usize = 1024;

/// `tracestate` (behind a valid `traceparent`): at most
/// `TraceState::MAX_LEN` (32 KiB) is read and at most 32 members kept, each
/// a key and a value of at most 256 bytes. Their copies take at most 16 KiB,
/// the member list (48 bytes a member, grown by doubling) 3 KiB; the bound
/// is what is read, 32 KiB. (Measured worst case: 18 KiB.)
const TRACESTATE_BOUND: usize = 32 * 1024;

/// `baggage`: members are read in full only while they fit in
/// `Baggage::MAX_BYTES` (8 KiB) and `Baggage::MAX_MEMBERS` (64), and a
/// rejected member allocates nothing. What is kept: keys and decoded values
/// (at most 8 KiB, plus at most 8 KiB of scratch while decoding invalid
/// UTF-8), the member list (64 members of 72 bytes, grown by doubling:
/// 9 KiB), and the property lists, sized exactly: a property takes 48 bytes
/// and at least 2 header bytes (`;a`), so at most 4096 of them take
/// 192 KiB. 8 KiB more for the context that holds them: 225 KiB in all.
/// (Measured worst case: 196 KiB, for one member with 4094 properties.)
const BAGGAGE_BOUND: usize = 8 * 1024 + 8 * 1024 + 9 * 1024 + 4096 * 48 + 8 * 1024;

/// The bound for one header, by name.
fn bound(header: &str) -> usize {
    match header {
        "tracestate" => TRACESTATE_BOUND + FIXED_FORMAT_BOUND,
        "baggage" => BAGGAGE_BOUND,
        _ => FIXED_FORMAT_BOUND,
    }
}

/// Every header extraction reads.
const HEADERS: [&str; 9] = [
    "traceparent",
    "tracestate",
    "baggage",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
];

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// One hostile header (behind a valid `traceparent` when it is
/// `tracestate`, so that it is read at all).
fn single_header(name: &str, value: String) -> HashMap<String, String> {
    let mut headers = HashMap::from([(name.to_owned(), value)]);
    if name == "tracestate" {
        headers.insert("traceparent".to_owned(), TRACEPARENT.to_owned());
    }
    headers
}

fn assert_within_bound(name: &str, value: String) {
    let len = value.len();
    let allocated = bytes_allocated_extracting(&single_header(name, value));
    assert!(
        allocated <= bound(name),
        "{name}: {allocated} bytes allocated for a {len}-byte value (bound {})",
        bound(name)
    );
}

const MIB: usize = 1024 * 1024;

/// `text` repeated to `len` bytes (cut at a character boundary).
fn repeated(text: &str, len: usize) -> String {
    let mut value = text.repeat(len / text.len().max(1) + 1);
    let mut end = len.min(value.len());
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value.truncate(end);
    value
}

#[test]
fn rejected_baggage_members_allocate_nothing() {
    // Each member's key and value are valid, its property is not: before the
    // fix, the key and value were copied, then dropped with the member, for
    // every member of the header.
    assert_within_bound("baggage", repeated("k=v;@,", MIB));
    // The same with members each as long as the limit allows, every one
    // holding 4 000 properties before the bad one.
    let member = format!("k=v{};@,", ";a".repeat(4000));
    assert_within_bound("baggage", repeated(&member, MIB));
}

#[test]
fn worst_case_headers_stay_within_their_bounds() {
    // The most properties one baggage can keep.
    assert_within_bound("baggage", format!("k=v{}", ";a".repeat(4094)));
    // 64 members, with values decoded as invalid UTF-8.
    let member = format!("k{{}}={}", "%FF".repeat(40));
    let members: Vec<String> = (0..64).map(|i| member.replace("{}", &i.to_string())).collect();
    assert_within_bound("baggage", members.join(","));
    // 32 members of the longest key and value.
    let members: Vec<String> = (0..32).map(|i| format!("k{i:0>255}={}", "v".repeat(256))).collect();
    assert_within_bound("tracestate", members.join(","));
    for name in HEADERS {
        assert_within_bound(name, repeated("a", MIB));
    }
}

/// Header fragments that reach deep into the parsers when repeated.
const FRAGMENTS: &[&str] = &[
    "a=1,",
    "k=v;p;q=r",
    ";a",
    "k=v;@,",
    ",",
    " ",
    "\t",
    "=",
    "%",
    "%FF",
    "%41",
    "é",
    "-",
    "00-",
    "0123456789abcdef",
    "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
    "tr=1,",
    "x@y=z,",
    "1",
    "d",
];

/// A value of up to 1 MiB: a random pattern of fragments, repeated.
fn long_value() -> impl Strategy<Value = String> {
    let piece = prop_oneof![select(FRAGMENTS).prop_map(str::to_owned), ".{0,12}"];
    let len = prop_oneof![0..1024usize, 1024..64 * 1024usize, 64 * 1024..=MIB];
    (proptest::collection::vec(piece, 1..6), len)
        .prop_map(|(pieces, len)| repeated(&pieces.concat(), len))
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn extraction_allocates_at_most_a_fixed_bound_per_header(
        name in select(&HEADERS[..]),
        value in long_value(),
    ) {
        let len = value.len();
        let allocated = bytes_allocated_extracting(&single_header(name, value));
        prop_assert!(
            allocated <= bound(name),
            "{} bytes allocated for a {}-byte {} (bound {})", allocated, len, name, bound(name)
        );
    }

    #[test]
    fn extraction_from_every_header_at_once_allocates_at_most_the_sum(
        values in proptest::collection::vec(long_value(), HEADERS.len()),
    ) {
        let headers: HashMap<String, String> =
            HEADERS.iter().map(|h| h.to_string()).zip(values).collect();
        let sum: usize = HEADERS.iter().map(|h| bound(h)).sum();
        // With `baggage` beside them, the trace state is copied once more
        // into the context that gets the baggage.
        let sum = sum + TRACESTATE_BOUND;
        prop_assert!(bytes_allocated_extracting(&headers) <= sum);
    }
}

// --- Inject, then extract ---------------------------------------------------

/// A `tracestate` key of Level 2 (`( lcalpha / DIGIT ) 0*255 ( keychar )`),
/// often with an `@`, sometimes our own.
fn tracestate_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9][a-z0-9_*/@-]{0,255}",
        4 => "[a-z0-9][a-z0-9_*/-]{0,240}@[a-z][a-z0-9_*/-]{0,13}",
        1 => Just("tr".to_owned()),
    ]
}

/// A `tracestate` value: up to 256 printable ASCII characters but `,` and
/// `=`, not ending in a space.
fn tracestate_value() -> impl Strategy<Value = String> {
    "[\\x20-\\x2B\\x2D-\\x3C\\x3E-\\x7E]{0,255}[\\x21-\\x2B\\x2D-\\x3C\\x3E-\\x7E]"
}

fn trace_state() -> impl Strategy<Value = TraceState> {
    proptest::collection::vec((tracestate_key(), tracestate_value()), 0..=32).prop_map(|pairs| {
        let mut members: Vec<(String, String)> = Vec::new();
        for (key, value) in pairs {
            if members.iter().all(|(k, _)| *k != key) {
                members.push((key, value));
            }
        }
        let text: Vec<String> = members.iter().map(|(k, v)| format!("{k}={v}")).collect();
        TraceState::parse(&text.join(",")).expect("generated from the grammar")
    })
}

/// An HTTP token, the grammar of baggage keys.
fn token() -> impl Strategy<Value = String> {
    "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,16}"
}

/// Any text, mostly characters that must be percent-encoded.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,16}",
        proptest::collection::vec(any::<char>(), 0..16).prop_map(String::from_iter),
        "[ %+,;=\"\\\\a-z]{0,16}",
    ]
}

fn baggage_member() -> impl Strategy<Value = BaggageMember> {
    (token(), text(), proptest::collection::vec((token(), proptest::option::of(text())), 0..3))
        .prop_map(|(key, value, properties)| {
            let mut member = BaggageMember::new(&key, &value).unwrap();
            for (key, value) in properties {
                member = member.with_property(&key, value.as_deref()).unwrap();
            }
            member
        })
}

/// Baggage within the limits: members are added while the formatted
/// header stays within `Baggage::MAX_BYTES` and `Baggage::MAX_MEMBERS`.
fn baggage() -> impl Strategy<Value = Baggage> {
    proptest::collection::vec(baggage_member(), 0..=64).prop_map(|members| {
        let mut baggage = Baggage::new();
        for member in members {
            let mut with = baggage.clone();
            with.insert_member(member);
            if with.len() <= Baggage::MAX_MEMBERS
                && with.iter().map(|m| m.to_string().len() + 1).sum::<usize>()
                    <= Baggage::MAX_BYTES + 1
            {
                baggage = with;
            }
        }
        baggage
    })
}

fn span_context() -> impl Strategy<Value = SpanContext> {
    (1..=u128::MAX, 1..=u64::MAX, any::<u8>()).prop_map(|(trace, span, flags)| SpanContext {
        trace_id: TraceId::from_u128(trace).unwrap(),
        span_id: SpanId::from_u64(span).unwrap(),
        flags: TraceFlags::from_bits(flags),
        remote: true,
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn inject_then_extract_gives_back_every_valid_context(
        span in span_context(),
        state in trace_state(),
        baggage in baggage(),
    ) {
        let context = Context::with_remote_parent(span)
            .with_trace_state(state.clone())
            .with_baggage(baggage.clone());
        let mut headers: HashMap<String, String> = HashMap::new();
        propagation::inject_context(&context, &mut headers);
        let extracted = propagation::extract(&headers);

        let got = extracted.span_context().expect("a span context");
        prop_assert_eq!(got.trace_id, span.trace_id);
        prop_assert_eq!(got.span_id, span.span_id);
        prop_assert_eq!(got.flags, span.flags);
        prop_assert!(got.remote);

        // Our own entry goes in front, replacing any earlier one; the list
        // keeps at most 32 members, dropping from the end.
        let own = span.span_id.to_string();
        let mut want: Vec<(&str, &str)> = vec![("tr", &own)];
        want.extend(state.iter().filter(|(key, _)| *key != "tr"));
        want.truncate(TraceState::MAX_MEMBERS);
        prop_assert_eq!(extracted.trace_state().iter().collect::<Vec<_>>(), want);

        prop_assert_eq!(extracted.baggage().len(), baggage.len());
        for (got, want) in extracted.baggage().iter().zip(baggage.iter()) {
            prop_assert_eq!(got.key(), want.key());
            prop_assert_eq!(got.value(), want.value());
            prop_assert_eq!(got.properties().len(), want.properties().len());
            for (got, want) in got.properties().iter().zip(want.properties()) {
                prop_assert_eq!(got.key(), want.key());
                prop_assert_eq!(got.value(), want.value());
            }
        }
    }
}

// --- Extraction never panics --------------------------------------------------

/// A header name: one extraction reads, in any case, or any other.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (select(&HEADERS[..]), any::<u32>()).prop_map(|(name, case)| {
            name.chars()
                .enumerate()
                .map(|(i, c)| if case >> (i % 32) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                .collect()
        }),
        1 => ".{0,12}",
    ]
}

/// A valid value for some header, with one character replaced or inserted.
fn near_valid_value() -> impl Strategy<Value = String> {
    let valid = select(
        &[
            TRACEPARENT,
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
            "userId=Am%C3%A9lie;p;q=1, serverNode = DF%2028",
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
            "80f198ee56343ba864fe8b2a57d3eff7",
            "e457b5a2e4d86bd1",
            "1",
        ][..],
    );
    (valid, any::<prop::sample::Index>(), any::<char>(), any::<bool>()).prop_map(
        |(valid, at, c, insert)| {
            let mut chars: Vec<char> = valid.chars().collect();
            let at = at.index(chars.len() + 1);
            if insert || at == chars.len() {
                chars.insert(at, c);
            } else {
                chars[at] = c;
            }
            chars.into_iter().collect()
        },
    )
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        near_valid_value(),
        proptest::collection::vec(any::<u8>(), 0..128)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn extraction_from_arbitrary_strings_never_panics(
        headers in proptest::collection::hash_map(header_name(), header_value(), 0..8),
    ) {
        let context = propagation::extract(&headers);
        if let Some(span) = context.span_context() {
            prop_assert!(span.remote);
        }
    }

    #[test]
    fn extraction_from_arbitrary_bytes_never_panics(
        headers in proptest::collection::vec(
            (select(&HEADERS[..]), proptest::collection::vec(any::<u8>(), 0..128)),
            0..8,
        ),
    ) {
        // `http::HeaderMap` takes any bytes but controls; repeated names
        // append, as a request with the header on several lines.
        let mut map = http::HeaderMap::new();
        for (name, bytes) in headers {
            if let Ok(value) = http::HeaderValue::from_bytes(&bytes) {
                map.append(name, value);
            }
        }
        let context = propagation::extract(&map);
        if let Some(span) = context.span_context() {
            prop_assert!(span.remote);
        }
    }
}
