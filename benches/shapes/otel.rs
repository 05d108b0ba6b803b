//! The OpenTelemetry SDK: spans made active in turn, a batch span processor
//! and an exporter that discards.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::KeyValue;
use opentelemetry::trace::{Tracer as _, TracerProvider as _, mark_span_as_active};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanData, SpanExporter};

use super::{black_box, children};

/// Counts the spans it is given and drops them.
#[derive(Debug)]
struct Discard(Arc<AtomicU64>);

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        black_box(batch);
        Ok(())
    }
}

/// A provider with the batch span processor (default configuration)
/// around [`Discard`], its tracer, and the count of spans exported.
pub fn tracer() -> (SdkTracerProvider, SdkTracer, Arc<AtomicU64>) {
    let delivered = Arc::new(AtomicU64::new(0));
    let provider =
        SdkTracerProvider::builder().with_batch_exporter(Discard(delivered.clone())).build();
    let tracer = provider.tracer("bench");
    (provider, tracer, delivered)
}

#[inline(never)]
fn child(tracer: &SdkTracer) {
    tracer.in_span("child", |_| {});
}

#[inline(never)]
fn child_tag1(tracer: &SdkTracer, i: u64) {
    let span = tracer
        .span_builder("child")
        .with_attributes([KeyValue::new("id", i64::try_from(i).unwrap_or(i64::MAX))])
        .start(tracer);
    let _active = mark_span_as_active(span);
}

#[inline(never)]
fn child_tags2(tracer: &SdkTracer, i: u64) {
    let span = tracer
        .span_builder("child")
        .with_attributes([
            KeyValue::new("id", i64::try_from(i).unwrap_or(i64::MAX)),
            KeyValue::new("name", "x"),
        ])
        .start(tracer);
    let _active = mark_span_as_active(span);
}

/// A trace of untagged spans.
#[inline(never)]
pub fn root(tracer: &SdkTracer) {
    tracer.in_span("root", |_| {
        for _ in 0..children() {
            child(tracer);
        }
    });
}

/// A trace whose children carry one integer attribute.
#[inline(never)]
pub fn root_tag1(tracer: &SdkTracer) {
    tracer.in_span("root", |_| {
        for i in 0..children() {
            child_tag1(tracer, black_box(i));
        }
    });
}

/// A trace whose children carry an integer and a string attribute.
#[inline(never)]
pub fn root_tags2(tracer: &SdkTracer) {
    tracer.in_span("root", |_| {
        for i in 0..children() {
            child_tags2(tracer, black_box(i));
        }
    });
}
