//! The span readers on files written to each format's definition
//! (`tests/data/`, see its README), and on what the runtime's own
//! exporters write.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use trace_analysis::{
    Format, ReadOutcome, assemble, read_file, read_jaeger_json, read_otlp_json, read_spans,
    read_zipkin_json,
};
use trace_runtime::export::{encode_otlp_json, encode_zipkin_json};
use trace_runtime::{
    Event, Link, SpanContext, SpanData, SpanId, SpanKind, Status, TraceFlags, TraceId, Value,
};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn read_clean(name: &str) -> ReadOutcome {
    let outcome = read_file(&data(name)).unwrap();
    assert_eq!(outcome.malformed_lines, 0, "{name}: {:?}", outcome.first_error);
    outcome
}

fn span<'a>(spans: &'a [SpanData], id: &str) -> &'a SpanData {
    spans.iter().find(|s| s.span_id.to_string() == id).unwrap_or_else(|| panic!("no span {id}"))
}

fn id(text: &str) -> Option<SpanId> {
    Some(text.parse().unwrap())
}

fn tag(key: &'static str, value: impl Into<Value>) -> (Cow<'static, str>, Value) {
    (key.into(), value.into())
}

/// 2023-11-14T22:13:20Z in nanoseconds, and `ms` milliseconds after it.
fn t(ms: u64) -> u64 {
    1_700_000_000_000_000_000 + ms * 1_000_000
}

#[test]
fn jaeger_download_json() {
    let outcome = read_clean("jaeger-download.json");
    assert_eq!(outcome.format, Some(Format::JaegerJson));
    let spans = &outcome.spans;
    assert_eq!(spans.len(), 6);

    let root = span(spans, "00f067aa0ba902b7");
    assert_eq!(root.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!((root.parent_id, &*root.name, &*root.service), (None, "GET /checkout", "frontend"));
    assert_eq!(
        (root.kind, root.start_unix_nanos, root.duration_nanos),
        (SpanKind::Server, t(0), 120_000_000)
    );
    // span.kind, error and otel.status_description became kind and status.
    assert_eq!(root.status, Status::Error("upstream failed".into()));
    assert_eq!(
        root.tags,
        [tag("http.request.method", "GET"), tag("http.response.status_code", 502)]
    );
    assert_eq!(
        root.events,
        [Event { name: "retry".into(), time_unix_nanos: t(110), tags: vec![tag("attempt", 2)] }]
    );

    let client = span(spans, "53ce929d0e0e4736");
    assert_eq!((client.parent_id, client.kind), (Some(root.span_id), SpanKind::Client));
    assert_eq!(client.status, Status::Error("502 Bad Gateway".into()));
    assert!(client.tags.is_empty() && client.links.is_empty(), "{client:?}");

    let server = span(spans, "1111222233334444");
    assert_eq!((server.parent_id, &*server.service), (Some(client.span_id), "orders"));
    assert_eq!((server.start_unix_nanos, server.duration_nanos), (t(8), 90_000_000));
    assert_eq!(server.status, Status::Unset);
    assert_eq!(
        server.tags,
        [
            tag("load", 0.75),
            tag("cached", false),
            tag("order.id", i64::MAX),
            tag("payload", "AAAwOQ=="),
        ]
    );
    assert_eq!(server.events[0].name, "");
    assert_eq!(server.events[0].tags, [tag("message", "no event field")]);

    let publish = span(spans, "2222333344445555");
    assert_eq!((publish.kind, &publish.status), (SpanKind::Producer, &Status::Ok));
    // A FOLLOWS_FROM reference is the parent when there is no CHILD_OF, and
    // stays visible as a link saying so.
    let consume = span(spans, "3333444455556666");
    assert_eq!((consume.kind, &*consume.service), (SpanKind::Consumer, "billing"));
    assert_eq!(consume.parent_id, Some(publish.span_id));
    assert_eq!(consume.links.len(), 1);
    assert_eq!(consume.links[0].span_context.span_id, publish.span_id);
    assert_eq!(consume.links[0].tags, [tag("opentracing.ref_type", "follows_from")]);

    // A 64-bit trace ID; a CHILD_OF another trace is a link, not a parent.
    let job = span(spans, "00000000000000aa");
    assert_eq!(job.trace_id.to_string(), "000000000000000000000000000000ff");
    assert_eq!((job.parent_id, &*job.service, job.duration_nanos), (None, "batch", 1_000));
    assert_eq!(job.links[0].span_context.trace_id, root.trace_id);
    assert_eq!(job.links[0].tags, [tag("opentracing.ref_type", "child_of")]);

    let traces = assemble(outcome.spans);
    assert_eq!(traces.len(), 2);
    assert_eq!(traces[0].spans()[traces[0].root()].name, "GET /checkout");
    assert_eq!(traces[0].orphans().count(), 0);
    assert_eq!(traces[0].services(), ["frontend", "orders", "billing"]);
}

#[test]
fn jaeger_spans_that_break_the_model_are_counted() {
    let text = br#"{"data":[{"traceID":"0a","spans":[
        {"traceID":"0a","spanID":"01","operationName":"ok","startTime":1,"duration":1,"processID":"p1"},
        {"traceID":"0a","spanID":"02","operationName":"no process","startTime":1,"duration":1,"processID":"p9"},
        {"traceID":"0a","spanID":"03","operationName":"bad tag","startTime":1,"duration":1,"processID":"p1",
         "tags":[{"key":"n","type":"int64","value":"many"}]},
        {"traceID":"0a","spanID":"04","operationName":"bad ref","startTime":1,"duration":1,"processID":"p1",
         "references":[{"refType":"PARENT","traceID":"0a","spanID":"01"}]},
        {"traceID":"0a","spanID":"05","operationName":"no time","duration":1,"processID":"p1"}],
      "processes":{"p1":{"serviceName":"a"}}}, {"traceID":"0b"}]}"#;
    let outcome = read_jaeger_json(&text[..]).unwrap();
    let names: Vec<&str> = outcome.spans.iter().map(|s| &*s.name).collect();
    assert_eq!(names, ["ok"]);
    assert_eq!(outcome.malformed_lines, 5);
    assert_eq!(
        outcome.first_error.as_deref(),
        Some(r#"line 1: trace 0: span 1: processID "p9" is not in processes"#)
    );
    // Zipkin or OTLP JSON is not Jaeger JSON.
    let zipkin = std::fs::read(data("zipkin-trace.json")).unwrap();
    let outcome = read_jaeger_json(&zipkin[..]).unwrap();
    assert_eq!((outcome.spans.len(), outcome.malformed_lines), (0, 1));
    assert_eq!(outcome.first_error.as_deref(), Some("line 1: not Jaeger JSON (no data array)"));
}

#[test]
fn zipkin_v2_trace() {
    let outcome = read_clean("zipkin-trace.json");
    assert_eq!(outcome.format, Some(Format::ZipkinJson));
    let spans = &outcome.spans;
    assert_eq!(spans.len(), 6);
    let micros = |us: u64| us * 1_000;

    let root = span(spans, "ffdc9bb9a6453df3");
    assert_eq!(root.trace_id.to_string(), "4e441824ec2b6a44ffdc9bb9a6453df3");
    assert_eq!((root.parent_id, &*root.name, &*root.service), (None, "get /checkout", "frontend"));
    assert_eq!(root.kind, SpanKind::Server);
    assert_eq!(
        (root.start_unix_nanos, root.duration_nanos),
        (micros(1_502_787_600_000_000), micros(150_000))
    );
    // The error tag is the status and its message.
    assert_eq!(root.status, Status::Error("upstream failed".into()));
    assert_eq!(root.tags, [tag("http.method", "GET"), tag("http.path", "/checkout")]);

    let client = span(spans, "352bff9a74ca9ad2");
    assert_eq!((client.parent_id, client.kind), (id("ffdc9bb9a6453df3"), SpanKind::Client));
    assert_eq!(client.status, Status::Error("".into()));
    assert_eq!(client.tags, [tag("http.status_code", "502")]);
    assert_eq!(
        client.events,
        [Event {
            name: "retry".into(),
            time_unix_nanos: micros(1_502_787_600_050_000),
            tags: vec![]
        }]
    );

    let server = span(spans, "6b221d5bc9e6496c");
    assert_eq!((server.parent_id, &*server.service), (id("352bff9a74ca9ad2"), "orders"));
    assert_eq!((server.kind, &server.status), (SpanKind::Server, &Status::Unset));
    let load = span(spans, "5af7183fb1d4cf5f");
    assert_eq!((load.kind, &load.status), (SpanKind::Internal, &Status::Ok));
    assert_eq!(load.tags, [tag("db.rows", "3")]);
    let consume = span(spans, "0000000000000102");
    assert_eq!((consume.kind, consume.parent_id), (SpanKind::Consumer, id("0000000000000101")));
    assert_eq!(span(spans, "0000000000000101").kind, SpanKind::Producer);

    let traces = assemble(outcome.spans);
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].services(), ["frontend", "orders", "billing"]);
    assert_eq!(traces[0].orphans().count(), 0);
}

#[test]
fn zipkin_v2_list_of_traces() {
    let outcome = read_clean("zipkin-traces.json");
    let [api, unnamed] = &outcome.spans[..] else { panic!("{:?}", outcome.spans) };
    assert_eq!(api.trace_id.to_string(), "00000000000000005af7183fb1d4cf5f");
    assert_eq!((&*api.name, api.start_unix_nanos), ("get /api", 1_556_604_172_355_737_000));
    assert_eq!(unnamed.trace_id, TraceId::from_u128(0xabc).unwrap());
    assert_eq!((&*unnamed.name, unnamed.duration_nanos), ("", 1_000));
}

#[test]
fn incomplete_and_malformed_zipkin_spans_are_counted() {
    let text = br#"[
        {"traceId":"0a","id":"0000000000000001","timestamp":1,"duration":1},
        {"traceId":"000000000000000a","id":"0000000000000002","timestamp":1},
        {"traceId":"000000000000000a","id":"0000000000000003","duration":1},
        {"traceId":"000000000000000a","id":"0000000000000004","timestamp":1,"duration":1,"kind":"LOCAL"},
        {"traceId":"000000000000000a","id":"0000000000000005","timestamp":1,"duration":1}
    ]"#;
    let outcome = read_zipkin_json(&text[..]).unwrap();
    assert_eq!(outcome.spans.len(), 2);
    assert_eq!(outcome.malformed_lines, 3);
    assert_eq!(
        outcome.first_error.as_deref(),
        Some("line 1: span 1: no duration integer (an incomplete span)")
    );
}

/// Spans with every field the exporters write, times in whole microseconds
/// (Zipkin's unit).
fn exported_spans() -> Vec<SpanData> {
    let trace_id = TraceId::from_u128(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736).unwrap();
    let service: Arc<str> = "shop".into();
    let base = SpanData {
        trace_id,
        span_id: SpanId::from_u64(1).unwrap(),
        parent_id: None,
        name: "GET /cart".into(),
        kind: SpanKind::Server,
        start_unix_nanos: t(0),
        duration_nanos: 5_000_000,
        tags: vec![tag("http.response.status_code", 200)],
        events: Vec::new(),
        links: Vec::new(),
        status: Status::Unset,
        service,
    };
    let child = SpanData {
        span_id: SpanId::from_u64(2).unwrap(),
        parent_id: Some(base.span_id),
        name: "load cart".into(),
        kind: SpanKind::Client,
        start_unix_nanos: t(1),
        duration_nanos: 3_000_000,
        tags: vec![
            tag("db.rows", -3),
            tag("ratio", 0.25),
            tag("cached", false),
            tag("db.system", "postgresql"),
        ],
        events: vec![Event {
            name: "retry".into(),
            time_unix_nanos: t(2),
            tags: vec![tag("attempt", 2)],
        }],
        links: vec![Link {
            span_context: SpanContext {
                trace_id: TraceId::from_u128(7).unwrap(),
                span_id: SpanId::from_u64(8).unwrap(),
                flags: TraceFlags::SAMPLED,
                remote: true,
            },
            tags: Vec::new(),
        }],
        status: Status::Error("timeout \"db\"".into()),
        service: "db-proxy".into(),
        ..base.clone()
    };
    let leaf = SpanData {
        span_id: SpanId::from_u64(3).unwrap(),
        parent_id: Some(child.span_id),
        name: "decode".into(),
        kind: SpanKind::Internal,
        tags: Vec::new(),
        status: Status::Ok,
        ..base.clone()
    };
    let producer = SpanData {
        span_id: SpanId::from_u64(4).unwrap(),
        kind: SpanKind::Producer,
        name: "publish".into(),
        ..leaf.clone()
    };
    let consumer = SpanData {
        span_id: SpanId::from_u64(5).unwrap(),
        parent_id: Some(producer.span_id),
        kind: SpanKind::Consumer,
        name: "consume".into(),
        ..leaf.clone()
    };
    vec![base, child, leaf, producer, consumer]
}

/// A tag value as Zipkin's string.
fn text(value: &Value) -> Value {
    Value::Str(match value {
        Value::Str(s) => s.clone(),
        other => other.to_string().into(),
    })
}

#[test]
fn what_the_zipkin_exporter_writes_reads_back() {
    let written = exported_spans();
    let outcome = read_spans(encode_zipkin_json(&written).as_bytes()).unwrap();
    assert_eq!(outcome.format, Some(Format::ZipkinJson));
    assert_eq!(outcome.malformed_lines, 0, "{:?}", outcome.first_error);
    assert_eq!(outcome.spans.len(), written.len());
    for (read, written) in outcome.spans.iter().zip(&written) {
        assert_eq!(
            (read.trace_id, read.span_id, read.parent_id, &read.name, read.kind),
            (written.trace_id, written.span_id, written.parent_id, &written.name, written.kind)
        );
        assert_eq!(
            (read.start_unix_nanos, read.duration_nanos, &read.status, &read.service),
            (written.start_unix_nanos, written.duration_nanos, &written.status, &written.service)
        );
        // Zipkin tags are strings; events keep their tags (as JSON).
        let mut as_text: Vec<_> = written.tags.iter().map(|(k, v)| (k.clone(), text(v))).collect();
        let mut read_tags = read.tags.clone();
        read_tags.sort_by(|a, b| a.0.cmp(&b.0));
        as_text.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(read_tags, as_text);
        assert_eq!(read.events, written.events);
        // The Zipkin model has no links.
        assert!(read.links.is_empty());
    }
}

#[test]
fn what_the_otlp_exporter_writes_reads_back() {
    let written = exported_spans();
    let outcome = read_otlp_json(encode_otlp_json(&written).as_bytes()).unwrap();
    assert_eq!(outcome.malformed_lines, 0, "{:?}", outcome.first_error);
    assert_eq!(outcome.spans.len(), written.len());
    let mut read = outcome.spans;
    read.sort_by_key(|s| s.span_id);
    for (read, written) in read.iter().zip(&written) {
        assert_eq!(
            (read.trace_id, read.span_id, read.parent_id, &read.name, read.kind),
            (written.trace_id, written.span_id, written.parent_id, &written.name, written.kind)
        );
        assert_eq!(
            (read.start_unix_nanos, read.duration_nanos),
            (written.start_unix_nanos, written.duration_nanos)
        );
        assert_eq!(
            (&read.tags, &read.events, &read.status),
            (&written.tags, &written.events, &written.status)
        );
        assert_eq!(&*read.service, &*written.service);
        assert_eq!(
            read.links.iter().map(|l| l.span_context.span_id).collect::<Vec<_>>(),
            written.links.iter().map(|l| l.span_context.span_id).collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_pretty_printed_otlp_file_reads_whole_and_cut_short_is_one_error() {
    let outcome = read_clean("otlp-pretty.json");
    assert_eq!(outcome.format, Some(Format::OtlpJson));
    let names: Vec<(&str, &str)> = outcome.spans.iter().map(|s| (&*s.service, &*s.name)).collect();
    assert_eq!(
        names,
        [("frontend", "GET /checkout"), ("frontend", "POST /orders"), ("orders", "POST /orders")]
    );
    assert_eq!(outcome.spans[2].status, Status::Error("card declined".into()));

    let text = std::fs::read_to_string(data("otlp-pretty.json")).unwrap();
    let cut = &text[..text.find("\"payment declined\"").unwrap()];
    let last_line = cut.lines().count();
    let outcome = read_spans(cut.as_bytes()).unwrap();
    assert!(outcome.spans.is_empty());
    assert_eq!(outcome.malformed_lines, 1);
    let error = outcome.first_error.unwrap();
    assert!(error.starts_with(&format!("line {last_line} column ")), "{error}");
    assert!(error.ends_with("not JSON: EOF while parsing a value"), "{error}");
}

#[test]
fn every_format_is_told_apart_by_its_content() {
    let mut jsonl = String::new();
    for span in exported_spans() {
        trace_runtime::export::write_jsonl_line(&span, &mut jsonl);
    }
    let cases = [
        (jsonl, Format::JsonLines),
        (encode_otlp_json(&exported_spans()), Format::OtlpJson),
        (std::fs::read_to_string(data("jaeger-download.json")).unwrap(), Format::JaegerJson),
        (encode_zipkin_json(&exported_spans()), Format::ZipkinJson),
    ];
    for (text, format) in cases {
        let outcome = read_spans(text.as_bytes()).unwrap();
        assert_eq!(outcome.format, Some(format));
        assert_eq!(outcome.malformed_lines, 0, "{format}: {:?}", outcome.first_error);
        assert!(!outcome.spans.is_empty(), "{format}");
    }
    let outcome = read_spans(&b"{\"hello\": 1}\n"[..]).unwrap();
    assert_eq!((outcome.format, outcome.malformed_lines), (None, 1));
    assert_eq!(
        outcome.first_error.as_deref(),
        Some("line 1: not a span file: no span (JSON Lines), OTLP, Jaeger or Zipkin JSON")
    );
}
