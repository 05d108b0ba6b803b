//! The figures both bench binaries produce, kept across runs in
//! `target/bench-summary.json` (`{ "name": ns_per_span }`, for comparing
//! commits) and `target/bench-details.json` (counts, memory, rates), and the
//! table printed from them: ns per span, the ratio of each library to ours
//! in the same shape, and the targets.
//!
//! Names are `hot/<shape>/<library>` (criterion median on the calling
//! thread) and `all_in/<mode>/<library>` (process CPU per span, every
//! thread included).
#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use serde_json::{Map, Value};

/// Libraries, in the order of the table's columns.
pub const LIBRARIES: [(&str, &str); 5] = [
    ("ours", "trace-runtime"),
    ("floor", "floor"),
    ("fastrace", "fastrace"),
    ("tracing", "tracing"),
    ("otel", "OTel SDK"),
];

/// Rows of the table: the name prefix and what it measures.
const ROWS: [(&str, &str); 11] = [
    ("hot/untagged", "span, no tags"),
    ("hot/tag1", "span, 1 integer tag"),
    ("hot/tags2", "span, integer + `&str` tags"),
    ("hot/root", "root span alone (starts a trace)"),
    ("hot/async", "`async fn` span, polled to completion"),
    ("hot/unsampled", "unsampled span / no trace started"),
    ("hot/no_tracer", "no tracer / subscriber installed"),
    ("all_in/paced", "all-in CPU, 1M spans/s (net of pacing)"),
    ("all_in/unpaced", "all-in CPU, as fast as possible (net)"),
    ("export/otlp_json", "OTLP JSON encoding"),
    ("hot/clock", "one clock read (`Instant` / TSC)"),
];

/// The target directory: the bench binary runs from `<target>/release/deps/`.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench binary's path");
    exe.ancestors().nth(3).map_or_else(|| PathBuf::from("target"), PathBuf::from)
}

fn read(name: &str) -> Map<String, Value> {
    fs::read_to_string(target_dir().join(name))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

fn write(name: &str, map: &Map<String, Value>) {
    let path = target_dir().join(name);
    let text = serde_json::to_string_pretty(map).expect("JSON") + "\n";
    if let Err(error) = fs::write(&path, text) {
        eprintln!("cannot write {}: {error}", path.display());
    }
}

/// Replaces every figure whose name starts with one of `prefixes` by
/// `figures` (ns per span), and the details of the same names by `details`.
pub fn update(prefixes: &[&str], figures: &[(String, f64)], details: &[(String, Value)]) {
    let owned = |key: &String| prefixes.iter().any(|p| key.starts_with(p));
    let mut summary = read("bench-summary.json");
    summary.retain(|key, _| !owned(key));
    for (name, ns) in figures {
        summary.insert(name.clone(), Value::from((ns * 100.0).round() / 100.0));
    }
    write("bench-summary.json", &summary);
    let mut all = read("bench-details.json");
    all.retain(|key, _| !owned(key));
    for (name, value) in details {
        all.insert(name.clone(), value.clone());
    }
    write("bench-details.json", &all);
}

fn ns(summary: &Map<String, Value>, key: &str) -> Option<f64> {
    summary.get(key).and_then(Value::as_f64)
}

fn detail(details: &Map<String, Value>, key: &str, field: &str) -> Option<f64> {
    details.get(key)?.get(field)?.as_f64()
}

/// The table (markdown) and the targets, from what the summary holds.
pub fn report() -> String {
    let summary = read("bench-summary.json");
    let details = read("bench-details.json");
    let mut out = String::new();
    let _ = writeln!(out, "ns per span (ratio to trace-runtime in the same row)\n");
    table_header(&mut out);
    for (prefix, title) in ROWS {
        let ours = ns(&summary, &format!("{prefix}/ours"));
        let cells: Vec<String> = LIBRARIES
            .iter()
            .map(|(library, _)| match ns(&summary, &format!("{prefix}/{library}")) {
                None => "—".to_owned(),
                Some(value) if *library == "ours" => format!("**{value:.1}**"),
                Some(value) => match ours {
                    Some(ours) if ours > 0.0 => format!("{value:.1} ({:.2}×)", value / ours),
                    _ => format!("{value:.1}"),
                },
            })
            .collect();
        if cells.iter().all(|cell| cell == "—") {
            continue;
        }
        let _ = writeln!(out, "| {title} | {} |", cells.join(" | "));
    }
    out.push_str(&instructions());
    out.push_str(&counts(&details));
    out.push_str(&targets(&summary, &details));
    out
}

/// The header of a table with a column per library.
fn table_header(out: &mut String) {
    let _ = write!(out, "| case |");
    for (_, title) in LIBRARIES {
        let _ = write!(out, " {title} |");
    }
    let _ = write!(out, "\n| --- |");
    for _ in LIBRARIES {
        let _ = write!(out, " ---: |");
    }
    out.push('\n');
}

/// The same rows in instructions per span on the calling thread, from
/// `scripts/instructions.sh` (callgrind), if it was run.
fn instructions() -> String {
    let counts = read("instructions.json");
    let mut out = String::new();
    if counts.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\nInstructions per span on the calling thread (callgrind, `scripts/instructions.sh`)\n"
    );
    table_header(&mut out);
    for (prefix, title) in ROWS {
        let shape = prefix.rsplit('/').next().unwrap_or(prefix);
        let get = |library: &str| counts.get(&format!("{library}/{shape}")).and_then(Value::as_f64);
        let ours = get("ours");
        let cells: Vec<String> = LIBRARIES
            .iter()
            .map(|(library, _)| match (get(library), ours) {
                (None, _) => "—".to_owned(),
                (Some(value), _) if *library == "ours" => format!("**{value:.0}**"),
                (Some(value), Some(ours)) if ours > 0.0 => {
                    format!("{value:.0} ({:.2}×)", value / ours)
                }
                (Some(value), _) => format!("{value:.0}"),
            })
            .collect();
        if cells.iter().all(|cell| cell == "—") {
            continue;
        }
        let _ = writeln!(out, "| {title} | {} |", cells.join(" | "));
    }
    out
}

/// Delivered, dropped and peak RSS of the all-in runs, and memory per
/// buffered span.
fn counts(details: &Map<String, Value>) -> String {
    let mut out = String::new();
    let field = |run: &Value, name: &str| run.get(name).and_then(Value::as_f64).unwrap_or(f64::NAN);
    if let Some(run) = details.get("hot/pipeline/ours") {
        let _ = writeln!(
            out,
            "\nDuring the hot-path benches our queue delivered {:.0} spans and dropped {:.0} (full).",
            field(run, "delivered"),
            field(run, "dropped")
        );
    }
    let mut header = false;
    for mode in ["paced", "unpaced", "unpaced_4x"] {
        let libraries = std::iter::once("none").chain(LIBRARIES.iter().map(|(name, _)| *name));
        for library in libraries {
            let key = format!("all_in/{mode}/{library}");
            let Some(run) = details.get(&key) else { continue };
            if !header {
                header = true;
                let _ = writeln!(
                    out,
                    "\n| all-in run | spans | delivered | dropped or missing | CPU ns/span (raw) | wall s | peak RSS MiB |"
                );
                let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
            }
            let _ = writeln!(
                out,
                "| {key} | {:.0} | {:.0} | {:.0} | {:.1} | {:.2} | {:.1} |",
                field(run, "spans"),
                field(run, "delivered"),
                field(run, "dropped"),
                field(run, "raw_cpu_ns_per_span"),
                field(run, "wall_s"),
                field(run, "peak_rss_kib") / 1024.0,
            );
        }
    }
    for (key, run) in details.iter().filter(|(key, _)| key.starts_with("buffered/")) {
        let _ = writeln!(
            out,
            "\n{key}: {:.0} bytes per buffered span (peak {:.0}; `SpanData` itself {:.0})",
            field(run, "rss_bytes_per_span"),
            field(run, "peak_bytes_per_span"),
            field(run, "size_of_span_data"),
        );
    }
    out
}

/// The targets, each with the figures it compares.
fn targets(summary: &Map<String, Value>, details: &Map<String, Value>) -> String {
    let get = |key: &str| ns(summary, key);
    let mut out = String::from("\nTargets\n\n");
    let mut line = |met: Option<bool>, text: String| {
        let mark = match met {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "not measured",
        };
        let _ = writeln!(out, "- [{mark}] {text}");
    };
    let tag1 = get("hot/tag1/ours");
    let floor = get("hot/untagged/floor");
    let fastrace = get("hot/untagged/fastrace");
    if let (Some(tag1), Some(floor), Some(fastrace)) = (tag1, floor, fastrace) {
        line(
            Some(tag1 <= 1.3 * floor && tag1 <= 0.7 * fastrace),
            format!(
                "span with 1 integer tag ≤ 1.3× floor and ≤ 0.7× fastrace untagged: {tag1:.1} ns = {:.2}× floor, {:.2}× fastrace",
                tag1 / floor,
                tag1 / fastrace
            ),
        );
    } else {
        line(None, "span with 1 integer tag vs floor and fastrace".into());
    }
    match (get("all_in/paced/ours"), floor) {
        (Some(all_in), Some(floor)) => line(
            Some(all_in <= 2.5 * floor),
            format!(
                "all-in CPU ≤ 2.5× floor hot path: {all_in:.1} ns = {:.2}× floor",
                all_in / floor
            ),
        ),
        _ => line(None, "all-in CPU vs floor".into()),
    }
    let accounted = ["all_in/paced/ours", "all_in/unpaced/ours", "all_in/unpaced_4x/ours"]
        .iter()
        .filter_map(|key| {
            let spans = detail(details, key, "spans")?;
            let seen = detail(details, key, "delivered")? + detail(details, key, "dropped")?;
            Some((spans - seen).abs() < 0.5)
        })
        .collect::<Vec<_>>();
    line(
        (!accounted.is_empty()).then(|| accounted.iter().all(|ok| *ok)),
        format!(
            "every span delivered or counted as dropped ({} of {} runs)",
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
    let bound = |key: &str, limit: f64, what: &str| match get(key) {
        Some(value) => (Some(value <= limit), format!("{what} ≤ {limit} ns: {value:.2} ns")),
        None => (None, format!("{what} ≤ {limit} ns")),
    };
    for (key, limit, what) in [
        ("hot/root/ours", 100.0, "starting a trace (root span)"),
        ("hot/unsampled/ours", 2.0, "unsampled span"),
        ("hot/no_tracer/ours", 1.5, "span with no tracer installed"),
    ] {
        let (met, text) = bound(key, limit, what);
        line(met, text);
    }
    match (get("hot/tags2/ours"), get("hot/untagged/ours")) {
        (Some(tags), Some(plain)) => line(
            Some(tags - plain <= 10.0),
            format!("2 tags add ≤ 10 ns: they add {:.1} ns", tags - plain),
        ),
        _ => line(None, "2 tags add ≤ 10 ns".into()),
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
