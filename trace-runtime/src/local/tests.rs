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
            let start = SpanStart { name: "late".into(), kind: SpanKind::Internal, root: false };
            if let Some(span) = open(start) {
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
        let start = SpanStart { name: "early".into(), kind: SpanKind::Internal, root: false };
        let span = open(start).expect("a tracer is set");
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
        let start = |name: &'static str| SpanStart {
            name: name.into(),
            kind: SpanKind::Internal,
            root: false,
        };
        let root = open(start("root")).expect("slow path: a new trace");
        let child = open(start("child")).expect("common path");
        let grandchild = open(start("grandchild")).expect("common path");
        assert_eq!(trace_id_of(child.span_id), trace_id_of(root.span_id));
        close(grandchild.span_id);
        close(child.span_id);
        close(root.span_id);
    });
    assert_eq!(collector.render(), "root\n  child\n    grandchild\n");
}
