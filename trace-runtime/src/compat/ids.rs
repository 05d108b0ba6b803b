//! The current trace and span IDs, for log lines.

use std::fmt;

use crate::id::{SpanId, TraceId};

/// The IDs of the current span, formatted for a log line as
/// `trace_id=… span_id=…` (nothing outside a span); made by [`log_ids`].
///
/// ```
/// use trace_runtime::{Tracer, traced};
///
/// #[traced]
/// fn handle() -> String {
///     format!("{} charging card", trace_runtime::compat::log_ids())
/// }
///
/// let line = Tracer::builder("shop").build().in_scope(handle);
/// assert!(line.starts_with("trace_id="), "{line}");
/// assert_eq!(trace_runtime::compat::log_ids().to_string(), "");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogIds {
    trace_id: Option<TraceId>,
    span_id: Option<SpanId>,
}

impl LogIds {
    /// The trace ID; `None` outside a span.
    pub fn trace_id(&self) -> Option<TraceId> {
        self.trace_id
    }

    /// The span ID; `None` outside a span.
    pub fn span_id(&self) -> Option<SpanId> {
        self.span_id
    }
}

impl fmt::Display for LogIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.trace_id, self.span_id) {
            (Some(trace_id), Some(span_id)) => write!(f, "trace_id={trace_id} span_id={span_id}"),
            _ => Ok(()),
        }
    }
}

/// The IDs of the span current on this thread (one of ours, or an entered
/// `tracing` span with [`TracingLayer`](crate::compat) installed).
pub fn log_ids() -> LogIds {
    LogIds { trace_id: crate::current_trace_id(), span_id: crate::current_span_id() }
}
