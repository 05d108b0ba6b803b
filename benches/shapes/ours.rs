//! trace-runtime: `#[traced]`, a tracer with the batching pipeline.

use std::sync::Arc;

use trace_runtime::export::{BatchConfig, BatchSpanProcessor, ExportError, SpanExporter};
use trace_runtime::{Sampler, SpanData, Tracer, traced};

use super::{black_box, children, run_to_completion};

/// A sink that drops what it is sent.
pub struct Discard;

impl SpanExporter for Discard {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        black_box(batch);
        Ok(())
    }
}

/// A tracer exporting through a [`BatchSpanProcessor`] (default
/// configuration, no drop reports on stderr) to [`Discard`].
pub fn tracer(sampler: Sampler) -> (Tracer, Arc<BatchSpanProcessor>) {
    let mut config = BatchConfig::default();
    config.report_interval = None;
    batch_tracer(sampler, config)
}

/// [`tracer`] with this batch configuration.
pub fn batch_tracer(sampler: Sampler, config: BatchConfig) -> (Tracer, Arc<BatchSpanProcessor>) {
    let exporter = Arc::new(BatchSpanProcessor::with_config(Discard, config));
    let tracer = Tracer::builder("bench").sampler(sampler).span_processor(exporter.clone()).build();
    (tracer, exporter)
}

#[traced]
#[inline(never)]
fn child() {}

#[traced(tags(id = i))]
#[inline(never)]
fn child_tag1(i: u64) {}

#[traced(tags(id = i, name = "x"))]
#[inline(never)]
fn child_tags2(i: u64) {}

/// A trace of untagged spans.
#[traced]
#[inline(never)]
pub fn root() {
    for _ in 0..children() {
        child();
    }
}

/// A trace whose children carry one integer tag.
#[traced]
#[inline(never)]
pub fn root_tag1() {
    for i in 0..children() {
        child_tag1(black_box(i));
    }
}

/// A trace whose children carry an integer tag and a `&str` tag.
#[traced]
#[inline(never)]
pub fn root_tags2() {
    for i in 0..children() {
        child_tags2(black_box(i));
    }
}

/// A trace of a single span: the cost of starting (and ending) a trace.
#[traced]
#[inline(never)]
pub fn lone_root() {}

#[traced]
#[inline(never)]
async fn child_async() {}

#[traced]
async fn root_async_body() {
    for _ in 0..children() {
        child_async().await;
    }
}

/// A trace of `async fn` spans, polled to completion on this thread.
#[inline(never)]
pub fn root_async() {
    run_to_completion(root_async_body());
}

/// Returns `Pending` once (waking its task at once), then `Ready`.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            std::task::Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

#[traced]
#[inline(never)]
async fn child_wait() {
    YieldOnce(false).await;
}

#[traced]
async fn root_wait_body() {
    for _ in 0..children() {
        child_wait().await;
    }
}

/// A trace of `async fn` spans that each wait once: every span is taken off
/// the stack, carried, and resumed for a second poll (as is its parent's).
#[inline(never)]
pub fn root_async_wait() {
    run_to_completion(root_wait_body());
}
