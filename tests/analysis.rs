//! Trace analysis end to end: span files from several processes read back,
//! assembled, analysed, rendered as text and as the HTML waterfall.

#[path = "analysis/chromium.rs"]
mod chromium;
#[path = "analysis/sample.rs"]
mod sample;

use std::fmt::Write as _;
use std::path::PathBuf;

use trace_runtime::analysis::{
    self, Trace, assemble, critical_path, read_file, read_jsonl, read_otlp_json, root_cause,
    self_times, summarize, write_jsonl_line,
};
use trace_runtime::{InMemoryCollector, SpanData, SpanKind, Status, Tracer, Value, traced};

/// A fresh directory for this test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("analysis").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes each service's spans to its own JSON Lines file, as separate
/// processes would, in reverse order so children come before parents.
fn write_per_service(dir: &std::path::Path, spans: &[SpanData], skip: &str) -> Vec<PathBuf> {
    let mut files: Vec<(String, String)> = Vec::new();
    for span in spans.iter().rev().filter(|s| &*s.service != skip) {
        let index = match files.iter().position(|(service, _)| *service == *span.service) {
            Some(i) => i,
            None => {
                files.push((span.service.to_string(), String::new()));
                files.len() - 1
            }
        };
        write_jsonl_line(span, &mut files[index].1);
    }
    files
        .into_iter()
        .map(|(service, text)| {
            let path = dir.join(format!("{service}.jsonl"));
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

fn read_all(files: &[PathBuf]) -> Vec<SpanData> {
    let mut spans = Vec::new();
    for file in files {
        let outcome = read_file(file).unwrap();
        assert_eq!(outcome.malformed_lines, 0, "{:?}", outcome.first_error);
        spans.extend(outcome.spans);
    }
    spans
}

fn name(trace: &Trace, index: usize) -> String {
    format!("{} {}", trace.spans()[index].service, trace.spans()[index].name)
}

fn by_number(traces: &[Trace], t: u64) -> &Trace {
    traces.iter().find(|trace| trace.trace_id().to_u128() & 0xffff == u128::from(t)).unwrap()
}

#[test]
fn files_from_four_processes_assemble_into_one_tree_per_trace() {
    let dir = scratch("four_processes");
    let files = write_per_service(&dir, &sample::batch(), "");
    assert_eq!(files.len(), 4);
    let traces = assemble(read_all(&files));
    assert_eq!(traces.len(), sample::TRACES as usize);
    for trace in &traces {
        assert_eq!(trace.spans().len(), 12);
        assert_eq!(trace.roots().len(), 1);
        assert_eq!(trace.orphans().count(), 0);
        assert_eq!(trace.services(), ["gateway", "orders", "inventory", "payments"]);
        let root = trace.root();
        assert_eq!(name(trace, root), "gateway POST /checkout");
        // Parent links cross process boundaries: client span → server span.
        let orders = trace.spans().iter().position(|s| s.name == "POST /orders").unwrap();
        assert_eq!(name(trace, trace.parent(orders).unwrap()), "gateway POST orders/orders");
        assert_eq!(trace.depth(trace.find(trace.spans()[orders].span_id).unwrap()), 2);
    }
    // Ordered by start time.
    assert!(traces.windows(2).all(|w| w[0].start_unix_nanos() <= w[1].start_unix_nanos()));
}

#[test]
fn a_lost_process_file_leaves_orphans_that_are_reported_not_dropped() {
    let dir = scratch("lost_file");
    let files = write_per_service(&dir, &sample::batch(), "orders");
    let traces = assemble(read_all(&files));
    let trace = by_number(&traces, 1);
    // orders' 5 spans are lost; the other 7 are all kept.
    assert_eq!(trace.spans().len(), 7);
    let orphans: Vec<String> = trace.orphans().map(|i| name(trace, i)).collect();
    assert_eq!(orphans, ["inventory POST /reserve", "payments POST /charge"]);
    assert_eq!(name(trace, trace.root()), "gateway POST /checkout");
    assert!(analysis::render_waterfall(trace).contains("(orphan: parent "));
}

#[test]
fn the_slow_dependency_is_on_the_critical_path() {
    let traces = assemble(sample::batch());
    for t in 1..=sample::TRACES {
        let trace = by_number(&traces, t);
        let path = critical_path(trace);
        let on_path: Vec<String> = path.spans.iter().map(|p| name(trace, p.span)).collect();
        let total: u64 = path.spans.iter().map(|p| p.contribution_nanos).sum();
        assert_eq!(total, trace.spans()[trace.root()].duration_nanos);
        if sample::SLOW.contains(&t) {
            assert!(on_path.contains(&"inventory SELECT stock".to_owned()), "{on_path:?}");
            assert!(!on_path.iter().any(|n| n.starts_with("payments")));
            let query = trace.spans().iter().position(|s| s.name == "SELECT stock").unwrap();
            assert_eq!(path.contribution(query), 40_000_000);
        } else {
            assert!(on_path.contains(&"payments card network authorize".to_owned()), "{on_path:?}");
            assert!(!on_path.iter().any(|n| n.starts_with("inventory")));
        }
    }
}

#[test]
fn the_failure_two_hops_down_is_the_root_cause() {
    let traces = assemble(sample::batch());
    for t in 1..=sample::TRACES {
        let trace = by_number(&traces, t);
        let Some(cause) = root_cause(trace) else {
            assert!(!sample::FAILING.contains(&t));
            continue;
        };
        assert!(sample::FAILING.contains(&t));
        assert_eq!(&*cause.service, "payments");
        assert_eq!(cause.message, "card declined");
        let chain: Vec<String> = cause.chain.iter().map(|&i| name(trace, i)).collect();
        assert_eq!(
            chain,
            [
                "payments card network authorize",
                "payments POST /charge",
                "orders POST payments/charge",
                "orders POST /orders",
                "gateway POST orders/orders",
                "gateway POST /checkout",
            ]
        );
        let text = analysis::render_root_cause(trace, &cause);
        assert!(
            text.starts_with(
                "error root cause: payments  card network authorize  \"card declined\""
            )
        );
    }
}

#[test]
fn self_time_per_service_adds_up_to_the_time_spent() {
    let traces = assemble(sample::batch());
    let trace = by_number(&traces, 1);
    let times = self_times(trace);
    let services: Vec<&str> = times.per_service.iter().map(|(s, _)| &**s).collect();
    assert_eq!(services.len(), 4);
    // Sequential spans only: the self times add up to the root's duration
    // plus the time inventory and payments ran in parallel.
    let sum: u64 = times.per_span.iter().sum();
    assert!(sum > trace.duration_nanos());
    let authenticate = trace.spans().iter().position(|s| s.name == "authenticate").unwrap();
    assert_eq!(times.per_span[authenticate], 1_200_000);
}

#[test]
fn the_summary_has_known_percentiles_and_error_rates() {
    let traces = assemble(sample::batch());
    let rows = summarize(&traces);
    let row = |service: &str, operation: &str| {
        rows.iter().find(|r| &*r.service == service && r.operation == operation).unwrap()
    };
    let query = row("inventory", "SELECT stock");
    assert_eq!(query.count, 12);
    // 10 fast queries (3.0 to 3.9 ms) and 2 slow ones (40 ms): ranks 6, 11, 12.
    assert_eq!(query.p50_nanos, 3_300_000);
    assert_eq!(query.p90_nanos, 40_000_000);
    assert_eq!(query.p99_nanos, 40_000_000);
    let card = row("payments", "card network authorize");
    assert_eq!((card.count, card.errors), (12, 2));
    assert!((card.error_rate() - 2.0 / 12.0).abs() < 1e-12);
    let table = analysis::render_summary(&rows);
    assert!(table.starts_with("service    operation"));
    assert_eq!(table.lines().count(), rows.len() + 1);
}

/// A JSON string literal.
fn quoted(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => _ = write!(out, "\\u{:04x}", c as u32),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The spans as one OTLP JSON `ExportTraceServiceRequest`, one resource per service.
fn to_otlp_json(spans: &[SpanData]) -> String {
    let mut services: Vec<&str> = spans.iter().map(|s| &*s.service).collect();
    services.dedup();
    services.sort_unstable();
    services.dedup();
    let attributes = |tags: &[(std::borrow::Cow<'static, str>, Value)]| -> String {
        let items: Vec<String> = tags
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Value::Str(s) => format!("{{\"stringValue\":{}}}", quoted(s)),
                    Value::I64(i) => format!("{{\"intValue\":\"{i}\"}}"),
                    Value::F64(f) => format!("{{\"doubleValue\":{f}}}"),
                    Value::Bool(b) => format!("{{\"boolValue\":{b}}}"),
                };
                format!("{{\"key\":{},\"value\":{value}}}", quoted(k))
            })
            .collect();
        format!("[{}]", items.join(","))
    };
    let resources: Vec<String> = services
        .iter()
        .map(|service| {
            let spans: Vec<String> = spans
                .iter()
                .filter(|s| &*s.service == *service)
                .map(|s| {
                    let kind = match s.kind {
                        SpanKind::Internal => 1,
                        SpanKind::Server => 2,
                        SpanKind::Client => 3,
                        SpanKind::Producer => 4,
                        SpanKind::Consumer => 5,
                    };
                    let status = match &s.status {
                        Status::Unset => "{}".to_owned(),
                        Status::Ok => "{\"code\":1}".to_owned(),
                        Status::Error(m) => format!("{{\"code\":2,\"message\":{}}}", quoted(m)),
                    };
                    let events: Vec<String> = s
                        .events
                        .iter()
                        .map(|e| {
                            format!(
                                "{{\"timeUnixNano\":\"{}\",\"name\":{},\"attributes\":{}}}",
                                e.time_unix_nanos,
                                quoted(&e.name),
                                attributes(&e.tags)
                            )
                        })
                        .collect();
                    format!(
                        "{{\"traceId\":\"{}\",\"spanId\":\"{}\",\"parentSpanId\":\"{}\",\"name\":{},\"kind\":{kind},\
                         \"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\",\"attributes\":{},\"events\":[{}],\"status\":{status}}}",
                        s.trace_id,
                        s.span_id,
                        s.parent_id.map(|p| p.to_string()).unwrap_or_default(),
                        quoted(&s.name),
                        s.start_unix_nanos,
                        s.end_unix_nanos(),
                        attributes(&s.tags),
                        events.join(",")
                    )
                })
                .collect();
            format!(
                "{{\"resource\":{{\"attributes\":[{{\"key\":\"service.name\",\"value\":{{\"stringValue\":{}}}}}]}},\
                 \"scopeSpans\":[{{\"scope\":{{\"name\":\"test\"}},\"spans\":[{}]}}]}}",
                quoted(service),
                spans.join(",")
            )
        })
        .collect();
    format!("{{\"resourceSpans\":[{}]}}", resources.join(","))
}

#[test]
fn otlp_json_and_json_lines_give_the_same_spans() {
    let spans = sample::batch();
    let dir = scratch("otlp");
    let otlp = dir.join("export.json");
    std::fs::write(&otlp, to_otlp_json(&spans)).unwrap();
    let from_otlp = read_file(&otlp).unwrap();
    assert_eq!(from_otlp.malformed_lines, 0, "{:?}", from_otlp.first_error);
    let mut jsonl = String::new();
    spans.iter().for_each(|s| write_jsonl_line(s, &mut jsonl));
    let from_jsonl = read_jsonl(jsonl.as_bytes()).unwrap();
    assert_eq!(from_jsonl.malformed_lines, 0);

    let key = |s: &SpanData| s.span_id;
    let mut a = from_otlp.spans;
    let mut b = from_jsonl.spans;
    a.sort_by_key(key);
    b.sort_by_key(key);
    assert_eq!(a.len(), 144);
    // JSON objects are unordered, so JSON Lines gives tags in key order; compare as sets.
    for span in a.iter_mut().chain(b.iter_mut()) {
        span.tags.sort_by(|x, y| x.0.cmp(&y.0));
    }
    assert_eq!(a, b);

    // One request per line, plus junk, is read too.
    let two_requests =
        format!("{}\n{{ broken\n{}\n", to_otlp_json(&spans[..12]), to_otlp_json(&spans[12..24]));
    let outcome = read_otlp_json(two_requests.as_bytes()).unwrap();
    assert_eq!((outcome.spans.len(), outcome.malformed_lines), (24, 1));
}

#[test]
fn malformed_lines_are_counted_and_skipped_never_panicking() {
    let mut text = String::new();
    for span in sample::trace(1) {
        write_jsonl_line(&span, &mut text);
    }
    let good: Vec<&str> = text.lines().collect();
    let mut mangled = String::new();
    for (i, line) in good.iter().enumerate() {
        mangled.push_str(line);
        mangled.push('\n');
        // After every good line, a broken variant of it.
        let broken = match i % 4 {
            0 => line[..line.len() / 2].to_owned(),
            1 => line.replace("\"span_id\"", "\"spam_id\""),
            2 => line.replace("\"duration_nanos\":", "\"duration_nanos\":-"),
            _ => line.replace("\"kind\":\"", "\"kind\":\"x"),
        };
        mangled.push_str(&broken);
        mangled.push('\n');
    }
    let outcome = read_jsonl(mangled.as_bytes()).unwrap();
    assert_eq!(outcome.spans.len(), good.len());
    assert_eq!(outcome.malformed_lines, good.len());
    assert!(outcome.first_error.unwrap().starts_with("line 2: not JSON"));

    // Truncating the file anywhere never panics.
    for cut in (0..mangled.len()).step_by(97) {
        let _ = read_jsonl(&mangled.as_bytes()[..cut]).unwrap();
        let _ = read_otlp_json(&mangled.as_bytes()[..cut]).unwrap();
    }
}

#[traced(kind = server, tags(http.route = "/orders"))]
fn handle() -> Result<(), String> {
    load();
    charge()
}

#[traced]
fn load() {}

#[traced(err)]
fn charge() -> Result<(), String> {
    Err("declined".into())
}

#[test]
fn spans_from_the_runtime_round_trip_and_analyse() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("shop").span_processor(collector.clone()).build();
    let _ = tracer.in_scope(handle);
    let mut text = String::new();
    for span in collector.spans() {
        write_jsonl_line(&span, &mut text);
    }
    let outcome = read_jsonl(text.as_bytes()).unwrap();
    assert_eq!(outcome.spans, collector.spans());
    let traces = assemble(outcome.spans);
    assert_eq!(traces.len(), 1);
    let trace = &traces[0];
    assert_eq!(name(trace, trace.root()), "shop handle");
    let cause = root_cause(trace).unwrap();
    assert_eq!(
        (name(trace, cause.span), cause.message.as_str()),
        ("shop charge".into(), "declined")
    );
}

#[test]
fn the_html_report_is_self_contained() {
    let traces = assemble(sample::batch());
    let html = analysis::html_report(&traces);
    for forbidden in ["http://", "https://", "src=", "href=", "url(", "@import", "<link", "<iframe"]
    {
        assert!(!html.contains(forbidden), "report contains {forbidden:?}");
    }
    assert_eq!(html.matches("<script").count(), 2);
    assert!(html.contains("\"card declined\""));
}

#[test]
#[ignore = "needs Chromium: run with `cargo test --test analysis -- --ignored` (CI does)"]
fn the_html_report_works_in_headless_chromium() {
    chromium::check_report(&scratch("chromium"));
}
