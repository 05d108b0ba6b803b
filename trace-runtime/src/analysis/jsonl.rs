//! Spans as JSON Lines: one JSON object per line.
//!
//! A line holds `trace_id` (32 hex digits), `span_id` (16), `parent_id` (16,
//! or `null`), `service`, `name`, `kind` (`internal`, `server`, `client`,
//! `producer`, `consumer`), `start_unix_nanos`, `duration_nanos`, `tags` (an
//! object of strings, integers, floats and bools), `events` (objects with
//! `name`, `time_unix_nanos` and `tags`), `status` (`code`: `unset`, `ok` or
//! `error`, and `message`) and, when the span has any, `links` (objects with
//! `trace_id`, `span_id` and `tags`).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, BufRead};

use serde_json::{Map, Value as Json};

use super::read::{ReadOutcome, Services, u64_from_json, value_from_json, value_to_json};
use crate::span::SpanContext;
use crate::span::{Event, Link, SpanData, SpanKind, Status};
use crate::value::Tag;

/// Reads spans, one JSON object per line. Blank lines are ignored; a line
/// that is not a valid span (bad JSON, a missing or invalid ID, an end time
/// past `u64::MAX`, invalid UTF-8) is counted in
/// [`ReadOutcome::malformed_lines`] and skipped. Only an I/O error fails.
/// Tags come back in key order, as JSON objects are unordered.
///
/// ```
/// use trace_runtime::analysis::read_jsonl;
/// let text = "{\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\",\"span_id\":\"b7ad6b7169203331\",\
///     \"parent_id\":null,\"service\":\"orders\",\"name\":\"POST /orders\",\"kind\":\"server\",\
///     \"start_unix_nanos\":1700000000000000000,\"duration_nanos\":12300000,\
///     \"tags\":{\"http.status\":201},\"events\":[],\"status\":{\"code\":\"ok\",\"message\":\"\"}}\n\
///     not json\n";
/// let outcome = read_jsonl(text.as_bytes()).unwrap();
/// assert_eq!(outcome.spans[0].name, "POST /orders");
/// assert_eq!(outcome.malformed_lines, 1);
/// ```
pub fn read_jsonl(mut reader: impl BufRead) -> io::Result<ReadOutcome> {
    let mut outcome = ReadOutcome::default();
    let mut services = Services::default();
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(outcome);
        }
        number += 1;
        let parsed = match std::str::from_utf8(&line) {
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => parse_line(text, &mut services),
            Err(_) => Err("invalid UTF-8".to_owned()),
        };
        match parsed {
            Ok(span) => outcome.spans.push(span),
            Err(why) => outcome.skip(|| format!("line {number}: {why}")),
        }
    }
}

/// Appends one span as a JSON line (with its `\n`). Tags keep their order;
/// of repeated keys a reader keeps the last, and a float that is not finite
/// is written as `null`, which a reader skips.
///
/// ```
/// use trace_runtime::analysis::{read_jsonl, write_jsonl_line};
/// # use trace_runtime::{InMemoryCollector, Tracer};
/// # let collector = InMemoryCollector::new();
/// # Tracer::builder("shop").span_processor(collector.clone()).build().in_scope(|| {
/// #     let _span = trace_runtime::span("checkout").tag("items", 3).start();
/// # });
/// # let span = collector.spans().remove(0);
/// let mut text = String::new();
/// write_jsonl_line(&span, &mut text);
/// assert_eq!(read_jsonl(text.as_bytes()).unwrap().spans, [span]);
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
        let _ = write!(out, "{comma}{}:{}", Json::from(&**key), value_to_json(value));
    }
    out.push('}');
}

fn parse_line(text: &str, services: &mut Services) -> Result<SpanData, String> {
    let json: Json = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let object = json.as_object().ok_or("not a JSON object")?;
    let (trace_id, span_id) = (id(object, "trace_id")?, id(object, "span_id")?);
    let start_unix_nanos = number(object, "start_unix_nanos")?;
    let duration_nanos = number(object, "duration_nanos")?;
    if start_unix_nanos.checked_add(duration_nanos).is_none() {
        return Err("end time past u64::MAX".to_owned());
    }
    let parent_id = match object.get("parent_id") {
        None | Some(Json::Null) => None,
        Some(_) => Some(id(object, "parent_id")?),
    };
    let kind = match object.get("kind").and_then(Json::as_str).unwrap_or("internal") {
        "internal" => SpanKind::Internal,
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        other => return Err(format!("unknown kind {other:?}")),
    };
    let events = array(object, "events")?
        .iter()
        .map(|event| {
            let event = event.as_object().ok_or("an event is not an object")?;
            let name = text_field(event, "name")?;
            let time_unix_nanos = number(event, "time_unix_nanos")?;
            Ok(Event { name, time_unix_nanos, tags: tags(event)? })
        })
        .collect::<Result<_, String>>()?;
    let links = array(object, "links")?
        .iter()
        .map(|link| {
            let link = link.as_object().ok_or("a link is not an object")?;
            let span_context = SpanContext {
                trace_id: id(link, "trace_id")?,
                span_id: id(link, "span_id")?,
                flags: crate::TraceFlags::SAMPLED,
                remote: false,
            };
            Ok(Link { span_context, tags: tags(link)? })
        })
        .collect::<Result<_, String>>()?;
    Ok(SpanData {
        trace_id,
        span_id,
        parent_id,
        name: text_field(object, "name")?,
        kind,
        start_unix_nanos,
        duration_nanos,
        tags: tags(object)?,
        events,
        links,
        status: status(object)?,
        service: services
            .get(object.get("service").and_then(Json::as_str).unwrap_or("unknown_service")),
    })
}

fn id<T: std::str::FromStr<Err = crate::ParseIdError>>(
    object: &Map<String, Json>,
    key: &str,
) -> Result<T, String> {
    let text = object.get(key).and_then(Json::as_str).ok_or_else(|| format!("no {key} string"))?;
    text.parse().map_err(|e| format!("{key}: {e}"))
}

fn number(object: &Map<String, Json>, key: &str) -> Result<u64, String> {
    object.get(key).and_then(u64_from_json).ok_or_else(|| format!("no {key} integer"))
}

fn text_field(object: &Map<String, Json>, key: &str) -> Result<Cow<'static, str>, String> {
    let text = object.get(key).and_then(Json::as_str).ok_or_else(|| format!("no {key} string"))?;
    Ok(Cow::Owned(text.to_owned()))
}

fn array<'a>(object: &'a Map<String, Json>, key: &str) -> Result<&'a [Json], String> {
    match object.get(key) {
        None | Some(Json::Null) => Ok(&[]),
        Some(Json::Array(items)) => Ok(items),
        Some(_) => Err(format!("{key} is not an array")),
    }
}

fn tags(object: &Map<String, Json>) -> Result<Vec<Tag>, String> {
    match object.get("tags") {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(Json::Object(tags)) => Ok(tags
            .iter()
            .filter_map(|(key, value)| Some((Cow::Owned(key.clone()), value_from_json(value)?)))
            .collect()),
        Some(_) => Err("tags is not an object".to_owned()),
    }
}

fn status(object: &Map<String, Json>) -> Result<Status, String> {
    let Some(status) = object.get("status").filter(|s| !s.is_null()) else {
        return Ok(Status::Unset);
    };
    let status = status.as_object().ok_or("status is not an object")?;
    match status.get("code").and_then(Json::as_str) {
        Some("unset") | None => Ok(Status::Unset),
        Some("ok") => Ok(Status::Ok),
        Some("error") => {
            let message = status.get("message").and_then(Json::as_str).unwrap_or("");
            Ok(Status::Error(Cow::Owned(message.to_owned())))
        }
        Some(other) => Err(format!("unknown status code {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::testing::{failed, span};
    use crate::{SpanId, TraceId, Value};

    #[test]
    fn a_written_span_reads_back_equal() {
        let mut original = failed(
            span(7, 2, Some(1), "orders", "POST \"/orders\" </script>", 10, 5),
            "bad\nthing",
        );
        original.kind = SpanKind::Server;
        original.tags = vec![
            ("a.int".into(), Value::I64(-4)),
            ("b.float".into(), Value::F64(2.5)),
            ("c.bool".into(), Value::Bool(true)),
            ("d.text".into(), Value::Str("ünïcode".into())),
        ];
        original.events = vec![Event {
            name: "retry".into(),
            time_unix_nanos: 12,
            tags: vec![("n".into(), 2.into())],
        }];
        let context = SpanContext {
            trace_id: TraceId::from_u128(9).unwrap(),
            span_id: SpanId::from_u64(3).unwrap(),
            flags: crate::TraceFlags::SAMPLED,
            remote: false,
        };
        original.links = vec![Link { span_context: context, tags: Vec::new() }];
        let mut text = String::new();
        write_jsonl_line(&original, &mut text);
        write_jsonl_line(&span(7, 1, None, "gateway", "GET /", 0, 20), &mut text);
        assert_eq!(text.lines().count(), 2);
        let outcome = read_jsonl(text.as_bytes()).unwrap();
        assert_eq!(outcome.malformed_lines, 0);
        assert_eq!(outcome.spans[0], original);
        assert_eq!(outcome.spans[1].parent_id, None);
    }

    #[test]
    fn malformed_lines_are_counted_and_skipped() {
        let mut text = String::new();
        write_jsonl_line(&span(1, 1, None, "a", "ok", 0, 5), &mut text);
        text.push_str("\n   \n");
        text.push_str("{\"trace_id\":\"zz\"}\n");
        text.push_str("[1,2]\n");
        text.push_str("{\"trace_id\":\"00000000000000000000000000000001\",\"span_id\":\"0000000000000001\",\"name\":\"x\",\"start_unix_nanos\":18446744073709551615,\"duration_nanos\":1}\n");
        text.push_str("{\"trace_id\":\"00000000000000000000000000000001\",\"span_id\":\"0000000000000002\",\"name\":\"x\",\"start_unix_nanos\":1,\"duration_nanos\":1,\"kind\":\"weird\"}\n");
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(b"\xff\xfe\n{\"truncated\":");
        let outcome = read_jsonl(&bytes[..]).unwrap();
        assert_eq!(outcome.spans.len(), 1);
        assert_eq!(outcome.malformed_lines, 6);
        assert_eq!(
            outcome.first_error.as_deref(),
            Some("line 4: trace_id: wrong number of hex digits")
        );
    }

    #[test]
    fn optional_fields_default() {
        let line = r#"{"trace_id":"00000000000000000000000000000001","span_id":"0000000000000001","name":"x","start_unix_nanos":"5","duration_nanos":1}"#;
        let span = &read_jsonl(line.as_bytes()).unwrap().spans[0];
        assert_eq!(
            (span.kind, &span.status, &*span.service),
            (SpanKind::Internal, &Status::Unset, "unknown_service")
        );
        assert_eq!(span.start_unix_nanos, 5);
    }

    #[test]
    fn float_tags_read_back_exactly() {
        // Found by fuzzing: serde_json's default float parser can be one
        // unit in the last place off, so a float written by
        // `write_jsonl_line` read back as a different number.
        let line = r#"{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","name":"","start_unix_nanos":0,"duration_nanos":1,"tags":{"t":184467440731709551616}}"#;
        let read = read_jsonl(line.as_bytes()).unwrap().spans;
        assert_eq!(read[0].tags, [("t".into(), Value::F64(184_467_440_731_709_551_616.0))]);
        let mut text = String::new();
        write_jsonl_line(&read[0], &mut text);
        assert_eq!(read_jsonl(text.as_bytes()).unwrap().spans, read, "{text}");
        for float in [1.844_674_407_317_095_4e20, 0.1, 1e-300, f64::MAX, f64::MIN_POSITIVE] {
            let mut span = span(1, 1, None, "a", "x", 0, 1);
            span.tags = vec![("f".into(), Value::F64(float))];
            let mut text = String::new();
            write_jsonl_line(&span, &mut text);
            assert_eq!(read_jsonl(text.as_bytes()).unwrap().spans, [span], "{text}");
        }
    }
}
