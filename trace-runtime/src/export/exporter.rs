//! Transports that can fail: what a
//! [`BatchSpanProcessor`](super::BatchSpanProcessor) drives from its
//! background thread.

use std::fmt;
use std::time::Duration;

use crate::export::InMemoryCollector;
use crate::span::SpanData;

/// Sends batches of finished spans somewhere (a collector, a file) and says
/// whether it worked: OpenTelemetry's `SpanExporter`.
///
/// An exporter may block and do I/O: a
/// [`BatchSpanProcessor`](super::BatchSpanProcessor) calls it from its
/// background thread and retries failures the error marks as retryable; a
/// [`SimpleSpanProcessor`](super::SimpleSpanProcessor) calls it on the
/// thread that closed the spans, which suits quick ones (the console, tests).
///
/// ```
/// use trace_runtime::SpanData;
/// use trace_runtime::export::{BatchSpanProcessor, ExportError, SpanExporter};
///
/// struct Stdout;
///
/// impl SpanExporter for Stdout {
///     fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
///         for span in batch {
///             println!("{} {}ns", span.name, span.duration_nanos);
///         }
///         Ok(())
///     }
/// }
///
/// let processor = BatchSpanProcessor::new(Stdout);
/// # processor.shutdown_with_timeout(std::time::Duration::from_secs(1));
/// ```
pub trait SpanExporter: Send + 'static {
    /// Delivers one batch.
    ///
    /// # Errors
    /// An [`ExportError`] saying why, and whether trying again may help.
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError>;

    /// Spans the receiver refused in batches it otherwise accepted since the
    /// last call (an OTLP partial success); the default is none. The
    /// [`BatchSpanProcessor`](super::BatchSpanProcessor) and the
    /// [`SimpleSpanProcessor`](super::SimpleSpanProcessor) ask after every
    /// batch and count them as dropped.
    fn take_rejected(&self) -> u64 {
        0
    }

    /// Makes everything exported so far durable (for example, flushes a file).
    fn flush(&self) {}

    /// Flushes and releases resources; called once, last.
    fn shutdown(&self) {
        self.flush();
    }
}

impl<E: SpanExporter + Sync + ?Sized> SpanExporter for std::sync::Arc<E> {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        (**self).export(batch)
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

impl<E: SpanExporter + ?Sized> SpanExporter for Box<E> {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        (**self).export(batch)
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

impl SpanExporter for InMemoryCollector {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        self.extend(batch);
        Ok(())
    }
}

/// Why a [`SpanExporter`] could not deliver a batch.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Rejects two spans of every batch it takes.
    struct Rejecting;

    impl SpanExporter for Rejecting {
        fn export(&self, _: &[SpanData]) -> Result<(), ExportError> {
            Ok(())
        }

        fn take_rejected(&self) -> u64 {
            2
        }
    }

    #[test]
    fn boxed_and_shared_exporters_pass_rejected_spans_on() {
        let boxed: Box<dyn SpanExporter> = Box::new(Rejecting);
        assert_eq!(boxed.take_rejected(), 2);
        assert_eq!(std::sync::Arc::new(Rejecting).take_rejected(), 2);
    }
}
