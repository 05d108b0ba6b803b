//! The critical paths as plain, serialisable data and as JSON, for tools:
//! `trace_report --json`.

use serde::{Deserialize, Serialize};

use super::{CriticalPath, PathOrigin, critical_paths, path_notes};
use crate::Trace;

/// Every critical path of one trace (see [`critical_paths`]), with the
/// spans named rather than indexed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracePaths {
    /// The trace ID, 32 hex digits.
    pub trace_id: String,
    /// Which span the trace's path was walked from when it has no root, and
    /// which spans have paths of their own (see [`path_notes`]).
    pub notes: Vec<String>,
    /// The primary root's path first, then the others by start time.
    pub paths: Vec<PathReport>,
}

/// One critical path: the walk from one span over its whole interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathReport {
    /// Whether this is the trace's path (walked from its primary root).
    pub primary: bool,
    /// What the span walked from is to its parent.
    pub origin: PathOrigin,
    /// The span walked from, 16 hex digits.
    pub span_id: String,
    /// Its operation name.
    pub name: String,
    /// Its service.
    pub service: String,
    /// Its parent's span ID, when it names one (even one not in the trace).
    pub parent_span_id: Option<String>,
    /// Its start, in nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// Its end, in nanoseconds since the Unix epoch.
    pub end_unix_nanos: u64,
    /// Its duration: the sum of every segment on the path.
    pub duration_nanos: u64,
    /// Every span on the path, by start time (a parent before its child).
    pub spans: Vec<SpanOnPath>,
}

/// A span on a critical path and the stretches of the path spent in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanOnPath {
    /// The span ID, 16 hex digits.
    pub span_id: String,
    /// The operation name.
    pub name: String,
    /// The service.
    pub service: String,
    /// The span's self time on the path: the sum of its segments.
    pub on_path_nanos: u64,
    /// Its stretches of the path, in chronological order.
    pub segments: Vec<Segment>,
}

/// A stretch of a critical path spent in one span itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Start, in nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// End, in nanoseconds since the Unix epoch.
    pub end_unix_nanos: u64,
}

/// Every critical path of `trace` as plain data (see [`critical_paths`]).
///
/// ```
/// use trace_analysis::{Segment, assemble, critical_paths_report, read_jsonl};
/// let lines = r#"
/// {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000001","service":"api","name":"GET /","start_unix_nanos":0,"duration_nanos":100}
/// {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000002","parent_id":"0000000000000001","service":"db","name":"query","start_unix_nanos":10,"duration_nanos":60}
/// "#;
/// let trace = &assemble(read_jsonl(lines.as_bytes()).unwrap().spans)[0];
/// let report = critical_paths_report(trace);
/// let path = &report.paths[0];
/// assert!(path.primary && report.notes.is_empty());
/// assert_eq!((path.spans[0].name.as_str(), path.spans[0].on_path_nanos), ("GET /", 40));
/// assert_eq!(path.spans[1].segments, [Segment { start_unix_nanos: 10, end_unix_nanos: 70 }]);
/// ```
pub fn critical_paths_report(trace: &Trace) -> TracePaths {
    let paths = critical_paths(trace);
    TracePaths {
        trace_id: trace.trace_id().to_string(),
        notes: path_notes(trace, &paths),
        paths: paths.iter().enumerate().map(|(i, path)| path_report(trace, path, i == 0)).collect(),
    }
}

/// The critical paths of `traces` as one pretty-printed JSON document,
/// `{"traces": [`[`TracePaths`]`, …]}`; times are integers (nanoseconds).
///
/// ```
/// use trace_analysis::{assemble, read_jsonl, render_critical_paths_json};
/// let line = r#"{"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000001","service":"api","name":"GET /","start_unix_nanos":0,"duration_nanos":100}"#;
/// let traces = assemble(read_jsonl(line.as_bytes()).unwrap().spans);
/// let json: serde_json::Value = serde_json::from_str(&render_critical_paths_json(&traces)).unwrap();
/// assert_eq!(json["traces"][0]["paths"][0]["spans"][0]["segments"][0]["end_unix_nanos"], 100);
/// ```
pub fn render_critical_paths_json<'a>(traces: impl IntoIterator<Item = &'a Trace>) -> String {
    #[derive(Serialize)]
    struct Document {
        traces: Vec<TracePaths>,
    }
    let document = Document { traces: traces.into_iter().map(critical_paths_report).collect() };
    let mut text =
        serde_json::to_string_pretty(&document).expect("strings and integers always serialise");
    text.push('\n');
    text
}

fn path_report(trace: &Trace, path: &CriticalPath, primary: bool) -> PathReport {
    let spans = trace.spans();
    let root = &spans[path.root];
    PathReport {
        primary,
        origin: path.origin,
        span_id: root.span_id.to_string(),
        name: root.name.to_string(),
        service: root.service.to_string(),
        parent_span_id: root.parent_id.map(|p| p.to_string()),
        start_unix_nanos: root.start_unix_nanos,
        end_unix_nanos: root.end_unix_nanos(),
        duration_nanos: path.duration_nanos,
        spans: path
            .spans
            .iter()
            .map(|p| SpanOnPath {
                span_id: spans[p.span].span_id.to_string(),
                name: spans[p.span].name.to_string(),
                service: spans[p.span].service.to_string(),
                on_path_nanos: p.contribution_nanos,
                segments: path
                    .segments
                    .iter()
                    .filter(|s| s.span == p.span)
                    .map(|s| Segment {
                        start_unix_nanos: s.start_unix_nanos,
                        end_unix_nanos: s.end_unix_nanos,
                    })
                    .collect(),
            })
            .collect(),
    }
}
