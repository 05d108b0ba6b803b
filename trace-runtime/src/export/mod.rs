//! Where finished spans go.

mod assemble;
mod batch;
mod chrome;
mod config;
mod console;
mod env;
mod http;
mod jsonl;
mod memory;
mod otlp;
#[cfg(feature = "grpc")]
mod otlp_grpc;
#[cfg(feature = "grpc")]
mod otlp_official;
#[cfg(feature = "protobuf")]
mod otlp_proto;
mod sink;
mod span_batch;
mod tree_text;
mod zipkin;

#[cfg(test)]
mod otlp_schema_test;
#[cfg(test)]
mod test_support;

pub use batch::{BatchExporter, BatchStats};
pub use chrome::{ChromeTraceExporter, encode_chrome_trace};
pub use config::{BatchConfig, RetryPolicy};
pub use console::ConsoleExporter;
pub use env::{service_name_from_env, service_name_from_lookup};
pub use http::ConfigError;
pub use jsonl::JsonLinesExporter;
pub use memory::InMemoryCollector;
pub(crate) use otlp::batch_exporter_from_lookup as otlp_batch_exporter_from_lookup;
pub use otlp::{OtlpConfig, OtlpHttpExporter, OtlpProtocol, encode_otlp_json};
#[cfg(feature = "grpc")]
pub use otlp_grpc::OtlpGrpcExporter;
#[cfg(feature = "protobuf")]
pub use otlp_proto::encode_otlp_protobuf;
pub use sink::{ExportError, ExporterSink, SpanSink};
pub use span_batch::SpanBatch;
pub use zipkin::{ZipkinExporter, encode_zipkin_json};

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

    /// Takes a batch it may keep; the default lends it to
    /// [`export`](Exporter::export). Exporters that queue spans override
    /// this to keep them without a copy.
    fn export_owned(&self, batch: Vec<SpanData>) {
        self.export(&batch);
    }

    /// Takes a batch as the tracer hands it over; the default converts it
    /// with [`SpanBatch::into_spans`] and passes it to
    /// [`export_owned`](Exporter::export_owned). Exporters that queue spans
    /// override this to leave the conversion to their own thread.
    fn export_batch(&self, batch: SpanBatch) {
        self.export_owned(batch.into_spans());
    }

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

    fn export_owned(&self, batch: Vec<SpanData>) {
        (**self).export_owned(batch);
    }

    fn export_batch(&self, batch: SpanBatch) {
        (**self).export_batch(batch);
    }

    fn flush(&self) {
        (**self).flush();
    }

    fn shutdown(&self) {
        (**self).shutdown();
    }
}
