//! Spans from Jaeger's JSON: the query API's `/api/traces` response, which
//! Jaeger UI's "Download JSON" saves (`{"data": [trace…]}`), or one trace.
//! The model is Jaeger's `internal/uimodel/model.go`; the mapping to spans
//! follows how Jaeger itself turns its spans into OpenTelemetry ones (see
//! [`read_jaeger_json`](crate::read_jaeger_json)).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value as Json};
use trace_runtime::{
    Event, Link, SpanContext, SpanData, SpanId, SpanKind, Status, Tag, TraceFlags, Value,
};

use super::{
    ReadOutcome, Services, micros_to_nanos, short_span_id, short_trace_id, take_tag as take,
    text_field as text, u64_from_json,
};

/// Reads every trace of a response (`data`), or the one trace given.
pub(super) fn read_document(
    document: &Json,
    at: &str,
    outcome: &mut ReadOutcome,
    services: &mut Services,
) {
    let traces = match document.get("data") {
        Some(Json::Array(traces)) => traces.as_slice(),
        Some(_) => return outcome.skip(|| format!("{at}: data is not an array")),
        None => std::slice::from_ref(document),
    };
    for (t, trace) in traces.iter().enumerate() {
        let Some(spans) = trace.get("spans").and_then(Json::as_array) else {
            outcome.skip(|| format!("{at}: trace {t}: no spans array"));
            continue;
        };
        let processes = processes(trace, services);
        for (s, span) in spans.iter().enumerate() {
            match parse_span(span, &processes, services) {
                Ok(span) => outcome.spans.push(span),
                Err(why) => outcome.skip(|| format!("{at}: trace {t}: span {s}: {why}")),
            }
        }
    }
}

/// Each process ID's service name.
fn processes(trace: &Json, services: &mut Services) -> HashMap<String, Arc<str>> {
    let Some(processes) = trace.get("processes").and_then(Json::as_object) else {
        return HashMap::new();
    };
    processes
        .iter()
        .filter_map(|(id, process)| {
            let name = process.get("serviceName")?.as_str()?;
            Some((id.clone(), services.get(name)))
        })
        .collect()
}

fn parse_span(
    json: &Json,
    processes: &HashMap<String, Arc<str>>,
    services: &mut Services,
) -> Result<SpanData, String> {
    let span = json.as_object().ok_or("not an object")?;
    let trace_id = short_trace_id(text(span, "traceID")?)?;
    let span_id = short_span_id(text(span, "spanID")?)?;
    let start_unix_nanos = micros(span, "startTime")?;
    let duration_nanos = micros(span, "duration")?;
    if start_unix_nanos.checked_add(duration_nanos).is_none() {
        return Err("end time past u64::MAX".to_owned());
    }

    let references = references(span)?;
    let parent_id = match span.get("parentSpanID").and_then(Json::as_str) {
        Some(parent) if !parent.is_empty() => Some(short_span_id(parent)?),
        _ => [ChildOf, FollowsFrom].into_iter().find_map(|kind| {
            references.iter().find(|r| r.kind == kind && r.trace_id == trace_id).map(|r| r.span_id)
        }),
    };
    let links = references
        .iter()
        .filter(|r| !(r.kind == ChildOf && Some(r.span_id) == parent_id))
        .map(|r| Link {
            span_context: SpanContext {
                trace_id: r.trace_id,
                span_id: r.span_id,
                flags: TraceFlags::SAMPLED,
                remote: false,
            },
            tags: vec![("opentracing.ref_type".into(), r.kind.tag().into())],
        })
        .collect();

    let mut tags = key_values(span, "tags")?;
    let kind = match take(&mut tags, "span.kind") {
        None => SpanKind::Internal,
        Some(Value::Str(kind)) => match &*kind {
            "client" => SpanKind::Client,
            "server" => SpanKind::Server,
            "producer" => SpanKind::Producer,
            "consumer" => SpanKind::Consumer,
            "internal" => SpanKind::Internal,
            other => return Err(format!("unknown span.kind {other:?}")),
        },
        Some(other) => return Err(format!("span.kind {other:?} is not a string")),
    };
    let status = status(&mut tags);

    let events = list(span, "logs")?
        .iter()
        .map(|log| {
            let log = log.as_object().ok_or("a log is not an object")?;
            let time_unix_nanos = micros(log, "timestamp")?;
            let mut tags = key_values(log, "fields")?;
            let name = match take(&mut tags, "event") {
                Some(Value::Str(name)) => name,
                Some(other) => {
                    tags.insert(0, ("event".into(), other));
                    Cow::Borrowed("")
                }
                None => Cow::Borrowed(""),
            };
            Ok(Event { name, time_unix_nanos, tags })
        })
        .collect::<Result<_, String>>()?;

    let service =
        match (span.get("process").and_then(|p| p.get("serviceName")), span.get("processID")) {
            (Some(Json::String(name)), _) => services.get(name),
            (_, Some(Json::String(id))) => processes
                .get(id)
                .cloned()
                .ok_or_else(|| format!("processID {id:?} is not in processes"))?,
            _ => services.get("unknown_service"),
        };
    Ok(SpanData {
        trace_id,
        span_id,
        parent_id,
        name: Cow::Owned(span.get("operationName").and_then(Json::as_str).unwrap_or("").to_owned()),
        kind,
        start_unix_nanos,
        duration_nanos,
        tags,
        events,
        links,
        status,
        service,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RefType {
    ChildOf,
    FollowsFrom,
}
use RefType::{ChildOf, FollowsFrom};

impl RefType {
    /// The value of the `opentracing.ref_type` tag on a link.
    fn tag(self) -> &'static str {
        match self {
            ChildOf => "child_of",
            FollowsFrom => "follows_from",
        }
    }
}

struct Reference {
    kind: RefType,
    trace_id: trace_runtime::TraceId,
    span_id: SpanId,
}

fn references(span: &Map<String, Json>) -> Result<Vec<Reference>, String> {
    list(span, "references")?
        .iter()
        .map(|reference| {
            let reference = reference.as_object().ok_or("a reference is not an object")?;
            let kind = match text(reference, "refType")? {
                "CHILD_OF" => ChildOf,
                "FOLLOWS_FROM" => FollowsFrom,
                other => return Err(format!("unknown refType {other:?}")),
            };
            let trace_id = short_trace_id(text(reference, "traceID")?)?;
            Ok(Reference { kind, trace_id, span_id: short_span_id(text(reference, "spanID")?)? })
        })
        .collect()
}

/// The status from the tags, as Jaeger reads it: `error=true` wins, with
/// `otel.status_description` as the message; else `otel.status_code`.
fn status(tags: &mut Vec<Tag>) -> Status {
    let failed = tags.iter().any(|(k, v)| k == "error" && *v == Value::Bool(true));
    if failed {
        take(tags, "error");
        take(tags, "otel.status_code");
        return Status::Error(description(tags));
    }
    match take(tags, "otel.status_code") {
        Some(Value::Str(code)) if code.eq_ignore_ascii_case("ok") => Status::Ok,
        Some(Value::Str(code)) if code.eq_ignore_ascii_case("error") => {
            Status::Error(description(tags))
        }
        Some(other) => {
            tags.push(("otel.status_code".into(), other));
            Status::Unset
        }
        None => Status::Unset,
    }
}

fn description(tags: &mut Vec<Tag>) -> Cow<'static, str> {
    match take(tags, "otel.status_description") {
        Some(Value::Str(message)) => message,
        Some(other) => Cow::Owned(other.to_string()),
        None => Cow::Borrowed(""),
    }
}

/// A list of `{key, type, value}`: `string`, `bool`, `int64` and `float64`
/// values (numbers or their text) as themselves, `binary` (base64) as text.
fn key_values(object: &Map<String, Json>, field: &str) -> Result<Vec<Tag>, String> {
    list(object, field)?
        .iter()
        .map(|kv| {
            let key = kv.get("key").and_then(Json::as_str).ok_or("a tag has no key")?;
            let value = kv.get("value").unwrap_or(&Json::Null);
            let kind = kv.get("type").and_then(Json::as_str).unwrap_or("string");
            let parsed = match (kind, value) {
                ("string" | "binary", Json::String(s)) => Some(Value::Str(s.clone().into())),
                ("bool", Json::Bool(b)) => Some(Value::Bool(*b)),
                ("bool", Json::String(s)) => s.parse().ok().map(Value::Bool),
                ("int64", Json::Number(n)) => n.as_i64().map(Value::I64),
                ("int64", Json::String(s)) => s.parse().ok().map(Value::I64),
                ("float64", Json::Number(n)) => n.as_f64().map(Value::F64),
                ("float64", Json::String(s)) => s.parse().ok().map(Value::F64),
                _ => None,
            };
            let value =
                parsed.ok_or_else(|| format!("tag {key:?}: {value} is not a {kind} value"))?;
            Ok((Cow::Owned(key.to_owned()), value))
        })
        .collect()
}

fn micros(object: &Map<String, Json>, key: &str) -> Result<u64, String> {
    let micros =
        object.get(key).and_then(u64_from_json).ok_or_else(|| format!("no {key} integer"))?;
    micros_to_nanos(micros).ok_or_else(|| format!("{key} past u64::MAX nanoseconds"))
}

fn list<'a>(object: &'a Map<String, Json>, key: &str) -> Result<&'a [Json], String> {
    match object.get(key) {
        None | Some(Json::Null) => Ok(&[]),
        Some(Json::Array(items)) => Ok(items),
        Some(_) => Err(format!("{key} is not an array")),
    }
}
