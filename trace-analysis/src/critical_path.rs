//! The critical path: the spans that determine a trace's end-to-end latency.
//! Its rules are on [`critical_path`].

use std::cmp::Reverse;

use super::Trace;
use trace_runtime::SpanKind;

mod json;
#[cfg(test)]
mod tests;

pub use json::{
    PathReport, Segment, SpanOnPath, TracePaths, critical_paths_report, render_critical_paths_json,
};

/// The critical path of a trace, or of one subtree of it.
///
/// Made by [`critical_path`]: the root's time is split into segments, each
/// charged to the span that the request was waiting on at that moment.
/// Shortening any span off the path would not make the request faster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriticalPath {
    /// The span the walk started from.
    pub root: usize,
    /// Why the walk started there: what the span is to its parent.
    pub origin: PathOrigin,
    /// The root's duration: the sum of every segment.
    pub duration_nanos: u64,
    /// Consecutive, non-overlapping stretches of time, in chronological
    /// order, each charged to one span.
    pub segments: Vec<PathSegment>,
    /// Every span on the path with its total contribution, ordered by start
    /// time (a parent before its child), so the list reads as the chain.
    pub spans: Vec<PathSpan>,
}

/// What the span a walk starts from is to its parent (see [`critical_path`]
/// for the rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathOrigin {
    /// A span without a parent ID: the trace's root, or a second root.
    Root,
    /// A span whose parent is not in the trace.
    Orphan,
    /// A consumer span under a producer span: the producer did not wait for it.
    Consumer,
    /// A child linked to its parent (follows-from): the parent did not wait for it.
    FollowsFrom,
    /// Any other span: its parent waited for it.
    Child,
}

impl PathOrigin {
    /// The lower-case name used in the JSON output (`"follows_from"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Orphan => "orphan",
            Self::Consumer => "consumer",
            Self::FollowsFrom => "follows_from",
            Self::Child => "child",
        }
    }
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
    /// The total length of its segments: its self time on the path.
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

/// The critical path from the trace's [primary root](Trace::root), by the
/// rules below.
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
///
#[doc = include_str!("critical_path/rules.md")]
pub fn critical_path(trace: &Trace) -> CriticalPath {
    critical_path_from(trace, trace.root())
}

/// Every critical path of a trace: the primary root's first, then one for
/// each other root (a second parentless span, an orphan) and one for each
/// non-blocking child (a consumer under a producer, a follows-from child),
/// by start time. Together they cover every span that is on some path.
///
/// ```
/// use trace_analysis::{PathOrigin, assemble, critical_paths, read_jsonl};
/// // `consume` (a consumer) under `publish` (a producer): walked on its own.
/// let lines = r#"
/// {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000001","service":"shop","name":"publish","kind":"producer","start_unix_nanos":10,"duration_nanos":40}
/// {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000002","parent_id":"0000000000000001","service":"mailer","name":"consume","kind":"consumer","start_unix_nanos":40,"duration_nanos":160}
/// "#;
/// let trace = &assemble(read_jsonl(lines.as_bytes()).unwrap().spans)[0];
/// let paths = critical_paths(trace);
/// let walks: Vec<_> = paths.iter().map(|p| (&*trace.spans()[p.root].name, p.origin, p.duration_nanos)).collect();
/// assert_eq!(walks, [("publish", PathOrigin::Root, 40), ("consume", PathOrigin::Consumer, 160)]);
/// ```
pub fn critical_paths(trace: &Trace) -> Vec<CriticalPath> {
    let primary = trace.root();
    let mut paths = vec![critical_path_from(trace, primary)];
    for span in 0..trace.spans().len() {
        let walked_alone = trace.parent(span).is_none() || non_blocking(trace, span).is_some();
        if span != primary && walked_alone {
            paths.push(critical_path_from(trace, span));
        }
    }
    paths
}

/// The critical path of the subtree under span `root` (any span, for
/// example an orphan or a consumer), over the span's whole interval.
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
    CriticalPath {
        root,
        origin: origin(trace, root),
        duration_nanos: root_span.duration_nanos,
        segments,
        spans: on_path,
    }
}

/// What span `index` is to its parent.
fn origin(trace: &Trace, index: usize) -> PathOrigin {
    match trace.parent(index) {
        None if trace.is_orphan(index) => PathOrigin::Orphan,
        None => PathOrigin::Root,
        Some(_) => non_blocking(trace, index).unwrap_or(PathOrigin::Child),
    }
}

/// Why the parent of span `index` did not wait for it, if it did not: a
/// consumer under a producer, or a child linked to its parent.
fn non_blocking(trace: &Trace, index: usize) -> Option<PathOrigin> {
    let parent = &trace.spans()[trace.parent(index)?];
    let child = &trace.spans()[index];
    if parent.kind == SpanKind::Producer && child.kind == SpanKind::Consumer {
        return Some(PathOrigin::Consumer);
    }
    let links_parent = child.links.iter().any(|link| {
        link.span_context.span_id == parent.span_id && link.span_context.trace_id == parent.trace_id
    });
    links_parent.then_some(PathOrigin::FollowsFrom)
}

/// The trace's case in words, for the renderings: from which span its path
/// was walked when it has no root, and which spans have paths of their own
/// (other roots, non-blocking children). Empty for a trace with one root and
/// no non-blocking child.
///
/// ```
/// use trace_analysis::{assemble, critical_paths, path_notes, read_jsonl};
/// // The root never arrived: two orphans.
/// let lines = r#"
/// {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000002","parent_id":"0000000000000001","service":"orders","name":"POST /orders","start_unix_nanos":5,"duration_nanos":10}
/// {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000003","parent_id":"0000000000000001","service":"payments","name":"POST /charge","start_unix_nanos":20,"duration_nanos":10}
/// "#;
/// let trace = &assemble(read_jsonl(lines.as_bytes()).unwrap().spans)[0];
/// let notes = path_notes(trace, &critical_paths(trace));
/// assert_eq!(notes[0], "no root span: walked from the earliest orphan, orders POST /orders (its parent 0000000000000001 is not in the trace)");
/// assert_eq!(notes[1], "1 other root not on this path, walked on its own: payments POST /charge (orphan)");
/// ```
pub fn path_notes(trace: &Trace, paths: &[CriticalPath]) -> Vec<String> {
    let spans = trace.spans();
    let label = |i: usize| format!("{} {}", spans[i].service, spans[i].name);
    let mut notes = Vec::new();
    let Some(primary) = paths.first() else {
        return notes;
    };
    if primary.origin == PathOrigin::Orphan {
        let parent = spans[primary.root].parent_id.map(|p| p.to_string()).unwrap_or_default();
        notes.push(format!(
            "no root span: walked from the earliest orphan, {} (its parent {parent} is not in the trace)",
            label(primary.root)
        ));
    }
    let list = |origins: &[PathOrigin]| -> Vec<String> {
        paths[1..]
            .iter()
            .filter(|p| origins.contains(&p.origin))
            .map(|p| format!("{} ({})", label(p.root), p.origin.as_str().replace('_', "-")))
            .collect()
    };
    let roots = list(&[PathOrigin::Root, PathOrigin::Orphan]);
    if !roots.is_empty() {
        notes.push(format!(
            "{} other root{} not on this path, walked on {}: {}",
            roots.len(),
            if roots.len() == 1 { "" } else { "s" },
            if roots.len() == 1 { "its own" } else { "their own" },
            roots.join(", ")
        ));
    }
    let detached = list(&[PathOrigin::Consumer, PathOrigin::FollowsFrom]);
    if !detached.is_empty() {
        notes.push(format!(
            "{} span{} not waited for by {} parent, so not on {} path, walked on {}: {}",
            detached.len(),
            if detached.len() == 1 { "" } else { "s" },
            if detached.len() == 1 { "its" } else { "their" },
            if detached.len() == 1 { "its" } else { "their" },
            if detached.len() == 1 { "its own" } else { "their own" },
            detached.join(", ")
        ));
    }
    notes
}

/// One span being walked: its clipped interval, the point the walk has
/// reached in it, and its blocking children clipped to it, latest end first.
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
            .filter(|&&c| non_blocking(trace, c).is_none())
            .map(|&c| {
                let child = &trace.spans()[c];
                (c, child.start_unix_nanos.max(start), child.end_unix_nanos().min(end))
            })
            .filter(|&(_, s, e)| s < e)
            .collect();
        // Latest end first; of children ending together, the earliest start
        // (it covers the most time), then trace order.
        children.sort_by_key(|&(c, s, e)| (Reverse(e), s, c));
        Self { span, start, cursor: end, children, next: 0 }
    }
}
