//! The critical path: the spans that determine a trace's end-to-end latency.

use std::cmp::Reverse;

use super::Trace;

/// The critical path of a trace, from its primary root.
///
/// Made by [`critical_path`]: the root's time is split into segments, each
/// charged to the span that the request was waiting on at that moment.
/// Shortening any span off the path would not make the request faster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriticalPath {
    /// The span the walk started from.
    pub root: usize,
    /// The root's duration: the sum of every segment.
    pub duration_nanos: u64,
    /// Consecutive, non-overlapping stretches of time, in chronological
    /// order, each charged to one span.
    pub segments: Vec<PathSegment>,
    /// Every span on the path with its total contribution, ordered by start
    /// time (a parent before its child), so the list reads as the chain.
    pub spans: Vec<PathSpan>,
}

/// A stretch of the critical path spent in one span itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathSegment {
    /// The span (an index into [`Trace::spans`]).
    pub span: usize,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// End, in nanoseconds since the Unix epoch.
    pub end_unix_nanos: u64,
}

/// A span on the critical path and how much of the path it accounts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathSpan {
    /// The span (an index into [`Trace::spans`]).
    pub span: usize,
    /// The total length of its segments.
    pub contribution_nanos: u64,
}

impl CriticalPath {
    /// Whether span `index` is on the path.
    pub fn contains(&self, index: usize) -> bool {
        self.spans.iter().any(|p| p.span == index)
    }

    /// How much of the path span `index` accounts for (0 when off the path).
    pub fn contribution(&self, index: usize) -> u64 {
        self.spans.iter().find(|p| p.span == index).map_or(0, |p| p.contribution_nanos)
    }
}

/// The critical path from the trace's [primary root](Trace::root).
///
/// The standard backward walk: start at the root's end; the child that
/// finishes last at or before the current point is on the path, the gap
/// between its end and the point is the parent's own time, the walk
/// descends into that child and then resumes in the parent from the child's
/// start. Time no child covers is the span's own contribution. Children are
/// first clipped to their parent's (clipped) interval, so a child that ends
/// after its parent (a detached task) counts only up to the parent's end;
/// a child overlapping the current point without ending before it is
/// skipped, as in Jaeger's implementation. Spans of zero length are never
/// on the path below the root. Orphan subtrees are not part of it.
///
/// ```
/// use trace_analysis::{assemble, critical_path, read_jsonl};
/// let lines = r#"
/// {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000001","parent_id":null,"service":"gateway","name":"GET /","start_unix_nanos":0,"duration_nanos":100}
/// {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000002","parent_id":"0000000000000001","service":"orders","name":"fast","start_unix_nanos":10,"duration_nanos":20}
/// {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000003","parent_id":"0000000000000001","service":"orders","name":"slow","start_unix_nanos":10,"duration_nanos":70}
/// "#;
/// let trace = &assemble(read_jsonl(lines.as_bytes()).unwrap().spans)[0];
/// let path = critical_path(trace);
/// let chain: Vec<_> = path.spans.iter().map(|p| (&*trace.spans()[p.span].name, p.contribution_nanos)).collect();
/// assert_eq!(chain, [("GET /", 30), ("slow", 70)]);
/// ```
pub fn critical_path(trace: &Trace) -> CriticalPath {
    critical_path_from(trace, trace.root())
}

/// The critical path of the subtree under span `root` (any span, for
/// example an orphan).
pub fn critical_path_from(trace: &Trace, root: usize) -> CriticalPath {
    let spans = trace.spans();
    let root_span = &spans[root];
    let mut segments = Vec::new();
    let mut stack =
        vec![Frame::new(trace, root, root_span.start_unix_nanos, root_span.end_unix_nanos())];
    while let Some(frame) = stack.last_mut() {
        let cursor = frame.cursor;
        // Children come sorted by clipped end, latest first: one that ends
        // after the cursor now never qualifies later, as the cursor only falls.
        while frame.next < frame.children.len() && frame.children[frame.next].2 > cursor {
            frame.next += 1;
        }
        if let Some(&(child, start, end)) = frame.children.get(frame.next) {
            frame.next += 1;
            frame.cursor = start;
            if end < cursor {
                segments.push(PathSegment {
                    span: frame.span,
                    start_unix_nanos: end,
                    end_unix_nanos: cursor,
                });
            }
            let next = Frame::new(trace, child, start, end);
            stack.push(next);
        } else {
            if frame.start < cursor {
                let segment = PathSegment {
                    span: frame.span,
                    start_unix_nanos: frame.start,
                    end_unix_nanos: cursor,
                };
                segments.push(segment);
            }
            stack.pop();
        }
    }
    segments.reverse();

    let mut on_path: Vec<PathSpan> = Vec::new();
    for segment in &segments {
        let length = segment.end_unix_nanos - segment.start_unix_nanos;
        match on_path.iter_mut().find(|p| p.span == segment.span) {
            Some(entry) => entry.contribution_nanos += length,
            None => on_path.push(PathSpan { span: segment.span, contribution_nanos: length }),
        }
    }
    // Trace order is start time, parent first.
    on_path.sort_by_key(|p| p.span);
    CriticalPath { root, duration_nanos: root_span.duration_nanos, segments, spans: on_path }
}

/// One span being walked: its clipped interval, the point the walk has
/// reached in it, and its children clipped to it, latest end first.
struct Frame {
    span: usize,
    start: u64,
    cursor: u64,
    children: Vec<(usize, u64, u64)>,
    next: usize,
}

impl Frame {
    fn new(trace: &Trace, span: usize, start: u64, end: u64) -> Self {
        let mut children: Vec<(usize, u64, u64)> = trace
            .children(span)
            .iter()
            .map(|&c| {
                let child = &trace.spans()[c];
                (c, child.start_unix_nanos.max(start), child.end_unix_nanos().min(end))
            })
            .filter(|&(_, s, e)| s < e)
            // Latest end first; of children ending together, the earliest
            // start (it covers the most time), then trace order.
            .collect();
        children.sort_by_key(|&(c, s, e)| (Reverse(e), s, c));
        Self { span, start, cursor: end, children, next: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assemble;
    use crate::testing::span;

    fn path_of(trace: &Trace) -> Vec<(&str, u64)> {
        let path = critical_path(trace);
        path.spans.iter().map(|p| (&*trace.spans()[p.span].name, p.contribution_nanos)).collect()
    }

    #[test]
    fn sequential_children_are_all_on_the_path() {
        let trace = &assemble(vec![
            span(1, 1, None, "a", "root", 0, 100),
            span(1, 2, Some(1), "a", "first", 10, 30),
            span(1, 3, Some(1), "a", "second", 40, 50),
        ])[0];
        assert_eq!(path_of(trace), [("root", 20), ("first", 30), ("second", 50)]);
        let path = critical_path(trace);
        let total: u64 = path.segments.iter().map(|s| s.end_unix_nanos - s.start_unix_nanos).sum();
        assert_eq!(total, 100);
        assert!(path.segments.windows(2).all(|w| w[0].end_unix_nanos == w[1].start_unix_nanos));
    }

    #[test]
    fn of_parallel_children_the_last_to_finish_wins() {
        let trace = &assemble(vec![
            span(1, 1, None, "a", "root", 0, 100),
            span(1, 2, Some(1), "b", "long", 10, 80),
            span(1, 3, Some(1), "c", "short", 10, 20),
            span(1, 4, Some(1), "d", "overlapping", 50, 45),
        ])[0];
        // overlapping [50,95] is last; long ends at 90 > 50, short [10,30] fits.
        assert_eq!(path_of(trace), [("root", 35), ("short", 20), ("overlapping", 45)]);
    }

    #[test]
    fn a_child_ending_after_its_parent_is_clipped() {
        let trace = &assemble(vec![
            span(1, 1, None, "a", "root", 0, 100),
            span(1, 2, Some(1), "a", "detached", 60, 200),
        ])[0];
        assert_eq!(path_of(trace), [("root", 60), ("detached", 40)]);
    }

    #[test]
    fn the_walk_descends_through_several_levels() {
        let trace = &assemble(vec![
            span(1, 1, None, "gateway", "root", 0, 100),
            span(1, 2, Some(1), "orders", "call", 10, 80),
            span(1, 3, Some(2), "payments", "charge", 20, 60),
            span(1, 4, Some(3), "payments", "db", 30, 10),
            span(1, 5, Some(1), "gateway", "log", 0, 5),
        ])[0];
        assert_eq!(
            path_of(trace),
            [("root", 15), ("log", 5), ("call", 20), ("charge", 50), ("db", 10)]
        );
    }

    #[test]
    fn zero_length_children_and_orphans_are_left_out() {
        let trace = &assemble(vec![
            span(1, 1, None, "a", "root", 0, 10),
            span(1, 2, Some(1), "a", "instant", 10, 0),
            span(1, 3, Some(7), "a", "orphan", 2, 8),
        ])[0];
        assert_eq!(path_of(trace), [("root", 10)]);
    }
}
