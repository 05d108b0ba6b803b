//! One request fanned out to threads, a thread pool and async tasks, then
//! many requests under a ratio sampler.
//!
//! Run with `cargo run --example threads_async_sampling`.

use rayon::prelude::*;
use trace_runtime::{Context, FutureExt, InMemoryCollector, Sampler, Tracer, traced};

#[traced(args)]
fn resize(image: u32) -> u32 {
    image * 2
}

#[traced(args)]
async fn fetch(shard: u32) -> u32 {
    tokio::task::yield_now().await;
    shard
}

#[traced(kind = server)]
async fn handle_upload() -> u32 {
    // A thread: the closure runs in the context captured here.
    let thread = std::thread::spawn(Context::current().wrap(|| resize(1)));

    // A thread pool: the per-item function runs in the captured context.
    let context = Context::current();
    let pooled: u32 = (2..5).into_par_iter().map(context.wrap_fn(resize)).sum();

    // Tasks on a multi-threaded runtime: spawned in the current context.
    let tasks: Vec<_> = (0..2).map(|shard| trace_runtime::spawn(fetch(shard))).collect();
    let mut fetched = 0;
    for task in tasks {
        fetched += task.await.expect("task");
    }
    thread.join().expect("thread") + pooled + fetched
}

fn main() {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().expect("runtime");

    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("uploads").span_processor(collector.clone()).build();
    let request = tracer.in_scope(|| handle_upload().in_current_context());
    runtime.block_on(request);
    println!("one request across a thread, a pool and two tasks:\n{}", collector.render());

    let sampled = InMemoryCollector::new();
    let tracer = Tracer::builder("uploads")
        .sampler(Sampler::parent_based(Sampler::ratio(0.25)))
        .span_processor(sampled.clone())
        .build();
    for _ in 0..1_000 {
        tracer.in_scope(|| resize(0));
    }
    let stats = tracer.stats();
    println!(
        "1000 requests at ratio 0.25: {} sampled, {} unsampled, {} spans exported",
        stats.sampled_roots, stats.unsampled_roots, stats.spans_exported
    );
}
