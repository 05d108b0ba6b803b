//! Tracing never takes the application down: limits bound every span,
//! exporter and `Debug` panics are contained, and the redaction hook sees
//! every tag.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use trace_runtime::export::SpanBatch;
use trace_runtime::{
    Context, InMemoryCollector, Limits, SpanData, SpanProcessor, Status, Tracer, Value, traced,
};

#[test]
fn limits_drop_and_truncate_and_count() {
    let collector = InMemoryCollector::new();
    let limits = Limits {
        max_tags_per_span: 3,
        max_events_per_span: 2,
        max_links_per_span: 1,
        max_tag_value_bytes: 8,
        max_name_bytes: 5,
        max_spans_buffered_per_thread: 64,
    };
    let tracer = Tracer::builder("limits").limits(limits).span_processor(collector.clone()).build();
    tracer.in_scope(|| {
        let other = trace_runtime::span("other").start();
        let link = Context::current().span_context().unwrap();
        drop(other);
        let span = trace_runtime::span("a-very-long-name").start();
        for i in 0..10 {
            span.tag(format!("k{i}"), "0123456789abcdef");
        }
        for _ in 0..5 {
            span.add_event("event-with-long-name", vec![("v".into(), "0123456789".into())]);
        }
        for _ in 0..3 {
            span.add_link(link, Vec::new());
        }
    });
    let span =
        collector.spans().into_iter().find(|s| s.name == "a-ver").expect("name cut to 5 bytes");
    assert_eq!(span.tags.len(), 3);
    assert!(span.tags.iter().all(|(_, v)| *v == Value::Str("01234567".into())));
    assert_eq!(span.events.len(), 2);
    assert_eq!(span.events[0].name, "event");
    assert_eq!(span.links.len(), 1);
    let stats = tracer.stats();
    assert_eq!(stats.tags_dropped, 7);
    assert_eq!(stats.events_dropped, 3);
    assert_eq!(stats.links_dropped, 2);
    assert_eq!(stats.values_truncated, 3 + 2);
    assert_eq!(stats.names_truncated, 1 + 2);
}

/// An exporter that panics on every second batch.
#[derive(Default, Clone)]
struct Flaky {
    calls: Arc<AtomicUsize>,
    kept: InMemoryCollector,
}

impl SpanProcessor for Flaky {
    fn on_end(&self, batch: SpanBatch) {
        assert!(self.calls.fetch_add(1, Ordering::SeqCst).is_multiple_of(2), "exporter bug");
        self.kept.on_end(batch);
    }
}

#[traced]
fn request() {}

#[test]
fn a_panicking_exporter_is_contained_and_counted() {
    let flaky = Flaky::default();
    let tracer = Tracer::builder("faults").span_processor(flaky.clone()).build();
    tracer.in_scope(|| {
        for _ in 0..4 {
            request();
        }
    });
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 4);
    assert_eq!(flaky.kept.spans().len(), 2);
    assert_eq!(tracer.stats().exporter_panics, 2);
}

struct Bomb;

impl fmt::Debug for Bomb {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Debug exploded")
    }
}

#[traced(args)]
fn takes_bomb(bomb: &Bomb, n: u32) -> u32 {
    let _ = bomb;
    n + 1
}

#[test]
fn a_panicking_debug_in_a_recorded_argument_does_not_fail_the_call() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("faults").span_processor(collector.clone()).build();
    assert_eq!(tracer.in_scope(|| takes_bomb(&Bomb, 1)), 2);
    assert_eq!(collector.render(), "takes_bomb bomb=\"<Debug panicked>\" n=1\n");
}

#[traced(err)]
fn fails_with_display_panic() -> Result<(), Bomb> {
    Err(Bomb)
}

impl fmt::Display for Bomb {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Display exploded")
    }
}

#[test]
fn a_panicking_display_of_an_error_still_sets_error_status() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("faults").span_processor(collector.clone()).build();
    assert!(tracer.in_scope(fails_with_display_panic).is_err());
    assert_eq!(collector.spans()[0].status, Status::Error("<Display panicked>".into()));
}

#[traced(args)]
fn sign_up(email: &str, plan: &str) {
    trace_runtime::add_event("welcome sent", vec![("email".into(), email.to_owned().into())]);
}

#[test]
fn the_redaction_hook_sees_every_tag_of_spans_and_events() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("accounts")
        .redact(
            |key, value| if key == "email" { Some(Value::from("[redacted]")) } else { Some(value) },
        )
        .span_processor(collector.clone())
        .build();
    tracer.in_scope(|| sign_up("ada@example.com", "pro"));
    let rendered = collector.render();
    assert!(!rendered.contains("ada@example.com"), "{rendered}");
    assert_eq!(
        rendered,
        "sign_up email=\"[redacted]\" plan=\"pro\"\n  @ welcome sent email=\"[redacted]\"\n"
    );
}

#[derive(Default, Clone)]
struct Batches(Arc<std::sync::Mutex<Vec<usize>>>);

impl SpanProcessor for Batches {
    fn on_end(&self, batch: SpanBatch) {
        self.0.lock().unwrap().push(batch.len());
    }
}

#[test]
fn a_thread_hands_its_spans_over_in_batches_bounded_by_the_limit() {
    let batches = Batches::default();
    let limits = Limits { max_spans_buffered_per_thread: 4, ..Limits::default() };
    let tracer = Tracer::builder("buffer").limits(limits).span_processor(batches.clone()).build();
    tracer.in_scope(|| {
        let _long_lived = trace_runtime::span("connection").start();
        for _ in 0..10 {
            request();
        }
        // Still open: the last two wait for the next batch, or the flush.
        assert_eq!(*batches.0.lock().unwrap(), [4, 4]);
        tracer.flush();
        assert_eq!(*batches.0.lock().unwrap(), [4, 4, 2]);
    });
    // The long-lived span goes when the thread has nothing open.
    assert_eq!(*batches.0.lock().unwrap(), [4, 4, 2, 1]);
}

#[traced]
fn lookup() -> u64 {
    3
}

/// Its tag runs traced code, so its record is not the last one written when
/// its future takes it: the buffer keeps a moved-out slot.
#[traced(tags(n = lookup()))]
async fn detached_work() {
    std::future::pending::<()>().await;
}

#[test]
fn early_hand_overs_keep_open_spans_their_tags_and_their_children() {
    let collector = InMemoryCollector::new();
    let limits = Limits { max_spans_buffered_per_thread: 3, ..Limits::default() };
    let tracer = Tracer::builder("split").limits(limits).span_processor(collector.clone()).build();
    tracer.in_scope(|| {
        let connection = trace_runtime::span("connection").start();
        let first = trace_runtime::span("first").start();
        // A future's span leaves this thread's buffer at its first poll.
        let mut pending = Box::pin(detached_work());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(pending.as_mut().poll(&mut cx).is_pending());
        let second = trace_runtime::span("second").start();
        for _ in 0..7 {
            request();
        }
        // Early hand-overs (every three closed or moved-out records) happened
        // while three spans were open; those keep taking tags and close in
        // any order.
        assert_eq!(collector.spans().len(), 8);
        first.tag("after", "split");
        drop(first);
        second.tag("n", 2);
        drop(second);
        drop(pending);
        connection.tag("requests", 7);
    });
    let spans = collector.spans();
    let names: Vec<&str> = spans.iter().map(|s| &*s.name).collect();
    assert_eq!(spans.len(), 4 + 7 + 1, "{names:?}");
    let by_name = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
    let connection = by_name("connection");
    assert_eq!(connection.tag("requests"), Some(&Value::I64(7)));
    assert_eq!(by_name("first").tag("after"), Some(&Value::from("split")));
    assert_eq!(by_name("first").parent_id, Some(connection.span_id));
    assert_eq!(by_name("second").parent_id, Some(by_name("first").span_id));
    assert_eq!(by_name("second").tag("n"), Some(&Value::I64(2)));
    assert_eq!(by_name("detached_work").tag("cancelled"), Some(&Value::Bool(true)));
    assert_eq!(by_name("detached_work").tag("n"), Some(&Value::I64(3)));
    assert_eq!(by_name("lookup").parent_id, Some(by_name("detached_work").span_id));
    let second = by_name("second").span_id;
    assert_eq!(spans.iter().filter(|s| s.parent_id == Some(second)).count(), 7);
    // Spans arrive in the order they ended.
    let ends: Vec<u64> = spans.iter().map(SpanData::end_unix_nanos).collect();
    assert!(ends.windows(2).all(|w| w[0] <= w[1]), "{ends:?}");
}

#[test]
fn spans_of_two_tracers_open_on_one_thread_reach_their_own_tracer() {
    let (a, b) = (InMemoryCollector::new(), InMemoryCollector::new());
    let tracer_a = Tracer::builder("a").span_processor(a.clone()).build();
    let tracer_b = Tracer::builder("b").span_processor(b.clone()).build();
    tracer_a.in_scope(|| {
        let _outer = trace_runtime::span("a outer").start();
        tracer_b.in_scope(|| {
            let _b = trace_runtime::span("b root").root().start();
            let _inner = trace_runtime::span("b child").start();
        });
        let _after = trace_runtime::span("a child").start();
    });
    assert_eq!(a.render(), "a outer\n  a child\n");
    assert_eq!(b.render(), "b root\n  b child\n");
    assert!(a.spans().iter().all(|s| &*s.service == "a"));
    assert!(b.spans().iter().all(|s| &*s.service == "b"));
}
