//! The `tracing` compat layers, all-in: process CPU time per `tracing` span
//! with two fields (`id = i`, `name = "x"`), every thread included (issue 15).
//!
//! `cargo bench --bench compat`. Each row runs in a child process of its own
//! (this binary, started with `--child ROW SPANS`): a registry with one
//! layer, traces of 101 `#[tracing::instrument]` spans (a root and 100
//! children with the two fields), made at a sustained rate (see [`drive`]),
//! then the pipeline flushed and what it delivered counted. The `registry`
//! row is the same loop with no layer: its figure includes the pacing's own
//! cost, and so does every other row's. CPU time is
//! `CLOCK_PROCESS_CPUTIME_ID` (all threads, living and exited), in ns.
//!
//! Rows: `registry` (the registry alone: the floor of every layer below),
//! `ours` (`compat::TracingLayer`, a tracer with the batching pipeline to a
//! sink that discards), `ours_unsampled` (the same, `Sampler::AlwaysOff`),
//! `otel` (`tracing-opentelemetry` with the OpenTelemetry SDK's batch
//! processor to an exporter that discards) and `fastrace`
//! (`fastrace-tracing`'s layer, a reporter that discards). The peers run
//! with their location and thread attributes off, so every row records the
//! same: name, two fields, timing, parent.
//!
//! Each row runs `BENCH_PASSES` times (default 3) and the lowest figure is
//! kept, as the machine is shared; with it, that pass's minor page faults
//! per 1,000 spans and peak RSS (`VmHWM`), and what the row delivered. `BENCH_SPANS` sets the spans per run
//! (default 1,010,000).

use std::hint::black_box;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing::instrument;
use tracing_subscriber::Registry;
use tracing_subscriber::layer::SubscriberExt;

use trace_runtime::compat::TracingLayer;
use trace_runtime::export::{BatchConfig, BatchSpanProcessor, ExportError, SpanExporter};
use trace_runtime::{Sampler, SpanData, Tracer};

mod child;

const CHILDREN: u64 = 100;
const SPANS_PER_TRACE: u64 = CHILDREN + 1;
const ROWS: [&str; 5] = ["registry", "ours", "ours_unsampled", "otel", "fastrace"];

/// Process CPU time, all threads, in nanoseconds.
fn cpu_nanos() -> u64 {
    #[repr(C)]
    struct Timespec {
        seconds: i64,
        nanos: i64,
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    unsafe extern "C" {
        fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
    }
    let mut time = Timespec { seconds: 0, nanos: 0 };
    // SAFETY: `time` is a valid, writable `struct timespec` (two 64-bit
    // fields on 64-bit Linux), and the clock ID is one Linux defines.
    let status = unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &raw mut time) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
    u64::try_from(time.seconds).unwrap_or(0) * 1_000_000_000
        + u64::try_from(time.nanos).unwrap_or(0)
}

#[instrument(level = "info", skip_all, fields(id = i, name = "x"))]
#[inline(never)]
fn child(i: u64) {}

#[instrument(level = "info")]
#[inline(never)]
fn root() {
    for i in 0..CHILDREN {
        child(black_box(i));
    }
}

/// A sink that drops what it is sent.
struct Discard;

impl SpanExporter for Discard {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        black_box(batch);
        Ok(())
    }
}

/// The OpenTelemetry exporter that counts and drops.
#[derive(Debug)]
struct OtelDiscard(Arc<AtomicU64>);

impl opentelemetry_sdk::trace::SpanExporter for OtelDiscard {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        black_box(batch);
        Ok(())
    }
}

/// The fastrace reporter that counts and drops.
struct FastraceDiscard(Arc<AtomicU64>);

impl fastrace::collector::Reporter for FastraceDiscard {
    fn report(&mut self, spans: Vec<fastrace::prelude::SpanRecord>) {
        self.0.fetch_add(spans.len() as u64, Ordering::Relaxed);
        black_box(spans);
    }
}

/// Traces per burst: after each, the thread sleeps until the schedule of
/// `BENCH_RATE` spans/s (default 250,000) says the next one is due, so the
/// pipelines' background threads get a core and nothing is dropped for
/// lack of CPU. A late burst moves the schedule on rather than catching up.
const BURST: u64 = 10;

fn drive(traces: u64, dispatch: tracing::Dispatch) {
    let rate = std::env::var("BENCH_RATE").ok().and_then(|r| r.parse().ok()).unwrap_or(250_000.0);
    #[allow(clippy::cast_precision_loss)]
    let period = Duration::from_secs_f64((BURST * SPANS_PER_TRACE) as f64 / rate);
    tracing::dispatcher::with_default(&dispatch, || {
        let mut next = Instant::now();
        for done in 0..traces {
            root();
            if done % BURST == BURST - 1 {
                next += period;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
        }
    });
}

fn wait_for(spans: u64, delivered: &AtomicU64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivered.load(Ordering::Relaxed) < spans && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    delivered.load(Ordering::Relaxed)
}

/// What one pass of a row measured.
struct Pass {
    cpu_nanos: u64,
    spans: u64,
    delivered: u64,
    minor_faults: u64,
    peak_rss_kib: u64,
}

/// Runs one row in this process.
fn child_run(row: &str, spans: u64) -> Pass {
    let traces = spans / SPANS_PER_TRACE;
    let spans = traces * SPANS_PER_TRACE;
    let [faults_at_start] = child::stat_fields([10]);
    let start = cpu_nanos();
    let delivered = match row {
        "registry" => {
            drive(traces, tracing::Dispatch::new(Registry::default()));
            spans
        }
        "ours" | "ours_unsampled" => {
            let sampler = if row == "ours" { Sampler::AlwaysOn } else { Sampler::AlwaysOff };
            let mut config = BatchConfig::default();
            config.report_interval = None;
            // The standard variable, which the OTel SDK's row reads too:
            // scripts/compat_instructions.sh sets a queue as long as the
            // run, since under valgrind both export threads fall behind and
            // a bounded queue drops what the count should include.
            if let Some(size) =
                std::env::var("OTEL_BSP_MAX_QUEUE_SIZE").ok().and_then(|v| v.parse().ok())
            {
                config.max_queue_size = size;
            }
            let exporter = Arc::new(BatchSpanProcessor::with_config(Discard, config));
            let tracer =
                Tracer::builder("bench").sampler(sampler).span_processor(exporter.clone()).build();
            tracer.install().expect("the only tracer in this process");
            drive(traces, tracing::Dispatch::new(Registry::default().with(TracingLayer::new())));
            tracer.shutdown();
            exporter.stats().exported
        }
        "otel" => {
            use opentelemetry::trace::TracerProvider as _;
            let delivered = Arc::new(AtomicU64::new(0));
            let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_batch_exporter(OtelDiscard(delivered.clone()))
                .build();
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("bench"))
                .with_location(false)
                .with_threads(false);
            drive(traces, tracing::Dispatch::new(Registry::default().with(layer)));
            let _ = provider.force_flush();
            let _ = provider.shutdown();
            delivered.load(Ordering::Relaxed)
        }
        "fastrace" => {
            let delivered = Arc::new(AtomicU64::new(0));
            fastrace::set_reporter(
                FastraceDiscard(delivered.clone()),
                fastrace::collector::Config::default(),
            );
            let layer = fastrace_tracing::FastraceCompatLayer::new()
                .with_location(false)
                .with_threads(false);
            drive(traces, tracing::Dispatch::new(Registry::default().with(layer)));
            fastrace::flush();
            wait_for(spans, &delivered)
        }
        other => panic!("unknown row {other}"),
    };
    let cpu_nanos = cpu_nanos() - start;
    let [faults_at_end] = child::stat_fields([10]);
    Pass {
        cpu_nanos,
        spans,
        delivered,
        minor_faults: faults_at_end - faults_at_start,
        peak_rss_kib: child::status_kib("VmHWM"),
    }
}

fn spawn_child(row: &str, spans: u64) -> Option<Pass> {
    let exe = std::env::current_exe().ok()?;
    let output = Command::new(exe).args(["--child", row, &spans.to_string()]).output().ok()?;
    if !output.status.success() {
        eprintln!("{row}: {}", String::from_utf8_lossy(&output.stderr));
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut numbers = text.split_whitespace().filter_map(|n| n.parse().ok());
    Some(Pass {
        cpu_nanos: numbers.next()?,
        spans: numbers.next()?,
        delivered: numbers.next()?,
        minor_faults: numbers.next()?,
        peak_rss_kib: numbers.next()?,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        let row = &args[at + 1];
        let spans = args[at + 2].parse().expect("spans");
        // The order scripts/compat_instructions.sh reads too.
        let Pass { cpu_nanos, spans, delivered, minor_faults, peak_rss_kib } =
            child_run(row, spans);
        println!("{cpu_nanos} {spans} {delivered} {minor_faults} {peak_rss_kib}");
        return;
    }
    // `cargo test --benches` runs this once, briefly.
    let quick = args.iter().any(|a| a == "--test");
    let env = |name: &str, default: u64| {
        std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    let spans = if quick { 10_100 } else { env("BENCH_SPANS", 1_010_000) };
    let passes = if quick { 1 } else { env("BENCH_PASSES", 3) };

    let mut figures = Vec::new();
    for row in ROWS {
        let best =
            (0..passes).filter_map(|_| spawn_child(row, spans)).min_by_key(|pass| pass.cpu_nanos);
        match best {
            Some(pass) => figures.push((row, pass)),
            None => println!("{row}: did not run"),
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let per_span = |pass: &Pass| pass.cpu_nanos as f64 / pass.spans as f64;
    let otel = figures.iter().find(|f| f.0 == "otel").map(|f| per_span(&f.1));
    println!("\n`tracing` span with two fields, all-in CPU per span (lowest of {passes} passes)");
    println!(
        "| {:<15} | {:>9} | {:>8} | {:>21} | {:>16} | {:>13} |",
        "layer", "ns/span", "× otel", "delivered", "faults/1k spans", "peak RSS MiB"
    );
    println!("|{:-<17}|{:->11}|{:->10}|{:->23}|{:->18}|{:->15}|", "", "", "", "", "", "");
    for (row, pass) in &figures {
        let per_span = per_span(pass);
        let ratio = otel.map_or_else(|| "-".to_owned(), |otel| format!("{:.2}", per_span / otel));
        let delivered = if *row == "registry" || *row == "ours_unsampled" {
            "-".to_owned()
        } else {
            format!("{} / {}", pass.delivered, pass.spans)
        };
        #[allow(clippy::cast_precision_loss)]
        let faults = pass.minor_faults as f64 * 1000.0 / pass.spans as f64;
        #[allow(clippy::cast_precision_loss)]
        let rss = pass.peak_rss_kib as f64 / 1024.0;
        println!(
            "| {row:<15} | {per_span:>9.1} | {ratio:>8} | {delivered:>21} | {faults:>16.2} | {rss:>13.1} |"
        );
    }
}
