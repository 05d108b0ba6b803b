//! Reading span files: what a read returns, format detection, and the JSON
//! conversions the JSON Lines and OTLP JSON readers share.

use std::collections::HashMap;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use trace_runtime::{SpanData, Value};

mod jsonl;
mod otlp_json;

pub use jsonl::read_jsonl;
pub use otlp_json::read_otlp_json;

/// The spans a reader recovered, and what it had to skip.
#[derive(Debug, Default)]
pub struct ReadOutcome {
    /// The spans read, in file order.
    pub spans: Vec<SpanData>,
    /// How many records were skipped as malformed: lines for JSON Lines;
    /// spans, lines or documents for OTLP JSON.
    pub malformed_lines: usize,
    /// Why the first skipped record was rejected, with its line number.
    pub first_error: Option<String>,
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
    }
}

/// Reads a span file in either format: OTLP JSON if the text mentions
/// `"resourceSpans"` (a single `ExportTraceServiceRequest`, or one per line
/// as the OpenTelemetry Collector's file exporter writes), otherwise JSON
/// Lines (see [`read_jsonl`]).
///
/// ```no_run
/// use trace_analysis::{assemble, read_file};
/// let outcome = read_file("spans/orders.jsonl".as_ref())?;
/// eprintln!("{} malformed lines skipped", outcome.malformed_lines);
/// let traces = assemble(outcome.spans);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_file(path: &Path) -> io::Result<ReadOutcome> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut bytes)?;
    if bytes.windows(15).any(|w| w == b"\"resourceSpans\"") {
        read_otlp_json(&bytes[..])
    } else {
        read_jsonl(BufReader::new(&bytes[..]))
    }
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
