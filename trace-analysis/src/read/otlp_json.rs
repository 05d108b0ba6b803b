//! Spans from OTLP JSON: the JSON form of an OpenTelemetry
//! `ExportTraceServiceRequest`.

use std::borrow::Cow;

use serde_json::{Map, Value as Json};
use trace_runtime::{Event, Link, SpanContext, SpanData, SpanKind, Status, Tag, Value};

use super::{ReadOutcome, Services, u64_from_json, value_from_json};

/// Reads the spans of one `ExportTraceServiceRequest`.
pub(super) fn read_request(
    document: &Json,
    at: &str,
    outcome: &mut ReadOutcome,
    services: &mut Services,
) {
    let Some(resource_spans) = document.get("resourceSpans").and_then(Json::as_array) else {
        return outcome.skip(|| format!("{at}: no resourceSpans array"));
    };
    for resource_span in resource_spans {
        let service = resource_span
            .pointer("/resource/attributes")
            .and_then(Json::as_array)
            .and_then(|attributes| {
                attributes
                    .iter()
                    .find(|a| a.get("key").and_then(Json::as_str) == Some("service.name"))
            })
            .and_then(|a| a.pointer("/value/stringValue"))
            .and_then(Json::as_str)
            .unwrap_or("unknown_service");
        let service = services.get(service);
        let scopes = resource_span
            .get("scopeSpans")
            .or_else(|| resource_span.get("instrumentationLibrarySpans"));
        for scope in scopes.and_then(Json::as_array).into_iter().flatten() {
            for span in scope.get("spans").and_then(Json::as_array).into_iter().flatten() {
                match parse_span(span) {
                    Ok(mut span) => {
                        span.service = service.clone();
                        outcome.spans.push(span);
                    }
                    Err(why) => outcome.skip(|| format!("{at}: span: {why}")),
                }
            }
        }
    }
}

fn parse_span(json: &Json) -> Result<SpanData, String> {
    let span = json.as_object().ok_or("not an object")?;
    let start_unix_nanos = time(span, "startTimeUnixNano")?;
    let end = time(span, "endTimeUnixNano")?;
    let parent_id = match span.get("parentSpanId").and_then(Json::as_str) {
        None | Some("") => None,
        Some(_) => Some(id(span, "parentSpanId")?),
    };
    let kind = match span.get("kind") {
        None | Some(Json::Null) => SpanKind::Internal,
        Some(kind) => match (kind.as_u64(), kind.as_str()) {
            (Some(0 | 1), _) | (_, Some("SPAN_KIND_UNSPECIFIED" | "SPAN_KIND_INTERNAL")) => {
                SpanKind::Internal
            }
            (Some(2), _) | (_, Some("SPAN_KIND_SERVER")) => SpanKind::Server,
            (Some(3), _) | (_, Some("SPAN_KIND_CLIENT")) => SpanKind::Client,
            (Some(4), _) | (_, Some("SPAN_KIND_PRODUCER")) => SpanKind::Producer,
            (Some(5), _) | (_, Some("SPAN_KIND_CONSUMER")) => SpanKind::Consumer,
            _ => return Err(format!("unknown kind {kind}")),
        },
    };
    let events = list(span, "events")?
        .iter()
        .map(|event| {
            let event = event.as_object().ok_or("an event is not an object")?;
            let name = event.get("name").and_then(Json::as_str).unwrap_or("");
            let time_unix_nanos = time(event, "timeUnixNano")?;
            Ok(Event {
                name: Cow::Owned(name.to_owned()),
                time_unix_nanos,
                tags: attributes(event)?,
            })
        })
        .collect::<Result<_, String>>()?;
    let links = list(span, "links")?
        .iter()
        .map(|link| {
            let link = link.as_object().ok_or("a link is not an object")?;
            let span_context = SpanContext {
                trace_id: id(link, "traceId")?,
                span_id: id(link, "spanId")?,
                flags: trace_runtime::TraceFlags::SAMPLED,
                remote: false,
            };
            Ok(Link { span_context, tags: attributes(link)? })
        })
        .collect::<Result<_, String>>()?;
    Ok(SpanData {
        trace_id: id(span, "traceId")?,
        span_id: id(span, "spanId")?,
        parent_id,
        name: Cow::Owned(span.get("name").and_then(Json::as_str).unwrap_or("").to_owned()),
        kind,
        start_unix_nanos,
        // A span that ends before it starts keeps a zero duration.
        duration_nanos: end.saturating_sub(start_unix_nanos),
        tags: attributes(span)?,
        events,
        links,
        status: status(span.get("status"))?,
        service: "".into(),
    })
}

/// An ID in hex; OTLP JSON asks for lower case, upper case is accepted.
fn id<T: std::str::FromStr<Err = trace_runtime::ParseIdError>>(
    object: &Map<String, Json>,
    key: &str,
) -> Result<T, String> {
    let text = object.get(key).and_then(Json::as_str).ok_or_else(|| format!("no {key} string"))?;
    text.to_ascii_lowercase().parse().map_err(|e| format!("{key}: {e}"))
}

fn time(object: &Map<String, Json>, key: &str) -> Result<u64, String> {
    object.get(key).and_then(u64_from_json).ok_or_else(|| format!("no {key}"))
}

fn list<'a>(object: &'a Map<String, Json>, key: &str) -> Result<&'a [Json], String> {
    match object.get(key) {
        None | Some(Json::Null) => Ok(&[]),
        Some(Json::Array(items)) => Ok(items),
        Some(_) => Err(format!("{key} is not an array")),
    }
}

/// `attributes`: key-value pairs whose value is an OTLP `AnyValue`.
fn attributes(object: &Map<String, Json>) -> Result<Vec<Tag>, String> {
    let mut tags = Vec::new();
    for attribute in list(object, "attributes")? {
        let key = attribute.get("key").and_then(Json::as_str).ok_or("an attribute has no key")?;
        if let Some(value) = attribute.get("value").and_then(any_value) {
            tags.push((Cow::Owned(key.to_owned()), value));
        }
    }
    Ok(tags)
}

/// An `AnyValue` as a tag value: arrays, key-value lists and bytes are kept
/// as JSON text; an empty value is left out.
fn any_value(json: &Json) -> Option<Value> {
    let (kind, inner) = json.as_object()?.iter().next()?;
    match kind.as_str() {
        "stringValue" => inner.as_str().map(|s| Value::Str(s.to_owned().into())),
        "boolValue" => inner.as_bool().map(Value::Bool),
        "intValue" => match inner {
            Json::String(s) => s.parse().ok().map(Value::I64),
            other => other.as_i64().map(Value::I64),
        },
        "doubleValue" => match inner {
            Json::String(s) => s.parse().ok().map(Value::F64),
            other => other.as_f64().map(Value::F64),
        },
        _ => value_from_json(inner),
    }
}

fn status(json: Option<&Json>) -> Result<Status, String> {
    let Some(status) = json.and_then(Json::as_object) else {
        return Ok(Status::Unset);
    };
    let code = status.get("code");
    match (code.and_then(Json::as_u64), code.and_then(Json::as_str)) {
        (Some(0), _) | (_, Some("STATUS_CODE_UNSET")) => Ok(Status::Unset),
        _ if code.is_none_or(Json::is_null) => Ok(Status::Unset),
        (Some(1), _) | (_, Some("STATUS_CODE_OK")) => Ok(Status::Ok),
        (Some(2), _) | (_, Some("STATUS_CODE_ERROR")) => {
            let message = status.get("message").and_then(Json::as_str).unwrap_or("");
            Ok(Status::Error(Cow::Owned(message.to_owned())))
        }
        _ => Err(format!("unknown status code {}", code.map_or(Json::Null, Clone::clone))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_otlp_json;
    use crate::testing::OTLP_SAMPLE;

    #[test]
    fn reads_services_ids_kinds_times_attributes_events_and_status() {
        let outcome = read_otlp_json(OTLP_SAMPLE.as_bytes()).unwrap();
        assert_eq!(outcome.malformed_lines, 0, "{:?}", outcome.first_error);
        let [root, child] = &outcome.spans[..] else { panic!("two spans expected") };
        assert_eq!(&*root.service, "gateway");
        assert_eq!(root.parent_id, None);
        assert_eq!(root.kind, SpanKind::Server);
        assert_eq!((root.start_unix_nanos, root.duration_nanos), (1_000, 9_000));
        assert_eq!(
            root.tags,
            [
                ("http.route".into(), Value::Str("/checkout".into())),
                ("http.status".into(), Value::I64(502)),
                ("ratio".into(), Value::F64(0.5)),
                ("cached".into(), Value::Bool(false)),
                ("list".into(), Value::Str(r#"{"values":[{"intValue":"1"}]}"#.into())),
            ]
        );
        assert_eq!(root.status, Status::Error("upstream failed".into()));
        assert_eq!(&*child.service, "payments");
        assert_eq!(child.parent_id, Some(root.span_id));
        assert_eq!(child.kind, SpanKind::Client);
        assert_eq!(child.events[0].name, "retry");
        assert_eq!(child.events[0].time_unix_nanos, 2_500);
        assert_eq!(child.status, Status::Ok);
    }

    #[test]
    fn one_request_per_line_and_malformed_parts_are_counted() {
        let compact: String = OTLP_SAMPLE.lines().map(str::trim).collect();
        let bad_span = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz","spanId":"eee19b7ec3c1b174","startTimeUnixNano":"1","endTimeUnixNano":"2"},{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"00000000000000aa","startTimeUnixNano":1,"endTimeUnixNano":2}]}]}]}"#;
        let text = format!("{compact}\nnot json\n{{\"other\":1}}\n{bad_span}\n");
        let outcome = read_otlp_json(text.as_bytes()).unwrap();
        assert_eq!(outcome.spans.len(), 3);
        assert_eq!(&*outcome.spans[2].service, "unknown_service");
        assert_eq!(outcome.malformed_lines, 3);
        assert_eq!(
            outcome.first_error.as_deref(),
            Some("line 2 column 2: not JSON: expected ident")
        );
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "",
            "[]",
            "{\"resourceSpans\":7}",
            "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[1]}]}]}",
            "\u{0}",
        ] {
            let _ = read_otlp_json(text.as_bytes()).unwrap();
        }
        let deep = "[".repeat(100_000);
        assert_eq!(read_otlp_json(deep.as_bytes()).unwrap().malformed_lines, 1);
    }
}
