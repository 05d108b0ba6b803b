//! The collector is down for the whole run of a service producing spans
//! continuously: memory stays flat, the application thread is never held
//! up, and the counters account for every span.
//!
//! Runs for 20 seconds (`COLLECTOR_DOWN_SECS` to change it; CI runs 60).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use trace_integration::rss_kib;
use trace_runtime::export::{BatchSpanProcessor, OtlpConfig, OtlpHttpExporter};
use trace_runtime::{Tracer, traced};

#[traced(tags(order = 7, region = "eu"))]
fn handle() {
    for _ in 0..9 {
        step();
    }
}

#[traced]
fn step() {}

/// A port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn a_collector_down_for_the_whole_run_costs_bounded_memory_and_loses_nothing_silently() {
    let seconds: u64 =
        std::env::var("COLLECTOR_DOWN_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let otlp = OtlpHttpExporter::new(OtlpConfig::with_endpoint(&endpoint)).unwrap();
    let batch = Arc::new(BatchSpanProcessor::new(otlp));
    let tracer = Tracer::builder("down").span_processor(Arc::clone(&batch)).build();
    let _scope = tracer.set_default();

    let start = Instant::now();
    let mut produced = 0u64;
    let mut slowest_request = Duration::ZERO;
    let mut rss_after_warm_up = None;
    let mut peak_rss = 0;
    let mut last_sample = start;
    // Bursts of 100 requests (1000 spans) then a pause: a busy service,
    // at a rate well beyond what a working exporter would be asked for.
    while start.elapsed() < Duration::from_secs(seconds) {
        for _ in 0..100 {
            let request = Instant::now();
            handle();
            slowest_request = slowest_request.max(request.elapsed());
            produced += 10;
        }
        std::thread::sleep(Duration::from_millis(2));
        if last_sample.elapsed() >= Duration::from_secs(1) {
            last_sample = Instant::now();
            if let Some((rss, _)) = rss_kib() {
                peak_rss = peak_rss.max(rss);
                if start.elapsed() >= Duration::from_secs(seconds.min(10) / 2)
                    && rss_after_warm_up.is_none()
                {
                    rss_after_warm_up = Some(rss);
                }
            }
        }
    }
    let elapsed = start.elapsed();
    let (rss_end, hwm) = rss_kib().unwrap_or((0, 0));
    assert!(batch.shutdown_with_timeout(Duration::from_secs(60)), "shutdown completes");
    let stats = batch.stats();
    eprintln!(
        "collector down for {elapsed:.0?}: {produced} spans produced, {stats}; \
         RSS after warm-up {rss_after_warm_up:?} KiB, at end {rss_end} KiB, peak {hwm} KiB; \
         slowest request {slowest_request:?}"
    );

    assert!(produced > 100_000, "the application kept producing: {produced} spans");
    assert_eq!(stats.exported, 0);
    assert_eq!(
        stats.exported + stats.dropped + stats.failed_spans,
        produced,
        "every span is accounted for"
    );
    assert_eq!(tracer.stats().spans_exported, produced);
    if let Some(warm) = rss_after_warm_up {
        // The queue is bounded (2048 spans, a few hundred bytes each): memory
        // must not grow with the run's length.
        let growth = rss_end.saturating_sub(warm);
        assert!(growth < 32 * 1024, "RSS grew by {growth} KiB after warm-up (peak {peak_rss} KiB)");
    }
    // Retries wait 1 to 5 seconds and an export may take its 10 s timeout,
    // but none of it may happen on the application thread: a request that
    // took a second was held up by the exporter (a debug build on a busy
    // 2-core machine stays far below: about 20 ms at worst).
    assert!(slowest_request < Duration::from_secs(1), "a request took {slowest_request:?}");
}
