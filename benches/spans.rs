//! The hot path: time per span on the calling thread, for trace-runtime and
//! its peers in the same shapes, in one run (issue 7).
//!
//! `cargo bench --bench spans` (criterion options after `--`, for example
//! `-- --measurement-time 1 untagged`; `BENCH_PASSES=1` for one pass).
//! Time is the calling thread's CPU time (`BENCH_CLOCK=wall` for wall
//! time, which on a shared machine also counts time spent waiting for a
//! core). Each figure is criterion's median for one iteration divided by
//! the spans in it, the lowest over the passes (3 by default); they are
//! written to `target/bench-summary.json` as `hot/<shape>/<library>`.

mod shapes;
mod summary;
mod thread_cpu;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, SystemTime};

use criterion::measurement::{Measurement, WallTime};
use criterion::{Bencher, BenchmarkGroup, Criterion, Throughput};
use serde_json::json;
use trace_runtime::export::{BatchStats, encode_otlp_json};
use trace_runtime::{InMemoryCollector, Sampler, Tracer};

use shapes::{SPANS_PER_TRACE, floor, ours};
use thread_cpu::ThreadCpu;

/// The benchmarks registered, with the spans one iteration makes.
#[derive(Default)]
struct Registered(Vec<(String, String, u64)>);

impl Registered {
    fn group<'c, M: Measurement>(
        &mut self,
        c: &'c mut Criterion<M>,
        name: &str,
        spans: u64,
    ) -> Group<'c, '_, M> {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(spans));
        Group { group, name: name.to_owned(), spans, registered: self }
    }
}

struct Group<'c, 'r, M: Measurement> {
    group: BenchmarkGroup<'c, M>,
    name: String,
    spans: u64,
    registered: &'r mut Registered,
}

impl<M: Measurement> Group<'_, '_, M> {
    fn bench(&mut self, library: &str, f: impl FnMut(&mut Bencher<'_, M>)) {
        self.group.bench_function(library, f);
        self.registered.0.push((self.name.clone(), library.to_owned(), self.spans));
    }

    fn finish(self) {
        self.group.finish();
    }
}

/// Runs the span shapes; returns what our pipeline did with the spans.
fn hot_paths<M: Measurement>(c: &mut Criterion<M>, registered: &mut Registered) -> BatchStats {
    // First, while no tracer and no `tracing` dispatcher exist in this
    // process (in the first pass; the lowest pass is kept): once one does,
    // `tracing` re-checks its callsites on every call.
    assert!(Tracer::global().is_none());
    let mut group = registered.group(c, "no_tracer", SPANS_PER_TRACE);
    group.bench("ours", |b| b.iter(ours::root));
    group.bench("fastrace", |b| b.iter(shapes::fastrace::no_root));
    group.bench("tracing", |b| b.iter(shapes::tracing::root));
    group.finish();

    let (sampled, pipeline) = ours::tracer(Sampler::AlwaysOn);
    let (unsampled, _) = ours::tracer(Sampler::AlwaysOff);
    shapes::fastrace::install();
    let (dispatch, _, _) = shapes::tracing::dispatch();
    let (provider, otel, _) = shapes::otel::tracer();
    let with_tracing = |b: &mut Bencher<'_, M>, f: fn()| {
        tracing::dispatcher::with_default(&dispatch, || b.iter(f));
    };

    let mut group = registered.group(c, "untagged", SPANS_PER_TRACE);
    group.bench("ours", |b| sampled.in_scope(|| b.iter(ours::root)));
    group.bench("floor", |b| b.iter(floor::root));
    group.bench("fastrace", |b| b.iter(shapes::fastrace::root));
    group.bench("tracing", |b| with_tracing(b, shapes::tracing::root));
    group.bench("otel", |b| b.iter(|| shapes::otel::root(&otel)));
    group.finish();

    let mut group = registered.group(c, "tag1", SPANS_PER_TRACE);
    group.bench("ours", |b| sampled.in_scope(|| b.iter(ours::root_tag1)));
    group.bench("fastrace", |b| b.iter(shapes::fastrace::root_tag1));
    group.bench("tracing", |b| with_tracing(b, shapes::tracing::root_tag1));
    group.bench("otel", |b| b.iter(|| shapes::otel::root_tag1(&otel)));
    group.finish();

    let mut group = registered.group(c, "tags2", SPANS_PER_TRACE);
    group.bench("ours", |b| sampled.in_scope(|| b.iter(ours::root_tags2)));
    group.bench("fastrace", |b| b.iter(shapes::fastrace::root_tags2));
    group.bench("tracing", |b| with_tracing(b, shapes::tracing::root_tags2));
    group.bench("otel", |b| b.iter(|| shapes::otel::root_tags2(&otel)));
    group.finish();

    let mut group = registered.group(c, "root", 1);
    group.bench("ours", |b| sampled.in_scope(|| b.iter(ours::lone_root)));
    group.finish();

    let mut group = registered.group(c, "async", SPANS_PER_TRACE);
    group.bench("ours", |b| sampled.in_scope(|| b.iter(ours::root_async)));
    group.finish();

    let mut group = registered.group(c, "unsampled", SPANS_PER_TRACE);
    group.bench("ours", |b| unsampled.in_scope(|| b.iter(ours::root)));
    group.bench("fastrace", |b| b.iter(shapes::fastrace::no_root));
    group.finish();

    let _ = provider.shutdown();
    sampled.shutdown();
    // Spans the queue had no room for were dropped on the calling thread
    // (which frees them there): a share of them shows in the figures.
    let stats = pipeline.stats();
    eprintln!("trace-runtime pipeline during the hot-path benches: {stats}");
    stats
}

fn clocks<M: Measurement>(c: &mut Criterion<M>, registered: &mut Registered) {
    let mut group = registered.group(c, "clock", 1);
    // Ours is quanta's raw counter read (see trace-runtime's clock.rs); the
    // floor is the bare instruction, for what quanta's dispatch adds.
    let clock = quanta::Clock::new();
    group.bench("ours", |b| b.iter(|| black_box(&clock).raw()));
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `rdtsc` has no preconditions on x86_64.
    group.bench("floor", |b| b.iter(|| unsafe { core::arch::x86_64::_rdtsc() }));
    group.finish();
}

fn encoding<M: Measurement>(c: &mut Criterion<M>, registered: &mut Registered) {
    // Real spans: five traces of the tagged shape, as the tracer made them.
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("bench").exporter(collector.clone()).build();
    tracer.in_scope(|| (0..5).for_each(|_| ours::root_tags2()));
    let spans = collector.spans();
    let mut group = registered.group(c, "export", spans.len() as u64);
    group.bench("otlp_json", |b| b.iter(|| encode_otlp_json(black_box(&spans))));
    group.finish();
}

/// Criterion's median for each benchmark run by this process, per span.
fn figures(directory: &Path, since: SystemTime, registered: &Registered) -> Vec<(String, f64)> {
    let mut figures = Vec::new();
    for (group, library, spans) in &registered.0 {
        let path = directory.join(group).join(library).join("new/estimates.json");
        let fresh = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified >= since);
        if !fresh {
            continue;
        }
        let estimates: serde_json::Value = match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
        {
            Ok(value) => value,
            Err(error) => {
                eprintln!("{}: {error}", path.display());
                continue;
            }
        };
        let Some(median) = estimates["median"]["point_estimate"].as_f64() else { continue };
        let name = match group.as_str() {
            // The encoder is a row of its own, not a span shape.
            "export" => format!("export/{library}/ours"),
            _ => format!("hot/{group}/{library}"),
        };
        #[allow(clippy::cast_precision_loss)]
        figures.push((name, median / *spans as f64));
    }
    figures
}

/// Runs every benchmark `passes` times, each pass with a criterion of its
/// own (so that its results replace the previous pass's); returns each
/// figure's medians (ns per span) and what our pipeline delivered and dropped.
fn run<M: Measurement>(
    criterion: impl Fn() -> Criterion<M>,
    passes: usize,
) -> (BTreeMap<String, Vec<f64>>, u64, u64) {
    let directory = summary::target_dir().join("criterion");
    let mut medians: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let (mut delivered, mut dropped) = (0, 0);
    for pass in 1..=passes {
        eprintln!("hot path: pass {pass} of {passes}");
        let mut c = criterion()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .configure_from_args()
            .output_directory(&directory);
        let started = SystemTime::now();
        let mut registered = Registered::default();
        let pipeline = hot_paths(&mut c, &mut registered);
        delivered += pipeline.exported;
        dropped += pipeline.dropped;
        clocks(&mut c, &mut registered);
        encoding(&mut c, &mut registered);
        c.final_summary();
        for (name, ns) in figures(&directory, started, &registered) {
            medians.entry(name).or_default().push(ns);
        }
    }
    (medians, delivered, dropped)
}

fn main() {
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    // This machine is shared: each pass meets other load, so the figure
    // kept for each benchmark is its lowest median over the passes.
    let passes: usize = match std::env::var("BENCH_PASSES") {
        Ok(value) => value.parse().expect("BENCH_PASSES is a number"),
        Err(_) if benchmarking => 3,
        Err(_) => 1,
    };
    let clock = std::env::var("BENCH_CLOCK").unwrap_or_else(|_| "cpu".to_owned());
    let (medians, delivered, dropped) = match clock.as_str() {
        "wall" => run(|| Criterion::default().with_measurement(WallTime), passes),
        "cpu" => run(|| Criterion::default().with_measurement(ThreadCpu), passes),
        other => panic!("BENCH_CLOCK={other}: `cpu` (the default) or `wall`"),
    };
    if benchmarking {
        let figures: Vec<(String, f64)> = medians
            .iter()
            .map(|(name, all)| (name.clone(), all.iter().copied().fold(f64::INFINITY, f64::min)))
            .collect();
        let details = [
            ("hot/pipeline/ours".to_owned(), json!({ "delivered": delivered, "dropped": dropped })),
            ("hot/passes".to_owned(), json!({ "clock": clock, "medians": medians })),
        ];
        let mut prefixes: Vec<&str> = figures.iter().map(|(name, _)| name.as_str()).collect();
        prefixes.extend(["hot/pipeline/", "hot/passes"]);
        summary::update(&prefixes, &figures, &details);
        println!("\n{}", summary::report());
    }
}
