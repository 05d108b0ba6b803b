//! The figures both bench binaries produce, kept across runs in
//! `target/bench-summary.json` (`{ "name": figure }`, for comparing
//! commits) and `target/bench-details.json` (counts, memory, every pass,
//! the machine's load), and the table printed from them (also written to
//! `target/bench-report.md`): ns per span, the ratio of each library to
//! ours in the same row, instructions per span, drops, and issue 13's
//! targets.
//!
//! Names: `hot/<case>/<library>` (ns per span, thread CPU, child process
//! per row), `all_in/<mode>/<library>` (process CPU per span, every thread
//! included), `instr/<case>/<library>` (instructions per span on the
//! calling thread, `scripts/instructions.sh`), `drop/<case>/<library>`
//! (fraction of spans dropped or lost; all-in modes as `all_in_<mode>`),
//! `faults/<case>/<library>` (minor page faults per 1k spans).
#![allow(dead_code)]

mod targets;

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
    ("hot/tags2", "span, integer + `&str` tags¹"),
    ("hot/async", "`async fn` span, no-op-waker poll loop"),
    ("hot/root", "root span alone (starts a trace)"),
    ("hot/unsampled", "unsampled span / no trace started²"),
    ("hot/no_tracer", "no tracer / subscriber / reporter"),
    ("all_in/paced", "all-in CPU, 1M spans/s (net of pacing)"),
    ("all_in/unpaced", "all-in CPU, as fast as possible (net)"),
    ("export/otlp_json", "OTLP JSON encoding"),
    ("hot/clock", "one clock read (quanta raw / `rdtsc`)"),
];

/// Above this fraction of spans dropped or lost, a row's figure is marked.
pub const DROP_LIMIT: f64 = 0.01;

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
/// `figures`, and the details of the same names by `details`.
pub fn update(prefixes: &[&str], figures: &[(String, f64)], details: &[(String, Value)]) {
    let owned = |key: &String| prefixes.iter().any(|p| key.starts_with(p));
    let mut summary = read("bench-summary.json");
    summary.retain(|key, _| !owned(key));
    for (name, figure) in figures {
        // Fractions keep six decimals, the rest two.
        let scale = if name.starts_with("drop/") { 1e6 } else { 100.0 };
        let rounded = (figure * scale).round() / scale;
        // NaN (a figure that could not be read) is written as null.
        summary.insert(
            name.clone(),
            serde_json::Number::from_f64(rounded).map_or(Value::Null, Value::Number),
        );
    }
    write("bench-summary.json", &summary);
    let mut all = read("bench-details.json");
    all.retain(|key, _| !owned(key));
    for (name, value) in details {
        all.insert(name.clone(), value.clone());
    }
    write("bench-details.json", &all);
}

/// Copies `target/instructions.json` (`{ "library/case": instructions }`,
/// written by `scripts/instructions.sh`) into the summary as
/// `instr/<case>/<library>`, replacing every `instr/` figure; returns how
/// many it copied.
pub fn copy_instructions() -> usize {
    let counts = read("instructions.json");
    let figures: Vec<(String, f64)> = counts
        .iter()
        .filter_map(|(name, value)| {
            let (library, case) = name.split_once('/')?;
            Some((format!("instr/{case}/{library}"), value.as_f64()?))
        })
        .collect();
    update(&["instr/"], &figures, &[]);
    figures.len()
}

fn get(summary: &Map<String, Value>, key: &str) -> Option<f64> {
    summary.get(key).and_then(Value::as_f64)
}

fn detail(details: &Map<String, Value>, key: &str, field: &str) -> Option<f64> {
    details.get(key)?.get(field)?.as_f64()
}

/// The key of the drop fraction for a row's prefix (`hot/tag1` →
/// `drop/tag1`, `all_in/paced` → `drop/all_in_paced`).
fn drop_key(prefix: &str, library: &str) -> String {
    match prefix.split_once('/') {
        Some(("all_in", mode)) => format!("drop/all_in_{mode}/{library}"),
        Some((_, case)) => format!("drop/{case}/{library}"),
        None => format!("drop/{prefix}/{library}"),
    }
}

/// The table (markdown) and the targets, from what the summary holds;
/// also written to `target/bench-report.md`.
pub fn report() -> String {
    let summary = read("bench-summary.json");
    let details = read("bench-details.json");
    let mut out = String::new();
    for (key, what) in [("run/hot", "hot path"), ("run/all_in", "all-in")] {
        if let Some(run) = details.get(key) {
            let text = |field: &str| run.get(field).map(Value::to_string).unwrap_or_default();
            let _ = writeln!(
                out,
                "{what} run: {} to {} ({:.1} min), load average {} at the start and {} at the end, {} passes",
                text("started").trim_matches('"'),
                text("finished").trim_matches('"'),
                run.get("minutes").and_then(Value::as_f64).unwrap_or(f64::NAN),
                text("load_average_start").trim_matches('"'),
                text("load_average_end").trim_matches('"'),
                text("passes"),
            );
        }
    }
    let _ = writeln!(
        out,
        "\nns per span (in brackets: the peer's figure over ours; above 1× we are cheaper)\n"
    );
    table_header(&mut out);
    for (prefix, title) in ROWS {
        let ours = get(&summary, &format!("{prefix}/ours"));
        let cells: Vec<String> = LIBRARIES
            .iter()
            .map(|(library, _)| {
                let Some(value) = get(&summary, &format!("{prefix}/{library}")) else {
                    return "—".to_owned();
                };
                let dropped = get(&summary, &drop_key(prefix, library)).unwrap_or(0.0);
                if dropped > DROP_LIMIT {
                    return format!("⚠ {:.1}% not delivered ({value:.1})", dropped * 100.0);
                }
                match ours {
                    _ if *library == "ours" => format!("**{value:.1}**"),
                    Some(ours) if ours > 0.0 => format!("{value:.1} ({:.2}×)", value / ours),
                    _ => format!("{value:.1}"),
                }
            })
            .collect();
        if cells.iter().all(|cell| cell == "—") {
            continue;
        }
        let _ = writeln!(out, "| {title} | {} |", cells.join(" | "));
    }
    out.push_str(
        "\n¹ fastrace's properties are format strings: its integer and its `&str` are each \
         formatted into a `String` on the calling thread.\n\
         ² fastrace: its children called with no root span; ours: under an `AlwaysOff` sampler.\n",
    );
    out.push_str(&instructions(&summary));
    out.push_str(&cheaper(&summary));
    out.push_str(&hot_counts(&summary, &details));
    out.push_str(&all_in_counts(&summary, &details));
    out.push_str(&targets::targets(&summary, &details));
    let path = target_dir().join("bench-report.md");
    if let Err(error) = fs::write(&path, &out) {
        eprintln!("cannot write {}: {error}", path.display());
    }
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
fn instructions(summary: &Map<String, Value>) -> String {
    let mut out = String::new();
    if !summary.keys().any(|key| key.starts_with("instr/")) {
        return out;
    }
    let _ = writeln!(
        out,
        "\nInstructions per span on the calling thread (callgrind, `scripts/instructions.sh`)\n"
    );
    table_header(&mut out);
    for (prefix, title) in ROWS {
        let case = prefix.rsplit('/').next().unwrap_or(prefix);
        let value = |library: &str| get(summary, &format!("instr/{case}/{library}"));
        let ours = value("ours");
        let cells: Vec<String> = LIBRARIES
            .iter()
            .map(|(library, _)| match (value(library), ours) {
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

/// Every row where a peer is cheaper than us, in time or in instructions.
fn cheaper(summary: &Map<String, Value>) -> String {
    let mut lines = Vec::new();
    for (prefix, title) in ROWS {
        let case = prefix.rsplit('/').next().unwrap_or(prefix);
        for (library, name) in LIBRARIES.iter().filter(|(library, _)| *library != "ours") {
            let pairs = [
                ("ns", format!("{prefix}/ours"), format!("{prefix}/{library}")),
                ("instructions", format!("instr/{case}/ours"), format!("instr/{case}/{library}")),
            ];
            for (unit, ours_key, peer_key) in pairs {
                if unit == "instructions" && prefix.starts_with("all_in/") {
                    continue;
                }
                let (Some(ours), Some(peer)) = (get(summary, &ours_key), get(summary, &peer_key))
                else {
                    continue;
                };
                if peer < ours {
                    let digits = usize::from(unit == "ns");
                    lines.push(format!(
                        "- {title}: {name} {peer:.digits$} {unit} against our {ours:.digits$} ({:.2}×)",
                        peer / ours
                    ));
                }
            }
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    format!("\nWhere a peer (or the floor) is cheaper than trace-runtime\n\n{}\n", lines.join("\n"))
}

/// Per hot-path row: page faults, peak RSS and what reached the sink.
fn hot_counts(summary: &Map<String, Value>, details: &Map<String, Value>) -> String {
    let mut out = String::new();
    let mut rows = Vec::new();
    for (key, run) in details.iter().filter(|(key, _)| key.starts_with("hot/")) {
        let Some(name) = key.strip_prefix("hot/") else { continue };
        if key == "hot/pipeline/ours" || key == "hot/passes" || run.get("made").is_none() {
            continue;
        }
        let field = |name: &str| run.get(name).and_then(Value::as_f64).unwrap_or(f64::NAN);
        let drop = get(summary, &format!("drop/{name}")).unwrap_or(f64::NAN);
        let mark = if drop > DROP_LIMIT { " ⚠" } else { "" };
        rows.push(format!(
            "| {name} | {:.1} | {:.2} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2}%{mark} |",
            field("ns_per_span"),
            field("faults_per_1k_spans"),
            field("peak_rss_kib") / 1024.0,
            field("made"),
            field("delivered"),
            field("dropped"),
            field("lost"),
            drop * 100.0,
        ));
    }
    if rows.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\nHot-path rows (the pass kept; drop % is the highest over the passes; \
         \"lost\": neither delivered nor counted as dropped)\n\n\
         | row | ns/span | minor faults per 1k spans | peak RSS MiB | spans to deliver | delivered | dropped | lost | drop % |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    out.push_str(&rows.join("\n"));
    out.push('\n');
    out
}

/// The all-in runs: delivered, dropped, lost, faults and peak RSS, and
/// memory per buffered span.
fn all_in_counts(summary: &Map<String, Value>, details: &Map<String, Value>) -> String {
    let mut out = String::new();
    let field = |run: &Value, name: &str| run.get(name).and_then(Value::as_f64).unwrap_or(f64::NAN);
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
                    "\nAll-in runs (the pass kept; drop % is the highest over the passes; \
                     \"lost\": neither delivered nor counted as dropped, which is every span \
                     fastrace and the OTel SDK did not deliver, as they count no drops)\n"
                );
                let _ = writeln!(
                    out,
                    "| all-in run | spans | delivered | dropped | lost | drop % | CPU ns/span (raw) | minor faults per 1k spans | wall s | peak RSS MiB |"
                );
                let _ = writeln!(
                    out,
                    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
                );
            }
            let drop = get(summary, &format!("drop/all_in_{mode}/{library}"))
                .unwrap_or_else(|| field(run, "drop_fraction"));
            let mark = if drop > DROP_LIMIT { " ⚠" } else { "" };
            let _ = writeln!(
                out,
                "| {key} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2}%{mark} | {:.1} | {:.2} | {:.2} | {:.1} |",
                field(run, "spans"),
                field(run, "delivered"),
                field(run, "dropped"),
                field(run, "lost"),
                drop * 100.0,
                field(run, "raw_cpu_ns_per_span"),
                field(run, "faults_per_1k_spans"),
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
