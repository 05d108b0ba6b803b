//! An exporter that keeps spans in memory, for tests.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::export::assemble::tree_order;
use crate::export::tree_text::write_span;
use crate::export::{SpanBatch, SpanProcessor};
use crate::id::TraceId;
use crate::span::SpanData;

/// Keeps every finished span in memory and renders traces as indented trees,
/// so a test can assert the shape of a whole trace in one comparison.
///
/// Clones share the same spans: give one clone to the tracer, keep another.
///
/// ```
/// use trace_runtime::{InMemoryCollector, Tracer, traced};
///
/// #[traced(tags(item = "book"))]
/// fn checkout() { pay(3) }
///
/// #[traced(args)]
/// fn pay(amount: u32) {}
///
/// let collector = InMemoryCollector::new();
/// let tracer = Tracer::builder("shop").span_processor(collector.clone()).build();
/// tracer.in_scope(checkout);
/// assert_eq!(collector.render(), "checkout item=\"book\"\n  pay amount=3\n");
/// ```
#[derive(Clone, Default)]
pub struct InMemoryCollector {
    spans: Arc<Mutex<Vec<SpanData>>>,
}

impl InMemoryCollector {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<SpanData>> {
        // A panic while holding the lock cannot leave the Vec half-written.
        self.spans.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The spans finished so far, in the order they finished.
    pub fn spans(&self) -> Vec<SpanData> {
        self.lock().clone()
    }

    /// The finished spans of one trace, in the order they finished.
    pub fn trace(&self, trace_id: TraceId) -> Vec<SpanData> {
        self.lock().iter().filter(|s| s.trace_id == trace_id).cloned().collect()
    }

    /// Forgets every span.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Adds finished spans, as [`SpanExporter::export`](super::SpanExporter::export) does.
    pub(crate) fn extend(&self, spans: &[SpanData]) {
        self.lock().extend_from_slice(spans);
    }

    /// Renders one trace as an indented tree (see [`render`](Self::render)).
    pub fn render_trace(&self, trace_id: TraceId) -> String {
        render_tree(&self.trace(trace_id))
    }

    /// Renders every trace as indented trees, traces in the order their
    /// roots started, children under their parent in the order they started.
    /// A line is `name [kind] key=value … (status)`, with the kind left out
    /// for internal spans and the status for unset ones; events follow as
    /// `@ name key=value …` lines and links as `-> link trace/span key=value
    /// …` lines. Spans whose parent never arrived are shown as roots.
    pub fn render(&self) -> String {
        render_tree(&self.lock())
    }
}

impl SpanProcessor for InMemoryCollector {
    fn on_end(&self, batch: SpanBatch) {
        let spans = batch.into_spans();
        self.lock().extend(spans);
    }
}

fn render_tree(spans: &[SpanData]) -> String {
    let mut out = String::new();
    for (depth, span) in tree_order(spans) {
        write_span(&mut out, depth, span, false);
    }
    out
}
