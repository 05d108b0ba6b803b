//! Checks OTLP payloads against the official protobuf definitions.
//!
//! Everywhere: the `opentelemetry-proto` crate (the messages generated from
//! the official `.proto` files) reads our JSON payload with its serde
//! mapping and our binary payload with prost, and what it read is compared
//! field by field with the spans encoded.
//!
//! In CI also, `#[ignore]`d here: the `opentelemetry-proto` Python package
//! parses the JSON payload with protobuf's own `json_format`, the reference
//! implementation of the proto3 JSON mapping. It adds what the Rust crate
//! does not check: unknown field names are rejected, and non-finite doubles
//! are written as the mapping's "NaN"/"Infinity" strings. `cargo test -p
//! trace-runtime --lib -- --ignored` runs it; without python3 and
//! `pip install opentelemetry-proto protobuf` it fails.

use std::process::Command;
use std::sync::Arc;

use serde_json::{Value as Json, json};

use crate::export::encode_otlp_json;
use crate::export::test_support::{sample_trace, temp_path};
use crate::span::{SpanData, SpanKind, Status};
use crate::value::{Tag, Value};

/// The imports (exit code 3 when missing) and the hex-to-base64 ID
/// conversion that every check with the official classes starts with.
const PYTHON_PRELUDE: &str = r#"
import base64, binascii, json, math, sys
try:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
except ImportError as error:
    print("MISSING:", error)
    sys.exit(3)

def hex_ids_to_base64(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                node[key] = base64.b64encode(binascii.unhexlify(value)).decode()
            else:
                hex_ids_to_base64(value)
    elif isinstance(node, list):
        for value in node:
            hex_ids_to_base64(value)
"#;

/// Parses the payload file named by argv[1] as an ExportTraceServiceRequest
/// and prints one JSON object per span. OTLP/JSON IDs are hex, while
/// `json_format` expects base64 for bytes, so IDs are converted first.
const PARSE: &str = r#"
def any_value(value):
    kind = value.WhichOneof("value")
    v = getattr(value, kind)
    if kind == "double_value" and not math.isfinite(v):
        v = str(v)
    return [kind, v]

def attributes(list_):
    return [[a.key] + any_value(a.value) for a in list_]

raw = json.load(open(sys.argv[1]))
hex_ids_to_base64(raw)
request = json_format.Parse(json.dumps(raw), ExportTraceServiceRequest(), ignore_unknown_fields=False)
out = []
for rs in request.resource_spans:
    for ss in rs.scope_spans:
        for s in ss.spans:
            out.append({
                "resource": attributes(rs.resource.attributes),
                "scope": [ss.scope.name, ss.scope.version],
                "traceId": s.trace_id.hex(), "spanId": s.span_id.hex(), "parentSpanId": s.parent_span_id.hex(),
                "name": s.name, "kind": s.kind,
                "start": s.start_time_unix_nano, "end": s.end_time_unix_nano,
                "attributes": attributes(s.attributes),
                "events": [{"name": e.name, "time": e.time_unix_nano, "attributes": attributes(e.attributes)} for e in s.events],
                "links": [{"traceId": l.trace_id.hex(), "spanId": l.span_id.hex(), "attributes": attributes(l.attributes), "flags": l.flags} for l in s.links],
                "status": [s.status.code, s.status.message],
            })
print(json.dumps(out))
"#;

/// Runs the parser; panics when python or the package is missing.
fn parse_with_official_python_proto(payload: &str) -> Json {
    let path = temp_path("otlp.json");
    std::fs::write(&path, payload).unwrap();
    let output = Command::new("python3")
        .arg("-c")
        .arg(format!("{PYTHON_PRELUDE}{PARSE}"))
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    let need = "this check needs python3 with `pip install opentelemetry-proto protobuf`";
    match output {
        Ok(output) if output.status.success() => serde_json::from_slice(&output.stdout).unwrap(),
        Ok(output) if output.status.code() == Some(3) => {
            panic!("{need} ({})", String::from_utf8_lossy(&output.stdout).trim())
        }
        Ok(output) => panic!(
            "the official OTLP definitions rejected the payload:\n{}\npayload: {payload}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => panic!("{need} (cannot run python3: {error})"),
    }
}

fn expected_value(value: &Value) -> Json {
    match value {
        Value::Str(s) => json!(["string_value", s]),
        Value::I64(v) => json!(["int_value", v]),
        Value::F64(v) if v.is_nan() => json!(["double_value", "nan"]),
        Value::F64(v) if v.is_infinite() => {
            json!(["double_value", if *v > 0.0 { "inf" } else { "-inf" }])
        }
        Value::F64(v) => json!(["double_value", v]),
        Value::Bool(v) => json!(["bool_value", v]),
    }
}

fn expected_attributes(tags: &[Tag]) -> Json {
    tags.iter()
        .map(|(key, value)| {
            let mut entry = vec![json!(key)];
            entry.extend(expected_value(value).as_array().unwrap().iter().cloned());
            Json::Array(entry)
        })
        .collect()
}

fn expected_span(span: &SpanData) -> Json {
    let kind = match span.kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    };
    let status = match &span.status {
        Status::Unset => json!([0, ""]),
        Status::Ok => json!([1, ""]),
        Status::Error(message) => json!([2, message]),
    };
    json!({
        "resource": [["service.name", "string_value", &*span.service]],
        "scope": ["trace-runtime", env!("CARGO_PKG_VERSION")],
        "traceId": span.trace_id.to_string(),
        "spanId": span.span_id.to_string(),
        "parentSpanId": span.parent_id.map(|p| p.to_string()).unwrap_or_default(),
        "name": span.name,
        "kind": kind,
        "start": span.start_unix_nanos,
        "end": span.end_unix_nanos(),
        "attributes": expected_attributes(&span.tags),
        "events": span.events.iter().map(|e| json!({
            "name": e.name,
            "time": e.time_unix_nanos,
            "attributes": expected_attributes(&e.tags),
        })).collect::<Vec<_>>(),
        "links": span.links.iter().map(|l| json!({
            "traceId": l.span_context.trace_id.to_string(),
            "spanId": l.span_context.span_id.to_string(),
            "attributes": expected_attributes(&l.tags),
            "flags": u32::from(l.span_context.flags.bits()) | 0x100 | if l.span_context.remote { 0x200 } else { 0 },
        })).collect::<Vec<_>>(),
        "status": status,
    })
}

/// Every kind of span, value and status the encoder can produce.
fn varied_spans() -> Vec<SpanData> {
    let mut spans = sample_trace();
    let mut billing = spans[2].clone();
    billing.service = Arc::from("billing");
    billing.span_id = crate::SpanId::from_u64(0xabc).unwrap();
    billing.name = "charge ✓ \"card\"\n".into();
    billing.tags = vec![
        ("nan".into(), Value::F64(f64::NAN)),
        ("inf".into(), Value::F64(f64::INFINITY)),
        ("-inf".into(), Value::F64(f64::NEG_INFINITY)),
        ("tiny".into(), Value::F64(1e-300)),
        ("min".into(), Value::I64(i64::MIN)),
        ("max".into(), Value::I64(i64::MAX)),
        ("big".into(), Value::from(u64::MAX)),
        ("empty".into(), Value::from("")),
    ];
    billing.status = Status::Error("".into());
    billing.links = vec![crate::span::Link {
        span_context: crate::SpanContext {
            trace_id: billing.trace_id,
            span_id: crate::SpanId::from_u64(0xdef).unwrap(),
            flags: crate::TraceFlags::RANDOM,
            remote: false,
        },
        tags: Vec::new(),
    }];
    spans.push(billing);
    for (i, kind) in [SpanKind::Producer, SpanKind::Consumer].into_iter().enumerate() {
        let mut span = spans[1].clone();
        span.span_id = crate::SpanId::from_u64(0x100 + i as u64).unwrap();
        span.kind = kind;
        spans.push(span);
    }
    spans
}

/// The spans in the order the payload lists them: grouped by service, in
/// order of first appearance.
fn in_payload_order(spans: &[SpanData]) -> Vec<&SpanData> {
    let mut expected: Vec<&SpanData> = spans.iter().filter(|s| &*s.service == "shop").collect();
    expected.extend(spans.iter().filter(|s| &*s.service == "billing"));
    assert_eq!(expected.len(), spans.len());
    expected
}

/// `varied_spans` without non-finite doubles, which the Rust crate's JSON
/// mapping cannot read (it takes doubles as JSON numbers only).
fn finite_varied_spans() -> Vec<SpanData> {
    let mut spans = varied_spans();
    for span in &mut spans {
        span.tags.retain(|(_, value)| !matches!(value, Value::F64(v) if !v.is_finite()));
    }
    spans
}

#[test]
fn otlp_json_reads_back_with_the_official_rust_messages() {
    let spans = finite_varied_spans();
    let request: official::Request = serde_json::from_str(&encode_otlp_json(&spans))
        .expect("the official messages read our OTLP JSON");
    let parsed = official::summarize(&request);
    let expected = in_payload_order(&spans);
    assert_eq!(parsed.len(), expected.len());
    for (got, span) in parsed.iter().zip(expected) {
        assert_eq!(got, &expected_span(span), "span {:?}", span.name);
    }
}

#[test]
fn otlp_json_names_only_fields_of_the_official_messages() {
    // Reading ignores unknown names, so a misspelt field would read as its
    // default: written back by the official messages, the payload must be
    // what we wrote, apart from fields at their default value (which
    // writers may leave out).
    assert_names_only_official_fields(&encode_otlp_json(&finite_varied_spans()));
}

#[test]
#[should_panic(
    expected = "parentSpanID = \"53ce929d0e0e4736\" is not a field of the official message"
)]
fn a_misspelt_field_name_is_caught() {
    let payload = encode_otlp_json(&finite_varied_spans());
    assert!(payload.contains(r#""parentSpanId":"53ce929d0e0e4736""#));
    assert_names_only_official_fields(&payload.replace("parentSpanId", "parentSpanID"));
}

fn assert_names_only_official_fields(payload: &str) {
    let ours: Json = serde_json::from_str(payload).unwrap();
    let request: official::Request = serde_json::from_value(ours.clone()).unwrap();
    let theirs = serde_json::to_value(&request).unwrap();
    official::assert_same_modulo_defaults(&ours, &theirs, "$");
}

#[cfg(feature = "protobuf")]
#[test]
fn otlp_protobuf_decodes_with_the_official_rust_messages() {
    use prost::Message;
    // Every value, non-finite doubles included: the binary encoding has no
    // special case for them.
    let spans = varied_spans();
    let body = crate::export::encode_otlp_protobuf(&spans);
    let request = official::Request::decode(body.as_slice()).expect("a valid request");
    let parsed = official::summarize(&request);
    let expected = in_payload_order(&spans);
    assert_eq!(parsed.len(), expected.len());
    for (got, span) in parsed.iter().zip(expected) {
        assert_eq!(got, &expected_span(span), "span {:?}", span.name);
    }
}

#[cfg(feature = "protobuf")]
#[test]
fn the_binary_request_equals_the_json_one_for_the_official_messages() {
    use prost::Message;
    let spans = finite_varied_spans();
    let resource = [("deployment.environment".to_owned(), "test".to_owned())];
    let binary = super::proto::encode(&spans, &resource);
    let json = super::json::encode(&spans, &resource);
    let from_binary = official::Request::decode(binary.as_slice()).unwrap();
    let from_json: official::Request = serde_json::from_str(&json).unwrap();
    assert_eq!(from_binary, from_json);
    assert_eq!(official::summarize(&from_binary).len(), spans.len());
}

#[test]
#[ignore = "needs python3 with `pip install opentelemetry-proto protobuf`; CI runs it (--ignored)"]
fn otlp_payload_parses_with_protobufs_own_json_mapping() {
    let spans = varied_spans();
    let parsed = parse_with_official_python_proto(&encode_otlp_json(&spans));
    let parsed = parsed.as_array().unwrap();
    let expected = in_payload_order(&spans);
    assert_eq!(parsed.len(), expected.len());
    for (got, span) in parsed.iter().zip(expected) {
        assert_eq!(got, &expected_span(span), "span {:?}", span.name);
    }
}

/// The official messages, from the `opentelemetry-proto` crate, and what a
/// request holds in the shape `expected_span` gives.
mod official {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use serde_json::{Value as Json, json};

    pub(super) use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest as Request;

    fn value(value: Option<&AnyValue>) -> Json {
        use any_value::Value as V;
        match value.and_then(|v| v.value.as_ref()) {
            Some(V::StringValue(s)) => json!(["string_value", s]),
            Some(V::IntValue(v)) => json!(["int_value", v]),
            Some(V::DoubleValue(v)) if v.is_nan() => json!(["double_value", "nan"]),
            Some(V::DoubleValue(v)) if v.is_infinite() => {
                json!(["double_value", if *v > 0.0 { "inf" } else { "-inf" }])
            }
            Some(V::DoubleValue(v)) => json!(["double_value", v]),
            Some(V::BoolValue(v)) => json!(["bool_value", v]),
            other => json!(["unexpected", format!("{other:?}")]),
        }
    }

    fn attributes(list: &[KeyValue]) -> Json {
        list.iter()
            .map(|kv| {
                let mut entry = vec![json!(kv.key)];
                entry.extend(value(kv.value.as_ref()).as_array().unwrap().iter().cloned());
                Json::Array(entry)
            })
            .collect()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// One JSON object per span, in the request's order.
    pub(super) fn summarize(request: &Request) -> Vec<Json> {
        let mut out = Vec::new();
        for rs in &request.resource_spans {
            let resource = attributes(rs.resource.as_ref().map_or(&[][..], |r| &r.attributes));
            for ss in &rs.scope_spans {
                let scope = ss.scope.clone().unwrap_or_default();
                for s in &ss.spans {
                    let status = s.status.clone().unwrap_or_default();
                    out.push(json!({
                        "resource": resource,
                        "scope": [scope.name, scope.version],
                        "traceId": hex(&s.trace_id),
                        "spanId": hex(&s.span_id),
                        "parentSpanId": hex(&s.parent_span_id),
                        "name": s.name,
                        "kind": s.kind,
                        "start": s.start_time_unix_nano,
                        "end": s.end_time_unix_nano,
                        "attributes": attributes(&s.attributes),
                        "events": s.events.iter().map(|e| json!({
                            "name": e.name,
                            "time": e.time_unix_nano,
                            "attributes": attributes(&e.attributes),
                        })).collect::<Vec<_>>(),
                        "links": s.links.iter().map(|l| json!({
                            "traceId": hex(&l.trace_id),
                            "spanId": hex(&l.span_id),
                            "attributes": attributes(&l.attributes),
                            "flags": l.flags,
                        })).collect::<Vec<_>>(),
                        "status": [status.code, status.message],
                    }));
                }
            }
        }
        out
    }

    /// A default value in the proto3 JSON mapping, which writers may leave out.
    fn is_default(value: &Json) -> bool {
        match value {
            Json::Null => true,
            Json::Bool(b) => !b,
            Json::Number(n) => n.as_f64() == Some(0.0),
            Json::String(s) => s.is_empty() || s == "0",
            Json::Array(a) => a.is_empty(),
            Json::Object(o) => o.values().all(is_default),
        }
    }

    /// Numbers are compared by value, whether written as numbers or strings
    /// (the mapping allows both for 64-bit integers).
    fn same_scalar(ours: &Json, theirs: &Json) -> bool {
        let number = |v: &Json| match v {
            Json::Number(n) => Some(n.to_string()),
            Json::String(s) if s.parse::<u64>().is_ok() || s.parse::<i64>().is_ok() => {
                Some(s.clone())
            }
            _ => None,
        };
        ours == theirs || (number(ours).is_some() && number(ours) == number(theirs))
    }

    /// `ours` and `theirs` hold the same fields with the same values, apart
    /// from fields at their default value that one of them leaves out.
    pub(super) fn assert_same_modulo_defaults(ours: &Json, theirs: &Json, path: &str) {
        match (ours, theirs) {
            (Json::Object(ours), Json::Object(theirs)) => {
                for (key, value) in ours {
                    let path = format!("{path}.{key}");
                    match theirs.get(key) {
                        Some(their) => assert_same_modulo_defaults(value, their, &path),
                        None => assert!(
                            is_default(value),
                            "{path} = {value} is not a field of the official message"
                        ),
                    }
                }
                for (key, value) in theirs.iter().filter(|(key, _)| !ours.contains_key(*key)) {
                    assert!(
                        is_default(value),
                        "{path}.{key} = {value} is missing from our payload"
                    );
                }
            }
            (Json::Array(ours), Json::Array(theirs)) => {
                assert_eq!(ours.len(), theirs.len(), "{path}: length");
                for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
                    assert_same_modulo_defaults(a, b, &format!("{path}[{i}]"));
                }
            }
            _ => assert!(same_scalar(ours, theirs), "{path}: ours {ours}, official {theirs}"),
        }
    }
}
