//! Plain-text renderings for terminals: the waterfall, the critical path,
//! self time, the root cause and the latency summary.

use std::fmt::Write as _;

use trace_runtime::Status;

use super::{CriticalPath, OperationSummary, RootCause, SelfTimes, Trace};

/// Width of the timeline bar in the waterfall, in characters.
const BAR: u64 = 32;

/// A duration for people: `850 ns`, `12.3 µs`, `12.3 ms`, `1.23 s`.
///
/// ```
/// use trace_analysis::format_duration;
/// assert_eq!(format_duration(12_345_678), "12.3 ms");
/// assert_eq!(format_duration(999), "999 ns");
/// ```
pub fn format_duration(nanos: u64) -> String {
    let n = nanos as f64;
    match nanos {
        0..1_000 => format!("{nanos} ns"),
        1_000..1_000_000 => format!("{:.1} µs", n / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} ms", n / 1e6),
        _ => format!("{:.2} s", n / 1e9),
    }
}

/// The trace as an indented tree, one span a line: service, name, duration,
/// offset from the trace start, a timeline bar, and markers for errors and
/// orphans. The first line describes the whole trace.
///
/// ```
/// use trace_analysis::{assemble, read_jsonl, render_waterfall};
/// let lines = r#"
/// {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000001","parent_id":null,"service":"gateway","name":"GET /","start_unix_nanos":0,"duration_nanos":12300000}
/// {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000002","parent_id":"0000000000000001","service":"orders","name":"POST /orders","start_unix_nanos":1000000,"duration_nanos":8000000}
/// "#;
/// let trace = &assemble(read_jsonl(lines.as_bytes()).unwrap().spans)[0];
/// let text = render_waterfall(trace);
/// let lines: Vec<&str> = text.lines().collect();
/// assert!(lines[0].starts_with("trace 0000000000000000000000000000000a  12.3 ms  2 spans  gateway, orders"));
/// assert!(lines[1].starts_with("  gateway  GET /          12.3 ms    +0 ns  |████"));
/// assert!(lines[2].starts_with("    orders  POST /orders   8.0 ms  +1.0 ms  |  ███"));
/// ```
pub fn render_waterfall(trace: &Trace) -> String {
    let spans = trace.spans();
    let (t0, total) = (trace.start_unix_nanos(), trace.duration_nanos());
    let mut out = String::new();
    let _ = write!(
        out,
        "trace {}  {}  {} spans  {}",
        trace.trace_id(),
        format_duration(total),
        spans.len(),
        trace.services().join(", ")
    );
    let errors = spans.iter().filter(|s| s.status.is_error()).count();
    if errors > 0 {
        let _ = write!(out, "  {errors} error{}", plural(errors));
    }
    let orphans = trace.orphans().count();
    if orphans > 0 {
        let _ = write!(out, "  {orphans} orphan{}", plural(orphans));
    }
    out.push('\n');

    let rows: Vec<Vec<String>> = trace
        .preorder()
        .into_iter()
        .map(|(i, depth)| {
            let span = &spans[i];
            let offset = span.start_unix_nanos - t0;
            let mut flags = String::new();
            if let Status::Error(message) = &span.status {
                let _ = write!(flags, "  ✗ error: {message}");
            }
            if let (true, Some(parent)) = (trace.is_orphan(i), span.parent_id) {
                let _ = write!(flags, "  (orphan: parent {parent} not found)");
            }
            vec![
                format!("{}{}  {}", "  ".repeat(depth + 1), span.service, span.name),
                format_duration(span.duration_nanos),
                format!("+{}", format_duration(offset)),
                format!("{}{flags}", bar(offset, span.duration_nanos, total)),
            ]
        })
        .collect();
    out.push_str(&table(&rows, &[false, true, true, false]));
    out
}

/// The critical path as a chain: each span's contribution and share of the
/// root's duration, indented by depth; then the trace's
/// [notes](super::path_notes), if any (no root, other roots, spans not
/// waited for).
///
/// ```
/// # use trace_analysis::{assemble, read_jsonl};
/// use trace_analysis::{critical_path, render_critical_path};
/// # let lines = r#"{"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000001","service":"api","name":"GET /","start_unix_nanos":0,"duration_nanos":2000000}"#;
/// # let trace = &assemble(read_jsonl(lines.as_bytes()).unwrap().spans)[0];
/// let text = render_critical_path(trace, &critical_path(trace));
/// assert!(text.ends_with("  2.0 ms  100.0%  api  GET /\n"));
/// ```
pub fn render_critical_path(trace: &Trace, path: &CriticalPath) -> String {
    let spans = trace.spans();
    let mut out = format!(
        "critical path of trace {}: {} in {} span{}\n",
        trace.trace_id(),
        format_duration(path.duration_nanos),
        path.spans.len(),
        plural(path.spans.len())
    );
    let base = trace.depth(path.root);
    let rows: Vec<Vec<String>> = path
        .spans
        .iter()
        .map(|p| {
            let span = &spans[p.span];
            let indent = "  ".repeat(trace.depth(p.span).saturating_sub(base));
            vec![
                format!("  {}", format_duration(p.contribution_nanos)),
                format!("{:.1}%", share(p.contribution_nanos, path.duration_nanos)),
                format!("{indent}{}  {}", span.service, span.name),
            ]
        })
        .collect();
    out.push_str(&table(&rows, &[true, true, false]));
    // Which root was walked, and which spans have paths of their own.
    for note in super::path_notes(trace, &super::critical_paths(trace)) {
        out.push_str("  note: ");
        out.push_str(&note);
        out.push('\n');
    }
    out
}

/// Self time per service, largest first, with its share of the summed self
/// time of all spans.
///
/// ```
/// # use trace_analysis::{assemble, read_jsonl};
/// use trace_analysis::{render_self_times, self_times};
/// # let lines = r#"{"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000001","service":"api","name":"GET /","start_unix_nanos":0,"duration_nanos":2000000}"#;
/// # let trace = &assemble(read_jsonl(lines.as_bytes()).unwrap().spans)[0];
/// assert_eq!(render_self_times(&self_times(trace)), "self time by service:\n  api  2.0 ms  100.0%\n");
/// ```
pub fn render_self_times(times: &SelfTimes) -> String {
    let all: u64 = times.per_service.iter().map(|(_, t)| t).sum();
    let rows: Vec<Vec<String>> = times
        .per_service
        .iter()
        .map(|(service, time)| {
            vec![
                format!("  {service}"),
                format_duration(*time),
                format!("{:.1}%", share(*time, all)),
            ]
        })
        .collect();
    format!("self time by service:\n{}", table(&rows, &[false, true, true]))
}

/// The root cause: the originating span and service, then the chain up to
/// the root with each failing caller's message, then any other origins.
///
/// ```
/// # use trace_analysis::{assemble, read_jsonl};
/// use trace_analysis::{render_root_cause, root_cause};
/// # let lines = r#"{"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000001","service":"api","name":"GET /","start_unix_nanos":0,"duration_nanos":1,"status":{"code":"error","message":"boom"}}"#;
/// # let trace = &assemble(read_jsonl(lines.as_bytes()).unwrap().spans)[0];
/// let text = render_root_cause(trace, &root_cause(trace).unwrap());
/// assert!(text.starts_with("error root cause: api  GET /  \"boom\""));
/// ```
pub fn render_root_cause(trace: &Trace, cause: &RootCause) -> String {
    let spans = trace.spans();
    let origin = &spans[cause.span];
    let mut out =
        format!("error root cause: {}  {}  {:?}\n", cause.service, origin.name, cause.message);
    let callers = cause.propagated_through(trace);
    let _ = writeln!(
        out,
        "  span {} at +{}, propagated through {callers} failing caller{}:",
        origin.span_id,
        format_duration(origin.start_unix_nanos - trace.start_unix_nanos()),
        plural(callers)
    );
    let rows: Vec<Vec<String>> = cause
        .chain
        .iter()
        .map(|&i| {
            let span = &spans[i];
            let outcome = match &span.status {
                Status::Error(message) => format!("✗ {message}"),
                other => other.to_string(),
            };
            vec![format!("    {}", span.service), span.name.to_string(), outcome]
        })
        .collect();
    out.push_str(&table(&rows, &[false, false, false]));
    if !cause.other_origins.is_empty() {
        let n = cause.other_origins.len();
        let _ = writeln!(out, "  {n} other error origin{}:", plural(n));
        for &i in &cause.other_origins {
            let span = &spans[i];
            let message = match &span.status {
                Status::Error(message) => message.as_ref(),
                _ => "",
            };
            let _ = writeln!(out, "    {}  {}  {message:?}", span.service, span.name);
        }
    }
    out
}

/// The latency summary as a table: service, operation, count, errors,
/// error rate, p50, p90, p99 and max.
///
/// ```
/// # use trace_analysis::{assemble, read_jsonl};
/// use trace_analysis::{render_summary, summarize};
/// # let lines = r#"{"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000001","service":"api","name":"GET /","start_unix_nanos":0,"duration_nanos":2000000}"#;
/// # let traces = assemble(read_jsonl(lines.as_bytes()).unwrap().spans);
/// let table = render_summary(&summarize(&traces));
/// assert_eq!(table.lines().nth(1).unwrap(), "api      GET /          1       0    0.0%  2.0 ms  2.0 ms  2.0 ms  2.0 ms");
/// ```
pub fn render_summary(rows: &[OperationSummary]) -> String {
    let header = ["service", "operation", "count", "errors", "error%", "p50", "p90", "p99", "max"];
    let mut cells = vec![header.map(str::to_owned).to_vec()];
    cells.extend(rows.iter().map(|row| {
        vec![
            row.service.to_string(),
            row.operation.clone(),
            row.count.to_string(),
            row.errors.to_string(),
            format!("{:.1}%", row.error_rate() * 100.0),
            format_duration(row.p50_nanos),
            format_duration(row.p90_nanos),
            format_duration(row.p99_nanos),
            format_duration(row.max_nanos),
        ]
    }));
    let right = [false, false, true, true, true, true, true, true, true];
    table(&cells, &right)
}

/// Lays rows out in columns two spaces apart; trailing spaces are trimmed.
fn table(rows: &[Vec<String>], right_aligned: &[bool]) -> String {
    let width = |s: &str| s.chars().count();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| width(s)).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(widths[c] - width(cell));
            if right_aligned.get(c).copied().unwrap_or(false) {
                line.push_str(&pad);
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&pad);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A timeline bar `BAR` characters wide, at least one character filled.
fn bar(offset: u64, duration: u64, total: u64) -> String {
    let scale = |t: u64, round_up: bool| {
        if total == 0 {
            return if round_up { BAR } else { 0 };
        }
        let scaled = u128::from(t) * u128::from(BAR);
        let cells =
            if round_up { scaled.div_ceil(u128::from(total)) } else { scaled / u128::from(total) };
        cells.min(u128::from(BAR)) as u64
    };
    let from = scale(offset, false).min(BAR - 1);
    let to = scale(offset + duration, true).max(from + 1);
    let cell = |c| if (from..to).contains(&c) { '█' } else { ' ' };
    format!("|{}|", (0..BAR).map(cell).collect::<String>())
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 { 100.0 } else { part as f64 * 100.0 / whole as f64 }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{failed, span};
    use crate::{assemble, critical_path, root_cause, self_times, summarize};

    fn sample() -> Trace {
        assemble(vec![
            failed(span(1, 1, None, "gateway", "GET /checkout", 0, 12_300_000), "502"),
            failed(
                span(1, 2, Some(1), "orders", "POST /orders", 1_000_000, 10_000_000),
                "payment failed",
            ),
            failed(
                span(1, 3, Some(2), "payments", "charge", 2_000_000, 8_000_000),
                "card declined",
            ),
            span(1, 4, Some(99), "inventory", "reserve", 1_500_000, 500_000),
        ])
        .remove(0)
    }

    #[test]
    fn waterfall_shows_tree_durations_offsets_errors_and_orphans() {
        let text = render_waterfall(&sample());
        let expected = "\
trace 00000000000000000000000000000001  12.3 ms  4 spans  gateway, orders, inventory, payments  3 errors  1 orphan
  gateway  GET /checkout   12.3 ms    +0 ns  |████████████████████████████████|  ✗ error: 502
    orders  POST /orders   10.0 ms  +1.0 ms  |  ███████████████████████████   |  ✗ error: payment failed
      payments  charge      8.0 ms  +2.0 ms  |     ██████████████████████     |  ✗ error: card declined
  inventory  reserve      500.0 µs  +1.5 ms  |   ███                          |  (orphan: parent 0000000000000063 not found)
";
        assert_eq!(text, expected);
    }

    #[test]
    fn critical_path_root_cause_self_time_and_summary_listings() {
        let trace = sample();
        let path = render_critical_path(&trace, &critical_path(&trace));
        assert_eq!(
            path,
            "critical path of trace 00000000000000000000000000000001: 12.3 ms in 3 spans\n\
             \x20 2.3 ms  18.7%  gateway  GET /checkout\n\
             \x20 2.0 ms  16.3%    orders  POST /orders\n\
             \x20 8.0 ms  65.0%      payments  charge\n\
             \x20 note: 1 other root not on this path, walked on its own: inventory reserve (orphan)\n"
        );
        let cause = render_root_cause(&trace, &root_cause(&trace).unwrap());
        assert!(cause.starts_with("error root cause: payments  charge  \"card declined\"\n"));
        assert!(cause.contains("propagated through 2 failing callers:\n"));
        assert!(cause.contains("\n    orders    POST /orders   ✗ payment failed\n"));
        let times = render_self_times(&self_times(&trace));
        assert!(
            times.starts_with("self time by service:\n  payments     8.0 ms  62.5%\n"),
            "{times}"
        );
        let summary = render_summary(&summarize(&[trace]));
        assert_eq!(summary.lines().count(), 5);
        assert!(
            summary.contains("\npayments   charge             1       1  100.0%    8.0 ms"),
            "{summary}"
        );
    }

    #[test]
    fn durations_and_bars() {
        assert_eq!(format_duration(1_500), "1.5 µs");
        assert_eq!(format_duration(2_500_000_000), "2.50 s");
        assert_eq!(bar(0, 0, 0), format!("|{}|", "█".repeat(32)));
        assert_eq!(bar(100, 0, 100), format!("|{}█|", " ".repeat(31)));
    }
}
