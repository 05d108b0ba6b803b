//! Spans from Zipkin's v2 JSON, as `zipkin2-api.yaml` of
//! openzipkin/zipkin-api defines it (see
//! [`read_zipkin_json`](crate::read_zipkin_json)).

use std::borrow::Cow;

use serde_json::{Map, Value as Json};
use trace_runtime::{Event, SpanData, SpanKind, Status, Tag, Value};

use super::{
    ReadOutcome, Services, micros_to_nanos, short_span_id, short_trace_id, take_tag as take,
    text_field as text, u64_from_json, value_from_json,
};

/// Reads a list of spans, a list of traces (lists of spans), or one span.
pub(super) fn read_document(
    document: &Json,
    at: &str,
    outcome: &mut ReadOutcome,
    services: &mut Services,
) {
    let items = match document {
        Json::Array(items) => items.as_slice(),
        single => std::slice::from_ref(single),
    };
    for (i, item) in items.iter().enumerate() {
        let spans = match item {
            Json::Array(trace) => trace
                .iter()
                .enumerate()
                .map(|(s, span)| (format!("trace {i}: span {s}"), span))
                .collect(),
            span => vec![(format!("span {i}"), span)],
        };
        for (which, span) in spans {
            match parse_span(span, services) {
                Ok(span) => outcome.spans.push(span),
                Err(why) => outcome.skip(|| format!("{at}: {which}: {why}")),
            }
        }
    }
}

fn parse_span(json: &Json, services: &mut Services) -> Result<SpanData, String> {
    let span = json.as_object().ok_or("not an object")?;
    let trace_id = short_trace_id(text(span, "traceId")?)?;
    let span_id = short_span_id(text(span, "id")?)?;
    let parent_id = match span.get("parentId") {
        None | Some(Json::Null) => None,
        Some(_) => Some(short_span_id(text(span, "parentId")?)?),
    };
    let kind = match span.get("kind") {
        None | Some(Json::Null) => SpanKind::Internal,
        Some(kind) => match kind.as_str() {
            Some("CLIENT") => SpanKind::Client,
            Some("SERVER") => SpanKind::Server,
            Some("PRODUCER") => SpanKind::Producer,
            Some("CONSUMER") => SpanKind::Consumer,
            _ => return Err(format!("unknown kind {kind}")),
        },
    };
    let start_unix_nanos = micros(span, "timestamp")?;
    let duration_nanos = micros(span, "duration")?;
    if start_unix_nanos.checked_add(duration_nanos).is_none() {
        return Err("end time past u64::MAX".to_owned());
    }

    let mut tags: Vec<Tag> = match span.get("tags") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Object(tags)) => tags
            .iter()
            .filter_map(|(key, value)| Some((Cow::Owned(key.clone()), value_from_json(value)?)))
            .collect(),
        Some(_) => return Err("tags is not an object".to_owned()),
    };
    let code = take(&mut tags, "otel.status_code");
    let status = match (take(&mut tags, "error"), code) {
        (Some(message), _) => Status::Error(text_of(message)),
        (None, Some(Value::Str(code))) if code == "OK" => Status::Ok,
        (None, Some(Value::Str(code))) if code == "ERROR" => Status::Error(Cow::Borrowed("")),
        (None, Some(other)) => {
            tags.push(("otel.status_code".into(), other));
            Status::Unset
        }
        (None, None) => Status::Unset,
    };

    let events = match span.get("annotations") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Array(annotations)) => {
            annotations.iter().map(annotation).collect::<Result<_, String>>()?
        }
        Some(_) => return Err("annotations is not an array".to_owned()),
    };
    let service = span
        .get("localEndpoint")
        .and_then(|endpoint| endpoint.get("serviceName"))
        .and_then(Json::as_str)
        .unwrap_or("unknown_service");
    Ok(SpanData {
        trace_id,
        span_id,
        parent_id,
        name: Cow::Owned(span.get("name").and_then(Json::as_str).unwrap_or("").to_owned()),
        kind,
        start_unix_nanos,
        duration_nanos,
        tags,
        events,
        links: Vec::new(),
        status,
        service: services.get(service),
    })
}

/// An annotation as an event: `value` is the name, or `name {tags as a
/// JSON object}`.
fn annotation(json: &Json) -> Result<Event, String> {
    let annotation = json.as_object().ok_or("an annotation is not an object")?;
    let time_unix_nanos = micros(annotation, "timestamp")?;
    let value = text(annotation, "value")?;
    let split = value.find(" {").and_then(|at| {
        let Ok(Json::Object(tags)) = serde_json::from_str(&value[at + 1..]) else {
            return None;
        };
        let tags = tags
            .iter()
            .filter_map(|(key, value)| Some((Cow::Owned(key.clone()), value_from_json(value)?)))
            .collect();
        Some((&value[..at], tags))
    });
    let (name, tags) = split.unwrap_or((value, Vec::new()));
    Ok(Event { name: Cow::Owned(name.to_owned()), time_unix_nanos, tags })
}

fn text_of(value: Value) -> Cow<'static, str> {
    match value {
        Value::Str(text) => text,
        other => Cow::Owned(other.to_string()),
    }
}

fn micros(object: &Map<String, Json>, key: &str) -> Result<u64, String> {
    let micros = object
        .get(key)
        .and_then(u64_from_json)
        .ok_or_else(|| format!("no {key} integer (an incomplete span)"))?;
    micros_to_nanos(micros).ok_or_else(|| format!("{key} past u64::MAX nanoseconds"))
}
