//! Head-based sampling: decided once per trace, deterministic by trace ID,
//! and free of work for unsampled spans.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use trace_runtime::export::SpanBatch;
use trace_runtime::{
    Context, InMemoryCollector, Sampler, SpanContext, SpanId, SpanProcessor, TraceFlags, TraceId,
    Tracer, traced,
};

/// Counts exported spans without keeping them.
#[derive(Default, Clone)]
struct Count(Arc<AtomicUsize>);

impl SpanProcessor for Count {
    fn on_end(&self, batch: SpanBatch) {
        self.0.fetch_add(batch.len(), Ordering::Relaxed);
    }
}

#[traced]
fn handler() {
    inner();
}

#[traced]
fn inner() {}

fn seeded_trace_ids(seed: u64, count: usize) -> Vec<TraceId> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            TraceId::from_u128((u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()))
                .unwrap()
        })
        .collect()
}

/// Runs `handler` under a propagated parent for each trace ID, with a
/// ratio sampler that decides anew from the trace ID; returns the sampled
/// root count the tracer reports and the spans exported.
fn sample(ratio: f64, trace_ids: &[TraceId]) -> (u64, usize) {
    let exported = Count::default();
    let tracer = Tracer::builder("sampling")
        .sampler(Sampler::ratio(ratio))
        .span_processor(exported.clone())
        .build();
    tracer.in_scope(|| {
        for &trace_id in trace_ids {
            let parent = SpanContext {
                trace_id,
                span_id: SpanId::random(),
                flags: TraceFlags::SAMPLED,
                remote: true,
            };
            Context::with_remote_parent(parent).run(handler);
        }
    });
    let stats = tracer.stats();
    assert_eq!(stats.sampled_roots + stats.unsampled_roots, trace_ids.len() as u64);
    (stats.sampled_roots, exported.0.load(Ordering::Relaxed))
}

#[test]
fn ratio_sampling_matches_the_ratio_within_binomial_bounds_for_100_seeds() {
    const N: usize = 2_000;
    const RATIO: f64 = 0.25;
    // Six standard deviations of Binomial(N, RATIO): a correct sampler
    // falls outside with probability ~2e-9 per seed; the seeds are fixed,
    // so the outcome is the same on every run.
    let sd = (N as f64 * RATIO * (1.0 - RATIO)).sqrt();
    let tolerance = 6.0 * sd;
    for seed in 0..100 {
        let (sampled, exported) = sample(RATIO, &seeded_trace_ids(seed, N));
        let deviation = (sampled as f64 - N as f64 * RATIO).abs();
        assert!(
            deviation <= tolerance,
            "seed {seed}: {sampled} sampled of {N}, allowed ±{tolerance:.0}"
        );
        // Both spans of a sampled trace are exported, none of the others.
        assert_eq!(exported as u64, 2 * sampled);
    }
}

#[test]
fn every_service_decides_the_same_for_the_same_trace() {
    let ids = seeded_trace_ids(7, 500);
    let first = Sampler::ratio(0.3);
    let second = Sampler::ratio(0.3);
    for id in ids {
        assert_eq!(first.should_sample(id, None), second.should_sample(id, None));
    }
}

#[test]
fn unsampled_traces_propagate_ids_but_record_nothing() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("off")
        .sampler(Sampler::AlwaysOff)
        .span_processor(collector.clone())
        .build();
    tracer.in_scope(|| {
        let request = trace_runtime::span("request").start();
        assert!(!request.is_recording());
        let trace_id = request.trace_id().expect("IDs exist even when unsampled");
        let context = Context::current();
        assert_eq!(
            context.span_context().map(|s| (s.trace_id, s.sampled())),
            Some((trace_id, false))
        );
        // Work handed to another thread stays in the same, unsampled trace.
        let seen = std::thread::spawn(context.wrap(|| {
            let child = trace_runtime::span("child").start();
            (child.trace_id(), child.is_recording())
        }))
        .join()
        .unwrap();
        assert_eq!(seen, (Some(trace_id), false));
    });
    assert!(collector.spans().is_empty());
    assert_eq!(tracer.stats().unsampled_roots, 1);
    assert_eq!(tracer.stats().sampled_roots, 0);
}

static EVALUATED: AtomicUsize = AtomicUsize::new(0);

fn expensive() -> usize {
    EVALUATED.fetch_add(1, Ordering::Relaxed)
}

#[traced(args, tags(cost = expensive()))]
fn tagged(input: u32) -> u32 {
    input
}

#[test]
fn tag_expressions_are_not_evaluated_for_unsampled_spans() {
    let off = Tracer::builder("off").sampler(Sampler::AlwaysOff).build();
    off.in_scope(|| tagged(1));
    assert_eq!(EVALUATED.load(Ordering::Relaxed), 0);
    let on = Tracer::builder("on").build();
    on.in_scope(|| tagged(1));
    assert_eq!(EVALUATED.load(Ordering::Relaxed), 1);
}

#[test]
fn parent_based_sampling_follows_the_propagated_flag() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("follower")
        .sampler(Sampler::parent_based(Sampler::AlwaysOff))
        .span_processor(collector.clone())
        .build();
    let remote = |sampled| SpanContext {
        trace_id: TraceId::random(),
        span_id: SpanId::random(),
        flags: TraceFlags::NONE.with_sampled(sampled),
        remote: true,
    };
    let (yes, no) = (remote(true), remote(false));
    tracer.in_scope(|| {
        Context::with_remote_parent(yes).run(handler);
        Context::with_remote_parent(no).run(handler);
        handler(); // a local root: the inner sampler says no
    });
    let spans = collector.spans();
    assert_eq!(spans.len(), 2);
    assert!(spans.iter().all(|s| s.trace_id == yes.trace_id));
    let root = spans.iter().find(|s| s.name == "handler").unwrap();
    assert_eq!(root.parent_id, Some(yes.span_id));
    let stats = tracer.stats();
    assert_eq!((stats.sampled_roots, stats.unsampled_roots), (1, 2));
}

#[traced]
async fn unsampled_async_child() -> Option<TraceId> {
    // Pending once, so the rest runs on whichever thread polls next.
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
    inner();
    trace_runtime::current_trace_id()
}

#[test]
fn async_children_of_an_unsampled_span_keep_its_trace_on_any_thread() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("off")
        .sampler(Sampler::AlwaysOff)
        .span_processor(collector.clone())
        .build();
    let (root_trace, future) = tracer.in_scope(|| {
        let root = trace_runtime::span("request").start();
        // First polled here, under the unsampled root, then moved.
        let mut future = Box::pin(unsampled_async_child());
        let waker = futures::task::noop_waker();
        assert!(future.as_mut().poll(&mut std::task::Context::from_waker(&waker)).is_pending());
        (root.trace_id(), future)
    });
    let seen = std::thread::spawn(move || futures::executor::block_on(future)).join().unwrap();
    assert_eq!(seen, root_trace);
    assert!(collector.spans().is_empty());
    assert_eq!(tracer.stats().unsampled_roots, 1);
}
