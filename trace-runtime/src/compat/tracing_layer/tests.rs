//! The layer's rules for where a span's state lives and when it is let go:
//! re-entered spans, spans entered on two threads at once, spans closed
//! while a thread still lists them, and states reused after a close.

use tracing_subscriber::layer::SubscriberExt;

use super::TracingLayer;
use crate::{InMemoryCollector, SpanData, Status, Tracer, current_span_id};

fn collector() -> (InMemoryCollector, Tracer) {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("layer").span_processor(collector.clone()).build();
    (collector, tracer)
}

fn dispatch() -> tracing::Dispatch {
    tracing::Dispatch::new(tracing_subscriber::registry().with(TracingLayer::new()))
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
}

/// Makes `tracer` and a registry with the layer this thread's defaults
/// until the guards drop.
fn on_this_thread(tracer: &Tracer) -> (crate::DefaultGuard, tracing::subscriber::DefaultGuard) {
    (tracer.set_default(), tracing::dispatcher::set_default(&dispatch()))
}

/// A span of ours opened and closed here, a child of whatever is current.
fn leaf(name: &'static str) {
    drop(crate::span(name).start());
}

#[test]
fn a_span_entered_twice_here_stays_current_until_its_outer_exit() {
    let (collector, tracer) = collector();
    let _defaults = on_this_thread(&tracer);
    let span = tracing::info_span!("twice");
    let outer = span.enter();
    let id = current_span_id().expect("entered");
    {
        let _inner = span.enter();
        assert_eq!(current_span_id(), Some(id), "the same span, entered again");
        leaf("inside_both");
    }
    assert_eq!(current_span_id(), Some(id), "still entered once");
    leaf("inside_outer");
    drop(outer);
    assert_eq!(current_span_id(), None);
    drop(span);

    let spans = collector.spans();
    assert_eq!(spans.len(), 3, "{}", collector.render());
    let twice = named(&spans, "twice");
    assert_eq!(twice.span_id, id);
    for name in ["inside_both", "inside_outer"] {
        assert_eq!(named(&spans, name).parent_id, Some(id), "{name}");
    }
}

#[test]
fn a_span_entered_on_two_threads_at_once_closes_once_after_both_exits() {
    let (collector, tracer) = collector();
    let dispatch = dispatch();
    let _scope = tracer.set_default();
    let _dispatch = tracing::dispatcher::set_default(&dispatch);
    let span = tracing::info_span!("both");
    let here = span.enter();
    let id = current_span_id().expect("entered");
    let (other, moved, theirs) = (dispatch.clone(), span.clone(), tracer.clone());
    std::thread::spawn(move || {
        let _scope = theirs.set_default();
        tracing::dispatcher::with_default(&other, || {
            let _there = moved.enter();
            assert_eq!(current_span_id(), Some(id), "current there too");
            leaf("there");
        });
        drop(moved);
    })
    .join()
    .unwrap();
    assert_eq!(current_span_id(), Some(id), "the other thread's exit leaves it current here");
    leaf("here");
    drop(here);
    assert!(collector.spans().iter().all(|s| s.name != "both"), "open while a handle lives");
    drop(span);

    let spans = collector.spans();
    assert_eq!(spans.iter().filter(|s| s.name == "both").count(), 1, "{}", collector.render());
    assert_eq!(named(&spans, "here").parent_id, Some(id));
    assert_eq!(named(&spans, "there").parent_id, Some(id));
    assert_eq!(current_span_id(), None);
}

#[test]
fn a_span_closed_elsewhere_while_entered_here_stops_being_current_here() {
    // Closing looks for other references to the span's state rather than
    // counting entries: the entry this thread keeps is one of them.
    let (collector, tracer) = collector();
    let dispatch = dispatch();
    let _scope = tracer.set_default();
    let _dispatch = tracing::dispatcher::set_default(&dispatch);
    let span = tracing::info_span!("gone");
    let next = tracing::info_span!("next");
    let id = span.id().expect("a registry span");
    // Entered without a guard, so the last handle can drop on another
    // thread while this one still lists it.
    dispatch.enter(&id);
    let gone = current_span_id().expect("entered");
    std::thread::spawn(move || drop(span)).join().unwrap();
    assert_eq!(collector.spans().len(), 1, "closed and exported");

    // The next enter here drops the entry first.
    next.in_scope(|| leaf("leaf"));
    assert_eq!(current_span_id(), None, "{gone:?} is current no more");
    drop(next);
    let spans = collector.spans();
    assert_eq!(named(&spans, "leaf").parent_id, Some(named(&spans, "next").span_id));
}

#[test]
fn a_state_reused_after_a_close_keeps_nothing_of_the_span_before() {
    let (collector, tracer) = collector();
    let _defaults = on_this_thread(&tracer);
    {
        let parent = tracing::info_span!("parent");
        let _parent = parent.enter();
        // Never entered: closed while it is still this thread's last opened.
        drop(tracing::info_span!("failed", otel.status_code = "error", otel.kind = "client"));
    }
    // Both states are kept for reuse; these spans take them.
    let kept = super::state::spare_len();
    assert!(kept >= 2, "the two closed states are kept: {kept}");
    let first = tracing::info_span!("first", n = 1_i64);
    assert_eq!(super::state::spare_len(), kept - 1, "first takes one");
    first.in_scope(|| leaf("under_first"));
    drop(first);
    drop(tracing::info_span!("second"));

    let spans = collector.spans();
    assert_eq!(spans.len(), 5, "{}", collector.render());
    let failed = named(&spans, "failed");
    assert_eq!(failed.status, Status::Error(String::new().into()));
    assert_eq!(failed.parent_id, Some(named(&spans, "parent").span_id));
    for name in ["first", "second"] {
        let span = named(&spans, name);
        assert_eq!(span.status, Status::Unset, "{name}");
        assert_eq!(span.kind, crate::SpanKind::Internal, "{name}");
        assert_eq!(span.parent_id, None, "{name}");
    }
    let first = named(&spans, "first");
    assert_eq!(first.tags.len(), 1);
    assert_eq!(named(&spans, "under_first").parent_id, Some(first.span_id));
}

/// The frames of entered `tracing` spans are deferred until something on
/// the thread asks what is current; whatever asks gets the innermost
/// entered span, and spans exited unasked leave nothing behind.
#[test]
fn a_deferred_frame_is_current_for_whatever_asks_and_leaves_nothing_behind() {
    let (collector, tracer) = collector();
    let _defaults = on_this_thread(&tracer);
    let outer = tracing::info_span!("outer");
    let entered = outer.enter();
    // Leaves nobody asks about: their frames are never pushed.
    for _ in 0..3 {
        tracing::info_span!("quiet").in_scope(|| {});
    }
    let outer_id = current_span_id().expect("outer is current");
    // A span of ours, then our current span, inside a span entered unasked.
    let inner = tracing::info_span!("inner");
    let (inner_id, after_leaf) = inner.in_scope(|| {
        let id = current_span_id();
        leaf("ours");
        (id, current_span_id())
    });
    assert_eq!(inner_id, after_leaf, "the leaf of ours took nothing of inner's away");
    assert_ne!(inner_id, Some(outer_id));
    // A context captured inside one, and a span of ours under it elsewhere.
    let captured = tracing::info_span!("captured").in_scope(crate::Context::current);
    std::thread::scope(|threads| {
        threads.spawn(|| {
            let _attached = captured.attach();
            leaf("elsewhere");
        });
    });
    assert_eq!(current_span_id(), Some(outer_id), "outer is current again");
    drop(entered);
    assert_eq!(current_span_id(), None, "nothing left on the stack");
    drop((outer, inner));

    let spans = collector.spans();
    assert_eq!(spans.len(), 8, "{}", collector.render());
    let outer = named(&spans, "outer");
    assert_eq!(outer.parent_id, None);
    for span in spans.iter().filter(|s| ["quiet", "inner", "captured"].contains(&&*s.name)) {
        assert_eq!(span.parent_id, Some(outer_id), "{}", span.name);
        assert_eq!(span.trace_id, outer.trace_id, "{}", span.name);
    }
    assert_eq!(named(&spans, "ours").parent_id, inner_id);
    let captured_id = named(&spans, "captured").span_id;
    assert_eq!(named(&spans, "elsewhere").parent_id, Some(captured_id));
}

/// A span entered over a deferred one, whose frame must go on the stack at
/// once (an unsampled trace's, entered away from its parent), goes above it.
#[test]
fn a_frame_pushed_at_once_goes_above_the_deferred_ones() {
    let (collector, tracer) = collector();
    let _defaults = on_this_thread(&tracer);
    let unsampled_tracer = Tracer::builder("off").sampler(crate::Sampler::AlwaysOff).build();
    let elsewhere = {
        let _off = unsampled_tracer.set_default();
        tracing::info_span!(parent: None, "unsampled")
    };
    let sampled = tracing::info_span!("sampled");
    let sampled_id = sampled.in_scope(|| {
        let sampled_id = current_span_id();
        elsewhere.in_scope(|| {
            assert_ne!(current_span_id(), sampled_id, "the unsampled span is current");
            leaf("under_unsampled");
        });
        assert_eq!(current_span_id(), sampled_id, "back to the deferred span");
        leaf("under_sampled");
        sampled_id
    });
    assert_eq!(current_span_id(), None);
    drop((sampled, elsewhere));
    let spans = collector.spans();
    assert_eq!(spans.len(), 2, "{}", collector.render());
    assert_eq!(named(&spans, "under_sampled").parent_id, sampled_id);
}
