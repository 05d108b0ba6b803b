//! One hand-built trace per rule of the walk, each asserting the exact
//! segments. Times are in microseconds, written as nanoseconds.

use super::*;
use crate::assemble;
use crate::testing::span;
use trace_runtime::{Link, SpanData, SpanKind};
use trace_runtime::{SpanContext, TraceFlags};

const US: u64 = 1_000;

/// A span of trace 1 with times in microseconds.
fn us(id: u64, parent: Option<u64>, name: &str, start: u64, duration: u64) -> SpanData {
    span(1, id, parent, "svc", name, start * US, duration * US)
}

fn of_kind(mut span: SpanData, kind: SpanKind) -> SpanData {
    span.kind = kind;
    span
}

/// The span with a link to span `to` of the same trace.
fn linked(mut span: SpanData, to: u64) -> SpanData {
    let to = span_context(&span, to);
    span.links.push(Link { span_context: to, tags: Vec::new() });
    span
}

fn span_context(span: &SpanData, id: u64) -> SpanContext {
    SpanContext {
        trace_id: span.trace_id,
        span_id: trace_runtime::SpanId::from_u64(id).unwrap(),
        flags: TraceFlags::SAMPLED,
        remote: false,
    }
}

fn trace(spans: Vec<SpanData>) -> Trace {
    assemble(spans).remove(0)
}

/// A segment as (span name, start µs, end µs).
type Seg<'t> = (&'t str, u64, u64);

/// The path's segments in time order.
fn segments<'t>(trace: &'t Trace, path: &CriticalPath) -> Vec<Seg<'t>> {
    path.segments
        .iter()
        .map(|s| (&*trace.spans()[s.span].name, s.start_unix_nanos / US, s.end_unix_nanos / US))
        .collect()
}

/// The segments of every path of the trace, primary first, with each path's origin.
fn all_segments(trace: &Trace) -> Vec<(PathOrigin, Vec<Seg<'_>>)> {
    critical_paths(trace).iter().map(|p| (p.origin, segments(trace, p))).collect()
}

#[test]
fn sequential_children_are_all_on_the_path() {
    let trace = trace(vec![
        us(1, None, "root", 0, 100),
        us(2, Some(1), "first", 10, 20),
        us(3, Some(1), "second", 40, 50),
    ]);
    let path = critical_path(&trace);
    assert_eq!(
        segments(&trace, &path),
        [
            ("root", 0, 10),
            ("first", 10, 30),
            ("root", 30, 40),
            ("second", 40, 90),
            ("root", 90, 100)
        ]
    );
    let chain: Vec<_> = path
        .spans
        .iter()
        .map(|p| (&*trace.spans()[p.span].name, p.contribution_nanos / US))
        .collect();
    assert_eq!(chain, [("root", 30), ("first", 20), ("second", 50)]);
}

#[test]
fn of_parallel_children_the_last_to_finish_wins() {
    let trace = trace(vec![
        us(1, None, "root", 0, 100),
        us(2, Some(1), "long", 10, 80),
        us(3, Some(1), "short", 10, 20),
        us(4, Some(1), "overlapping", 50, 45),
    ]);
    // overlapping [50,95] ends last; long ends at 90, after the walk is at
    // 50, so it is skipped; short [10,30] fits before.
    assert_eq!(
        segments(&trace, &critical_path(&trace)),
        [
            ("root", 0, 10),
            ("short", 10, 30),
            ("root", 30, 50),
            ("overlapping", 50, 95),
            ("root", 95, 100)
        ]
    );
}

#[test]
fn children_overflowing_their_parent_are_clipped_to_it() {
    let trace = trace(vec![
        us(1, None, "root", 0, 100),
        us(2, Some(1), "call", 20, 30),
        // Starts before its parent `call`: counts from 20.
        us(3, Some(2), "early", 10, 30),
        // Ends after the root: counts up to 100.
        us(4, Some(1), "detached", 60, 200),
        // Wholly after the root: never on the path.
        us(5, Some(1), "after", 120, 10),
    ]);
    assert_eq!(
        segments(&trace, &critical_path(&trace)),
        [
            ("root", 0, 20),
            ("early", 20, 40),
            ("call", 40, 50),
            ("root", 50, 60),
            ("detached", 60, 100)
        ]
    );
}

#[test]
fn back_to_back_siblings_are_both_on_the_path() {
    // Jaeger UI takes a child only if it ends strictly before the point the
    // walk is at, and so charges `first`'s time to `root`.
    let trace = trace(vec![
        us(1, None, "root", 0, 100),
        us(2, Some(1), "first", 10, 40),
        us(3, Some(1), "second", 50, 40),
    ]);
    assert_eq!(
        segments(&trace, &critical_path(&trace)),
        [("root", 0, 10), ("first", 10, 50), ("second", 50, 90), ("root", 90, 100)]
    );
}

#[test]
fn a_consumer_never_extends_its_producers_path() {
    // The case: `publish` (producer) [10,50], `consume` (consumer) [40,200].
    let trace = trace(vec![
        of_kind(us(1, None, "POST /orders", 0, 60), SpanKind::Server),
        of_kind(us(2, Some(1), "publish", 10, 40), SpanKind::Producer),
        of_kind(us(3, Some(2), "consume", 40, 160), SpanKind::Consumer),
        us(4, Some(3), "send mail", 100, 80),
    ]);
    let primary = critical_path(&trace);
    assert_eq!(
        segments(&trace, &primary),
        [("POST /orders", 0, 10), ("publish", 10, 50), ("POST /orders", 50, 60)]
    );
    assert!(!primary.contains(2) && !primary.contains(3));
    // The consumer is walked on its own, over its whole interval.
    assert_eq!(
        all_segments(&trace)[1],
        (
            PathOrigin::Consumer,
            vec![("consume", 40, 100), ("send mail", 100, 180), ("consume", 180, 200)]
        )
    );
    assert_eq!(all_segments(&trace).len(), 2);
}

#[test]
fn a_consumer_under_a_span_that_is_not_a_producer_is_waited_for() {
    // A handler that receives and processes a message in its own request.
    let trace = trace(vec![
        of_kind(us(1, None, "poll", 0, 100), SpanKind::Internal),
        of_kind(us(2, Some(1), "process", 20, 50), SpanKind::Consumer),
    ]);
    assert_eq!(
        segments(&trace, &critical_path(&trace)),
        [("poll", 0, 20), ("process", 20, 70), ("poll", 70, 100)]
    );
    assert_eq!(critical_paths(&trace).len(), 1);
}

#[test]
fn a_follows_from_child_never_extends_its_parents_path() {
    let trace = trace(vec![
        us(1, None, "root", 0, 100),
        // Linked to another span than its parent: an ordinary child.
        linked(us(2, Some(1), "lookup", 10, 10), 3),
        // Linked to its parent: follows-from.
        linked(us(3, Some(1), "cleanup", 30, 120), 1),
        us(4, Some(3), "delete", 40, 20),
    ]);
    assert_eq!(
        segments(&trace, &critical_path(&trace)),
        [("root", 0, 10), ("lookup", 10, 20), ("root", 20, 100)]
    );
    assert_eq!(
        all_segments(&trace),
        [
            (PathOrigin::Root, vec![("root", 0, 10), ("lookup", 10, 20), ("root", 20, 100)]),
            (
                PathOrigin::FollowsFrom,
                vec![("cleanup", 30, 40), ("delete", 40, 60), ("cleanup", 60, 150)]
            ),
        ]
    );
}

#[test]
fn without_a_root_the_earliest_orphan_is_walked_and_the_others_on_their_own() {
    let trace = trace(vec![
        us(2, Some(9), "late", 50, 30),
        us(3, Some(9), "early", 10, 20),
        us(4, Some(3), "query", 15, 10),
    ]);
    assert_eq!(
        all_segments(&trace),
        [
            (PathOrigin::Orphan, vec![("early", 10, 15), ("query", 15, 25), ("early", 25, 30)]),
            (PathOrigin::Orphan, vec![("late", 50, 80)]),
        ]
    );
    assert_eq!(
        path_notes(&trace, &critical_paths(&trace)),
        [
            "no root span: walked from the earliest orphan, svc early (its parent 0000000000000009 is not in the trace)",
            "1 other root not on this path, walked on its own: svc late (orphan)",
        ]
    );
}

#[test]
fn with_several_roots_the_earliest_parentless_span_is_walked_and_the_others_on_their_own() {
    let trace = trace(vec![
        // Earlier, but an orphan: a span without a parent ID comes first.
        us(1, Some(99), "orphan", 0, 10),
        us(2, None, "first", 5, 45),
        us(3, Some(2), "child", 10, 20),
        us(4, None, "second", 20, 80),
    ]);
    assert_eq!(
        all_segments(&trace),
        [
            (PathOrigin::Root, vec![("first", 5, 10), ("child", 10, 30), ("first", 30, 50)]),
            (PathOrigin::Orphan, vec![("orphan", 0, 10)]),
            (PathOrigin::Root, vec![("second", 20, 100)]),
        ]
    );
    assert_eq!(
        path_notes(&trace, &critical_paths(&trace)),
        [
            "2 other roots not on this path, walked on their own: svc orphan (orphan), svc second (root)"
        ]
    );
}

#[test]
fn of_children_ending_together_the_earliest_start_then_trace_order_wins() {
    let trace = trace(vec![
        us(1, None, "root", 0, 100),
        us(2, Some(1), "later start", 40, 40),
        us(3, Some(1), "earlier start", 20, 60),
    ]);
    assert_eq!(
        segments(&trace, &critical_path(&trace)),
        [("root", 0, 20), ("earlier start", 20, 80), ("root", 80, 100)]
    );
    // Identical intervals: trace order (start, longer first, span ID).
    let trace = trace_of_twins();
    assert_eq!(
        segments(&trace, &critical_path(&trace)),
        [("root", 0, 20), ("twin 4", 20, 80), ("root", 80, 100)]
    );
}

fn trace_of_twins() -> Trace {
    trace(vec![
        us(1, None, "root", 0, 100),
        us(5, Some(1), "twin 5", 20, 60),
        us(4, Some(1), "twin 4", 20, 60),
    ])
}

#[test]
fn the_walk_descends_through_several_levels() {
    let trace = trace(vec![
        us(1, None, "root", 0, 100),
        us(2, Some(1), "call", 10, 70),
        us(3, Some(2), "charge", 20, 40),
        us(4, Some(3), "db", 30, 10),
        us(5, Some(1), "log", 0, 5),
    ]);
    assert_eq!(
        segments(&trace, &critical_path(&trace)),
        [
            ("log", 0, 5),
            ("root", 5, 10),
            ("call", 10, 20),
            ("charge", 20, 30),
            ("db", 30, 40),
            ("charge", 40, 60),
            ("call", 60, 80),
            ("root", 80, 100)
        ]
    );
}

#[test]
fn zero_length_children_and_orphans_are_left_out_of_the_primary_path() {
    let trace = trace(vec![
        us(1, None, "root", 0, 10),
        us(2, Some(1), "instant", 10, 0),
        us(3, Some(7), "orphan", 2, 6),
    ]);
    assert_eq!(segments(&trace, &critical_path(&trace)), [("root", 0, 10)]);
}

#[test]
fn the_report_names_every_span_and_reads_back_from_its_json() {
    let trace = trace(vec![
        of_kind(us(1, None, "POST /orders", 0, 60), SpanKind::Server),
        of_kind(us(2, Some(1), "publish", 10, 40), SpanKind::Producer),
        of_kind(us(3, Some(2), "consume", 40, 160), SpanKind::Consumer),
    ]);
    let report = critical_paths_report(&trace);
    assert_eq!(report.trace_id, "00000000000000000000000000000001");
    assert_eq!(
        report.notes,
        [
            "1 span not waited for by its parent, so not on its path, walked on its own: svc consume (consumer)"
        ]
    );
    let primary = &report.paths[0];
    assert!(primary.primary);
    assert_eq!((primary.origin, primary.duration_nanos), (PathOrigin::Root, 60 * US));
    assert_eq!(primary.span_id, "0000000000000001");
    let root = &primary.spans[0];
    assert_eq!(
        (root.name.as_str(), root.service.as_str(), root.on_path_nanos),
        ("POST /orders", "svc", 20 * US)
    );
    let seg = |a: u64, b: u64| Segment { start_unix_nanos: a * US, end_unix_nanos: b * US };
    assert_eq!(root.segments, [seg(0, 10), seg(50, 60)]);
    assert_eq!(primary.spans[1].segments, [seg(10, 50)]);
    let consumer = &report.paths[1];
    assert!(!consumer.primary);
    assert_eq!(consumer.origin, PathOrigin::Consumer);
    assert_eq!(consumer.parent_span_id.as_deref(), Some("0000000000000002"));
    assert_eq!(consumer.spans[0].segments, [seg(40, 200)]);

    let json = render_critical_paths_json([&trace]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["traces"][0]["paths"][1]["origin"], "consumer");
    assert_eq!(
        value["traces"][0]["paths"][0]["spans"][1]["segments"][0]["start_unix_nanos"],
        10_000
    );
    let back: TracePaths = serde_json::from_value(value["traces"][0].clone()).unwrap();
    assert_eq!(back, report);
}
