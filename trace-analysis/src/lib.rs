//! Trace analysis on finished spans, wherever they come from: an
//! [`InMemoryCollector`](trace_runtime::InMemoryCollector), or span files
//! read back by [`read_file`] (JSON Lines, OTLP JSON, Jaeger JSON or
//! Zipkin v2 JSON, told apart by their content; see [`Format`]). The
//! `trace-report` tool of this crate prints all of it for span files.
//!
//! [`assemble`] groups spans into [`Trace`]s (out of order, from any number
//! of processes, keeping orphans). On a trace: [`critical_path`] (and
//! [`critical_paths`] for traces with several roots or asynchronous
//! children, as JSON with [`render_critical_paths_json`]),
//! [`self_times`], [`root_cause`]; over many: [`summarize`]. Each result has
//! a text rendering (`render_*`), and [`html_report`] draws every trace as a
//! waterfall in one self-contained HTML file.
//!
//! ```
//! use trace_analysis::{self as analysis, assemble, read_jsonl};
//!
//! let spans = r#"
//! {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000001","parent_id":null,"service":"gateway","name":"GET /checkout","kind":"server","start_unix_nanos":0,"duration_nanos":30000000,"status":{"code":"error","message":"502"}}
//! {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000003","parent_id":"0000000000000002","service":"payments","name":"charge","kind":"server","start_unix_nanos":5000000,"duration_nanos":20000000,"status":{"code":"error","message":"card declined"}}
//! {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000002","parent_id":"0000000000000001","service":"orders","name":"POST /orders","kind":"server","start_unix_nanos":2000000,"duration_nanos":26000000,"status":{"code":"error","message":"payment failed"}}
//! "#;
//! let traces = assemble(read_jsonl(spans.as_bytes())?.spans);
//! let trace = &traces[0];
//!
//! let path = analysis::critical_path(trace);
//! let slowest = path.spans.iter().max_by_key(|p| p.contribution_nanos).unwrap();
//! assert_eq!(trace.spans()[slowest.span].name, "charge");
//!
//! let cause = analysis::root_cause(trace).unwrap();
//! assert_eq!(&*cause.service, "payments");
//! assert_eq!(cause.chain.len(), 3);
//!
//! print!("{}", analysis::render_waterfall(trace));
//! print!("{}", analysis::render_critical_path(trace, &path));
//! print!("{}", analysis::render_root_cause(trace, &cause));
//! print!("{}", analysis::render_summary(&analysis::summarize(&traces)));
//! let html = analysis::html_report(&traces);
//! assert!(!html.contains("https://"));
//! # Ok::<(), std::io::Error>(())
//! ```

#![deny(missing_docs)]

mod assemble;
mod critical_path;
mod html;
mod read;
mod root_cause;
mod self_time;
mod summary;
#[cfg(test)]
mod testing;
mod text;

pub use assemble::{Trace, TraceAssembler, assemble};
pub use critical_path::{
    CriticalPath, PathOrigin, PathReport, PathSegment, PathSpan, Segment, SpanOnPath, TracePaths,
    critical_path, critical_path_from, critical_paths, critical_paths_report, path_notes,
    render_critical_paths_json,
};
pub use html::html_report;
pub use read::{
    Format, ReadOutcome, read_file, read_jaeger_json, read_jsonl, read_otlp_json, read_spans,
    read_zipkin_json,
};
pub use root_cause::{RootCause, root_cause};
pub use self_time::{SelfTimes, self_times};
pub use summary::{OperationSummary, percentile, summarize};
pub use text::{
    format_duration, render_critical_path, render_root_cause, render_self_times, render_summary,
    render_waterfall,
};
