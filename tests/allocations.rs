//! Spans allocate nothing on the thread that opens them once it is warm
//! (issue 13): a sampled span, untagged or with one integer tag, writes into
//! the thread's reused buffer, and an unsampled one writes nothing at all.
//! Counted by a global allocator that counts the allocations of the thread
//! that asks for them (the export thread's are not this test's concern).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use trace_runtime::export::SpanBatch;
use trace_runtime::{Sampler, SpanProcessor, Tracer, traced};

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // After the thread's locals are gone (thread exit) there is nothing to count.
    let _ = ALLOCATIONS.try_with(|allocations| allocations.set(allocations.get() + 1));
}

// SAFETY: every call is forwarded unchanged to `System`.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Allocations this thread made while `f` ran.
fn allocations_in(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.get();
    f();
    ALLOCATIONS.get() - before
}

/// Counts the spans it is handed and drops them (the batch's buffer goes
/// back to the pool the application threads take theirs from).
#[derive(Default)]
struct Count(std::sync::atomic::AtomicUsize);

impl SpanProcessor for Count {
    fn on_end(&self, batch: SpanBatch) {
        self.0.fetch_add(batch.len(), std::sync::atomic::Ordering::Relaxed);
    }
}

const CHILDREN: usize = 1000;

#[traced]
fn untagged() {}

#[traced(tags(id = i))]
fn tagged(i: u64) {}

/// Opens [`CHILDREN`] spans of each kind under a root, and returns the
/// allocations made while the children opened and closed (the root's
/// hand-over is not a span's cost).
#[traced]
fn request() -> (u64, u64) {
    let untagged_allocations = allocations_in(|| (0..CHILDREN).for_each(|_| untagged()));
    let tagged_allocations = allocations_in(|| (0..CHILDREN as u64).for_each(tagged));
    (untagged_allocations, tagged_allocations)
}

fn tracer(sampler: Sampler) -> (Tracer, std::sync::Arc<Count>) {
    let count = std::sync::Arc::new(Count::default());
    let tracer = Tracer::builder("svc").sampler(sampler).span_processor(count.clone()).build();
    (tracer, count)
}

#[test]
fn sampled_spans_allocate_nothing_once_the_thread_is_warm() {
    let (tracer, count) = tracer(Sampler::AlwaysOn);
    tracer.in_scope(|| {
        // The first request sizes the thread's buffer.
        request();
        let (untagged, tagged) = request();
        assert_eq!(untagged, 0, "allocations for {CHILDREN} untagged spans");
        assert_eq!(tagged, 0, "allocations for {CHILDREN} spans with an integer tag");
    });
    let per_request = 1 + 2 * CHILDREN;
    assert_eq!(
        count.0.load(std::sync::atomic::Ordering::Relaxed),
        2 * per_request,
        "every span exported"
    );
}

#[test]
fn unsampled_traces_allocate_nothing() {
    let (tracer, count) = tracer(Sampler::AlwaysOff);
    tracer.in_scope(|| {
        request();
        let whole = allocations_in(|| {
            let (untagged, tagged) = request();
            assert_eq!((untagged, tagged), (0, 0));
        });
        assert_eq!(whole, 0, "allocations for a whole unsampled trace, root included");
    });
    // Traces were started and decided (not skipped for want of a tracer).
    assert_eq!(tracer.stats().unsampled_roots, 2);
    assert_eq!(count.0.load(std::sync::atomic::Ordering::Relaxed), 0);
}
