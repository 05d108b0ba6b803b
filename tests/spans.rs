//! Span trees on one thread: parent links, ordering, tags, status, and
//! every exit path of a traced function.

use std::panic::{AssertUnwindSafe, catch_unwind};

use trace_runtime::{InMemoryCollector, SpanKind, Status, Tracer, Value, traced};

fn collector() -> (InMemoryCollector, Tracer) {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("spans-test").span_processor(collector.clone()).build();
    (collector, tracer)
}

#[traced]
fn parent() {
    child();
    child();
}

#[traced]
fn child() {}

#[test]
fn nested_calls_share_the_trace_and_link_to_their_parent() {
    let (collector, tracer) = collector();
    tracer.in_scope(parent);
    let spans = collector.spans();
    assert_eq!(spans.len(), 3);
    // Children finish first.
    let (first, second, root) = (&spans[0], &spans[1], &spans[2]);
    assert_eq!(root.name, "parent");
    assert_eq!(root.parent_id, None);
    for child in [first, second] {
        assert_eq!(child.name, "child");
        assert_eq!(child.trace_id, root.trace_id);
        assert_eq!(child.parent_id, Some(root.span_id));
    }
    assert_ne!(first.span_id, second.span_id);
    assert!(first.start_unix_nanos <= second.start_unix_nanos);
    assert!(root.start_unix_nanos <= first.start_unix_nanos);
    assert!(second.end_unix_nanos() <= root.end_unix_nanos());
    assert_eq!(&*root.service, "spans-test");
    assert_eq!(collector.render(), "parent\n  child\n  child\n");
}

#[test]
fn sibling_roots_start_separate_traces() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| {
        parent();
        parent();
    });
    let roots: Vec<_> = collector.spans().into_iter().filter(|s| s.parent_id.is_none()).collect();
    assert_eq!(roots.len(), 2);
    assert_ne!(roots[0].trace_id, roots[1].trace_id);
}

#[traced(root)]
fn detached_job() {}

#[test]
fn root_option_starts_a_new_trace_inside_another() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| {
        let _request = trace_runtime::span("request").start();
        detached_job();
    });
    let spans = collector.spans();
    assert_eq!(spans[0].name, "detached_job");
    assert_eq!(spans[0].parent_id, None);
    assert_ne!(spans[0].trace_id, spans[1].trace_id);
}

#[traced(kind = server, tags(route = "/orders", attempt = 2, ratio = 0.5, retry = true))]
fn typed_tags(order: u64) {
    trace_runtime::add_tag("order", order);
    trace_runtime::add_event("validated", vec![("items".into(), 3.into())]);
}

#[test]
fn tags_keep_their_types_and_order() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| typed_tags(17));
    let span = &collector.spans()[0];
    assert_eq!(span.kind, SpanKind::Server);
    let tags: Vec<(&str, &Value)> = span.tags.iter().map(|(k, v)| (&**k, v)).collect();
    assert_eq!(
        tags,
        [
            ("route", &Value::Str("/orders".into())),
            ("attempt", &Value::I64(2)),
            ("ratio", &Value::F64(0.5)),
            ("retry", &Value::Bool(true)),
            ("order", &Value::I64(17)),
        ]
    );
    assert_eq!(span.events.len(), 1);
    assert_eq!(span.events[0].name, "validated");
    assert!(span.events[0].time_unix_nanos >= span.start_unix_nanos);
    assert_eq!(
        collector.render(),
        "typed_tags [server] route=\"/orders\" attempt=2 ratio=0.5 retry=true order=17\n  @ validated items=3\n"
    );
}

#[derive(Debug)]
struct Money {
    cents: u64,
}

#[traced(args, skip(card))]
fn charge(amount: &Money, currency: &str, card: &str) -> usize {
    card.len() + currency.len() + usize::try_from(amount.cents).unwrap_or(0)
}

#[test]
fn args_record_natively_or_through_debug_and_skip_what_is_listed() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| charge(&Money { cents: 250 }, "EUR", "4111-1111"));
    assert_eq!(collector.render(), "charge amount=\"Money { cents: 250 }\" currency=\"EUR\"\n");
}

#[traced(err)]
fn withdraw(balance: u32, amount: u32) -> Result<u32, String> {
    if amount == 0 {
        return Ok(balance);
    }
    let left = balance.checked_sub(amount).ok_or("insufficient funds")?;
    Ok(left)
}

#[test]
fn err_records_every_exit_path() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| {
        assert_eq!(withdraw(5, 0), Ok(5));
        assert_eq!(withdraw(5, 2), Ok(3));
        assert!(withdraw(1, 2).is_err());
    });
    let statuses: Vec<Status> = collector.spans().into_iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [Status::Unset, Status::Unset, Status::Error("insufficient funds".into())]
    );
}

#[traced(ret)]
fn early(flag: bool) -> u8 {
    if flag {
        return 1;
    }
    2
}

#[test]
fn ret_sees_early_returns_and_the_tail() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| (early(true), early(false)));
    assert_eq!(collector.render(), "early return=1\nearly return=2\n");
}

#[traced]
fn explode(message: &str) {
    inner_explode(message);
}

#[traced]
fn inner_explode(message: &str) {
    panic!("{message}");
}

#[test]
fn a_panic_closes_every_span_it_unwinds_with_its_message() {
    let (collector, tracer) = collector();
    let result = tracer.in_scope(|| catch_unwind(AssertUnwindSafe(|| explode("disk on fire"))));
    assert!(result.is_err());
    assert_eq!(
        collector.render(),
        "explode (error: panicked: disk on fire)\n  inner_explode (error: panicked: disk on fire)\n"
    );
    // The stack is clean again: the next span is a root.
    tracer.in_scope(child);
    assert_eq!(collector.spans().last().unwrap().parent_id, None);
}

/// Calls a traced function when dropped: during unwinding, that span opens
/// after the panic began.
struct CleansUp;

impl Drop for CleansUp {
    fn drop(&mut self) {
        clean_up();
    }
}

#[traced]
fn clean_up() {}

#[traced]
fn explode_holding_a_clean_up(message: &str) {
    let _clean_up = CleansUp;
    panic!("{message}");
}

#[test]
fn a_span_opened_while_a_panic_unwinds_is_not_marked_with_it() {
    let (collector, tracer) = collector();
    let result =
        tracer.in_scope(|| catch_unwind(AssertUnwindSafe(|| explode_holding_a_clean_up("late"))));
    assert!(result.is_err());
    assert_eq!(
        collector.render(),
        "explode_holding_a_clean_up (error: panicked: late)\n  clean_up\n"
    );
}

#[test]
fn a_panic_resumed_on_a_thread_that_caught_one_before_marks_the_spans_it_unwinds() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| {
        // A panic caught here first: the hook ran, at an earlier time.
        let payload = catch_unwind(AssertUnwindSafe(|| panic!("in a task"))).unwrap_err();
        // Carried on, as an awaiter does with a task's panic: no hook runs.
        let result = catch_unwind(AssertUnwindSafe(|| resume_in_span(payload)));
        assert!(result.is_err());
    });
    assert_eq!(collector.render(), "resume_in_span (error: panicked: in a task)\n");
}

#[traced]
fn resume_in_span(payload: Box<dyn std::any::Any + Send>) {
    std::panic::resume_unwind(payload);
}

#[test]
fn guards_dropped_out_of_order_close_exactly_their_span() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| {
        let outer = trace_runtime::span("outer").start();
        let inner = trace_runtime::span("inner").start();
        drop(outer);
        // `inner` is current again and still a child of `outer`.
        assert_eq!(trace_runtime::current_span_id(), inner.span_id());
        let sibling = trace_runtime::span("under inner").start();
        drop(sibling);
        drop(inner);
        assert_eq!(trace_runtime::current_span_id(), None);
    });
    assert_eq!(collector.render(), "outer\n  inner\n    under inner\n");
}

#[test]
fn manual_api_sets_status_and_reads_ids_for_log_correlation() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| {
        let span =
            trace_runtime::span("manual").kind(SpanKind::Consumer).tag("queue", "jobs").start();
        assert!(span.is_recording());
        assert_eq!(trace_runtime::current_trace_id(), span.trace_id());
        span.set_status(Status::Ok);
        span.add_event("acked", Vec::new());
        trace_runtime::set_status(Status::Error("late".into()));
    });
    assert_eq!(collector.render(), "manual [consumer] queue=\"jobs\" (error: late)\n  @ acked\n");
}

#[test]
fn without_a_tracer_everything_is_a_no_op() {
    let guard = trace_runtime::span("nothing").tag("k", 1).start();
    assert!(!guard.is_recording());
    assert_eq!(guard.trace_id(), None);
    assert_eq!(trace_runtime::current_trace_id(), None);
    trace_runtime::add_tag("ignored", true);
    parent();
    drop(guard);
}

#[test]
fn tracer_stats_count_roots_and_exported_spans() {
    let (_collector, tracer) = collector();
    tracer.in_scope(|| {
        parent();
        parent();
    });
    let stats = tracer.stats();
    assert_eq!(stats.sampled_roots, 2);
    assert_eq!(stats.unsampled_roots, 0);
    assert_eq!(stats.spans_exported, 6);
}

/// Its `Debug` (recorded by `ret`) does traced work through `Lazy`.
#[derive(Debug)]
struct Receipt(u64, Lazy);

#[traced]
fn lookup_price() -> u64 {
    trace_runtime::add_tag("cache", "hit");
    7
}

/// A `Debug` that does traced work, as a lazily loaded field might.
struct Lazy;

impl std::fmt::Debug for Lazy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lazy({})", lookup_price())
    }
}

#[traced(tags(price = lookup_price()), ret)]
fn checkout(_item: &Lazy) -> Receipt {
    Receipt(lookup_price(), Lazy)
}

#[test]
fn tag_expressions_and_return_values_may_call_traced_code() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| {
        #[traced(args)]
        fn with_lazy_argument(item: &Lazy) {
            let _ = item;
        }
        assert_eq!(checkout(&Lazy).0, 7);
        with_lazy_argument(&Lazy);
    });
    assert_eq!(
        collector.render(),
        "checkout price=7 return=\"Receipt(7, Lazy(7))\"\n  lookup_price cache=\"hit\"\n  \
         lookup_price cache=\"hit\"\n  lookup_price cache=\"hit\"\n\
         with_lazy_argument item=\"Lazy(7)\"\n  lookup_price cache=\"hit\"\n"
    );
}

#[traced(args(scenario))]
fn checkout_twice(scenario: &str) {
    trace_runtime::add_tag("scenario", format!("{scenario}, retried"));
    trace_runtime::add_tag("attempt", 2);
}

/// OpenTelemetry allows one attribute per key: the last value set wins,
/// once, in every exporter's output.
#[test]
fn a_tag_set_twice_is_exported_once_with_its_last_value() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| checkout_twice("slow"));
    let spans = collector.spans();
    assert_eq!(
        spans[0].tags,
        [("scenario".into(), Value::from("slow, retried")), ("attempt".into(), Value::from(2))]
    );
    let otlp: serde_json::Value =
        serde_json::from_str(&trace_runtime::export::encode_otlp_json(&spans)).unwrap();
    let attributes = &otlp["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"];
    assert_eq!(attributes.as_array().unwrap().len(), 2, "{attributes}");
}
