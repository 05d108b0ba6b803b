//! One span as a line of an indented tree, for the console exporter and
//! the in-memory collector's renderings.

use std::fmt::Write as _;

use crate::span::{SpanData, SpanKind, Status};

/// Writes `name [kind] duration key=value … (status)` at `depth`, then a
/// line per event (`@ +offset name key=value …`) and per link (`-> link
/// trace/span key=value …`). The kind is left out for internal spans, the
/// status when unset, and the duration and offsets unless `timed` (so that
/// tests can compare renderings).
pub(crate) fn write_span(out: &mut String, depth: usize, span: &SpanData, timed: bool) {
    let indent = "  ".repeat(depth);
    let _ = write!(out, "{indent}{}", span.name);
    if span.kind != SpanKind::Internal {
        let _ = write!(out, " [{}]", span.kind.as_str());
    }
    if timed {
        let _ = write!(out, " {}", format_duration(span.duration_nanos));
    }
    write_tags(out, &span.tags);
    if span.status != Status::Unset {
        let _ = write!(out, " ({})", span.status);
    }
    out.push('\n');
    for event in &span.events {
        let _ = write!(out, "{indent}  @ ");
        if timed {
            let offset = event.time_unix_nanos.saturating_sub(span.start_unix_nanos);
            let _ = write!(out, "+{} ", format_duration(offset));
        }
        out.push_str(&event.name);
        write_tags(out, &event.tags);
        out.push('\n');
    }
    for link in &span.links {
        let context = &link.span_context;
        let _ = write!(out, "{indent}  -> link {}/{}", context.trace_id, context.span_id);
        write_tags(out, &link.tags);
        out.push('\n');
    }
}

fn write_tags(out: &mut String, tags: &[crate::value::Tag]) {
    for (key, value) in tags {
        let _ = write!(out, " {key}={value}");
    }
}

/// A duration with three significant figures at most: `999 ns`, `1.5 µs`,
/// `12.3 ms`, `2.50 s` (the units and rounding `trace-report` prints).
fn format_duration(nanos: u64) -> String {
    let n = nanos as f64;
    match nanos {
        0..1_000 => format!("{nanos} ns"),
        1_000..1_000_000 => format!("{:.1} µs", n / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} ms", n / 1e6),
        _ => format!("{:.2} s", n / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::format_duration;

    #[test]
    fn durations_have_three_significant_figures_at_most() {
        let cases = [(999, "999 ns"), (1_500, "1.5 µs"), (12_345_678, "12.3 ms")];
        for (nanos, text) in cases {
            assert_eq!(format_duration(nanos), text);
        }
        assert_eq!(format_duration(2_500_000_000), "2.50 s");
    }
}
