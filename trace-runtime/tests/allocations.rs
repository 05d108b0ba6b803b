//! Opening and closing a span allocates nothing on the application thread
//! once the thread's buffers are warm: untagged, with one tag, and under an
//! unsampled trace. Counted by a global allocator that counts, per thread,
//! the allocations made while a test asks it to.
//!
//! What may allocate is a hand-over, not a span: a thread that gives its
//! record buffer to the exporter takes an emptied one back from a pool the
//! batch thread refills, and makes a new one if the batch thread has not
//! caught up yet. A request of 101 spans is two hand-overs here (the
//! buffer holds 64 closed records under an open one).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use trace_runtime::export::{BatchConfig, BatchSpanProcessor, ExportError, SpanExporter};
use trace_runtime::{Sampler, SpanData, Tracer, traced};

struct Counting;

thread_local! {
    /// Allocations made on this thread while `COUNTING` is set.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // `try_with`: the allocator also runs during thread teardown.
        let _ = COUNTING.try_with(|counting| {
            if counting.get() {
                let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
            }
        });
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations_in(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.set(0);
    COUNTING.set(true);
    f();
    COUNTING.set(false);
    ALLOCATIONS.get()
}

/// A sink that counts what it is sent.
struct Count(Arc<AtomicU64>);

impl SpanExporter for Count {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

fn tracer(sampler: Sampler) -> (Tracer, Arc<BatchSpanProcessor>, Arc<AtomicU64>) {
    let delivered = Arc::new(AtomicU64::new(0));
    let mut config = BatchConfig::default();
    config.report_interval = None;
    config.max_queue_size = 1 << 20;
    let exporter = Arc::new(BatchSpanProcessor::with_config(Count(delivered.clone()), config));
    let tracer = Tracer::builder("alloc").sampler(sampler).span_processor(exporter.clone()).build();
    (tracer, exporter, delivered)
}

#[traced]
#[inline(never)]
fn untagged() {}

#[traced(tags(id = id))]
#[inline(never)]
fn one_tag(id: u64) {}

#[traced]
fn request(tagged: bool) {
    for id in 0..100 {
        if tagged { one_tag(id) } else { untagged() }
    }
}

/// The test threads share one process: one test at a time, so that a
/// batch thread's allocations never land on a counted thread.
static SERIAL: Mutex<()> = Mutex::new(());

fn per_span(sampler: Sampler, tagged: bool) -> (u64, u64) {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (tracer, exporter, delivered) = tracer(sampler);
    let counted = tracer.in_scope(|| {
        // Warm-up: the thread's stack and buffers reach their size, and
        // buffers come back from the batch thread to be reused.
        for _ in 0..50 {
            request(tagged);
        }
        exporter.flush_with_timeout(std::time::Duration::from_secs(10));
        allocations_in(|| {
            for _ in 0..20 {
                request(tagged);
            }
        })
    });
    tracer.shutdown();
    (counted, delivered.load(Ordering::Relaxed))
}

/// Hand-overs in the 20 counted requests: at most one allocation each.
const HAND_OVERS: u64 = 20 * 2;

#[test]
fn an_untagged_sampled_span_allocates_nothing() {
    let (allocations, delivered) = per_span(Sampler::AlwaysOn, false);
    assert_eq!(delivered, 70 * 101, "every span reached the sink");
    assert!(allocations <= HAND_OVERS, "{allocations} allocations for 2020 spans");
}

#[test]
fn a_span_with_one_tag_allocates_nothing() {
    let (allocations, delivered) = per_span(Sampler::AlwaysOn, true);
    assert_eq!(delivered, 70 * 101);
    assert!(allocations <= HAND_OVERS, "{allocations} allocations for 2020 tagged spans");
}

#[test]
fn an_unsampled_span_allocates_nothing() {
    let (allocations, delivered) = per_span(Sampler::AlwaysOff, true);
    assert_eq!(delivered, 0);
    assert_eq!(allocations, 0, "allocations for 2020 unsampled spans");
}
