//! The hot path: CPU time per span on the calling thread, for trace-runtime
//! and its peers in the same shapes, in a regime where every library's
//! collector keeps up (issues 7 and 12).
//!
//! `cargo bench --bench spans` (a filter after `--`, for example
//! `-- tag1/` or `-- fastrace`, runs the rows whose `case/library` name
//! contains it). Each row (a case and a library) runs in a child process of
//! its own: this binary, started with `--child CASE LIBRARY TRACES SAMPLE`,
//! so no library's backlog, thread or memory is charged to another's row.
//! The rows are interleaved, and the whole set is run `BENCH_PASSES` times
//! (3 by default).
//!
//! A child sets its library up with a sink that discards, makes `TRACES`
//! traces (`BENCH_TRACES`, 10,000 by default: 1,010,000 spans with the
//! default 100 children, `BENCH_CHILDREN`) in samples of `SAMPLE` traces
//! (`BENCH_SAMPLE_TRACES`, 10), after a warm-up of a tenth as many. Around
//! each sample it reads the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`)
//! and minor page faults (`getrusage(RUSAGE_THREAD)`); after each sample,
//! outside the measurement, it flushes the library's pipeline and waits
//! until every span made so far is delivered to the sink or counted as
//! dropped. A sample of 1,010 spans fits every pipeline's queue (ours and
//! OTel's hold 2,048 spans), so a collector that keeps up with one sample
//! drops nothing. The child reports ns per span (CPU time of all samples
//! over their spans), faults per 1k spans, peak RSS (`VmHWM`) and the spans
//! delivered, dropped and lost (neither delivered nor counted as dropped).
//!
//! Per row the figure kept is the lowest ns per span over the passes, with
//! that pass's faults; the drop fraction kept is the highest over the
//! passes. They go to `target/bench-summary.json` as `hot/<case>/<library>`,
//! `faults/<case>/<library>` and `drop/<case>/<library>`, with details
//! (every pass, the machine's load) in `target/bench-details.json`.
//! Without `--bench` (`cargo test --benches`), a smoke run that records
//! nothing.

mod child;
mod shapes;
mod summary;
mod thread_cpu;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use trace_runtime::export::encode_otlp_json;
use trace_runtime::{InMemoryCollector, Sampler, Tracer};

use child::{number, settle};
use shapes::{children, floor, ours, spans_per_trace};
use thread_cpu::{thread_cpu_ns, thread_minor_faults};

/// The cases and the libraries measured in each, in the order they run.
const CASES: [(&str, &[&str]); 7] = [
    ("untagged", &["ours", "floor", "fastrace", "tracing", "otel"]),
    ("tag1", &["ours", "fastrace", "tracing", "otel"]),
    ("tags2", &["ours", "fastrace", "tracing", "otel"]),
    ("async", &["ours", "fastrace", "tracing"]),
    ("root", &["ours", "fastrace", "tracing"]),
    ("unsampled", &["ours", "fastrace"]),
    ("no_tracer", &["ours", "fastrace", "tracing"]),
];

/// How long a drain waits for counts that stopped moving.
const STALL: Duration = Duration::from_secs(5);

/// One row's library, set up in the child.
struct Subject {
    /// Makes one trace.
    trace: Box<dyn FnMut()>,
    /// Instrumented calls one trace makes: the spans measured.
    calls: u64,
    /// Spans one trace should deliver to the sink (0 where nothing is
    /// recorded: unsampled, no tracer).
    recorded: u64,
    /// Flushes the pipeline and waits until the spans made so far (the
    /// argument) are delivered or counted as dropped; returns both counts.
    drain: Box<dyn FnMut(u64) -> (u64, u64)>,
}

impl Subject {
    /// A trace function under no tracer: nothing to deliver, nothing to drain.
    fn untraced(trace: fn(), calls: u64) -> Self {
        Self { trace: Box::new(trace), calls, recorded: 0, drain: Box::new(|_| (0, 0)) }
    }
}

/// Sets `library` up for `case`, as its users would.
fn subject(case: &str, library: &str) -> Result<Subject, String> {
    let unknown = || format!("no row {case}/{library}");
    let per_trace = if case == "root" { 1 } else { spans_per_trace() };
    let recorded = if matches!(case, "unsampled" | "no_tracer") { 0 } else { per_trace };
    Ok(match library {
        "ours" => {
            let trace: fn() = match case {
                "untagged" | "unsampled" | "no_tracer" => ours::root,
                "tag1" => ours::root_tag1,
                "tags2" => ours::root_tags2,
                "async" => ours::root_async,
                "root" => ours::lone_root,
                _ => return Err(unknown()),
            };
            if case == "no_tracer" {
                return Ok(Subject::untraced(trace, per_trace));
            }
            let sampler = if case == "unsampled" { Sampler::AlwaysOff } else { Sampler::AlwaysOn };
            let (tracer, exporter) = ours::tracer(sampler);
            tracer.install().map_err(|error| format!("{error:?}"))?;
            let drain = move |expected| {
                tracer.flush();
                settle(expected, STALL, || {
                    let stats = exporter.stats();
                    (stats.exported, stats.dropped + stats.failed_spans)
                })
            };
            Subject { trace: Box::new(trace), calls: per_trace, recorded, drain: Box::new(drain) }
        }
        "floor" if case == "untagged" => {
            floor::counts();
            let drain = |expected| settle(expected, STALL, floor::counts);
            Subject {
                trace: Box::new(floor::root),
                calls: per_trace,
                recorded,
                drain: Box::new(drain),
            }
        }
        "fastrace" => {
            let (trace, calls): (fn(), u64) = match case {
                "untagged" => (shapes::fastrace::root, per_trace),
                "tag1" => (shapes::fastrace::root_tag1, per_trace),
                "tags2" => (shapes::fastrace::root_tags2, per_trace),
                "async" => (shapes::fastrace::root_async, per_trace),
                "root" => (shapes::fastrace::lone_root, per_trace),
                // Children with no root: fastrace's path when nothing traces.
                "unsampled" | "no_tracer" => (shapes::fastrace::no_root, children()),
                _ => return Err(unknown()),
            };
            if case == "no_tracer" {
                return Ok(Subject::untraced(trace, calls));
            }
            let delivered = shapes::fastrace::install();
            let drain = move |expected| {
                fastrace::flush();
                settle(expected, STALL, || (delivered.load(Ordering::Relaxed), 0))
            };
            Subject { trace: Box::new(trace), calls, recorded, drain: Box::new(drain) }
        }
        "tracing" => {
            let trace: fn() = match case {
                "untagged" | "no_tracer" => shapes::tracing::root,
                "tag1" => shapes::tracing::root_tag1,
                "tags2" => shapes::tracing::root_tags2,
                "async" => shapes::tracing::root_async,
                "root" => shapes::tracing::lone_root,
                _ => return Err(unknown()),
            };
            if case == "no_tracer" {
                return Ok(Subject::untraced(trace, per_trace));
            }
            let (dispatch, delivered, dropped) = shapes::tracing::dispatch_for(per_trace);
            tracing::dispatcher::set_global_default(dispatch).map_err(|e| e.to_string())?;
            let drain = move |expected| {
                settle(expected, STALL, || {
                    (delivered.load(Ordering::Relaxed), dropped.load(Ordering::Relaxed))
                })
            };
            Subject { trace: Box::new(trace), calls: per_trace, recorded, drain: Box::new(drain) }
        }
        "otel" => {
            let root: fn(&opentelemetry_sdk::trace::SdkTracer) = match case {
                "untagged" => shapes::otel::root,
                "tag1" => shapes::otel::root_tag1,
                "tags2" => shapes::otel::root_tags2,
                _ => return Err(unknown()),
            };
            let (provider, tracer, delivered) = shapes::otel::tracer();
            let drain = move |expected| {
                let _ = provider.force_flush();
                settle(expected, STALL, || (delivered.load(Ordering::Relaxed), 0))
            };
            Subject {
                trace: Box::new(move || root(&tracer)),
                calls: per_trace,
                recorded,
                drain: Box::new(drain),
            }
        }
        _ => return Err(unknown()),
    })
}

/// One row, in this (child) process: `traces` traces in samples of `sample`.
fn child(case: &str, library: &str, traces: u64, sample: u64) -> Result<Value, String> {
    let mut subject = subject(case, library)?;
    // A root alone is one span: as many traces per sample as the other
    // cases have spans, so every sample is about the same size.
    let scale = if case == "root" { spans_per_trace() } else { 1 };
    let (traces, sample) = (traces * scale, (sample * scale).max(1));
    let samples = (traces / sample).max(1);
    let warm_up = (samples / 10).max(1);
    let started = Instant::now();
    let (mut cpu, mut faults, mut made) = (0, 0, 0);
    let mut per_sample = Vec::new();
    let mut counts = (0, 0);
    for round in 0..warm_up + samples {
        let (cpu_start, faults_start) = (thread_cpu_ns(), thread_minor_faults());
        for _ in 0..sample {
            (subject.trace)();
        }
        let (cpu_end, faults_end) = (thread_cpu_ns(), thread_minor_faults());
        made += sample * subject.recorded;
        counts = (subject.drain)(made);
        if round >= warm_up {
            cpu += cpu_end - cpu_start;
            faults += faults_end - faults_start;
            per_sample.push(cpu_end - cpu_start);
        }
    }
    let spans = samples * sample * subject.calls;
    let (delivered, dropped) = counts;
    let lost = made.saturating_sub(delivered + dropped);
    per_sample.sort_unstable();
    #[allow(clippy::cast_precision_loss)]
    let per_span = |ns: u64, spans: u64| ns as f64 / spans as f64;
    #[allow(clippy::cast_precision_loss)]
    let drop_fraction = if made == 0 { 0.0 } else { (dropped + lost) as f64 / made as f64 };
    Ok(json!({
        "case": case,
        "library": library,
        "spans": spans,
        "samples": samples,
        "spans_per_sample": sample * subject.calls,
        "ns_per_span": per_span(cpu, spans),
        "median_sample_ns_per_span": per_span(per_sample[per_sample.len() / 2], sample * subject.calls),
        "faults_per_1k_spans": per_span(faults * 1000, spans),
        "peak_rss_kib": child::status_kib("VmHWM"),
        "made": made,
        "delivered": delivered,
        "dropped": dropped,
        "lost": lost,
        "drop_fraction": drop_fraction,
        "wall_s": started.elapsed().as_secs_f64(),
    }))
}

/// The rows measured in this process, lowest of `passes`: one clock read
/// (ours is quanta's raw counter, as trace-runtime's `clock.rs` reads it;
/// the floor the bare `rdtsc`) and OTLP JSON encoding of real spans.
fn in_process(passes: u64) -> Vec<(String, f64)> {
    // The lowest thread CPU time per span of `repeats` calls of `f`.
    let lowest = |repeats: u64, spans: u64, f: &dyn Fn()| {
        let mut lowest = f64::INFINITY;
        for _ in 0..passes {
            let start = thread_cpu_ns();
            for _ in 0..repeats {
                f();
            }
            #[allow(clippy::cast_precision_loss)]
            let ns = (thread_cpu_ns() - start) as f64 / (repeats * spans) as f64;
            lowest = lowest.min(ns);
        }
        lowest
    };
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("bench").span_processor(collector.clone()).build();
    tracer.in_scope(|| (0..5).for_each(|_| ours::root_tags2()));
    let spans = collector.spans();
    let clock = quanta::Clock::new();
    let mut rows = vec![
        (
            "hot/clock/ours".to_owned(),
            lowest(1_000_000, 1, &|| {
                black_box(black_box(&clock).raw());
            }),
        ),
        (
            "export/otlp_json/ours".to_owned(),
            lowest(200, spans.len() as u64, &|| drop(black_box(encode_otlp_json(&spans)))),
        ),
    ];
    #[cfg(target_arch = "x86_64")]
    rows.push((
        "hot/clock/floor".to_owned(),
        lowest(1_000_000, 1, &|| {
            // SAFETY: `rdtsc` has no preconditions on x86_64.
            black_box(unsafe { core::arch::x86_64::_rdtsc() });
        }),
    ));
    rows
}

/// Every pass of one row, and the pass kept.
#[derive(Default)]
struct Row {
    runs: Vec<Value>,
}

impl Row {
    fn field(run: &Value, name: &str) -> f64 {
        run[name].as_f64().unwrap_or(f64::NAN)
    }

    /// The pass with the lowest ns per span.
    fn best(&self) -> Option<&Value> {
        self.runs
            .iter()
            .min_by(|a, b| Self::field(a, "ns_per_span").total_cmp(&Self::field(b, "ns_per_span")))
    }

    /// The highest drop fraction over the passes.
    fn worst_drop(&self) -> f64 {
        self.runs.iter().map(|run| Self::field(run, "drop_fraction")).fold(0.0, f64::max)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--child") {
        let result = match &args[at + 1..] {
            [case, library, traces, sample] => match (traces.parse(), sample.parse()) {
                (Ok(traces), Ok(sample)) => child(case, library, traces, sample),
                _ => Err(format!("TRACES and SAMPLE are numbers: {traces} {sample}")),
            },
            _ => Err("usage: --child CASE LIBRARY TRACES SAMPLE".to_owned()),
        };
        match result {
            Ok(figures) => println!("FIGURES {figures}"),
            Err(error) => {
                eprintln!("{error}");
                std::process::exit(1);
            }
        }
        return;
    }
    let benchmarking = args.iter().any(|arg| arg == "--bench");
    let filter = args.iter().skip(1).find(|arg| !arg.starts_with('-')).cloned();
    // The machine is shared: each pass meets other load, so the figure kept
    // for each row is its lowest over the passes.
    let passes = number("BENCH_PASSES", if benchmarking { 3 } else { 1 }).max(1);
    let traces = number("BENCH_TRACES", if benchmarking { 10_000 } else { 20 }).max(1);
    let sample = number("BENCH_SAMPLE_TRACES", 10).max(1);
    let (started, load_start) = (child::utc_now(), child::load_average());
    let clock = Instant::now();
    let (traces_arg, sample_arg) = (traces.to_string(), sample.to_string());
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut failed = Vec::new();
    for pass in 1..=passes {
        for (case, libraries) in CASES {
            for library in libraries {
                let name = format!("{case}/{library}");
                if filter.as_ref().is_some_and(|filter| !name.contains(filter.as_str())) {
                    continue;
                }
                eprintln!("hot path, pass {pass} of {passes}: {name}");
                let Some(run) = child::spawn(&[case, library, &traces_arg, &sample_arg]) else {
                    failed.push(name);
                    continue;
                };
                eprintln!("  {run}");
                rows.entry(name).or_default().runs.push(run);
            }
        }
    }
    let in_process = if filter.is_none() { in_process(passes) } else { Vec::new() };
    let mut figures = in_process.clone();
    let mut details = Vec::new();
    // A full run replaces every figure of this bench; a filtered one only
    // the rows it ran.
    let mut prefixes: Vec<String> = match filter {
        None => ["hot/", "export/"].into_iter().map(str::to_owned).collect(),
        Some(_) => Vec::new(),
    };
    if filter.is_none() {
        for (case, _) in CASES {
            prefixes.push(format!("faults/{case}/"));
            prefixes.push(format!("drop/{case}/"));
        }
    }
    for (name, row) in &rows {
        let Some(best) = row.best() else { continue };
        let mut best = best.clone();
        let by_pass =
            |field: &str| row.runs.iter().map(|run| Row::field(run, field)).collect::<Vec<_>>();
        best["ns_per_span_by_pass"] = json!(by_pass("ns_per_span"));
        best["drop_fraction_by_pass"] = json!(by_pass("drop_fraction"));
        figures.push((format!("hot/{name}"), Row::field(&best, "ns_per_span")));
        figures.push((format!("faults/{name}"), Row::field(&best, "faults_per_1k_spans")));
        figures.push((format!("drop/{name}"), row.worst_drop()));
        for prefix in ["hot", "faults", "drop"] {
            prefixes.push(format!("{prefix}/{name}"));
        }
        details.push((format!("hot/{name}"), best));
    }
    let more = json!({
        "passes": passes,
        "traces": traces,
        "sample_traces": sample,
        "children": children(),
        "filter": filter,
    });
    let run = child::run_record(&started, clock, &load_start, more);
    eprintln!("hot path run: {run}");
    details.push(("run/hot".to_owned(), run));
    prefixes.push("run/hot".to_owned());
    if benchmarking {
        let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
        summary::update(&prefixes, &figures, &details);
        println!("\n{}", summary::report());
    }
    if !failed.is_empty() {
        eprintln!("rows that failed: {}", failed.join(", "));
        std::process::exit(1);
    }
}
