//! The all-in cost: process CPU time per span, every background thread
//! included, with peak RSS, minor page faults and delivered/dropped counts
//! (issues 7 and 12).
//!
//! `cargo bench --bench spans_all_in`. Each library runs in a child process
//! of its own (this binary, started with `--child LIBRARY MODE SPANS`), so
//! peak RSS and global state do not mix. A child makes `SPANS` spans in
//! traces of 101 (`BENCH_CHILDREN` + 1), either paced at a sustained rate (`paced`: bursts of 5
//! traces, then a sleep until the schedule of `BENCH_RATE` spans/s, default
//! 1M, far below what each pipeline drains on an idle core) or as fast as
//! it can (`unpaced`), then flushes its pipeline and reports what it
//! delivered and dropped; spans neither delivered nor counted as dropped
//! (after the counts stop moving for 2 s) are "lost". fastrace and the OTel
//! SDK count no drops, so every span they did not deliver is lost. CPU time is utime + stime from
//! `/proc/self/stat`, which counts threads that have exited too; peak RSS is
//! `VmHWM` from `/proc/self/status`. The figure per span is net of the same
//! loop run without tracing (`none`), which is the pacing's own cost.
//!
//! Every run is made `BENCH_PASSES` times (default 3) and the lowest figure
//! kept, as the machine is shared; the drop fraction kept is the highest.
//! `BENCH_SPANS` overrides the spans per run (default 5,050,000). Figures go
//! to `target/bench-summary.json` as `all_in/<mode>/<library>`,
//! `drop/all_in_<mode>/<library>` (fraction dropped or lost) and
//! `faults/all_in_<mode>/<library>` (minor faults per 1k spans, process).
//!
//! The run exits with status 1 when a library that counts its drops (ours,
//! the floor, the `tracing` layer) has delivered + dropped ≠ made, or any
//! library has delivered + dropped > made: a counting error.
//!
//! `spans_all_in --instructions` (run by `scripts/instructions.sh`) copies
//! `target/instructions.json` into the summary as `instr/<case>/<library>`.

mod child;
mod shapes;
mod summary;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use trace_runtime::export::BatchConfig;
use trace_runtime::{Sampler, SpanData};

use child::{settle, spawn, status_kib};
use shapes::{floor, ours, spans_per_trace};

/// Traces per burst in the paced mode.
const BURST: u64 = 5;
/// The paced mode's rate, spans per second.
fn rate() -> f64 {
    std::env::var("BENCH_RATE").ok().and_then(|rate| rate.parse().ok()).unwrap_or(1_000_000.0)
}

/// Libraries that count the spans they drop; for the others, a span not
/// delivered is lost without a count.
const COUNTS_DROPS: [&str; 4] = ["none", "ours", "floor", "tracing"];

/// Process CPU time (all threads, living and exited), in nanoseconds, and
/// minor page faults.
fn cpu_nanos_and_faults() -> (u64, u64) {
    // User and system time are in clock ticks (USER_HZ, 100 on Linux).
    let [minor_faults, user, system] = child::stat_fields([10, 14, 15]);
    ((user + system) * 10_000_000, minor_faults)
}

/// Runs `trace` until `spans` spans are made, paced or not. Paced, a burst
/// of [`BURST`] traces starts every `BURST × 101 / rate` seconds; a late
/// burst moves the schedule on rather than being caught up with, so the
/// rate never goes above the target.
fn drive(spans: u64, paced: bool, mut trace: impl FnMut()) {
    let traces = spans / spans_per_trace();
    #[allow(clippy::cast_precision_loss)]
    let period = Duration::from_secs_f64((BURST * spans_per_trace()) as f64 / rate());
    let mut next = Instant::now();
    let mut done = 0;
    while done < traces {
        let burst = BURST.min(traces - done);
        for _ in 0..burst {
            trace();
        }
        done += burst;
        if paced {
            next += period;
            let now = Instant::now();
            match next.checked_duration_since(now) {
                Some(wait) => std::thread::sleep(wait),
                None => next = now,
            }
        }
    }
}

/// How long the counts may stay still before the spans missing are lost.
const STALL: Duration = Duration::from_secs(2);

/// The same loop without tracing: what pacing costs by itself.
#[inline(never)]
fn untraced_trace() {
    #[inline(never)]
    fn child() {
        std::hint::black_box(());
    }
    for _ in 0..shapes::children() {
        child();
    }
}

/// One run in this process; returns its figures.
fn child(library: &str, mode: &str, spans: u64) -> Value {
    let paced = mode == "paced";
    let spans = spans / spans_per_trace() * spans_per_trace();
    let (cpu_start, faults_start) = cpu_nanos_and_faults();
    let wall_start = Instant::now();
    let (delivered, dropped) = match library {
        "none" => {
            drive(spans, paced, untraced_trace);
            (spans, 0)
        }
        "floor" => {
            floor::counts();
            drive(spans, paced, floor::root);
            settle(spans, STALL, floor::counts)
        }
        "ours" => {
            let (tracer, exporter) = ours::tracer(Sampler::AlwaysOn);
            tracer.install().expect("the only tracer in this process");
            drive(spans, paced, ours::root);
            tracer.shutdown();
            let stats = exporter.stats();
            (stats.exported, stats.dropped + stats.failed_spans)
        }
        "fastrace" => {
            let delivered = shapes::fastrace::install();
            drive(spans, paced, shapes::fastrace::root);
            fastrace::flush();
            // fastrace counts no drops: whatever did not arrive is lost.
            settle(spans, STALL, || (delivered.load(Ordering::Relaxed), 0))
        }
        "tracing" => {
            let (dispatch, delivered, dropped) = shapes::tracing::dispatch();
            tracing::dispatcher::set_global_default(dispatch).expect("the only subscriber");
            drive(spans, paced, shapes::tracing::root);
            settle(spans, STALL, || {
                (delivered.load(Ordering::Relaxed), dropped.load(Ordering::Relaxed))
            })
        }
        "otel" => {
            let (provider, tracer, delivered) = shapes::otel::tracer();
            drive(spans, paced, || shapes::otel::root(&tracer));
            let _ = provider.force_flush();
            let _ = provider.shutdown();
            // The SDK counts no drops for us: whatever did not arrive is lost.
            (delivered.load(Ordering::Relaxed), 0)
        }
        other => panic!("unknown library {other}"),
    };
    let (cpu_end, faults_end) = cpu_nanos_and_faults();
    let cpu = cpu_end - cpu_start;
    let lost = spans.saturating_sub(delivered + dropped);
    #[allow(clippy::cast_precision_loss)]
    let figures = json!({
        "spans": spans,
        "delivered": delivered,
        "dropped": dropped,
        "lost": lost,
        "drop_fraction": (dropped + lost) as f64 / spans as f64,
        "counts_drops": COUNTS_DROPS.contains(&library),
        "faults_per_1k_spans": (faults_end - faults_start) as f64 * 1000.0 / spans as f64,
        "cpu_ns": cpu,
        "raw_cpu_ns_per_span": cpu as f64 / spans as f64,
        "wall_s": wall_start.elapsed().as_secs_f64(),
        "peak_rss_kib": status_kib("VmHWM"),
    });
    figures
}

/// Memory per span held in the queue: a batch exporter that never sends
/// until shutdown, filled with `spans` spans of the given shape.
fn buffered(shape: &str, spans: u64) -> Value {
    let traces = spans / spans_per_trace();
    let spans = traces * spans_per_trace();
    let capacity = usize::try_from(spans).expect("spans fit in usize") + 1;
    let mut config = BatchConfig::default();
    config.max_queue_size = capacity;
    config.max_export_batch_size = capacity;
    config.scheduled_delay = Duration::from_secs(3600);
    config.report_interval = None;
    let (tracer, exporter) = ours::batch_tracer(Sampler::AlwaysOn, config);
    let trace = if shape == "tags2" { ours::root_tags2 } else { ours::root };
    // Warm up allocator and thread-locals outside the measurement.
    tracer.in_scope(trace);
    std::thread::sleep(Duration::from_millis(100));
    let (rss_before, peak_before) = (status_kib("VmRSS"), status_kib("VmHWM"));
    tracer.in_scope(|| (1..traces).for_each(|_| trace()));
    // Let the worker move every queued batch into its own.
    std::thread::sleep(Duration::from_millis(300));
    let (rss_after, peak_after) = (status_kib("VmRSS"), status_kib("VmHWM"));
    let held = spans - spans_per_trace();
    assert_eq!(exporter.stats().exported, 0, "nothing was sent while measuring");
    tracer.shutdown();
    #[allow(clippy::cast_precision_loss)]
    let per_span =
        |before: u64, after: u64| (after.saturating_sub(before) * 1024) as f64 / held as f64;
    json!({
        "spans": held,
        "rss_bytes_per_span": per_span(rss_before, rss_after),
        "peak_bytes_per_span": per_span(peak_before.max(rss_before), peak_after),
        "size_of_span_data": std::mem::size_of::<SpanData>(),
    })
}

/// What `scripts/instructions.sh` counts: everything the calling thread
/// does for one trace (callgrind's inclusive cost of this function).
#[inline(never)]
fn measured(trace: &mut dyn FnMut()) {
    trace();
}

/// Runs `traces` traces, each [`measured`], after one that is not,
/// yielding between them so that
/// under valgrind, which runs one thread at a time, the library's
/// background thread keeps up: the counts are then the calling thread's
/// work alone, not the freeing of spans a full queue dropped.
fn measure(traces: u64, trace: &mut dyn FnMut()) {
    measure_draining(traces, trace, &mut || {});
}

/// [`measure`], calling `drain` (outside the count) after every tenth trace:
/// for a library whose queue to its background thread is bounded and
/// cannot be made bigger, so that the count stays that of a pipeline that
/// keeps up, as [`measure`]'s yields do not ensure under valgrind.
fn measure_draining(traces: u64, trace: &mut dyn FnMut(), drain: &mut dyn FnMut()) {
    // One trace outside the count: one-time set-up (the clock's
    // calibration, thread-locals, first allocations) is not a span's cost.
    trace();
    std::thread::yield_now();
    for done in 1..=traces {
        measured(trace);
        std::thread::yield_now();
        if done % 10 == 0 {
            drain();
        }
    }
}

/// A driver for `valgrind --tool=callgrind`: `traces` traces of one shape
/// of one library on this thread, set up as the hot-path bench does.
fn profile(library: &str, shape: &str, traces: u64) -> Value {
    let mut spans = traces * spans_per_trace();
    match (library, shape) {
        ("ours", "otlp_json") => {
            let collector = trace_runtime::InMemoryCollector::new();
            let tracer =
                trace_runtime::Tracer::builder("bench").span_processor(collector.clone()).build();
            tracer.in_scope(|| (0..traces).for_each(|_| ours::root_tags2()));
            let batch = collector.spans();
            let mut bytes = 0;
            measured(&mut || bytes = trace_runtime::export::encode_otlp_json(&batch).len());
            return json!({ "library": library, "shape": shape, "spans": spans, "bytes": bytes });
        }
        // No tracer built in the process, as in a program whose libraries
        // are instrumented but which never sets tracing up.
        ("ours", "no_tracer") => measure(traces, &mut ours::root),
        ("ours", _) => {
            let sampler = if shape == "unsampled" { Sampler::AlwaysOff } else { Sampler::AlwaysOn };
            // Under callgrind the threads take turns, so the batch thread
            // can fall behind; a queue that holds the whole run keeps the
            // count to what the calling thread does when the exporter keeps
            // up, without the freeing of batches a full queue drops.
            let mut config = trace_runtime::export::BatchConfig::default();
            config.max_queue_size = usize::try_from(spans + traces).expect("fits");
            config.report_interval = None;
            let (tracer, _exporter) = ours::batch_tracer(sampler, config);
            let mut trace = match shape {
                "untagged" | "unsampled" => ours::root,
                "tag1" => ours::root_tag1,
                "tags2" => ours::root_tags2,
                "root" => ours::lone_root,
                "async" => ours::root_async,
                // Not in the summary (no peer row): the `Pending` path.
                "async_wait" => ours::root_async_wait,
                other => panic!("unknown shape {other}"),
            };
            if shape == "root" {
                spans = traces;
            }
            tracer.in_scope(|| measure(traces, &mut trace));
            tracer.shutdown();
        }
        ("floor", "untagged") => measure(traces, &mut floor::root),
        ("fastrace", _) => {
            // With no reporter set, fastrace records nothing.
            if shape != "no_tracer" {
                shapes::fastrace::install();
            }
            let mut trace = match shape {
                "untagged" => shapes::fastrace::root,
                "tag1" => shapes::fastrace::root_tag1,
                "tags2" => shapes::fastrace::root_tags2,
                "async" => shapes::fastrace::root_async,
                "root" => shapes::fastrace::lone_root,
                // Children with no root: fastrace's path when nothing traces.
                "unsampled" | "no_tracer" => {
                    spans = traces * shapes::children();
                    shapes::fastrace::no_root
                }
                other => panic!("unknown shape {other}"),
            };
            if shape == "root" {
                spans = traces;
            }
            // fastrace's command queue (10240 entries a thread, a constant)
            // fills when its collector thread falls behind, as it does in
            // some runs under valgrind, and every span then also pays the
            // overflow path (a `VecDeque` and a wake-up): 1421 instead of
            // 1010 per `async fn` span. `flush` drains it on a thread of
            // its own, outside the count, as our queue holds the whole run.
            measure_draining(traces, &mut trace, &mut fastrace::flush);
            fastrace::flush();
        }
        ("tracing", _) => {
            let mut trace = match shape {
                "untagged" | "no_tracer" => shapes::tracing::root,
                "tag1" => shapes::tracing::root_tag1,
                "tags2" => shapes::tracing::root_tags2,
                "async" => shapes::tracing::root_async,
                "root" => shapes::tracing::lone_root,
                other => panic!("unknown shape {other}"),
            };
            if shape == "root" {
                spans = traces;
            }
            if shape == "no_tracer" {
                measure(traces, &mut trace);
            } else {
                let per_trace = if shape == "root" { 1 } else { spans_per_trace() };
                let (dispatch, _, _) = shapes::tracing::dispatch_for(per_trace);
                tracing::dispatcher::with_default(&dispatch, || measure(traces, &mut trace));
            }
        }
        ("otel", _) => {
            let (provider, tracer, _) = shapes::otel::tracer();
            let trace = match shape {
                "untagged" => shapes::otel::root,
                "tag1" => shapes::otel::root_tag1,
                "tags2" => shapes::otel::root_tags2,
                other => panic!("unknown shape {other}"),
            };
            measure(traces, &mut || trace(&tracer));
            let _ = provider.shutdown();
        }
        other => panic!("unknown library and shape {other:?}"),
    }
    json!({ "library": library, "shape": shape, "spans": spans })
}

fn run_child(args: &[String]) -> Value {
    match args {
        [kind, library, shape, traces] if kind == "profile" => {
            profile(library, shape, traces.parse().expect("traces"))
        }
        [kind, shape, spans] if kind == "buffered" => {
            buffered(shape, spans.parse().expect("spans"))
        }
        [library, mode, spans] => child(library, mode, spans.parse().expect("spans")),
        _ => panic!(
            "usage: --child LIBRARY MODE SPANS | buffered SHAPE SPANS | profile LIBRARY SHAPE TRACES"
        ),
    }
}

/// Whether a child's counts add up: a library that counts its drops must
/// account for every span, and no library may account for more than made.
fn counting_error(run: &Value) -> Option<String> {
    let field = |name: &str| run[name].as_u64().unwrap_or(0);
    let (spans, delivered, dropped) = (field("spans"), field("delivered"), field("dropped"));
    // A library that counts no drops (fastrace, the OTel SDK) fails here
    // too when spans went missing: lost without a count is what this run
    // exists to show. The figures are written before the exit.
    let lost =
        if run["counts_drops"].as_bool().unwrap_or(false) { "" } else { " (counts no drops)" };
    (delivered + dropped != spans)
        .then(|| format!("{spans} spans made, {delivered} delivered + {dropped} dropped{lost}"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--child") {
        println!("FIGURES {}", run_child(&args[at + 1..]));
        return;
    }
    if args.iter().any(|arg| arg == "--instructions") {
        let copied = summary::copy_instructions();
        eprintln!("copied {copied} instruction counts into the summary");
        println!("\n{}", summary::report());
        return;
    }
    // Without `--bench` (`cargo test --benches`), a smoke run that records nothing.
    let benchmarking = args.iter().any(|arg| arg == "--bench");
    let number = |name: &str, bench: u64, smoke: u64| {
        child::number(name, if benchmarking { bench } else { smoke })
    };
    let spans = number("BENCH_SPANS", 5_050_000, 10_100);
    // The machine is shared: each pass meets other load, so the figure kept
    // for each run is its lowest over the passes.
    let passes = number("BENCH_PASSES", 3, 1).max(1);
    let (started, load_start) = (child::utc_now(), child::load_average());
    let clock = Instant::now();
    let (spans_arg, long_arg) = (spans.to_string(), (spans * 4).to_string());
    let mut runs: Vec<(&str, &str, &str)> = Vec::new();
    for mode in ["paced", "unpaced"] {
        for library in ["none", "floor", "ours", "fastrace", "tracing", "otel"] {
            runs.push((library, mode, &spans_arg));
        }
    }
    runs.push(("ours", "unpaced_4x", &long_arg));
    // Per run name: the lowest CPU per span net of that pass's pacing
    // baseline, the run it came from, every pass's net figure and the
    // highest drop fraction.
    let mut best: BTreeMap<String, (f64, Value, Vec<f64>, f64)> = BTreeMap::new();
    let mut errors = Vec::new();
    for pass in 1..=passes {
        let mut baselines = BTreeMap::new();
        for &(library, mode, count) in &runs {
            let child_mode = if mode == "unpaced_4x" { "unpaced" } else { mode };
            let name = format!("{mode}/{library}");
            eprintln!("all-in, pass {pass} of {passes}: {library}, {mode}, {count} spans");
            let Some(run) = spawn(&[library, child_mode, count]) else {
                errors.push(format!("{name}: the child failed"));
                continue;
            };
            eprintln!("  {run}");
            if let Some(error) = counting_error(&run) {
                errors.push(format!("{name}, pass {pass}: {error}"));
            }
            let per_span = run["raw_cpu_ns_per_span"].as_f64().unwrap_or(f64::NAN);
            let net = if library == "none" {
                baselines.insert(mode, per_span);
                per_span
            } else {
                per_span - baselines.get(child_mode).copied().unwrap_or(0.0)
            };
            let drop = run["drop_fraction"].as_f64().unwrap_or(f64::NAN);
            let entry = best.entry(name).or_insert((f64::INFINITY, Value::Null, Vec::new(), 0.0));
            entry.2.push(net);
            entry.3 = entry.3.max(drop);
            if net < entry.0 {
                (entry.0, entry.1) = (net, run);
            }
        }
    }
    let mut figures = Vec::new();
    let mut details = Vec::new();
    for (name, (net, mut run, all, drop)) in best {
        run["net_cpu_ns_per_span_by_pass"] = json!(all);
        if !name.ends_with("/none") {
            figures.push((format!("all_in/{name}"), net));
            figures.push((format!("drop/all_in_{name}"), drop));
            let faults = run["faults_per_1k_spans"].as_f64().unwrap_or(f64::NAN);
            figures.push((format!("faults/all_in_{name}"), faults));
        }
        details.push((format!("all_in/{name}"), run));
    }
    for shape in ["untagged", "tags2"] {
        eprintln!("buffered: {shape}");
        if let Some(run) = spawn(&["buffered", shape, "202000"]) {
            eprintln!("  {run}");
            details.push((format!("buffered/{shape}"), run));
        }
    }
    let more = json!({
        "passes": passes,
        "spans": spans,
        "children": shapes::children(),
        "counting_errors": errors,
    });
    let run = child::run_record(&started, clock, &load_start, more);
    eprintln!("all-in run: {run}");
    details.push(("run/all_in".to_owned(), run));
    if benchmarking {
        summary::update(
            &["all_in/", "buffered/", "drop/all_in_", "faults/all_in_", "run/all_in"],
            &figures,
            &details,
        );
        println!("\n{}", summary::report());
    }
    if !errors.is_empty() {
        eprintln!("spans not accounted for (delivered + dropped ≠ made):");
        for error in &errors {
            eprintln!("  {error}");
        }
        std::process::exit(1);
    }
}
