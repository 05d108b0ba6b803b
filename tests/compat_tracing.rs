//! `compat::TracingLayer` against the real `tracing` stack: an axum service
//! behind `tower_http::trace::TraceLayer`, `#[tracing::instrument]`, tokio's
//! multi-thread runtime, `EnvFilter` and `Targets`, and `log` through
//! `compat::LogBridge`.

use std::cell::RefCell;
use std::sync::Once;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::Instrument;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

use trace_runtime::compat::{LogBridge, TracingLayer};
use trace_runtime::{
    InMemoryCollector, Limits, Sampler, SpanData, SpanKind, Status, Tracer, Value, traced,
};

fn collector() -> (InMemoryCollector, Tracer) {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("compat").span_processor(collector.clone()).build();
    (collector, tracer)
}

/// [`collector`] with a tracer that samples nothing.
fn unsampled_collector() -> (InMemoryCollector, Tracer) {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("compat")
        .sampler(Sampler::AlwaysOff)
        .span_processor(collector.clone())
        .build();
    (collector, tracer)
}

/// `log` records reach spans through the bridge; the wrapped logger prints
/// nothing here.
fn install_log_bridge() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let quiet = env_logger::Builder::new().filter_level(log::LevelFilter::Off).build();
        LogBridge::install(quiet, log::LevelFilter::Info).expect("the only logger of this test");
    });
}

fn dispatch(layer: impl Layer<Registry> + Send + Sync + 'static) -> tracing::Dispatch {
    tracing::Dispatch::new(tracing_subscriber::registry().with(layer))
}

thread_local! {
    /// A worker thread's tracer and `tracing` dispatcher, for one test.
    static SCOPE: RefCell<Option<(trace_runtime::DefaultGuard, tracing::dispatcher::DefaultGuard)>> =
        const { RefCell::new(None) };
}

/// A multi-thread runtime whose workers use `tracer` and `dispatch`.
fn runtime(tracer: &Tracer, dispatch: &tracing::Dispatch) -> tokio::runtime::Runtime {
    let (tracer, dispatch) = (tracer.clone(), dispatch.clone());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(3)
        .enable_all()
        .on_thread_start(move || {
            let scope = (tracer.set_default(), tracing::dispatcher::set_default(&dispatch));
            SCOPE.with(|s| *s.borrow_mut() = Some(scope));
        })
        .on_thread_stop(|| drop(SCOPE.with(|s| s.borrow_mut().take())))
        .build()
        .unwrap()
}

/// Makes `tracer` and `dispatch` current on this thread (where `block_on`
/// runs the test's own future).
fn scope(
    tracer: &Tracer,
    dispatch: &tracing::Dispatch,
) -> (trace_runtime::DefaultGuard, tracing::dispatcher::DefaultGuard) {
    (tracer.set_default(), tracing::dispatcher::set_default(dispatch))
}

/// Waits (up to 20 s) until `count` spans have arrived, then returns them.
fn wait_for(collector: &InMemoryCollector, count: usize) -> Vec<SpanData> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while collector.spans().len() < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    collector.spans()
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
}

fn event_tag<'a>(span: &'a SpanData, event: &str, key: &str) -> Option<&'a Value> {
    let event = span.events.iter().find(|e| e.name == event)?;
    event.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

#[tracing::instrument(level = "info")]
async fn lookup(user_id: u64) -> &'static str {
    tokio::task::yield_now().await;
    log::info!(rows = 1; "found user");
    "ada"
}

#[traced]
async fn show_user(id: Path<u64>) -> String {
    let name = lookup(id.0).await;
    format!("hello {name}")
}

async fn http_get(address: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[test]
fn an_axum_request_is_one_trace_through_tower_http_traced_instrument_and_log() {
    install_log_bridge();
    let (collector, tracer) = collector();
    let filter = Targets::new()
        .with_target("tower_http", LevelFilter::DEBUG)
        .with_target("compat_tracing", LevelFilter::INFO);
    let dispatch = dispatch(TracingLayer::new().with_filter(filter));
    let runtime = runtime(&tracer, &dispatch);
    let response = runtime.block_on(async {
        let app = Router::new()
            .route("/users/{id}", get(show_user))
            .layer(tower_http::trace::TraceLayer::new_for_http());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        http_get(address, "/users/7").await
    });
    assert!(response.ends_with("hello ada"), "{response}");
    let spans = wait_for(&collector, 3);
    drop(runtime);

    assert_eq!(spans.len(), 3, "{spans:#?}");
    let request = named(&spans, "request");
    let handler = named(&spans, "show_user");
    let lookup = named(&spans, "lookup");
    assert!(spans.iter().all(|s| s.trace_id == request.trace_id), "one trace");
    assert_eq!(request.parent_id, None);
    assert_eq!(handler.parent_id, Some(request.span_id));
    assert_eq!(lookup.parent_id, Some(handler.span_id));
    // tower-http's span fields, and the instrumented function's argument.
    assert_eq!(request.tag("method"), Some(&Value::from("GET")));
    assert_eq!(request.tag("uri"), Some(&Value::from("/users/7")));
    assert_eq!(request.tag("version"), Some(&Value::from("HTTP/1.1")));
    assert_eq!(lookup.tag("user_id"), Some(&Value::I64(7)));
    // tower-http's events, with their level and fields.
    assert_eq!(
        event_tag(request, "started processing request", "level"),
        Some(&Value::from("DEBUG"))
    );
    assert_eq!(event_tag(request, "finished processing request", "status"), Some(&Value::I64(200)));
    // The log line, on the span it was logged in.
    assert_eq!(event_tag(lookup, "found user", "level"), Some(&Value::from("INFO")));
    assert_eq!(event_tag(lookup, "found user", "target"), Some(&Value::from("compat_tracing")));
    assert_eq!(event_tag(lookup, "found user", "rows"), Some(&Value::I64(1)));
    assert!(handler.events.is_empty(), "{:?}", handler.events);
}

#[traced]
async fn work(job: u32) -> u32 {
    tokio::task::yield_now().await;
    tracing::info!(job, "working");
    tokio::task::yield_now().await;
    job
}

#[test]
fn spawned_tasks_on_a_multi_thread_runtime_nest_under_their_tracing_spans() {
    let (collector, tracer) = collector();
    let dispatch = dispatch(TracingLayer::new());
    let runtime = runtime(&tracer, &dispatch);
    let scope = scope(&tracer, &dispatch);
    runtime.block_on(async {
        let batch = tracing::info_span!("batch", jobs = 4);
        async {
            let handles: Vec<_> = (0..4)
                .map(|job| tokio::spawn(work(job).instrument(tracing::info_span!("job", job))))
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
        }
        .instrument(batch)
        .await;
    });
    drop(scope);
    let spans = wait_for(&collector, 9);
    drop(runtime);

    assert_eq!(spans.len(), 9, "{}", collector.render());
    let batch = named(&spans, "batch");
    assert!(spans.iter().all(|s| s.trace_id == batch.trace_id), "one trace");
    let jobs: Vec<_> = spans.iter().filter(|s| s.name == "job").collect();
    assert_eq!(jobs.len(), 4);
    for job in &jobs {
        assert_eq!(job.parent_id, Some(batch.span_id));
        let number = job.tag("job").cloned();
        let works: Vec<_> = spans.iter().filter(|s| s.parent_id == Some(job.span_id)).collect();
        assert_eq!(works.len(), 1, "one `work` under each job");
        assert_eq!(works[0].name, "work");
        // The event inside `work` belongs to `work`, the innermost span.
        assert_eq!(event_tag(works[0], "working", "job"), number.as_ref());
    }
}

mod quiet {
    #[tracing::instrument]
    pub fn filtered_out() {
        super::inner_traced();
    }
}

#[traced]
fn inner_traced() {
    tracing::debug!("too verbose");
    tracing::info!("kept");
}

#[test]
fn an_env_filter_on_the_layer_decides_which_spans_and_events_become_ours() {
    let (collector, tracer) = collector();
    // Per-layer: our layer drops the spans of `quiet` and debug events,
    // while another layer sees everything.
    let filter = EnvFilter::new("info,compat_tracing::quiet=off");
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = CountSpans(seen.clone());
    let subscriber =
        tracing_subscriber::registry().with(TracingLayer::new().with_filter(filter)).with(counter);
    tracing::subscriber::with_default(subscriber, || {
        tracer.in_scope(|| {
            tracing::info_span!("outer").in_scope(quiet::filtered_out);
        });
    });
    assert_eq!(
        collector.render(),
        "outer\n  inner_traced\n    @ kept level=\"INFO\" target=\"compat_tracing\"\n"
    );
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::Relaxed),
        2,
        "the other layer saw both spans"
    );
}

struct CountSpans(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for CountSpans {
    fn on_new_span(
        &self,
        _: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn a_targets_filter_on_the_layer_keeps_only_its_targets() {
    let (collector, tracer) = collector();
    let filter = Targets::new().with_target("kept", LevelFilter::INFO);
    let subscriber = tracing_subscriber::registry().with(TracingLayer::new().with_filter(filter));
    tracing::subscriber::with_default(subscriber, || {
        tracer.in_scope(|| {
            let _outer = tracing::info_span!(target: "kept", "outer").entered();
            let _noise = tracing::info_span!(target: "noise", "noise").entered();
            let _detail = tracing::debug_span!(target: "kept", "detail").entered();
            let _inner = tracing::info_span!(target: "kept", "inner").entered();
            tracing::info!(target: "noise", "dropped");
            tracing::info!(target: "kept", "recorded");
        });
    });
    assert_eq!(
        collector.render(),
        "outer\n  inner\n    @ recorded level=\"INFO\" target=\"kept\"\n"
    );
}

#[traced]
fn leaf() {}

#[test]
fn a_span_entered_on_several_threads_and_closed_on_another_is_one_span() {
    let (collector, tracer) = collector();
    let dispatch = dispatch(TracingLayer::new());
    let span = tracing::dispatcher::with_default(&dispatch, || {
        tracer.in_scope(|| tracing::info_span!("shared", step = tracing::field::Empty))
    });
    for step in 0..2_i64 {
        let (span, dispatch, tracer) = (span.clone(), dispatch.clone(), tracer.clone());
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                // No tracer scoped on this thread: the span carries its own.
                let _entered = span.enter();
                span.record("step", step);
                leaf();
                tracing::info!(step, "entered");
                drop(tracer);
            });
        })
        .join()
        .unwrap();
    }
    assert_eq!(collector.spans().len(), 2, "the two leaves; `shared` is still open");
    std::thread::spawn(move || drop(span)).join().unwrap();

    let spans = collector.spans();
    assert_eq!(spans.len(), 3, "{}", collector.render());
    let shared = named(&spans, "shared");
    assert_eq!(shared.tag("step"), Some(&Value::I64(1)), "the last record wins, once");
    assert_eq!(shared.tags.iter().filter(|(key, _)| key == "step").count(), 1);
    let leaves: Vec<_> = spans.iter().filter(|s| s.name == "leaf").collect();
    assert!(leaves.iter().all(|l| l.parent_id == Some(shared.span_id)));
    assert_eq!(shared.events.len(), 2);
    assert!(shared.end_unix_nanos() >= leaves[1].end_unix_nanos());
}

#[test]
fn a_span_exited_on_another_thread_than_it_was_entered_on_closes_and_leaves_no_context() {
    let (collector, tracer) = collector();
    let dispatch = dispatch(TracingLayer::new());
    let _scope = tracer.set_default();
    let _dispatch = tracing::dispatcher::set_default(&dispatch);
    let span = tracing::info_span!("crossing");
    let id = span.id().unwrap();
    // Raw enter here, exit on another thread: what `Entered` guards never do.
    dispatch.enter(&id);
    assert_eq!(trace_runtime::current_span_id(), Some(collector_span_id(&span)));
    let (other, moved) = (dispatch.clone(), id.clone());
    std::thread::spawn(move || other.exit(&moved)).join().unwrap();
    drop(span);

    let spans = collector.spans();
    assert_eq!(spans.len(), 1, "closed and exported once");
    assert_eq!(spans[0].name, "crossing");
    // This thread drops its stale entry as soon as the layer runs here again.
    tracing::info_span!("next").in_scope(leaf);
    let after = collector.spans();
    let next = named(&after, "next");
    assert_eq!(next.parent_id, None, "not a child of the closed span");
    assert_eq!(trace_runtime::current_span_id(), None);
}

/// The ID our span has for a `tracing` span, read while it is entered.
fn collector_span_id(span: &tracing::Span) -> trace_runtime::SpanId {
    span.in_scope(|| trace_runtime::current_span_id().unwrap())
}

#[test]
fn a_span_closing_while_another_is_entered_here_leaves_the_stack_as_it_was() {
    // Regression: exiting `inner` dropped the stale entry of `crossing`
    // first and then missed `inner`'s own, which stayed current.
    let (collector, tracer) = collector();
    let dispatch = dispatch(TracingLayer::new());
    let _scope = tracer.set_default();
    let _dispatch = tracing::dispatcher::set_default(&dispatch);
    let crossing = tracing::info_span!("crossing");
    let id = crossing.id().unwrap();
    dispatch.enter(&id);
    let (other, moved) = (dispatch.clone(), id.clone());
    std::thread::spawn(move || other.exit(&moved)).join().unwrap();
    let inner = tracing::info_span!(parent: None, "inner");
    // `crossing` closes on a third thread while `inner` is entered here.
    inner.in_scope(|| std::thread::spawn(move || drop(crossing)).join().unwrap());
    assert_eq!(trace_runtime::current_span_id(), None, "nothing left current");
    drop(inner);
    let spans = collector.spans();
    assert_eq!(spans.len(), 2, "{}", collector.render());
    leaf();
    assert_eq!(named(&collector.spans(), "leaf").parent_id, None);
}

#[test]
fn a_span_never_entered_is_exported_with_its_fields_under_the_span_current_at_creation() {
    let (collector, tracer) = collector();
    let subscriber = tracing_subscriber::registry().with(TracingLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        tracer.in_scope(|| {
            let _parent = trace_runtime::span("parent").start();
            let never = tracing::info_span!("never", size = 3_u64, ratio = 0.5, ok = true);
            drop(never);
        });
    });
    assert_eq!(collector.render(), "parent\n  never size=3 ratio=0.5 ok=true\n");
}

#[test]
fn otel_fields_set_name_kind_and_status_and_record_adds_tags_later() {
    let (collector, tracer) = collector();
    let subscriber = tracing_subscriber::registry().with(TracingLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        tracer.in_scope(|| {
            let span = tracing::info_span!(
                "HTTP request",
                otel.name = "GET /cart",
                otel.kind = "server",
                otel.status_code = tracing::field::Empty,
                otel.status_message = tracing::field::Empty,
                http.status_code = tracing::field::Empty,
            );
            span.record("http.status_code", 503);
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_message", "backend down");
            let ok = tracing::info_span!("ok", otel.status_code = "ok");
            drop(ok);
        });
    });
    let spans = collector.spans();
    let request = named(&spans, "GET /cart");
    assert_eq!(request.kind, SpanKind::Server);
    assert_eq!(request.status, Status::Error("backend down".into()));
    assert_eq!(request.tag("http.status_code"), Some(&Value::I64(503)));
    assert!(request.tags.iter().all(|(key, _)| !key.starts_with("otel.")), "{:?}", request.tags);
    assert_eq!(named(&spans, "ok").status, Status::Ok);
}

#[test]
fn follows_from_becomes_a_link() {
    let (collector, tracer) = collector();
    let subscriber = tracing_subscriber::registry().with(TracingLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        tracer.in_scope(|| {
            let producer = tracing::info_span!("enqueue");
            let consumer = tracing::info_span!(parent: None, "process");
            consumer.follows_from(&producer);
        });
    });
    let spans = collector.spans();
    let (producer, consumer) = (named(&spans, "enqueue"), named(&spans, "process"));
    assert_ne!(producer.trace_id, consumer.trace_id, "`parent: None` starts a trace");
    assert_eq!(consumer.links.len(), 1);
    assert_eq!(consumer.links[0].span_context.span_id, producer.span_id);
    assert_eq!(consumer.links[0].span_context.trace_id, producer.trace_id);
}

#[test]
fn an_explicit_parent_wins_over_the_current_span() {
    let (collector, tracer) = collector();
    let subscriber = tracing_subscriber::registry().with(TracingLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        tracer.in_scope(|| {
            let connection = tracing::info_span!("connection");
            let _other = trace_runtime::span("other").root().start();
            let query = tracing::info_span!(parent: &connection, "query");
            query.in_scope(|| {
                tracing::info!(parent: &connection, "explicit");
                leaf();
            });
        });
    });
    let spans = collector.spans();
    let connection = named(&spans, "connection");
    let query = named(&spans, "query");
    assert_eq!(query.parent_id, Some(connection.span_id));
    assert_eq!(named(&spans, "leaf").parent_id, Some(query.span_id));
    assert_eq!(connection.events.len(), 1, "the event with `parent:` goes to that span");
    assert!(named(&spans, "other").events.is_empty());
}

#[test]
fn error_events_set_the_status_only_when_asked() {
    for opted_in in [false, true] {
        let (collector, tracer) = collector();
        let layer = TracingLayer::new().errors_from_events(opted_in);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracer.in_scope(|| {
                tracing::info_span!("charge").in_scope(|| tracing::error!("card declined"));
                tracing::info_span!("refund", error = "no such payment").in_scope(|| {});
            });
        });
        let spans = collector.spans();
        let (charge, refund) = (named(&spans, "charge"), named(&spans, "refund"));
        assert_eq!(event_tag(charge, "card declined", "level"), Some(&Value::from("ERROR")));
        if opted_in {
            assert_eq!(charge.status, Status::Error("card declined".into()));
            assert_eq!(refund.status, Status::Error("no such payment".into()));
        } else {
            assert_eq!(charge.status, Status::Unset);
            assert_eq!(refund.status, Status::Unset);
        }
    }
}

#[test]
fn fields_are_subject_to_the_tracers_limits_and_redaction() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("compat")
        .limits(Limits { max_tags_per_span: 2, ..Limits::default() })
        .redact(|key, value| (key != "password").then_some(value))
        .span_processor(collector.clone())
        .build();
    let subscriber = tracing_subscriber::registry().with(TracingLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        tracer.in_scope(|| {
            drop(tracing::info_span!("login", user = "ada", password = "hunter2", extra = 1));
        });
    });
    assert_eq!(collector.render(), "login user=\"ada\"\n");
    assert_eq!(tracer.stats().tags_dropped, 1);
}

#[test]
fn an_unsampled_trace_records_nothing_across_threads_and_adds_no_roots() {
    let (collector, tracer) = unsampled_collector();
    let dispatch = dispatch(TracingLayer::new());
    let runtime = runtime(&tracer, &dispatch);
    let scope = scope(&tracer, &dispatch);
    runtime.block_on(async {
        let handles: Vec<_> = (0..3)
            .map(|job| tokio::spawn(work(job).instrument(tracing::info_span!("job", job))))
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
    });
    drop(scope);
    drop(runtime);
    assert!(collector.spans().is_empty());
    let stats = tracer.stats();
    assert_eq!(stats.unsampled_roots, 3, "one decision per job; `work` follows its job");
    assert_eq!(stats.sampled_roots, 0);
}

#[test]
fn an_unsampled_span_entered_away_from_its_parent_keeps_its_trace_there() {
    let (collector, tracer) = unsampled_collector();
    let dispatch = dispatch(TracingLayer::new());
    let _scope = tracer.set_default();
    let _dispatch = tracing::dispatcher::set_default(&dispatch);
    let ids = || (trace_runtime::current_trace_id(), trace_runtime::current_span_id());
    let (child, here) = tracing::info_span!("parent").in_scope(|| {
        let child = tracing::info_span!("child");
        // Where its parent is current, entered once or twice, it has the
        // parent's IDs (an unsampled child shares them).
        let here = child.in_scope(|| child.in_scope(ids));
        assert_eq!(here, ids(), "the parent's IDs, shared");
        (child, here)
    });
    assert!(here.0.is_some());
    assert_eq!(ids(), (None, None));
    let (tracer, dispatch) = (tracer.clone(), dispatch.clone());
    let there = std::thread::spawn(move || {
        let _scope = tracer.set_default();
        let _dispatch = tracing::dispatcher::set_default(&dispatch);
        let there = child.in_scope(|| {
            leaf();
            ids()
        });
        assert_eq!(ids(), (None, None), "exited: nothing left current");
        (there, tracer.stats())
    })
    .join()
    .unwrap();
    assert_eq!(there.0, here, "the same trace on the other thread");
    assert_eq!(there.1.unsampled_roots, 1, "`leaf` followed the trace: no decision of its own");
    assert!(collector.spans().is_empty());
}

#[test]
fn without_a_tracer_the_layer_does_nothing() {
    let subscriber = tracing_subscriber::registry().with(TracingLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("alone", n = 1);
        span.in_scope(|| {
            tracing::info!("nothing to attach to");
            assert_eq!(trace_runtime::current_span_id(), None);
        });
    });
}

#[tracing::instrument]
fn instrumented_with_our_calls() {
    trace_runtime::add_tag("cache", "miss");
    trace_runtime::add_event("retrying", Vec::new());
    trace_runtime::set_status(Status::Error("gave up".into()));
}

#[test]
fn our_current_span_calls_inside_an_entered_tracing_span_reach_it() {
    let (collector, tracer) = collector();
    let subscriber = tracing_subscriber::registry().with(TracingLayer::new());
    tracing::subscriber::with_default(subscriber, || tracer.in_scope(instrumented_with_our_calls));
    assert_eq!(
        collector.render(),
        "instrumented_with_our_calls cache=\"miss\" (error: gave up)\n  @ retrying\n"
    );
}
