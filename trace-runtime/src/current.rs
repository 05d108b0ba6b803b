//! Operations on the current span of this thread, for code that did not
//! open it (log correlation, tags added deep in a call chain).

use std::borrow::Cow;

use crate::id::{SpanId, TraceId};
use crate::span::{Event, Status};
use crate::stack;
use crate::value::{Tag, Value};

/// Adds a tag to the current span; does nothing if there is none or it is
/// not sampled.
///
/// ```
/// # use trace_runtime::{InMemoryCollector, Tracer, traced};
/// #[traced]
/// fn charge(cents: u64) {
///     trace_runtime::add_tag("amount", cents);
/// }
/// # let collector = InMemoryCollector::new();
/// # Tracer::builder("t").exporter(collector.clone()).build().in_scope(|| charge(250));
/// # assert_eq!(collector.spans()[0].tag("amount"), Some(&250.into()));
/// ```
pub fn add_tag(key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
    stack::with_current(|span| span.tags.push((key.into(), value.into())));
}

/// Adds a timestamped event with tags to the current span.
///
/// ```
/// trace_runtime::add_event("cache miss", vec![("key".into(), "user:7".into())]);
/// ```
pub fn add_event(name: impl Into<Cow<'static, str>>, tags: Vec<Tag>) {
    stack::with_current(|span| span.events.push(Event::now(name.into(), tags)));
}

/// Sets the status of the current span.
///
/// ```
/// trace_runtime::set_status(trace_runtime::Status::Error("card declined".into()));
/// ```
pub fn set_status(status: Status) {
    stack::with_current(|span| span.status = status);
}

/// The trace ID of the current span, for correlating logs with traces.
///
/// ```
/// # use trace_runtime::{Tracer, traced};
/// #[traced]
/// fn handler() {
///     let trace_id = trace_runtime::current_trace_id().expect("inside a span");
///     println!("trace_id={trace_id} handling request");
/// }
/// # Tracer::builder("t").build().in_scope(handler);
/// assert_eq!(trace_runtime::current_trace_id(), None);
/// ```
pub fn current_trace_id() -> Option<TraceId> {
    stack::current_ids().map(|(trace_id, _, _)| trace_id)
}

/// The ID of the current span.
pub fn current_span_id() -> Option<SpanId> {
    stack::current_ids().map(|(_, span_id, _)| span_id)
}
