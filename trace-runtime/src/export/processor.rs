//! What the tracer hands finished spans to: [`SpanProcessor`], and the
//! [`SimpleSpanProcessor`] that exports them on the spot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::export::{SpanBatch, SpanExporter, Who};

/// Receives every batch of finished spans a tracer hands over:
/// OpenTelemetry's `SpanProcessor`.
///
/// The tracer calls [`on_end`](Self::on_end) on the thread that closed the
/// spans, so an implementation must be quick; I/O belongs behind a
/// [`BatchSpanProcessor`](super::BatchSpanProcessor), which queues the batch
/// and converts it on its own thread.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use trace_runtime::export::SpanBatch;
/// use trace_runtime::{SpanProcessor, Tracer};
///
/// #[derive(Default)]
/// struct Count(AtomicUsize);
///
/// impl SpanProcessor for Count {
///     fn on_end(&self, batch: SpanBatch) {
///         self.0.fetch_add(batch.len(), Ordering::Relaxed);
///     }
/// }
///
/// let tracer = Tracer::builder("svc").span_processor(Count::default()).build();
/// # let _ = tracer;
/// ```
pub trait SpanProcessor: Send + Sync + 'static {
    /// Takes a batch of finished spans, as recorded: [`SpanBatch::into_spans`]
    /// converts it into [`SpanData`](crate::SpanData), which is best left to
    /// a background thread.
    fn on_end(&self, batch: SpanBatch);

    /// Delivers everything taken so far; the default does nothing.
    fn flush(&self) {}

    /// Flushes and releases resources; called once when the tracer shuts down.
    fn shutdown(&self) {
        self.flush();
    }

    /// [`flush`](Self::flush), waiting at most `timeout`; returns whether
    /// everything was delivered in time. The default flushes and returns
    /// `true`: override it in a processor that waits on I/O.
    fn flush_with_timeout(&self, timeout: Duration) -> bool {
        let _ = timeout;
        self.flush();
        true
    }

    /// [`shutdown`](Self::shutdown), waiting at most `timeout`; returns
    /// whether it finished in time. The default shuts down and returns
    /// `true`: override it in a processor that waits on I/O.
    fn shutdown_with_timeout(&self, timeout: Duration) -> bool {
        let _ = timeout;
        self.shutdown();
        true
    }
}

impl<P: SpanProcessor + ?Sized> SpanProcessor for std::sync::Arc<P> {
    fn on_end(&self, batch: SpanBatch) {
        (**self).on_end(batch);
    }

    fn flush(&self) {
        (**self).flush();
    }

    fn shutdown(&self) {
        (**self).shutdown();
    }

    fn flush_with_timeout(&self, timeout: Duration) -> bool {
        (**self).flush_with_timeout(timeout)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> bool {
        (**self).shutdown_with_timeout(timeout)
    }
}

/// Exports each batch on the thread that closed its spans, with no queue
/// and no retry: OpenTelemetry's `SimpleSpanProcessor`. Suits exporters that
/// are quick and cannot fail for long (the console, an in-memory collector);
/// a network exporter belongs behind a
/// [`BatchSpanProcessor`](super::BatchSpanProcessor).
///
/// A failed export is counted in [`dropped`](Self::dropped) and printed to
/// stderr, as are spans the receiver refused in a batch it otherwise
/// accepted ([`SpanExporter::take_rejected`]).
///
/// ```
/// use trace_runtime::Tracer;
/// use trace_runtime::export::{ConsoleExporter, SimpleSpanProcessor};
///
/// let processor = SimpleSpanProcessor::new(ConsoleExporter::new());
/// let tracer = Tracer::builder("shop").span_processor(processor).build();
/// # let _ = tracer;
/// ```
#[derive(Debug)]
pub struct SimpleSpanProcessor<E> {
    exporter: E,
    dropped: AtomicU64,
}

impl<E: SpanExporter + Sync> SimpleSpanProcessor<E> {
    /// Exports through `exporter`.
    pub fn new(exporter: E) -> Self {
        Self { exporter, dropped: AtomicU64::new(0) }
    }

    /// Spans whose export failed, or that the receiver refused.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl<E: SpanExporter + Sync> SpanProcessor for SimpleSpanProcessor<E> {
    fn on_end(&self, batch: SpanBatch) {
        let spans = batch.into_spans();
        let outcome = self.exporter.export(&spans);
        // Refused in an accepted batch (an OTLP partial success): dropped,
        // as the batch processor counts them.
        let rejected = self.exporter.take_rejected();
        if rejected > 0 {
            self.dropped.fetch_add(rejected, Ordering::Relaxed);
        }
        if let Err(error) = outcome {
            self.dropped.fetch_add(spans.len() as u64, Ordering::Relaxed);
            let who = Who(spans.first().map(|span| &*span.service));
            eprintln!("{who}: export of {} spans failed: {error}", spans.len());
        }
    }

    fn flush(&self) {
        self.exporter.flush();
    }

    fn shutdown(&self) {
        self.exporter.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryCollector;
    use crate::export::ExportError;
    use crate::export::test_support::sample_trace;
    use crate::span::SpanData;

    struct Refuses;

    impl SpanExporter for Refuses {
        fn export(&self, _: &[SpanData]) -> Result<(), ExportError> {
            Err(ExportError::permanent("no"))
        }
    }

    #[test]
    fn a_simple_processor_exports_each_batch_and_counts_failures() {
        let collector = InMemoryCollector::new();
        let simple = SimpleSpanProcessor::new(collector.clone());
        simple.on_end(sample_trace().into());
        assert_eq!(collector.spans().len(), sample_trace().len());
        assert_eq!(simple.dropped(), 0);

        let refusing = SimpleSpanProcessor::new(Refuses);
        refusing.on_end(sample_trace().into());
        assert_eq!(refusing.dropped(), sample_trace().len() as u64);
    }

    /// Never returns from `shutdown` until told to.
    /// Accepts every batch but refuses two of its spans, as an OTLP
    /// receiver's partial success does.
    #[derive(Default)]
    struct RefusesTwo(AtomicU64);

    impl SpanExporter for RefusesTwo {
        fn export(&self, _: &[SpanData]) -> Result<(), ExportError> {
            self.0.fetch_add(2, Ordering::Relaxed);
            Ok(())
        }

        fn take_rejected(&self) -> u64 {
            self.0.swap(0, Ordering::Relaxed)
        }
    }

    #[test]
    fn spans_refused_in_an_accepted_batch_count_as_dropped() {
        let simple = SimpleSpanProcessor::new(RefusesTwo::default());
        simple.on_end(sample_trace().into());
        simple.on_end(sample_trace().into());
        assert_eq!(simple.dropped(), 4);
    }

    struct Hangs(std::sync::Mutex<std::sync::mpsc::Receiver<()>>);

    impl SpanProcessor for Hangs {
        fn on_end(&self, _: SpanBatch) {}

        fn shutdown(&self) {
            let _ = self.0.lock().unwrap().recv();
        }
    }

    #[test]
    fn one_hung_processor_does_not_keep_the_others_from_shutting_down() {
        let (release, hold) = std::sync::mpsc::channel();
        let collector = InMemoryCollector::new();
        let batched = crate::export::BatchSpanProcessor::new(collector.clone());
        let tracer = crate::Tracer::builder("svc")
            .span_processor(Hangs(std::sync::Mutex::new(hold)))
            .span_processor(batched)
            .build();
        tracer.in_scope(|| drop(crate::span("request").start()));
        assert!(!tracer.shutdown_with_timeout(Duration::from_millis(200)));
        assert_eq!(collector.spans().len(), 1, "the batch processor shut down beside the hung one");
        release.send(()).unwrap();
    }
}
