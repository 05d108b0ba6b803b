//! fastrace: `#[trace]`, a reporter that discards, as its own benches set up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fastrace::collector::{Config, Reporter, SpanContext};
use fastrace::future::FutureExt as _;
use fastrace::prelude::{Span, SpanRecord};
use fastrace::trace;

use super::{black_box, children, run_to_completion};

struct Discard(Arc<AtomicU64>);

impl Reporter for Discard {
    fn report(&mut self, spans: Vec<SpanRecord>) {
        self.0.fetch_add(spans.len() as u64, Ordering::Relaxed);
        black_box(spans);
    }
}

/// Installs the discarding reporter; returns the count of spans it got.
pub fn install() -> Arc<AtomicU64> {
    let delivered = Arc::new(AtomicU64::new(0));
    fastrace::set_reporter(Discard(delivered.clone()), Config::default());
    delivered
}

#[trace]
#[inline(never)]
fn child() {}

#[trace(properties = { "id": "{i}" })]
#[inline(never)]
fn child_tag1(i: u64) {}

// fastrace's properties are format strings: the integer is formatted into
// a `String`, and so is the literal (`format!("x")`), on the calling thread.
#[trace(properties = { "id": "{i}", "name": "x" })]
#[inline(never)]
fn child_tags2(i: u64) {}

/// A trace of untagged spans.
#[inline(never)]
pub fn root() {
    let root = Span::root("root", SpanContext::random());
    let _parent = root.set_local_parent();
    for _ in 0..children() {
        child();
    }
}

/// A trace whose children carry one integer property.
#[inline(never)]
pub fn root_tag1() {
    let root = Span::root("root", SpanContext::random());
    let _parent = root.set_local_parent();
    for i in 0..children() {
        child_tag1(black_box(i));
    }
}

/// A trace whose children carry an integer and a string property.
#[inline(never)]
pub fn root_tags2() {
    let root = Span::root("root", SpanContext::random());
    let _parent = root.set_local_parent();
    for i in 0..children() {
        child_tags2(black_box(i));
    }
}

/// The children with no trace started: fastrace records nothing.
#[inline(never)]
pub fn no_root() {
    for _ in 0..children() {
        child();
    }
}

/// A trace of a single span: the cost of starting (and ending) a trace.
#[inline(never)]
pub fn lone_root() {
    drop(black_box(Span::root("root", SpanContext::random())));
}

#[trace]
#[inline(never)]
async fn child_async() {}

/// A trace of `async fn` spans: the root's body, an `async` block polled
/// inside the root (`in_span`), awaits the children in turn.
#[inline(never)]
pub fn root_async() {
    let root = Span::root("root", SpanContext::random());
    run_to_completion(
        async {
            for _ in 0..children() {
                child_async().await;
            }
        }
        .in_span(root),
    );
}
