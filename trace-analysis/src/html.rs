//! The waterfall view: every trace in one self-contained HTML file.
//!
//! The page is `html/report.css` and `html/report.js` inlined around the
//! traces as JSON; it loads nothing from the network.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{Value as Json, json};

use super::read::value_to_json;
use super::{PathOrigin, Trace, critical_paths, root_cause, self_times};
use trace_runtime::Tag;
use trace_runtime::{SpanData, Status};

const STYLE: &str = include_str!("html/report.css");
const SCRIPT: &str = include_str!("html/report.js");

/// Renders the traces as one HTML page that needs no network: a list of
/// traces, one line each with what tells them apart (root span, duration,
/// the span with the most time on the critical path, span and error
/// counts, services, start), and under it, across the window's width, the
/// selected trace as a waterfall: nested span bars coloured by service,
/// errors marked, the critical path drawn as a dark band over each bar
/// where the span is on it (spans off the path faded, a legend above), and
/// for a clicked span a panel of its tags, events, status and IDs under its
/// row. The name column fits the longest name (at most 45% of the width)
/// and can be dragged wider; every name cut short has its full text as a
/// tooltip. `#trace=<id>&span=<id>` in the address selects a trace and span.
///
/// The data is embedded as JSON in which every `<` and `/` is escaped
/// (`\u003c`, `\/`), so no span name or tag can close the script element or
/// read as markup or a URL; the script builds the page with DOM calls and
/// `textContent`, never from HTML strings.
///
/// ```
/// use trace_analysis::{assemble, html_report, read_jsonl};
/// let lines = r#"{"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000001","service":"api","name":"</script><b>bold</b>","start_unix_nanos":0,"duration_nanos":5}"#;
/// let html = html_report(&assemble(read_jsonl(lines.as_bytes()).unwrap().spans));
/// assert!(html.starts_with("<!DOCTYPE html>"));
/// assert!(!html.contains("<b>") && !html.contains("https://"));
/// assert_eq!(html.matches("</script>").count(), 2);
/// # std::fs::write(std::env::temp_dir().join("trace-report-doctest.html"), &html).unwrap();
/// ```
pub fn html_report(traces: &[Trace]) -> String {
    let mut services: Vec<&str> = Vec::new();
    for trace in traces {
        for service in trace.services() {
            if !services.contains(&service) {
                services.push(service);
            }
        }
    }
    let color: HashMap<&str, usize> = services.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let data = json!({
        "services": services,
        "traces": traces.iter().map(|t| trace_json(t, &color)).collect::<Vec<_>>(),
    });
    let data = data.to_string().replace('<', "\\u003c").replace('/', "\\/");
    let mut page = String::with_capacity(data.len() + STYLE.len() + SCRIPT.len() + 1024);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Trace report</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <header><h1>Trace report</h1><span id=\"totals\"></span><span id=\"legend\"></span></header>\n\
         <nav id=\"trace-list\" aria-label=\"traces\"></nav>\n<main id=\"trace\"></main>\n\
         <aside id=\"detail\"><p class=\"hint\">Click a span for its details.</p></aside>\n<script type=\"application/json\" id=\"trace-data\">{data}</script>\n\
         <script>\n{SCRIPT}</script>\n</body>\n</html>\n"
    );
    page
}

/// One trace, spans in display order; indices refer to that order.
fn trace_json(trace: &Trace, color: &HashMap<&str, usize>) -> Json {
    let spans = trace.spans();
    let order = trace.preorder();
    let mut position = vec![0; spans.len()];
    for (shown, &(i, _)) in order.iter().enumerate() {
        position[i] = shown;
    }
    let t0 = trace.start_unix_nanos();
    let paths = critical_paths(trace);
    let path = &paths[0];
    // Spans their parent did not wait for: walked on their own, off the path.
    let mut detached: Vec<Option<&str>> = vec![None; spans.len()];
    for other in &paths[1..] {
        if matches!(other.origin, PathOrigin::Consumer | PathOrigin::FollowsFrom) {
            detached[other.root] = Some(other.origin.as_str());
        }
    }
    let times = self_times(trace);
    let mut segments: Vec<Vec<[u64; 2]>> = vec![Vec::new(); spans.len()];
    for s in &path.segments {
        segments[s.span].push([s.start_unix_nanos - t0, s.end_unix_nanos - t0]);
    }
    let span_json = |&(i, depth): &(usize, usize)| {
        let span = &spans[i];
        json!({
            "id": span.span_id.to_string(),
            "parent_id": span.parent_id.map(|p| p.to_string()),
            "parent": trace.parent(i).map(|p| position[p]),
            "orphan": trace.is_orphan(i),
            "depth": depth,
            "svc": color.get(&*span.service).copied().unwrap_or(0),
            "service": &*span.service,
            "name": &*span.name,
            "kind": span.kind.as_str(),
            "start": span.start_unix_nanos - t0,
            "dur": span.duration_nanos,
            "self": times.per_span[i],
            "crit": path.contribution(i),
            "segs": segments[i],
            "detached": detached[i],
            "status": status_json(&span.status),
            "tags": tags_json(&span.tags),
            "events": span.events.iter().map(|e| json!({
                "name": &*e.name,
                "t": offset(e.time_unix_nanos, span.start_unix_nanos),
                "tags": tags_json(&e.tags),
            })).collect::<Vec<_>>(),
            "links": span.links.iter().map(|l| json!({
                "trace_id": l.span_context.trace_id.to_string(),
                "span_id": l.span_context.span_id.to_string(),
                "tags": tags_json(&l.tags),
            })).collect::<Vec<_>>(),
        })
    };
    let cause = root_cause(trace).map(|c| {
        json!({
            "span": position[c.span],
            "service": &*c.service,
            "message": c.message,
            "chain": c.chain.iter().map(|&i| position[i]).collect::<Vec<_>>(),
            "others": c.other_origins.iter().map(|&i| position[i]).collect::<Vec<_>>(),
        })
    });
    let root: &SpanData = &spans[trace.root()];
    json!({
        "id": trace.trace_id().to_string(),
        "name": &*root.name,
        "service": &*root.service,
        // As a string: nanoseconds since the epoch exceed a JavaScript number's precision.
        "start_unix_nanos": t0.to_string(),
        "duration": trace.duration_nanos(),
        "errors": spans.iter().filter(|s| s.status.is_error()).count(),
        "orphans": trace.orphans().count(),
        "duplicates": trace.duplicate_spans(),
        "critical": path.duration_nanos,
        "cause": cause,
        "spans": order.iter().map(span_json).collect::<Vec<_>>(),
    })
}

fn status_json(status: &Status) -> Json {
    match status {
        Status::Unset => json!({ "code": "unset" }),
        Status::Ok => json!({ "code": "ok" }),
        Status::Error(message) => json!({ "code": "error", "message": &**message }),
    }
}

fn tags_json(tags: &[Tag]) -> Json {
    Json::Array(tags.iter().map(|(k, v)| json!([&**k, value_to_json(v)])).collect())
}

/// `time - base` in nanoseconds, signed (an event may predate its span).
fn offset(time: u64, base: u64) -> i64 {
    let difference = i128::from(time) - i128::from(base);
    difference.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assemble;
    use crate::testing::{failed, span};

    fn report() -> String {
        let mut root = failed(span(1, 1, None, "gateway", "GET /checkout", 0, 100), "502");
        root.tags.push(("http.url".into(), "https://example.com/x</script>".into()));
        html_report(&assemble(vec![
            root,
            span(1, 2, Some(1), "orders", "<b>POST</b>", 10, 80),
            span(2, 1, None, "orders", "GET /health", 500, 3),
        ]))
    }

    #[test]
    fn the_page_is_self_contained() {
        let html = report();
        for forbidden in ["http://", "https://", "src=", "href=", "@import", "url(", "<link"] {
            assert!(!html.contains(forbidden), "the report contains {forbidden:?}");
        }
        assert_eq!(html.matches("<script").count(), 2);
        assert_eq!(html.matches("</script>").count(), 2);
        assert!(!html.contains("<b>"));
    }

    #[test]
    fn the_embedded_data_parses_back() {
        let html = report();
        let start = html.find("id=\"trace-data\">").unwrap() + "id=\"trace-data\">".len();
        let end = start + html[start..].find("</script>").unwrap();
        let data: Json = serde_json::from_str(&html[start..end]).unwrap();
        assert_eq!(data["services"], json!(["gateway", "orders"]));
        let trace = &data["traces"][0];
        assert_eq!(trace["errors"], 1);
        assert_eq!(trace["spans"][1]["name"], "<b>POST</b>");
        assert_eq!(trace["spans"][1]["parent"], 0);
        assert_eq!(trace["spans"][1]["crit"], 80);
        assert_eq!(trace["spans"][0]["segs"], json!([[0, 10], [90, 100]]));
        assert_eq!(trace["spans"][0]["tags"][0][1], "https://example.com/x</script>");
        assert_eq!(trace["cause"]["chain"], json!([0]));
        assert_eq!(data["traces"][1]["start_unix_nanos"], "500");
    }

    #[test]
    fn a_consumer_under_a_producer_is_marked_not_awaited() {
        use trace_runtime::SpanKind;
        let mut publish = span(1, 1, None, "shop", "publish", 10, 40);
        publish.kind = SpanKind::Producer;
        let mut consume = span(1, 2, Some(1), "mailer", "consume", 40, 160);
        consume.kind = SpanKind::Consumer;
        let html = html_report(&assemble(vec![publish, consume]));
        let start = html.find("id=\"trace-data\">").unwrap() + "id=\"trace-data\">".len();
        let end = start + html[start..].find("</script>").unwrap();
        let data: Json = serde_json::from_str(&html[start..end]).unwrap();
        let spans = &data["traces"][0]["spans"];
        assert_eq!(
            (&spans[0]["detached"], &spans[1]["detached"]),
            (&Json::Null, &json!("consumer"))
        );
        assert_eq!((&spans[0]["crit"], &spans[1]["crit"]), (&json!(40), &json!(0)));
    }

    #[test]
    fn event_offsets_are_signed() {
        assert_eq!(offset(5, 10), -5);
        assert_eq!(offset(u64::MAX, 0), i64::MAX);
    }
}
