//! OTLP's JSON encoding: the `ExportTraceServiceRequest` an OTLP/HTTP JSON
//! receiver reads, written straight into a string.

use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::export::otlp::SCOPE_NAME;
use crate::span::{Link, SpanData, SpanKind, Status};
use crate::value::{Tag, Value};

/// Encodes spans as an OTLP/HTTP JSON `ExportTraceServiceRequest`.
///
/// Spans are grouped into one `resourceSpans` entry per service (with a
/// `service.name` resource attribute), in the order services first appear,
/// under the scope `trace-runtime`, with attributes, events, links and
/// status. IDs are hex, enums are integers, 64-bit integers are decimal
/// strings, as the OTLP specification asks.
///
/// ```
/// # use trace_runtime::{InMemoryCollector, Tracer};
/// use trace_runtime::export::encode_otlp_json;
///
/// # let collector = InMemoryCollector::new();
/// # let tracer = Tracer::builder("shop").span_processor(collector.clone()).build();
/// # tracer.in_scope(|| drop(trace_runtime::span("checkout").start()));
/// let spans = collector.spans();
/// let payload: serde_json::Value = serde_json::from_str(&encode_otlp_json(&spans)).unwrap();
/// let span = &payload["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
/// assert_eq!(span["name"], "checkout");
/// assert_eq!(span["kind"], 1); // SPAN_KIND_INTERNAL
/// assert_eq!(span["traceId"], spans[0].trace_id.to_string());
/// ```
pub fn encode_otlp_json(spans: &[SpanData]) -> String {
    encode(spans, &[])
}

/// [`encode_otlp_json`] with extra resource attributes for every service.
///
/// Written straight into one string (no intermediate JSON tree): encoding
/// runs on the export thread for every span, so it is kept to appends.
pub(super) fn encode(spans: &[SpanData], resource: &[(String, String)]) -> String {
    let services = crate::export::by_service(spans);
    let mut out = String::with_capacity(64 + spans.len() * 320);
    out.push_str(r#"{"resourceSpans":["#);
    for (n, (service, service_spans)) in services.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(r#"{"resource":{"attributes":["#);
        write_string_attribute(&mut out, "service.name", service);
        for (key, value) in resource {
            out.push(',');
            write_string_attribute(&mut out, key, value);
        }
        out.push_str(r#"]},"scopeSpans":[{"scope":{"name":"#);
        write_str(&mut out, SCOPE_NAME);
        out.push_str(r#","version":"#);
        write_str(&mut out, env!("CARGO_PKG_VERSION"));
        out.push_str(r#"},"spans":["#);
        for (i, span) in service_spans.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_span(&mut out, span);
        }
        out.push_str("]}]}");
    }
    out.push_str("]}");
    out
}

fn write_span(out: &mut String, span: &SpanData) {
    let _ = write!(out, r#"{{"traceId":"{}","spanId":"{}""#, span.trace_id, span.span_id);
    if let Some(parent) = span.parent_id {
        let _ = write!(out, r#","parentSpanId":"{parent}""#);
    }
    out.push_str(r#","name":"#);
    write_str(out, &span.name);
    let _ = write!(
        out,
        r#","kind":{},"startTimeUnixNano":"{}","endTimeUnixNano":"{}""#,
        kind_number(span.kind),
        span.start_unix_nanos,
        span.end_unix_nanos()
    );
    if !span.tags.is_empty() {
        out.push_str(r#","attributes":"#);
        write_attributes(out, &span.tags);
    }
    if !span.events.is_empty() {
        out.push_str(r#","events":["#);
        for (i, event) in span.events.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, r#"{{"timeUnixNano":"{}","name":"#, event.time_unix_nanos);
            write_str(out, &event.name);
            if !event.tags.is_empty() {
                out.push_str(r#","attributes":"#);
                write_attributes(out, &event.tags);
            }
            out.push('}');
        }
        out.push(']');
    }
    if !span.links.is_empty() {
        out.push_str(r#","links":["#);
        for (i, link) in span.links.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_link(out, link);
        }
        out.push(']');
    }
    match &span.status {
        Status::Unset => out.push_str(r#","status":{"code":0}"#),
        Status::Ok => out.push_str(r#","status":{"code":1}"#),
        Status::Error(message) if message.is_empty() => out.push_str(r#","status":{"code":2}"#),
        Status::Error(message) => {
            out.push_str(r#","status":{"code":2,"message":"#);
            write_str(out, message);
            out.push('}');
        }
    }
    out.push('}');
}

fn write_link(out: &mut String, link: &Link) {
    let context = &link.span_context;
    // W3C flags, plus "is remote is known" (0x100) and "is remote" (0x200).
    let flags = u32::from(context.flags.bits()) | 0x100 | if context.remote { 0x200 } else { 0 };
    let _ = write!(out, r#"{{"traceId":"{}","spanId":"{}""#, context.trace_id, context.span_id);
    if !link.tags.is_empty() {
        out.push_str(r#","attributes":"#);
        write_attributes(out, &link.tags);
    }
    let _ = write!(out, r#","flags":{flags}}}"#);
}

pub(super) fn kind_number(kind: SpanKind) -> u8 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn write_attributes(out: &mut String, tags: &[Tag]) {
    out.push('[');
    for (i, (key, value)) in tags.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"key":"#);
        write_str(out, key);
        out.push_str(r#","value":"#);
        write_any_value(out, value);
        out.push('}');
    }
    out.push(']');
}

fn write_string_attribute(out: &mut String, key: &str, value: &str) {
    out.push_str(r#"{"key":"#);
    write_str(out, key);
    out.push_str(r#","value":{"stringValue":"#);
    write_str(out, value);
    out.push_str("}}");
}

/// An OTLP `AnyValue`: 64-bit integers as decimal strings, and the
/// non-finite doubles as the strings protobuf's JSON mapping uses.
fn write_any_value(out: &mut String, value: &Value) {
    match value {
        Value::Str(s) => {
            out.push_str(r#"{"stringValue":"#);
            write_str(out, s);
            out.push('}');
        }
        Value::I64(v) => {
            let _ = write!(out, r#"{{"intValue":"{v}"}}"#);
        }
        Value::F64(v) if v.is_finite() => {
            // serde_json prints the shortest text that reads back exactly.
            let _ = write!(out, r#"{{"doubleValue":{}}}"#, Json::from(*v));
        }
        Value::F64(v) if v.is_nan() => out.push_str(r#"{"doubleValue":"NaN"}"#),
        Value::F64(v) if *v > 0.0 => out.push_str(r#"{"doubleValue":"Infinity"}"#),
        Value::F64(_) => out.push_str(r#"{"doubleValue":"-Infinity"}"#),
        Value::Bool(v) => {
            let _ = write!(out, r#"{{"boolValue":{v}}}"#);
        }
    }
}

/// A JSON string literal, escaped as JSON requires.
fn write_str(out: &mut String, text: &str) {
    out.push('"');
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..0x20 => "",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::test_support::{CHILD, LINKED_SPAN, LINKED_TRACE, ROOT, T0, sample_trace};
    use serde_json::{Value as Json, json};
    use std::sync::Arc;

    #[test]
    fn strings_are_escaped_as_json_requires() {
        for text in [
            "plain",
            "quote \" and \\ backslash",
            "line\nbreak\ttab\r",
            "\u{1}\u{1f} control",
            "héllo ✓",
        ] {
            let mut out = String::new();
            write_str(&mut out, text);
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), text, "{out}");
        }
    }
    fn spans_of(payload: &Json) -> Vec<Json> {
        payload["resourceSpans"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["scopeSpans"][0]["spans"].as_array().unwrap().clone())
            .collect()
    }

    #[test]
    fn encodes_every_field_of_a_span() {
        let payload: Json = serde_json::from_str(&encode_otlp_json(&sample_trace())).unwrap();
        let resource = &payload["resourceSpans"][0];
        assert_eq!(
            resource["resource"]["attributes"],
            json!([{ "key": "service.name", "value": { "stringValue": "shop" } }])
        );
        let scope = &resource["scopeSpans"][0]["scope"];
        assert_eq!(
            *scope,
            json!({ "name": "trace-runtime", "version": env!("CARGO_PKG_VERSION") })
        );
        let spans = spans_of(&payload);
        assert_eq!(spans.len(), 3);
        let child = &spans[1];
        assert_eq!(child["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(child["spanId"], format!("{CHILD:016x}"));
        assert_eq!(child["parentSpanId"], format!("{ROOT:016x}"));
        assert_eq!(child["name"], "load cart");
        assert_eq!(child["kind"], 3);
        assert_eq!(child["startTimeUnixNano"], (T0 + 1_000_000).to_string());
        assert_eq!(child["endTimeUnixNano"], (T0 + 4_000_000).to_string());
        assert_eq!(
            child["attributes"],
            json!([
                { "key": "db.system", "value": { "stringValue": "postgresql" } },
                { "key": "db.rows", "value": { "intValue": "-3" } },
                { "key": "ratio", "value": { "doubleValue": 0.25 } },
                { "key": "cached", "value": { "boolValue": false } },
            ])
        );
        assert_eq!(
            child["events"],
            json!([{
                "timeUnixNano": (T0 + 1_500_000).to_string(),
                "name": "retry",
                "attributes": [{ "key": "attempt", "value": { "intValue": "2" } }],
            }])
        );
        assert_eq!(
            child["links"],
            json!([{
                "traceId": format!("{LINKED_TRACE:032x}"),
                "spanId": format!("{LINKED_SPAN:016x}"),
                "attributes": [{ "key": "messaging.batch.index", "value": { "intValue": "0" } }],
                "flags": 0x301,
            }])
        );
        assert_eq!(child["status"], json!({ "code": 2, "message": "timeout \"db\"" }));
        let root = &spans[2];
        assert!(root.get("parentSpanId").is_none());
        assert_eq!(
            (root["kind"].clone(), root["status"].clone()),
            (json!(2), json!({ "code": 0 }))
        );
        assert_eq!(spans[0]["status"], json!({ "code": 1 }));
        assert!(["attributes", "events", "links"].iter().all(|k| spans[0].get(k).is_none()));
    }

    #[test]
    fn groups_spans_by_service_in_order_of_appearance() {
        let mut spans = sample_trace();
        spans[1].service = Arc::from("db");
        let payload: Json = serde_json::from_str(&encode(
            &spans,
            &[("deployment.environment".into(), "prod".into())],
        ))
        .unwrap();
        let resources = payload["resourceSpans"].as_array().unwrap();
        assert_eq!(resources.len(), 2);
        let names: Vec<&Json> = resources
            .iter()
            .map(|r| &r["resource"]["attributes"][0]["value"]["stringValue"])
            .collect();
        assert_eq!(names, [&json!("shop"), &json!("db")]);
        assert_eq!(resources[0]["scopeSpans"][0]["spans"].as_array().unwrap().len(), 2);
        assert_eq!(resources[1]["scopeSpans"][0]["spans"][0]["name"], "load cart");
        assert_eq!(
            resources[1]["resource"]["attributes"][1],
            json!({ "key": "deployment.environment", "value": { "stringValue": "prod" } })
        );
    }

    #[test]
    fn encodes_special_values() {
        let mut span = sample_trace().remove(2);
        span.tags = vec![
            ("nan".into(), Value::F64(f64::NAN)),
            ("inf".into(), Value::F64(f64::INFINITY)),
            ("-inf".into(), Value::F64(f64::NEG_INFINITY)),
            ("min".into(), Value::I64(i64::MIN)),
            ("big".into(), Value::from(u64::MAX)),
        ];
        span.status = Status::Error("".into());
        let payload: Json = serde_json::from_str(&encode_otlp_json(&[span])).unwrap();
        let span = &spans_of(&payload)[0];
        let values: Vec<&Json> =
            span["attributes"].as_array().unwrap().iter().map(|a| &a["value"]).collect();
        assert_eq!(
            values,
            [
                &json!({ "doubleValue": "NaN" }),
                &json!({ "doubleValue": "Infinity" }),
                &json!({ "doubleValue": "-Infinity" }),
                &json!({ "intValue": "-9223372036854775808" }),
                &json!({ "stringValue": "18446744073709551615" }),
            ]
        );
        assert_eq!(span["status"], json!({ "code": 2 }));
        assert_eq!(encode_otlp_json(&[]), r#"{"resourceSpans":[]}"#);
    }
}
