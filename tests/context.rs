//! A request's trace across threads, thread pools and async tasks.

use rayon::prelude::*;
use trace_runtime::{Context, FutureExt, InMemoryCollector, SpanData, Tracer, traced};

fn collector() -> (InMemoryCollector, Tracer) {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("context-test").span_processor(collector.clone()).build();
    (collector, tracer)
}

fn children_of<'a>(spans: &'a [SpanData], parent: &SpanData) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.parent_id == Some(parent.span_id)).collect()
}

fn only<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one span named {name}");
    found[0]
}

#[traced(args)]
fn resize(image: u32) -> u32 {
    thumbnail(image)
}

#[traced]
fn thumbnail(image: u32) -> u32 {
    image * 2
}

#[traced]
fn fan_out_threads(count: u32) -> u32 {
    let workers: Vec<_> = (0..count)
        .map(|image| std::thread::spawn(Context::current().wrap(move || resize(image))))
        .collect();
    workers.into_iter().map(|w| w.join().unwrap()).sum()
}

#[test]
fn spawned_threads_are_children_of_the_span_that_spawned_them() {
    let (collector, tracer) = collector();
    assert_eq!(tracer.in_scope(|| fan_out_threads(4)), 12);
    let spans = collector.spans();
    let root = only(&spans, "fan_out_threads");
    let workers = children_of(&spans, root);
    assert_eq!(workers.len(), 4);
    for worker in workers {
        assert_eq!(worker.name, "resize");
        assert_eq!(worker.trace_id, root.trace_id);
        let grandchildren = children_of(&spans, worker);
        assert_eq!(grandchildren.len(), 1);
        assert_eq!(grandchildren[0].name, "thumbnail");
    }
}

#[traced]
fn fan_out_pool(images: &[u32]) -> u32 {
    let context = Context::current();
    images.par_iter().map(context.wrap_fn(|image: &u32| resize(*image))).sum()
}

#[test]
fn rayon_pool_work_joins_the_request_trace() {
    let (collector, tracer) = collector();
    let images: Vec<u32> = (0..32).collect();
    assert_eq!(tracer.in_scope(|| fan_out_pool(&images)), 992);
    let spans = collector.spans();
    let root = only(&spans, "fan_out_pool");
    assert_eq!(children_of(&spans, root).len(), 32);
    assert!(spans.iter().all(|s| s.trace_id == root.trace_id));
    assert_eq!(spans.len(), 1 + 32 * 2);
}

#[traced(args)]
async fn fetch(shard: u32) -> u32 {
    tokio::task::yield_now().await;
    thumbnail(shard)
}

#[traced(args)]
async fn request(id: u32) -> u32 {
    let tasks: Vec<_> = (0..4).map(|shard| trace_runtime::spawn(fetch(shard))).collect();
    let threads: Vec<_> = (0..4)
        .map(|image| std::thread::spawn(Context::current().wrap(move || resize(image))))
        .collect();
    let mut total = id;
    for task in tasks {
        total += task.await.unwrap();
    }
    for thread in threads {
        total += thread.join().unwrap();
    }
    total
}

#[test]
fn concurrent_requests_fan_out_to_tasks_and_threads_without_sharing_traces() {
    let (collector, tracer) = collector();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).build().unwrap();
    runtime.block_on(async {
        let handles: Vec<_> = tracer
            .in_scope(|| (0..8).map(|id| tokio::spawn(request(id).in_current_context())).collect());
        for handle in handles {
            handle.await.unwrap();
        }
    });
    let spans = collector.spans();
    let requests: Vec<&SpanData> = spans.iter().filter(|s| s.name == "request").collect();
    assert_eq!(requests.len(), 8);
    let mut trace_ids: Vec<_> = requests.iter().map(|r| r.trace_id).collect();
    trace_ids.sort();
    trace_ids.dedup();
    assert_eq!(trace_ids.len(), 8, "each request is its own trace");
    for request in requests {
        assert_eq!(request.parent_id, None);
        let children = children_of(&spans, request);
        assert_eq!(children.iter().filter(|c| c.name == "fetch").count(), 4);
        assert_eq!(children.iter().filter(|c| c.name == "resize").count(), 4);
        let in_trace = spans.iter().filter(|s| s.trace_id == request.trace_id).count();
        assert_eq!(in_trace, 1 + 4 * 2 + 4 * 2);
    }
}

#[test]
fn attaching_restores_the_previous_context_on_drop() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| {
        let captured = {
            let _a = trace_runtime::span("a").start();
            Context::current()
        };
        let b = trace_runtime::span("b").start();
        {
            let _guard = captured.attach();
            let _c = trace_runtime::span("c under a").start();
        }
        assert_eq!(trace_runtime::current_span_id(), b.span_id());
        let _d = trace_runtime::span("d under b").start();
    });
    assert_eq!(collector.render(), "a\n  c under a\nb\n  d under b\n");
}

#[test]
fn links_are_exported_with_the_span() {
    let (collector, tracer) = collector();
    tracer.in_scope(|| {
        let messages: Vec<_> = (0..3)
            .map(|_| {
                let _producer = trace_runtime::span("publish").start();
                Context::current().span_context().unwrap()
            })
            .collect();
        let consumer = trace_runtime::span("consume batch").root().start();
        for message in &messages {
            consumer.add_link(*message, vec![("messaging.batch".into(), true.into())]);
        }
    });
    let spans = collector.spans();
    let consumer = only(&spans, "consume batch");
    assert_eq!(consumer.links.len(), 3);
    for (link, producer) in consumer.links.iter().zip(spans.iter().filter(|s| s.name == "publish"))
    {
        assert_eq!(link.span_context.trace_id, producer.trace_id);
        assert_eq!(link.span_context.span_id, producer.span_id);
        assert!(link.span_context.sampled());
    }
    let first = &consumer.links[0].span_context;
    let rendering = collector.render_trace(consumer.trace_id);
    let line = format!("  -> link {}/{} messaging.batch=true\n", first.trace_id, first.span_id);
    assert!(rendering.starts_with(&format!("consume batch\n{line}")), "{rendering}");
}

#[test]
fn context_is_send_sync_and_clone() {
    fn assert_traits<T: Send + Sync + Clone>() {}
    assert_traits::<Context>();
}
