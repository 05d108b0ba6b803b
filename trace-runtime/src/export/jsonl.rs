//! JSON Lines files: one span per line, appended. The line format is
//! defined here, by its writer; the `trace-analysis` crate reads it back.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use serde_json::Value as Json;

use crate::export::{ExportError, SpanExporter};
use crate::span::{SpanData, Status};
use crate::value::{Tag, Value};

/// Appends spans to a JSON Lines file, one line per span, so traces can be
/// kept, grepped, replayed and analysed.
///
/// Lines are written by [`write_jsonl_line`] (hex IDs, `service`, `name`,
/// `kind`, `start_unix_nanos`, `duration_nanos`, `tags`, `events`, `status`,
/// `links`); `trace-analysis` (`read_jsonl`, `read_file`, the `trace-report`
/// tool) reads them back. Each batch is written with one `write` and
/// flushed, so readers never see half a line. Put it behind a
/// [`BatchSpanProcessor`](super::BatchSpanProcessor).
///
/// ```
/// use trace_runtime::Tracer;
/// use trace_runtime::export::{BatchSpanProcessor, JsonLinesExporter};
///
/// let path = std::env::temp_dir().join(format!("doc-{}.jsonl", std::process::id()));
/// let file = JsonLinesExporter::create(&path)?;
/// let tracer = Tracer::builder("shop").span_processor(BatchSpanProcessor::new(file)).build();
/// tracer.in_scope(|| drop(trace_runtime::span("checkout").tag("items", 3).start()));
/// tracer.shutdown();
///
/// let text = std::fs::read_to_string(&path)?;
/// assert!(text.contains(r#""name":"checkout""#));
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

/// Appends one span as a JSON line (with its `\n`), the format of
/// [`JsonLinesExporter`]. Tags keep their order; of repeated keys a reader
/// keeps the last, and a float that is not finite is written as `null`,
/// which a reader skips.
///
/// ```
/// use trace_runtime::export::write_jsonl_line;
/// # use trace_runtime::{InMemoryCollector, Tracer};
/// # let collector = InMemoryCollector::new();
/// # Tracer::builder("shop").span_processor(collector.clone()).build().in_scope(|| {
/// #     let _span = trace_runtime::span("checkout").tag("items", 3).start();
/// # });
/// # let span = collector.spans().remove(0);
/// let mut text = String::new();
/// write_jsonl_line(&span, &mut text);
/// let line: serde_json::Value = serde_json::from_str(&text).unwrap();
/// assert_eq!((&line["name"], &line["tags"]["items"]), (&"checkout".into(), &3.into()));
/// ```
pub fn write_jsonl_line(span: &SpanData, out: &mut String) {
    let _ = write!(out, "{{\"trace_id\":\"{}\",\"span_id\":\"{}\",", span.trace_id, span.span_id);
    match span.parent_id {
        Some(parent) => _ = write!(out, "\"parent_id\":\"{parent}\","),
        None => out.push_str("\"parent_id\":null,"),
    }
    let _ = write!(
        out,
        "\"service\":{},\"name\":{},\"kind\":\"{}\",\"start_unix_nanos\":{},\"duration_nanos\":{},\"tags\":",
        Json::from(&*span.service),
        Json::from(&*span.name),
        span.kind.as_str(),
        span.start_unix_nanos,
        span.duration_nanos,
    );
    write_tags(&span.tags, out);
    out.push_str(",\"events\":[");
    for (i, event) in span.events.iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        let name = Json::from(&*event.name);
        let _ = write!(
            out,
            "{comma}{{\"name\":{name},\"time_unix_nanos\":{},\"tags\":",
            event.time_unix_nanos
        );
        write_tags(&event.tags, out);
        out.push('}');
    }
    let (code, message) = match &span.status {
        Status::Unset => ("unset", ""),
        Status::Ok => ("ok", ""),
        Status::Error(message) => ("error", &**message),
    };
    let _ = write!(out, "],\"status\":{{\"code\":\"{code}\",\"message\":{}}}", Json::from(message));
    if !span.links.is_empty() {
        out.push_str(",\"links\":[");
        for (i, link) in span.links.iter().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            let context = &link.span_context;
            let _ = write!(
                out,
                "{comma}{{\"trace_id\":\"{}\",\"span_id\":\"{}\",\"tags\":",
                context.trace_id, context.span_id
            );
            write_tags(&link.tags, out);
            out.push('}');
        }
        out.push(']');
    }
    out.push_str("}\n");
}

fn write_tags(tags: &[Tag], out: &mut String) {
    out.push('{');
    for (i, (key, value)) in tags.iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        let _ = write!(out, "{comma}{}:{}", Json::from(&**key), json_value(value));
    }
    out.push('}');
}

/// A tag value as JSON; a float that is not finite becomes `null`.
fn json_value(value: &Value) -> Json {
    match value {
        Value::Str(s) => Json::from(&**s),
        Value::I64(i) => Json::from(*i),
        Value::F64(f) => Json::from(*f),
        Value::Bool(b) => Json::from(*b),
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
    use crate::export::test_support::{LINKED_SPAN, LINKED_TRACE, sample_trace, temp_path};
    use serde_json::json;

    // The reader's side of the round trip (every field back equal) is in
    // trace-analysis (`read::jsonl`'s tests and tests/analysis.rs).
    #[test]
    fn spans_are_appended_one_per_line_in_the_line_format() {
        let path = temp_path("spans.jsonl");
        let exporter = JsonLinesExporter::create(&path).unwrap();
        exporter.export(&sample_trace()).unwrap();
        drop(exporter);
        // A second exporter on the same file appends to what is there.
        JsonLinesExporter::create(&path).unwrap().export(&sample_trace()[..1]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(text.ends_with('\n'));
        let lines: Vec<Json> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let names: Vec<&str> = lines.iter().map(|l| l["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["decode", "load cart", "GET /cart", "decode"]);
        let expected = &sample_trace()[1];
        assert_eq!(
            lines[1],
            json!({
                "trace_id": expected.trace_id.to_string(),
                "span_id": expected.span_id.to_string(),
                "parent_id": expected.parent_id.unwrap().to_string(),
                "service": "shop",
                "name": "load cart",
                "kind": "client",
                "start_unix_nanos": expected.start_unix_nanos,
                "duration_nanos": 3_000_000,
                "tags": { "db.system": "postgresql", "db.rows": -3, "ratio": 0.25, "cached": false },
                "events": [{
                    "name": "retry",
                    "time_unix_nanos": expected.events[0].time_unix_nanos,
                    "tags": { "attempt": 2 },
                }],
                "status": { "code": "error", "message": "timeout \"db\"" },
                "links": [{
                    "trace_id": format!("{LINKED_TRACE:032x}"),
                    "span_id": format!("{LINKED_SPAN:016x}"),
                    "tags": { "messaging.batch.index": 0 },
                }],
            })
        );
        assert_eq!(lines[2]["parent_id"], Json::Null);
        assert!(lines[2].get("links").is_none());
    }

    #[test]
    fn tag_order_is_kept_and_floats_that_are_not_finite_become_null() {
        let mut span = sample_trace().remove(0);
        span.tags = vec![
            ("z".into(), Value::F64(f64::NAN)),
            ("a".into(), Value::F64(f64::INFINITY)),
            ("m".into(), "ünï \"code\"\n".into()),
        ];
        let mut text = String::new();
        write_jsonl_line(&span, &mut text);
        assert_eq!(text.matches('\n').count(), 1, "one line: {text}");
        assert!(text.contains(r#""tags":{"z":null,"a":null,"m":"ünï \"code\"\n"}"#), "{text}");
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
