//! JSON Lines files: one span per line, appended, in the format that
//! [`analysis::read_jsonl`](crate::analysis::read_jsonl) reads back.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use crate::analysis::write_jsonl_line;
use crate::export::{ExportError, SpanExporter};
use crate::span::SpanData;

/// Appends spans to a JSON Lines file, one line per span, so traces can be
/// kept, grepped, replayed and analysed.
///
/// Lines are written by [`write_jsonl_line`](crate::analysis::write_jsonl_line),
/// whose format [`analysis::read_jsonl`](crate::analysis::read_jsonl) and
/// [`analysis::read_file`](crate::analysis::read_file) read back (hex IDs,
/// `service`, `name`, `kind`, `start_unix_nanos`, `duration_nanos`, `tags`,
/// `events`, `status`, `links`). Each batch is written with one `write` and
/// flushed, so readers never see half a line. Put it behind a
/// [`BatchSpanProcessor`](super::BatchSpanProcessor).
///
/// ```
/// use trace_runtime::Tracer;
/// use trace_runtime::analysis::read_file;
/// use trace_runtime::export::{BatchSpanProcessor, JsonLinesExporter};
///
/// let path = std::env::temp_dir().join(format!("doc-{}.jsonl", std::process::id()));
/// let file = JsonLinesExporter::create(&path)?;
/// let tracer = Tracer::builder("shop").span_processor(BatchSpanProcessor::new(file)).build();
/// tracer.in_scope(|| drop(trace_runtime::span("checkout").tag("items", 3).start()));
/// tracer.shutdown();
///
/// let spans = read_file(&path)?.spans;
/// assert_eq!(spans[0].name, "checkout");
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct JsonLinesExporter {
    out: Mutex<Box<dyn Write + Send>>,
}

impl JsonLinesExporter {
    /// Appends to the file at `path`, creating it if needed.
    ///
    /// # Errors
    /// The error of opening the file.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self::to_writer(file))
    }

    /// Writes lines to any writer (a socket, a pipe, a buffer in tests).
    pub fn to_writer(out: impl Write + Send + 'static) -> Self {
        Self { out: Mutex::new(Box::new(out)) }
    }
}

impl SpanExporter for JsonLinesExporter {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        let mut text = String::new();
        for span in batch {
            write_jsonl_line(span, &mut text);
        }
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| ExportError::permanent(format!("writing JSON Lines: {e}")))
    }
}

impl std::fmt::Debug for JsonLinesExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLinesExporter").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::read_jsonl;
    use crate::export::test_support::{sample_trace, temp_path};
    use std::fs::File;
    use std::io::BufReader;

    #[test]
    fn spans_are_appended_one_per_line_and_read_back() {
        let path = temp_path("spans.jsonl");
        let exporter = JsonLinesExporter::create(&path).unwrap();
        exporter.export(&sample_trace()).unwrap();
        drop(exporter);
        // A second exporter on the same file appends to what is there.
        JsonLinesExporter::create(&path).unwrap().export(&sample_trace()[..1]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 4);
        assert!(text.ends_with('\n'));
        let outcome = read_jsonl(BufReader::new(File::open(&path).unwrap())).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(outcome.malformed_lines, 0);
        let names: Vec<&str> = outcome.spans.iter().map(|s| &*s.name).collect();
        assert_eq!(names, ["decode", "load cart", "GET /cart", "decode"]);
        let child = &outcome.spans[1];
        let expected = &sample_trace()[1];
        assert_eq!(
            (child.trace_id, child.span_id, child.parent_id, child.kind),
            (expected.trace_id, expected.span_id, expected.parent_id, expected.kind)
        );
        assert_eq!(
            (child.start_unix_nanos, child.duration_nanos),
            (expected.start_unix_nanos, expected.duration_nanos)
        );
        assert_eq!((&child.status, &child.events), (&expected.status, &expected.events));
        assert_eq!(child.tag("db.rows"), Some(&crate::Value::I64(-3)));
        assert_eq!(child.links.len(), 1);
    }

    #[test]
    fn write_errors_are_reported() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let error = JsonLinesExporter::to_writer(Broken).export(&sample_trace()).unwrap_err();
        assert!(error.message().contains("disk full"), "{error}");
        assert!(!error.is_retryable());
    }
}
