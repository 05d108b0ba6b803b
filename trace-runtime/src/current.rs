//! Operations on the current span of this thread, for code that did not
//! open it (log correlation, tags added deep in a call chain).
//!
//! With the `tracing` compat layer, the current span may be an entered
//! `tracing` span, whose record is not on the thread's stack: what does not
//! land on the stack goes to it (`compat::record_entered`).

use std::borrow::Cow;

use crate::id::{SpanId, TraceId};
use crate::local;
use crate::record::OpenSpan;
use crate::span::SpanContext;
use crate::span::{Link, Status};
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
/// # Tracer::builder("t").span_processor(collector.clone()).build().in_scope(|| charge(250));
/// # assert_eq!(collector.spans()[0].tag("amount"), Some(&250.into()));
/// ```
pub fn add_tag(key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
    on_current(|span| span.add_tag(key.into(), value.into()));
}

/// Adds a timestamped event with tags to the current span.
///
/// ```
/// trace_runtime::add_event("cache miss", vec![("key".into(), "user:7".into())]);
/// ```
pub fn add_event(name: impl Into<Cow<'static, str>>, tags: Vec<Tag>) {
    on_current(|span| span.add_event(name.into(), tags));
}

/// Links the current span to another span context (fan-in, batches).
///
/// ```
/// # use trace_runtime::{Context, InMemoryCollector, Tracer};
/// # let collector = InMemoryCollector::new();
/// # let tracer = Tracer::builder("t").span_processor(collector.clone()).build();
/// # tracer.in_scope(|| {
/// let producer = trace_runtime::span("enqueue").start();
/// let message = Context::current().span_context().unwrap();
/// drop(producer);
/// let _batch = trace_runtime::span("process batch").start();
/// trace_runtime::add_link(message, Vec::new());
/// # });
/// # assert_eq!(collector.spans()[1].links.len(), 1);
/// ```
pub fn add_link(span_context: SpanContext, tags: Vec<Tag>) {
    on_current(|span| span.add_link(Link { span_context, tags }));
}

/// Sets the status of the current span.
///
/// ```
/// trace_runtime::set_status(trace_runtime::Status::Error("card declined".into()));
/// ```
pub fn set_status(status: Status) {
    on_current(|span| span.set_status(status));
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
    local::current_span_context().map(|span| span.trace_id)
}

/// The ID of the current span.
pub fn current_span_id() -> Option<SpanId> {
    local::current_span_context().map(|span| span.span_id)
}

/// Runs `f` on the current span's record: the innermost span on this
/// thread's stack, else (with the compat layer) an entered `tracing` span.
fn on_current(f: impl FnOnce(&mut OpenSpan<'_>)) {
    let mut f = Some(f);
    local::with_current(|span| {
        if let Some(f) = f.take() {
            f(span);
        }
    });
    #[cfg(feature = "tracing")]
    if let Some(f) = f {
        crate::compat::record_entered(f);
    }
}
