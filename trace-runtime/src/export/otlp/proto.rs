//! OTLP's protobuf encoding (feature `protobuf`): the same request as
//! [`encode_otlp_json`](super::encode_otlp_json), as the binary
//! `ExportTraceServiceRequest` most collectors receive by default.
//!
//! The messages below mirror `opentelemetry/proto/collector/trace/v1` and
//! the `trace`, `common` and `resource` definitions they use, with the same
//! field numbers; only the fields this crate fills are declared (unknown
//! fields are simply absent on the wire). `prost` does the encoding.

use prost::Message;

use crate::span::{Link, SpanData, SpanKind, Status};
use crate::value::{Tag, Value};

#[derive(Clone, PartialEq, Message)]
struct ExportTraceServiceRequest {
    #[prost(message, repeated, tag = "1")]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Clone, PartialEq, Message)]
struct ResourceSpans {
    #[prost(message, optional, tag = "1")]
    resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Clone, PartialEq, Message)]
struct Resource {
    #[prost(message, repeated, tag = "1")]
    attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, Message)]
struct ScopeSpans {
    #[prost(message, optional, tag = "1")]
    scope: Option<InstrumentationScope>,
    #[prost(message, repeated, tag = "2")]
    spans: Vec<Span>,
}

#[derive(Clone, PartialEq, Message)]
struct InstrumentationScope {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    version: String,
}

#[derive(Clone, PartialEq, Message)]
struct Span {
    #[prost(bytes = "vec", tag = "1")]
    trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    span_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    parent_span_id: Vec<u8>,
    #[prost(string, tag = "5")]
    name: String,
    #[prost(int32, tag = "6")]
    kind: i32,
    #[prost(fixed64, tag = "7")]
    start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    end_time_unix_nano: u64,
    #[prost(message, repeated, tag = "9")]
    attributes: Vec<KeyValue>,
    #[prost(message, repeated, tag = "11")]
    events: Vec<Event>,
    #[prost(message, repeated, tag = "13")]
    links: Vec<SpanLink>,
    #[prost(message, optional, tag = "15")]
    status: Option<SpanStatus>,
}

#[derive(Clone, PartialEq, Message)]
struct Event {
    #[prost(fixed64, tag = "1")]
    time_unix_nano: u64,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(message, repeated, tag = "3")]
    attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, Message)]
struct SpanLink {
    #[prost(bytes = "vec", tag = "1")]
    trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    span_id: Vec<u8>,
    #[prost(message, repeated, tag = "4")]
    attributes: Vec<KeyValue>,
    #[prost(fixed32, tag = "6")]
    flags: u32,
}

#[derive(Clone, PartialEq, Message)]
struct SpanStatus {
    #[prost(string, tag = "2")]
    message: String,
    #[prost(int32, tag = "3")]
    code: i32,
}

#[derive(Clone, PartialEq, Message)]
struct KeyValue {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(message, optional, tag = "2")]
    value: Option<AnyValue>,
}

#[derive(Clone, PartialEq, Message)]
struct AnyValue {
    #[prost(oneof = "any_value::Kind", tags = "1, 2, 3, 4")]
    kind: Option<any_value::Kind>,
}

mod any_value {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub(super) enum Kind {
        #[prost(string, tag = "1")]
        String(String),
        #[prost(bool, tag = "2")]
        Bool(bool),
        #[prost(int64, tag = "3")]
        Int(i64),
        #[prost(double, tag = "4")]
        Double(f64),
    }
}

#[derive(Clone, PartialEq, Message)]
struct ExportTraceServiceResponse {
    #[prost(message, optional, tag = "1")]
    partial_success: Option<ExportTracePartialSuccess>,
}

#[derive(Clone, PartialEq, Message)]
struct ExportTracePartialSuccess {
    #[prost(int64, tag = "1")]
    rejected_spans: i64,
    #[prost(string, tag = "2")]
    error_message: String,
}

/// The rejected span count and message of a binary OTLP reply's
/// `partial_success`, if it rejected any.
pub(super) fn partial_success(body: &[u8]) -> Option<(u64, String)> {
    let partial = ExportTraceServiceResponse::decode(body).ok()?.partial_success?;
    let rejected = u64::try_from(partial.rejected_spans).ok().filter(|&n| n > 0)?;
    Some((rejected, partial.error_message))
}

/// Spans as a binary OTLP `ExportTraceServiceRequest`: one resource per
/// service (with `service.name`), one instrumentation scope.
///
/// ```
/// # let spans = Vec::new();
/// let body: Vec<u8> = trace_runtime::export::encode_otlp_protobuf(&spans);
/// assert!(body.is_empty()); // an empty request encodes to no bytes
/// ```
pub fn encode_otlp_protobuf(spans: &[SpanData]) -> Vec<u8> {
    encode(spans, &[])
}

pub(super) fn encode(spans: &[SpanData], resource: &[(String, String)]) -> Vec<u8> {
    let resource_spans = crate::export::by_service(spans)
        .into_iter()
        .map(|(service, spans)| {
            let spans = spans.into_iter().map(encode_span).collect();
            let mut attributes = vec![string_attribute("service.name", service)];
            attributes.extend(resource.iter().map(|(key, value)| string_attribute(key, value)));
            ResourceSpans {
                resource: Some(Resource { attributes }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: super::SCOPE_NAME.to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                    }),
                    spans,
                }],
            }
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }.encode_to_vec()
}

fn encode_span(span: &SpanData) -> Span {
    Span {
        trace_id: span.trace_id.to_bytes().to_vec(),
        span_id: span.span_id.to_bytes().to_vec(),
        parent_span_id: span.parent_id.map(|p| p.to_bytes().to_vec()).unwrap_or_default(),
        name: span.name.to_string(),
        kind: kind_number(span.kind),
        start_time_unix_nano: span.start_unix_nanos,
        end_time_unix_nano: span.end_unix_nanos(),
        attributes: attributes(&span.tags),
        events: span
            .events
            .iter()
            .map(|event| Event {
                time_unix_nano: event.time_unix_nanos,
                name: event.name.to_string(),
                attributes: attributes(&event.tags),
            })
            .collect(),
        links: span.links.iter().map(encode_link).collect(),
        status: Some(match &span.status {
            Status::Unset => SpanStatus { message: String::new(), code: 0 },
            Status::Ok => SpanStatus { message: String::new(), code: 1 },
            Status::Error(message) => SpanStatus { message: message.to_string(), code: 2 },
        }),
    }
}

fn encode_link(link: &Link) -> SpanLink {
    let context = &link.span_context;
    SpanLink {
        trace_id: context.trace_id.to_bytes().to_vec(),
        span_id: context.span_id.to_bytes().to_vec(),
        attributes: attributes(&link.tags),
        // W3C flags, plus "is remote is known" (0x100) and "is remote" (0x200).
        flags: u32::from(context.flags.bits()) | 0x100 | if context.remote { 0x200 } else { 0 },
    }
}

fn kind_number(kind: SpanKind) -> i32 {
    i32::from(super::json::kind_number(kind))
}

fn attributes(tags: &[Tag]) -> Vec<KeyValue> {
    tags.iter()
        .map(|(key, value)| KeyValue {
            key: key.to_string(),
            value: Some(AnyValue {
                kind: Some(match value {
                    Value::Str(s) => any_value::Kind::String(s.to_string()),
                    Value::I64(v) => any_value::Kind::Int(*v),
                    Value::F64(v) => any_value::Kind::Double(*v),
                    Value::Bool(v) => any_value::Kind::Bool(*v),
                }),
            }),
        })
        .collect()
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { kind: Some(any_value::Kind::String(value.to_owned())) }),
    }
}

#[cfg(test)]
mod tests {
    // The official messages read this encoding in export/otlp_schema_test.rs.
    use super::*;
    use crate::export::test_support::sample_trace;

    #[test]
    fn the_protocol_variable_selects_protobuf() {
        use crate::export::{OtlpConfig, OtlpProtocol};
        let config = OtlpConfig::from_lookup(|name| {
            (name == "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").then(|| "http/protobuf".to_owned())
        })
        .unwrap();
        assert_eq!(config.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(OtlpConfig::default().protocol, OtlpProtocol::HttpJson);
    }

    #[test]
    fn a_root_span_has_no_parent_bytes_and_ids_are_big_endian() {
        let spans = sample_trace();
        let root = spans.iter().find(|s| s.parent_id.is_none()).unwrap();
        let decoded = ExportTraceServiceRequest::decode(
            encode_otlp_protobuf(std::slice::from_ref(root)).as_slice(),
        )
        .unwrap();
        let span = &decoded.resource_spans[0].scope_spans[0].spans[0];
        assert!(span.parent_span_id.is_empty());
        assert_eq!(span.trace_id, root.trace_id.to_u128().to_be_bytes());
        assert_eq!(span.end_time_unix_nano - span.start_time_unix_nano, root.duration_nanos);
    }
}
