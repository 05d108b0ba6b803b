//! The thread state's entry points, end to end: teardown and the two
//! open paths.

use super::*;
use crate::export::InMemoryCollector;

#[test]
fn reading_the_state_during_thread_teardown_never_panics() {
    struct OpensSpanWhenDropped;
    impl Drop for OpensSpanWhenDropped {
        fn drop(&mut self) {
            // Runs among the thread's TLS destructors, possibly after
            // `LOCAL`'s: every entry point must cope.
            if let Some(span) = open("late", SpanKind::Internal, false) {
                close(span.span_id);
            }
            let _ = current_span_context();
            let _ = capture();
            hand_over_finished();
        }
    }
    thread_local! {
        static LATE: RefCell<Option<OpensSpanWhenDropped>> = const { RefCell::new(None) };
    }
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("svc").span_processor(collector.clone()).build();
    std::thread::spawn(move || {
        let _scope = tracer.set_default();
        // Registered after `LOCAL` is first used, so destroyed before it
        // on some platforms and after it on others.
        let span = open("early", SpanKind::Internal, false).expect("a tracer is set");
        close(span.span_id);
        LATE.with(|late| *late.borrow_mut() = Some(OpensSpanWhenDropped));
    })
    .join()
    .expect("no panic at thread exit");
    assert!(collector.spans().iter().any(|s| s.name == "early"));
}

#[test]
fn the_common_path_and_the_slow_path_give_the_same_tree() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("svc").span_processor(collector.clone()).build();
    tracer.in_scope(|| {
        let start = |name: &'static str| open(name, SpanKind::Internal, false);
        let root = start("root").expect("slow path: a new trace");
        let child = start("child").expect("common path");
        let grandchild = start("grandchild").expect("common path");
        assert_eq!(trace_id_of(child.span_id), trace_id_of(root.span_id));
        close(grandchild.span_id);
        close(child.span_id);
        close(root.span_id);
    });
    assert_eq!(collector.render(), "root\n  child\n    grandchild\n");
}

#[test]
fn a_thread_s_state_is_ended_and_its_tracer_released_at_thread_exit() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("svc").span_processor(collector.clone()).build();
    let on_thread = tracer.clone();
    std::thread::spawn(move || {
        // The scope's guard is leaked: only the thread's end releases the
        // tracer it set, and ends the span left open.
        std::mem::forget(on_thread.set_default());
        open("left open", SpanKind::Internal, false).expect("a tracer is set");
    })
    .join()
    .expect("no panic at thread exit");
    assert_eq!(collector.render(), "left open\n");
    assert_eq!(Arc::strong_count(&tracer.inner), 1, "the thread's clone was dropped");
}

#[test]
fn traces_started_on_an_idle_thread_sampled_or_not_are_counted_and_nest() {
    let collector = InMemoryCollector::new();
    // Ratio 0.5 on random low halves: some roots sampled, some not.
    let tracer = Tracer::builder("svc")
        .sampler(crate::Sampler::ratio(0.5))
        .span_processor(collector.clone())
        .build();
    let (mut sampled, mut unsampled) = (0, 0);
    tracer.in_scope(|| {
        for _ in 0..200 {
            let start = |name: &'static str| open(name, SpanKind::Internal, false);
            let root = start("root").expect("a tracer is set");
            // What `open_nested` reads: set for an unsampled root only.
            let unsampled_top = UNSAMPLED_TOP.get();
            let child = start("child").expect("a tracer is set");
            assert_eq!(child.sampled(), root.sampled(), "a child follows its root");
            let context = current_span_context().expect("a span is open");
            assert_eq!(trace_id_of(root.span_id), Some(context.trace_id));
            assert!(context.flags.random(), "W3C Level 2: our trace IDs are random");
            if root.sampled() {
                sampled += 1;
                assert_eq!(unsampled_top, None);
            } else {
                unsampled += 1;
                assert_eq!(unsampled_top, Some(root.span_id));
            }
            close(child.span_id);
            close(root.span_id);
            assert_eq!(UNSAMPLED_TOP.get(), None, "nothing open, nothing unsampled on top");
        }
    });
    assert!(sampled > 0 && unsampled > 0, "{sampled} sampled, {unsampled} unsampled");
    let stats = tracer.stats();
    assert_eq!((stats.sampled_roots, stats.unsampled_roots), (sampled, unsampled));
    assert_eq!(collector.spans().len() as u64, 2 * sampled);
}
