//! Issue 13's targets, read off the summary: each line says whether the
//! target is met and the figures it compares.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::{DROP_LIMIT, detail, get, read};

/// Issue 13's targets, each with the figures it compares: instructions
/// (`instr/`) and time (`hot/`, `all_in/`) where both apply.
pub fn targets(summary: &Map<String, Value>, details: &Map<String, Value>) -> String {
    let get = |key: &str| get(summary, key);
    let mut out = String::from("\nTargets (issue 13)\n\n");
    let mut line = |met: Option<bool>, text: String| {
        let mark = match met {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "not measured",
        };
        let _ = writeln!(out, "- [{mark}] {text}");
    };
    // Ours over a reference, in instructions and in time; met when both are
    // at most `limit` (and measured).
    let ratio = |ours: &str, reference: &str, limit: f64, what: &str| {
        let mut parts = Vec::new();
        let mut met = Some(true);
        for (prefix, unit) in [("instr", "instructions"), ("hot", "ns")] {
            match (get(&format!("{prefix}/{ours}")), get(&format!("{prefix}/{reference}"))) {
                (Some(a), Some(b)) if b > 0.0 => {
                    parts.push(format!("{a:.1} / {b:.1} {unit} = {:.2}×", a / b));
                    met = met.map(|met| met && a / b <= limit);
                }
                _ => {
                    parts.push(format!("{unit} not measured"));
                    met = None;
                }
            }
        }
        (met, format!("{what} ≤ {limit}×: {}", parts.join("; ")))
    };
    for (ours, reference, limit, what) in [
        ("untagged/ours", "untagged/fastrace", 0.8, "untagged span vs fastrace's"),
        ("tag1/ours", "tag1/fastrace", 0.5, "1 integer tag vs fastrace's"),
        ("async/ours", "async/fastrace", 0.7, "`async fn` span vs fastrace's"),
        ("root/ours", "untagged/ours", 2.5, "root span vs our untagged child"),
    ] {
        let (met, text) = ratio(ours, reference, limit, what);
        line(met, text);
    }
    match get("instr/unsampled/ours") {
        Some(count) => {
            line(Some(count <= 20.0), format!("unsampled ≤ 20 instructions: {count:.0}"))
        }
        None => line(None, "unsampled ≤ 20 instructions".into()),
    }
    match (get("instr/no_tracer/ours"), get("instr/no_tracer/tracing")) {
        (Some(ours), Some(tracing)) => line(
            Some(ours <= tracing),
            format!(
                "no tracer ≤ `tracing` with no subscriber: {ours:.0} vs {tracing:.0} instructions"
            ),
        ),
        _ => line(None, "no tracer ≤ `tracing` with no subscriber (instructions)".into()),
    }
    for mode in ["paced", "unpaced"] {
        let clean = |library: &str| {
            get(&format!("drop/all_in_{mode}/{library}")).is_some_and(|drop| drop <= DROP_LIMIT)
        };
        match (get(&format!("all_in/{mode}/ours")), get(&format!("all_in/{mode}/fastrace"))) {
            (Some(ours), Some(fastrace)) => line(
                Some(ours <= 0.8 * fastrace && clean("ours")),
                format!(
                    "all-in CPU ({mode}) ≤ 0.8× fastrace's: {ours:.1} vs {fastrace:.1} ns = {:.2}×{}",
                    ours / fastrace,
                    match (clean("ours"), clean("fastrace")) {
                        (true, true) => "",
                        (false, _) => " (ours dropped more than 1% of its spans)",
                        (true, false) => " (fastrace did not deliver every span)",
                    }
                ),
            ),
            _ => line(None, format!("all-in CPU ({mode}) ≤ 0.8× fastrace's")),
        }
    }
    let accounted: Vec<bool> = details
        .iter()
        .filter(|(key, _)| {
            key.ends_with("/ours") && (key.starts_with("all_in/") || key.starts_with("hot/"))
        })
        .filter_map(|(_, run)| {
            let made = run.get("made").or_else(|| run.get("spans"))?.as_f64()?;
            let seen = run.get("delivered")?.as_f64()? + run.get("dropped")?.as_f64()?;
            Some((made - seen).abs() < 0.5)
        })
        .collect();
    line(
        (!accounted.is_empty()).then(|| accounted.iter().all(|ok| *ok)),
        format!(
            "every span of ours delivered or counted as dropped ({} of {} runs)",
            accounted.iter().filter(|ok| **ok).count(),
            accounted.len()
        ),
    );
    let short = detail(details, "all_in/unpaced/ours", "peak_rss_kib");
    let long = detail(details, "all_in/unpaced_4x/ours", "peak_rss_kib");
    match (short, long) {
        (Some(short), Some(long)) => line(
            Some(long <= short * 1.1 + 2048.0),
            format!(
                "peak RSS bounded by the queue, not the run's length: {:.1} MiB for N spans, {:.1} MiB for 4N (unpaced)",
                short / 1024.0,
                long / 1024.0
            ),
        ),
        _ => line(None, "peak RSS vs run length".into()),
    }
    match get("export/otlp_json/ours") {
        Some(per_span) => line(
            Some(per_span <= 1000.0),
            format!("OTLP JSON encoding ≥ 1M spans/s per core: {:.2}M spans/s", 1000.0 / per_span),
        ),
        None => line(None, "OTLP JSON encoding ≥ 1M spans/s per core".into()),
    }
    let compile: Map<String, Value> = read("compile-time.json");
    match (
        compile.get("traced_seconds").and_then(Value::as_f64),
        compile.get("fastrace_seconds").and_then(Value::as_f64),
    ) {
        (Some(ours), Some(theirs)) => line(
            Some(ours <= theirs),
            format!(
                "500 `#[traced]` fns build no slower than 500 `#[trace]` fns: {ours:.2} s vs {theirs:.2} s (not instrumented: {:.2} s; scripts/compile_time.sh)",
                compile.get("plain_seconds").and_then(Value::as_f64).unwrap_or(f64::NAN)
            ),
        ),
        _ => line(None, "compile time (run scripts/compile_time.sh)".into()),
    }
    out
}
