//! Spans as the official OTLP messages (`opentelemetry-proto`, generated
//! from the OpenTelemetry `.proto` files): what the gRPC exporter sends.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link as SpanLink};
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status as SpanStatus,
};

use crate::span::{Link, SpanData, Status};
use crate::value::{Tag, Value};

/// One `ResourceSpans` per service (with `service.name` and the extra
/// resource attributes), in order of first appearance, each with one scope.
pub(super) fn request(
    spans: &[SpanData],
    resource: &[(String, String)],
) -> ExportTraceServiceRequest {
    let mut services: Vec<(&str, Vec<Span>)> = Vec::new();
    for span in spans {
        let encoded = span_message(span);
        match services.iter_mut().find(|(name, _)| *name == &*span.service) {
            Some((_, list)) => list.push(encoded),
            None => services.push((&span.service, vec![encoded])),
        }
    }
    let resource_spans = services
        .into_iter()
        .map(|(service, spans)| {
            let mut attributes = vec![string_attribute("service.name", service)];
            attributes.extend(resource.iter().map(|(key, value)| string_attribute(key, value)));
            ResourceSpans {
                resource: Some(Resource { attributes, ..Resource::default() }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: super::otlp::SCOPE_NAME.to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..InstrumentationScope::default()
                    }),
                    spans,
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

fn span_message(span: &SpanData) -> Span {
    Span {
        trace_id: span.trace_id.to_bytes().to_vec(),
        span_id: span.span_id.to_bytes().to_vec(),
        parent_span_id: span.parent_id.map(|p| p.to_bytes().to_vec()).unwrap_or_default(),
        name: span.name.to_string(),
        kind: i32::from(super::otlp::kind_number(span.kind)),
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
                ..Event::default()
            })
            .collect(),
        links: span.links.iter().map(link).collect(),
        status: Some(match &span.status {
            Status::Unset => SpanStatus { message: String::new(), code: 0 },
            Status::Ok => SpanStatus { message: String::new(), code: 1 },
            Status::Error(message) => SpanStatus { message: message.to_string(), code: 2 },
        }),
        ..Span::default()
    }
}

fn link(link: &Link) -> SpanLink {
    let context = &link.span_context;
    SpanLink {
        trace_id: context.trace_id.to_bytes().to_vec(),
        span_id: context.span_id.to_bytes().to_vec(),
        attributes: attributes(&link.tags),
        // W3C flags, plus "is remote is known" (0x100) and "is remote" (0x200).
        flags: u32::from(context.flags.bits()) | 0x100 | if context.remote { 0x200 } else { 0 },
        ..SpanLink::default()
    }
}

fn attributes(tags: &[Tag]) -> Vec<KeyValue> {
    tags.iter()
        .map(|(key, value)| KeyValue {
            key: key.to_string(),
            value: Some(AnyValue {
                value: Some(match value {
                    Value::Str(s) => any_value::Value::StringValue(s.to_string()),
                    Value::I64(v) => any_value::Value::IntValue(*v),
                    Value::F64(v) => any_value::Value::DoubleValue(*v),
                    Value::Bool(v) => any_value::Value::BoolValue(*v),
                }),
            }),
            ..KeyValue::default()
        })
        .collect()
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) }),
        ..KeyValue::default()
    }
}
