//! Where finished spans go.

mod memory;

pub use memory::InMemoryCollector;

use crate::span::SpanData;

/// Receives finished spans.
///
/// The tracer calls [`export`](Exporter::export) on the thread that closed
/// the spans, so an implementation must be quick; one that does I/O belongs
/// behind a background pipeline.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use trace_runtime::{Exporter, SpanData, Tracer};
///
/// #[derive(Default)]
/// struct Count(AtomicUsize);
///
/// impl Exporter for Count {
///     fn export(&self, batch: &[SpanData]) {
///         self.0.fetch_add(batch.len(), Ordering::Relaxed);
///     }
/// }
///
/// let tracer = Tracer::builder("svc").exporter(Count::default()).build();
/// # let _ = tracer;
/// ```
pub trait Exporter: Send + Sync + 'static {
    /// Takes a batch of finished spans.
    fn export(&self, batch: &[SpanData]);

    /// Delivers everything taken so far; the default does nothing.
    fn flush(&self) {}

    /// Flushes and releases resources; called once when the tracer shuts down.
    fn shutdown(&self) {
        self.flush();
    }
}

impl<E: Exporter + ?Sized> Exporter for std::sync::Arc<E> {
    fn export(&self, batch: &[SpanData]) {
        (**self).export(batch);
    }

    fn flush(&self) {
        (**self).flush();
    }

    fn shutdown(&self) {
        (**self).shutdown();
    }
}
