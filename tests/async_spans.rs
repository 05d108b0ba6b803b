//! `async fn` spans: current only while polled, on whichever thread polls
//! them, closed on completion or marked cancelled when dropped.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use trace_runtime::{InMemoryCollector, SpanData, Status, Tracer, Value, traced};

fn collector() -> (InMemoryCollector, Tracer) {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("async-test").span_processor(collector.clone()).build();
    (collector, tracer)
}

/// Yields to the executor once, so the task may resume on another worker.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[traced(args)]
async fn handle(request: u32) -> u32 {
    let mut total = 0;
    for step in 0..3 {
        YieldNow(false).await;
        total += work(step).await;
        sync_leaf();
    }
    total + request
}

#[traced(args)]
async fn work(step: u32) -> u32 {
    tokio::task::yield_now().await;
    step
}

#[traced]
fn sync_leaf() {}

#[traced]
fn entry_point(requests: u32) -> Vec<tokio::task::JoinHandle<u32>> {
    (0..requests).map(|r| trace_runtime::spawn(handle_root(r))).collect()
}

#[traced(root)]
async fn handle_root(request: u32) -> u32 {
    handle(request).await
}

fn check_tree(spans: &[SpanData], root: &SpanData) {
    let children: Vec<&SpanData> =
        spans.iter().filter(|s| s.parent_id == Some(root.span_id)).collect();
    assert_eq!(children.len(), 1);
    let handle = children[0];
    assert_eq!(handle.name, "handle");
    let grandchildren: Vec<&SpanData> =
        spans.iter().filter(|s| s.parent_id == Some(handle.span_id)).collect();
    assert_eq!(grandchildren.len(), 6, "3 work + 3 sync_leaf under handle");
    for span in [handle].into_iter().chain(grandchildren) {
        assert_eq!(span.trace_id, root.trace_id);
    }
}

#[test]
fn futures_moving_between_worker_threads_keep_their_parent_links() {
    let (collector, tracer) = collector();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).build().unwrap();
    runtime.block_on(async {
        // `trace_runtime::spawn` carries the context (and tracer) into each task.
        let handles = tracer.in_scope(|| entry_point(8));
        for (request, handle) in handles.into_iter().enumerate() {
            assert_eq!(handle.await.unwrap(), 3 + request as u32);
        }
    });
    let spans = collector.spans();
    let roots: Vec<&SpanData> = spans.iter().filter(|s| s.name == "handle_root").collect();
    assert_eq!(roots.len(), 8);
    for root in &roots {
        assert_eq!(root.parent_id, None);
        check_tree(&spans, root);
    }
    let mut trace_ids: Vec<_> = roots.iter().map(|r| r.trace_id).collect();
    trace_ids.dedup();
    assert_eq!(trace_ids.len(), 8, "concurrent requests never share a trace");
    assert_eq!(spans.len(), 1 + 8 * (1 + 1 + 6));
}

#[test]
fn an_async_span_is_current_only_while_polled() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| {
        let mut future = Box::pin(handle(1));
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(future.as_mut().poll(&mut cx).is_pending());
        // Between polls the thread has no current span.
        assert_eq!(trace_runtime::current_span_id(), None);
        sync_leaf();
        while future.as_mut().poll(&mut cx).is_pending() {}
    });
    let spans = collector.spans();
    let leaf_between_polls = &spans[0];
    assert_eq!(leaf_between_polls.name, "sync_leaf");
    assert_eq!(leaf_between_polls.parent_id, None);
    assert_eq!(spans.last().unwrap().name, "handle");
}

#[test]
fn a_dropped_future_closes_its_span_as_cancelled() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| {
        let mut future = Box::pin(handle(1));
        let waker = futures::task::noop_waker();
        assert!(future.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        drop(future);
    });
    let spans = collector.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "handle");
    assert_eq!(spans[0].tag("cancelled"), Some(&Value::Bool(true)));
}

#[traced(err)]
async fn fails(flag: bool) -> Result<(), String> {
    if flag {
        Err("remote said no".to_owned())?;
    }
    Ok(())
}

#[traced]
async fn panics() {
    tokio::task::yield_now().await;
    panic!("async boom");
}

#[test]
fn async_errors_and_panics_set_error_status() {
    let (collector, tracer) = collector();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    runtime.block_on(async {
        let (ok, err) = tracer
            .in_scope(|| (trace_runtime::spawn(fails(false)), trace_runtime::spawn(fails(true))));
        assert!(ok.await.unwrap().is_ok());
        assert!(err.await.unwrap().is_err());
        let panicked = tracer.in_scope(|| trace_runtime::spawn(panics()));
        assert!(panicked.await.is_err());
    });
    let mut statuses: Vec<(String, Status)> =
        collector.spans().into_iter().map(|s| (s.name.into_owned(), s.status)).collect();
    statuses.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    assert_eq!(
        statuses,
        [
            ("fails".to_owned(), Status::Error("remote said no".into())),
            ("fails".to_owned(), Status::Unset),
            ("panics".to_owned(), Status::Error("panicked: async boom".into())),
        ]
    );
}

#[traced]
async fn leaf_then_wait() {
    sync_leaf();
    YieldNow(false).await;
}

#[test]
fn spans_finished_during_a_poll_are_handed_over_when_the_poll_ends() {
    // Regression: they stayed in the polling thread's buffer until another
    // span closed there, so a worker thread that went idle kept them.
    let (collector, tracer) = collector();
    let mut future = Box::pin(leaf_then_wait());
    let waker = futures::task::noop_waker();
    let worker = tracer.clone();
    let seen = collector.clone();
    let polled = std::thread::spawn(move || {
        let _scope = worker.set_default();
        assert!(future.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        // Checked before this thread exits (which hands everything over).
        let names: Vec<String> = seen.spans().into_iter().map(|s| s.name.into_owned()).collect();
        (names, future)
    });
    let (names, future) = polled.join().unwrap();
    assert_eq!(names, ["sync_leaf"], "the leaf is exported while its parent still waits");
    drop(future);
}

#[traced]
async fn report(step: u32) -> u32 {
    YieldNow(false).await;
    step
}

#[test]
fn a_future_of_one_tracer_polled_where_another_is_current_reports_to_its_own() {
    let (ours, tracer) = collector();
    let (theirs, other) = collector();
    // Created (and first polled) under `tracer`, finished under `other`
    // with a span of `other` open on the thread.
    let mut future = tracer.in_scope(|| Box::pin(report(7)));
    let mut cx = Context::from_waker(std::task::Waker::noop());
    tracer.in_scope(|| assert!(future.as_mut().poll(&mut cx).is_pending()));
    other.in_scope(|| {
        let _busy = trace_runtime::span("other work").start();
        assert_eq!(future.as_mut().poll(&mut cx), Poll::Ready(7));
    });
    assert_eq!(ours.render(), "report\n");
    assert_eq!(theirs.render(), "other work\n");
}

#[test]
fn a_span_whose_guard_is_leaked_is_exported_when_its_thread_exits() {
    let (collector, tracer) = collector();
    let worker = tracer.clone();
    std::thread::spawn(move || {
        worker.in_scope(|| {
            std::mem::forget(trace_runtime::span("leaked").start());
            let _done = trace_runtime::span("done").start();
        });
    })
    .join()
    .unwrap();
    let names: Vec<_> = collector.spans().iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["done", "leaked"]);
}
