#![deny(warnings)]
#![deny(clippy::pedantic)]

use std::future::Future;
use std::pin::Pin;

use trace_runtime::{InMemoryCollector, Tracer, traced};

#[traced]
async fn step() {}

#[traced(ret)]
fn plain_block() -> impl Future<Output = u32> {
    async {
        step().await;
        1
    }
}

#[traced(err)]
fn move_block(fail: bool) -> impl Future<Output = Result<(), String>> {
    async move {
        step().await;
        if fail { Err("failed".to_owned()) } else { Ok(()) }
    }
}

#[traced]
fn boxed() -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move { step().await })
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    let _current = tracer.set_default();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        assert_eq!(plain_block().await, 1);
        move_block(true).await.unwrap_err();
        boxed().await;
    });
    assert_eq!(
        collector.render(),
        "plain_block return=1\n  step\nmove_block (error: failed)\n  step\nboxed\n  step\n"
    );
}
