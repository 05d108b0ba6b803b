//! Transports that can fail: what a [`BatchExporter`](super::BatchExporter)
//! drives from its background thread.

use std::fmt;
use std::time::Duration;

use crate::export::{Exporter, InMemoryCollector};
use crate::span::SpanData;

/// Delivers batches of finished spans somewhere (a collector, a file) and
/// says whether it worked.
///
/// Unlike [`Exporter`], a sink may block and do I/O: it is called only from
/// the background thread of a [`BatchExporter`](super::BatchExporter), which
/// retries failures the error marks as retryable.
///
/// ```
/// use trace_runtime::SpanData;
/// use trace_runtime::export::{BatchExporter, ExportError, SpanSink};
///
/// struct Stdout;
///
/// impl SpanSink for Stdout {
///     fn send(&self, batch: &[SpanData]) -> Result<(), ExportError> {
///         for span in batch {
///             println!("{} {}ns", span.name, span.duration_nanos);
///         }
///         Ok(())
///     }
/// }
///
/// let exporter = BatchExporter::new(Stdout);
/// # exporter.shutdown_with_timeout(std::time::Duration::from_secs(1));
/// ```
pub trait SpanSink: Send + 'static {
    /// Delivers one batch.
    ///
    /// # Errors
    /// An [`ExportError`] saying why, and whether trying again may help.
    fn send(&self, batch: &[SpanData]) -> Result<(), ExportError>;

    /// Spans the receiver refused in batches it otherwise accepted since the
    /// last call (an OTLP partial success); the default is none. The
    /// [`BatchExporter`](super::BatchExporter) asks after every delivered
    /// batch and counts them as dropped.
    fn take_rejected(&self) -> u64 {
        0
    }

    /// Makes everything sent so far durable (for example, flushes a file).
    fn flush(&self) {}

    /// Flushes and releases resources; called once, last.
    fn shutdown(&self) {
        self.flush();
    }
}

impl<S: SpanSink + Sync + ?Sized> SpanSink for std::sync::Arc<S> {
    fn send(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        (**self).send(batch)
    }

    fn take_rejected(&self) -> u64 {
        (**self).take_rejected()
    }

    fn flush(&self) {
        (**self).flush();
    }

    fn shutdown(&self) {
        (**self).shutdown();
    }
}

impl SpanSink for InMemoryCollector {
    fn send(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        self.export(batch);
        Ok(())
    }
}

/// Runs any [`Exporter`] as a [`SpanSink`] that never fails, so it can sit
/// behind a [`BatchExporter`](super::BatchExporter).
///
/// ```
/// use trace_runtime::InMemoryCollector;
/// use trace_runtime::export::{BatchExporter, ExporterSink};
///
/// let exporter = BatchExporter::new(ExporterSink(InMemoryCollector::new()));
/// # exporter.shutdown_with_timeout(std::time::Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ExporterSink<E>(pub E);

impl<E: Exporter> SpanSink for ExporterSink<E> {
    fn send(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        self.0.export(batch);
        Ok(())
    }

    fn flush(&self) {
        self.0.flush();
    }

    fn shutdown(&self) {
        self.0.shutdown();
    }
}

/// Why a [`SpanSink`] could not deliver a batch.
///
/// ```
/// use std::time::Duration;
/// use trace_runtime::export::ExportError;
///
/// let busy = ExportError::retryable("HTTP 429").with_retry_after(Duration::from_secs(2));
/// assert!(busy.is_retryable());
/// assert_eq!(busy.retry_after(), Some(Duration::from_secs(2)));
/// assert!(!ExportError::permanent("HTTP 400").is_retryable());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportError {
    message: String,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl ExportError {
    /// A failure that may go away (connection refused, 503, a timeout).
    pub fn retryable(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: true, retry_after: None }
    }

    /// A failure that sending the same batch again will not fix (400, a bad URL).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: false, retry_after: None }
    }

    /// Adds the wait the server asked for (HTTP `Retry-After`).
    #[must_use]
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// Whether trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// How long the server asked to wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(wait) = self.retry_after {
            write!(f, " (retry after {}s)", wait.as_secs_f64())?;
        }
        Ok(())
    }
}

impl std::error::Error for ExportError {}
