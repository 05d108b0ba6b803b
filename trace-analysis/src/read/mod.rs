//! Reading span files: what a read returns, format detection, and the JSON
//! conversions the readers share.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use serde_json::Value as Json;
use trace_runtime::{SpanData, SpanId, TraceId, Value};

mod jaeger;
mod jsonl;
mod otlp_json;
mod values;
mod zipkin;

pub use jsonl::read_jsonl;

/// The spans a reader recovered, and what it had to skip.
#[derive(Debug, Default)]
pub struct ReadOutcome {
    /// The spans read, in file order.
    pub spans: Vec<SpanData>,
    /// How many records were skipped as malformed: lines for JSON Lines;
    /// spans, lines or documents for the JSON documents. A document that
    /// does not parse as JSON (a truncated file) counts once.
    pub malformed_lines: usize,
    /// Why the first skipped record was rejected, with its line number (and
    /// column, for JSON that does not parse).
    pub first_error: Option<String>,
    /// The format of the first record recognised, if any.
    pub format: Option<Format>,
}

impl ReadOutcome {
    /// Counts a skipped record, keeping the first reason.
    pub(crate) fn skip(&mut self, why: impl FnOnce() -> String) {
        self.malformed_lines += 1;
        if self.first_error.is_none() {
            self.first_error = Some(why());
        }
    }

    /// Appends another read's spans and skips.
    pub fn merge(&mut self, other: Self) {
        self.spans.extend(other.spans);
        self.malformed_lines += other.malformed_lines;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        if self.format.is_none() {
            self.format = other.format;
        }
    }
}

/// The span file formats read here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// One span per line, as `trace_runtime::export::JsonLinesExporter`
    /// writes ([`read_jsonl`]).
    JsonLines,
    /// OpenTelemetry's `ExportTraceServiceRequest` as JSON ([`read_otlp_json`]).
    OtlpJson,
    /// Jaeger UI's "Download JSON" and the query API's `/api/traces`
    /// response ([`read_jaeger_json`]).
    JaegerJson,
    /// Zipkin's v2 JSON: a list of spans, or a list of traces
    /// ([`read_zipkin_json`]).
    ZipkinJson,
}

impl Format {
    /// The format a JSON value is in, from its shape.
    fn of(value: &Json) -> Option<Self> {
        match value {
            Json::Array(_) => Some(Self::ZipkinJson),
            Json::Object(object) if object.contains_key("resourceSpans") => Some(Self::OtlpJson),
            Json::Object(object)
                if object.contains_key("data")
                    || (object.contains_key("spans") && object.contains_key("processes")) =>
            {
                Some(Self::JaegerJson)
            }
            Json::Object(object) if object.contains_key("trace_id") => Some(Self::JsonLines),
            Json::Object(object) if object.contains_key("traceId") && object.contains_key("id") => {
                Some(Self::ZipkinJson)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::JsonLines => "JSON Lines",
            Self::OtlpJson => "OTLP JSON",
            Self::JaegerJson => "Jaeger JSON",
            Self::ZipkinJson => "Zipkin v2 JSON",
        })
    }
}

/// Reads spans in any of the [`Format`]s, told apart by their content: a
/// file that is one JSON document (pretty-printed or not) is read as a
/// whole, and a truncated one is one error with its line and column; a
/// file with a JSON value on each line is read line by line, each bad line
/// counted and skipped. Each value is read by its shape: an object with
/// `resourceSpans` is OTLP JSON (one request, or one per line as the
/// OpenTelemetry Collector's file exporter writes), one with `data` (or
/// `spans` and `processes`) Jaeger JSON, an array Zipkin v2 JSON, and an
/// object with `trace_id` a JSON Lines span. Only an I/O error fails.
///
/// ```
/// use trace_analysis::{Format, read_spans};
/// let zipkin = br#"[{"traceId":"5af7183fb1d4cf5f","id":"352bff9a74ca9ad2","name":"get /api",
///     "timestamp":1556604172355737,"duration":1431,"kind":"SERVER",
///     "localEndpoint":{"serviceName":"backend"}}]"#;
/// let outcome = read_spans(&zipkin[..])?;
/// assert_eq!(outcome.format, Some(Format::ZipkinJson));
/// assert_eq!(&*outcome.spans[0].service, "backend");
///
/// let truncated = b"{\n  \"resourceSpans\": [\n    {\"resource\": {}";
/// let outcome = read_spans(&truncated[..])?;
/// assert_eq!(outcome.malformed_lines, 1);
/// assert_eq!(
///     outcome.first_error.as_deref(),
///     Some("line 3 column 19: not JSON: EOF while parsing an object")
/// );
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_spans(reader: impl Read) -> io::Result<ReadOutcome> {
    read_as(reader, None)
}

/// Reads a span file in any of the [`Format`]s (see [`read_spans`]).
///
/// ```no_run
/// use trace_analysis::{assemble, read_file};
/// let outcome = read_file("spans/orders.jsonl".as_ref())?;
/// eprintln!("{} malformed records skipped", outcome.malformed_lines);
/// let traces = assemble(outcome.spans);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_file(path: &Path) -> io::Result<ReadOutcome> {
    read_spans(std::fs::File::open(path)?)
}

/// Reads OTLP JSON: one `ExportTraceServiceRequest` document, or one per
/// line (the OpenTelemetry Collector's file exporter). The service is the
/// resource attribute `service.name` (`unknown_service` without one); IDs
/// are hex, times are strings or numbers, `kind` and `status.code` are
/// numbers or enum names. A span, line or document that cannot be read is
/// counted in [`ReadOutcome::malformed_lines`] and skipped; only an I/O
/// error fails.
///
/// ```
/// use trace_analysis::read_otlp_json;
/// let request = r#"{"resourceSpans":[{
///   "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"payments"}}]},
///   "scopeSpans":[{"spans":[{
///     "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
///     "parentSpanId":"eee19b7ec3c1b173","name":"charge","kind":3,
///     "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",
///     "attributes":[{"key":"amount","value":{"intValue":"1200"}}],
///     "status":{"code":2,"message":"card declined"}}]}]}]}"#;
/// let outcome = read_otlp_json(request.as_bytes()).unwrap();
/// let span = &outcome.spans[0];
/// assert_eq!((&*span.service, span.duration_nanos), ("payments", 1_000_000_000));
/// assert!(span.status.is_error());
/// ```
pub fn read_otlp_json(reader: impl Read) -> io::Result<ReadOutcome> {
    read_as(reader, Some(Format::OtlpJson))
}

/// Reads Jaeger's JSON: the query API's `/api/traces` response and Jaeger
/// UI's "Download JSON" (`{"data": [trace…]}`), or one trace object
/// (`traceID`, `spans`, `processes`).
///
/// Times are microseconds. The service is the span's process's
/// `serviceName`. The parent is `parentSpanID` if set, else the first
/// `CHILD_OF` reference in the same trace, else the first `FOLLOWS_FROM`
/// one (as Jaeger reads its own data); every other reference becomes a
/// link tagged `opentracing.ref_type` (`child_of` or `follows_from`), so a
/// follows-from parent is also a link. The tag `span.kind` becomes the
/// kind; `error=true` an error status whose message is
/// `otel.status_description`, else `otel.status_code` (`OK`, `ERROR`) the
/// status; those tags are removed. A log becomes an event named by its
/// `event` field, its other fields the event's tags.
///
/// ```
/// use trace_analysis::read_jaeger_json;
/// let download = br#"{"data":[{"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spans":[
///   {"traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"00f067aa0ba902b7",
///    "operationName":"GET /cart","references":[],"startTime":1700000000000000,"duration":5000,
///    "tags":[{"key":"span.kind","type":"string","value":"server"},
///            {"key":"error","type":"bool","value":true}],
///    "logs":[],"processID":"p1"}],
///  "processes":{"p1":{"serviceName":"shop","tags":[]}}}]}"#;
/// let span = &read_jaeger_json(&download[..])?.spans[0];
/// assert_eq!((&*span.service, &*span.name, span.duration_nanos), ("shop", "GET /cart", 5_000_000));
/// assert!(span.status.is_error() && span.tags.is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_jaeger_json(reader: impl Read) -> io::Result<ReadOutcome> {
    read_as(reader, Some(Format::JaegerJson))
}

/// Reads Zipkin's v2 JSON: a list of spans (what `POST /api/v2/spans`
/// takes and `GET /api/v2/trace/{traceId}` returns), or a list of such
/// lists (`GET /api/v2/traces`).
///
/// Times are microseconds; a span without `timestamp` or `duration` (an
/// incomplete one) is counted as malformed. The service is
/// `localEndpoint.serviceName`; a missing `kind` is internal. The tag
/// `error` makes an error status with its value as the message, else
/// `otel.status_code` (`OK`, `ERROR`) sets the status; both are removed.
/// Tags are strings. An annotation becomes an event named by its value; a
/// value `name {json object}` (as `trace_runtime::export::encode_zipkin_json`
/// writes an event with tags) becomes the name and tags.
/// `remoteEndpoint`, `debug` and `shared` are not read; the server half of
/// a `shared` span has its client's ID, so assembling keeps one of them
/// and counts the other in [`Trace::duplicate_spans`](crate::Trace::duplicate_spans).
///
/// ```
/// use trace_analysis::read_zipkin_json;
/// let spans = br#"[{"traceId":"5af7183fb1d4cf5f","parentId":"6b221d5bc9e6496c","id":"352bff9a74ca9ad2",
///   "name":"get /api","timestamp":1556604172355737,"duration":1431,"kind":"SERVER",
///   "localEndpoint":{"serviceName":"backend"},"tags":{"http.method":"GET","error":"timeout"}}]"#;
/// let span = &read_zipkin_json(&spans[..])?.spans[0];
/// assert_eq!(span.trace_id.to_string(), "00000000000000005af7183fb1d4cf5f");
/// assert_eq!(span.parent_id.unwrap().to_string(), "6b221d5bc9e6496c");
/// assert_eq!(span.start_unix_nanos, 1_556_604_172_355_737_000);
/// assert_eq!(span.status, trace_runtime::Status::Error("timeout".into()));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_zipkin_json(reader: impl Read) -> io::Result<ReadOutcome> {
    read_as(reader, Some(Format::ZipkinJson))
}

/// Reads every JSON value of the input in `only` format, or in the format
/// its shape says.
fn read_as(mut reader: impl Read, only: Option<Format>) -> io::Result<ReadOutcome> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes)?;
    let mut outcome = ReadOutcome::default();
    let mut services = Services::default();
    values::for_each_value(&bytes, &mut outcome, |at, value, outcome| {
        let format = match (Format::of(&value), only) {
            (Some(format), None) => format,
            (Some(format), Some(only)) if format == only => format,
            (_, Some(only)) => {
                return outcome.skip(|| format!("{at}: not {only}{}", expected(only)));
            }
            (None, None) => {
                return outcome.skip(|| {
                    format!(
                        "{at}: not a span file: no span (JSON Lines), OTLP, Jaeger or Zipkin JSON"
                    )
                });
            }
        };
        outcome.format.get_or_insert(format);
        match format {
            Format::JsonLines => match jsonl::parse_span(&value, &mut services) {
                Ok(span) => outcome.spans.push(span),
                Err(why) => outcome.skip(|| format!("{at}: {why}")),
            },
            Format::OtlpJson => otlp_json::read_request(&value, at, outcome, &mut services),
            Format::JaegerJson => jaeger::read_document(&value, at, outcome, &mut services),
            Format::ZipkinJson => zipkin::read_document(&value, at, outcome, &mut services),
        }
    });
    Ok(outcome)
}

/// What a document in `format` needs, for an error message.
fn expected(format: Format) -> &'static str {
    match format {
        Format::JsonLines => " (no trace_id)",
        Format::OtlpJson => " (no resourceSpans array)",
        Format::JaegerJson => " (no data array)",
        Format::ZipkinJson => " (not a list of spans)",
    }
}

/// A trace ID of 1 to 32 hex digits (Zipkin and Jaeger write 64-bit ones
/// as 16), any case.
pub(crate) fn short_trace_id(text: &str) -> Result<TraceId, String> {
    if text.is_empty() || text.len() > 32 {
        return Err(format!("trace ID {text:?} is not 1 to 32 hex digits"));
    }
    format!("{:0>32}", text.to_ascii_lowercase())
        .parse()
        .map_err(|e| format!("trace ID {text:?}: {e}"))
}

/// A span ID of 1 to 16 hex digits, any case.
pub(crate) fn short_span_id(text: &str) -> Result<SpanId, String> {
    if text.is_empty() || text.len() > 16 {
        return Err(format!("span ID {text:?} is not 1 to 16 hex digits"));
    }
    format!("{:0>16}", text.to_ascii_lowercase())
        .parse()
        .map_err(|e| format!("span ID {text:?}: {e}"))
}

/// Removes the first tag with this key, returning its value.
pub(crate) fn take_tag(tags: &mut Vec<trace_runtime::Tag>, key: &str) -> Option<Value> {
    let index = tags.iter().position(|(k, _)| k == key)?;
    Some(tags.remove(index).1)
}

/// The string at `key`.
pub(crate) fn text_field<'a>(
    object: &'a serde_json::Map<String, Json>,
    key: &str,
) -> Result<&'a str, String> {
    object.get(key).and_then(Json::as_str).ok_or_else(|| format!("no {key} string"))
}

/// Microseconds as nanoseconds, `None` past `u64::MAX`.
pub(crate) fn micros_to_nanos(micros: u64) -> Option<u64> {
    micros.checked_mul(1_000)
}

/// Shares one `Arc<str>` among all spans of a service.
#[derive(Default)]
pub(crate) struct Services(HashMap<String, Arc<str>>);

impl Services {
    pub(crate) fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(service) = self.0.get(name) {
            return service.clone();
        }
        let service: Arc<str> = name.into();
        self.0.insert(name.to_owned(), service.clone());
        service
    }
}

/// A tag value from JSON: strings, integers (those above `i64::MAX` as
/// strings, as [`Value::from`] does), floats and bools as themselves;
/// arrays and objects as their JSON text; `null` as nothing.
pub(crate) fn value_from_json(json: &serde_json::Value) -> Option<Value> {
    use serde_json::Value as J;
    Some(match json {
        J::Null => return None,
        J::Bool(b) => Value::Bool(*b),
        J::String(s) => Value::Str(s.clone().into()),
        J::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::I64(i),
            (None, Some(u), _) => Value::Str(u.to_string().into()),
            (None, None, Some(f)) => Value::F64(f),
            _ => Value::Str(n.to_string().into()),
        },
        J::Array(_) | J::Object(_) => Value::Str(json.to_string().into()),
    })
}

/// A tag value as JSON; a float that is not finite becomes `null`.
pub(crate) fn value_to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Str(s) => serde_json::Value::from(&**s),
        Value::I64(i) => serde_json::Value::from(*i),
        Value::F64(f) => serde_json::Value::from(*f),
        Value::Bool(b) => serde_json::Value::from(*b),
    }
}

/// An unsigned integer given as a JSON number or a decimal string (OTLP
/// JSON writes 64-bit integers as strings).
pub(crate) fn u64_from_json(json: &serde_json::Value) -> Option<u64> {
    match json {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_values_become_tag_values() {
        assert_eq!(value_from_json(&json!("a")), Some(Value::Str("a".into())));
        assert_eq!(value_from_json(&json!(-3)), Some(Value::I64(-3)));
        assert_eq!(
            value_from_json(&json!(u64::MAX)),
            Some(Value::Str(u64::MAX.to_string().into()))
        );
        assert_eq!(value_from_json(&json!(1.5)), Some(Value::F64(1.5)));
        assert_eq!(value_from_json(&json!(true)), Some(Value::Bool(true)));
        assert_eq!(value_from_json(&json!([1, 2])), Some(Value::Str("[1,2]".into())));
        assert_eq!(value_from_json(&json!(null)), None);
        assert_eq!(value_to_json(&Value::F64(f64::NAN)), json!(null));
        assert_eq!(u64_from_json(&json!("12")), Some(12));
        assert_eq!(u64_from_json(&json!(-1)), None);
    }

    #[test]
    fn services_are_shared() {
        let mut services = Services::default();
        assert!(Arc::ptr_eq(&services.get("a"), &services.get("a")));
    }

    #[test]
    fn read_file_detects_the_format() {
        let dir = std::env::temp_dir().join(format!("trace-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let otlp = dir.join("spans.json");
        std::fs::write(&otlp, crate::testing::OTLP_SAMPLE).unwrap();
        assert_eq!(read_file(&otlp).unwrap().spans.len(), 2);
        let jsonl = dir.join("spans.jsonl");
        let mut text = String::new();
        trace_runtime::export::write_jsonl_line(
            &crate::testing::span(1, 1, None, "a", "x", 0, 1),
            &mut text,
        );
        std::fs::write(&jsonl, text).unwrap();
        assert_eq!(read_file(&jsonl).unwrap().spans.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
