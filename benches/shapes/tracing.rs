//! `tracing`: `#[instrument]`, a registry and a minimal collecting layer
//! that keeps each closed span's name, timing and fields and hands the
//! records of a finished trace to a background thread, which drops them.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Dispatch, Subscriber, instrument};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use super::{black_box, children, run_to_completion};

/// A field value as the layer keeps it.
pub enum FieldValue {
    U64(u64),
    I64(i64),
    Str(String),
}

/// What the layer keeps of a span.
pub struct Record {
    pub name: &'static str,
    pub start: Instant,
    pub end: Option<Instant>,
    pub fields: Vec<(&'static str, FieldValue)>,
}

struct Fields<'a>(&'a mut Vec<(&'static str, FieldValue)>);

impl Visit for Fields<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name(), FieldValue::U64(value)));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push((field.name(), FieldValue::I64(value)));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), FieldValue::Str(value.to_owned())));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((field.name(), FieldValue::Str(format!("{value:?}"))));
    }
}

thread_local! {
    static FINISHED: RefCell<Vec<Record>> = const { RefCell::new(Vec::new()) };
}

/// The collecting layer.
pub struct Collect {
    sender: SyncSender<Vec<Record>>,
    pub delivered: Arc<AtomicU64>,
    pub dropped: Arc<AtomicU64>,
}

impl Collect {
    /// A layer whose queue holds 2048 spans, like trace-runtime's, counted
    /// in traces of `spans_per_trace`.
    fn new(spans_per_trace: u64) -> Self {
        let traces = usize::try_from(2048 / spans_per_trace.max(1)).unwrap_or(0).max(1);
        let (sender, receiver) = mpsc::sync_channel::<Vec<Record>>(traces);
        let delivered = Arc::new(AtomicU64::new(0));
        let count = delivered.clone();
        std::thread::spawn(move || {
            for batch in receiver {
                count.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        });
        Self { sender, delivered, dropped: Arc::default() }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Collect {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Vec::new();
        attrs.record(&mut Fields(&mut fields));
        let name = attrs.metadata().name();
        span.extensions_mut().insert(Record { name, start: Instant::now(), end: None, fields });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(mut record) = span.extensions_mut().remove::<Record>() else { return };
        record.end = Some(Instant::now());
        let root = span.parent().is_none();
        let batch = FINISHED.with(|finished| {
            let mut finished = finished.borrow_mut();
            finished.push(record);
            root.then(|| std::mem::take(&mut *finished))
        });
        if let Some(batch) = batch {
            let count = batch.len() as u64;
            if self.sender.try_send(batch).is_err() {
                self.dropped.fetch_add(count, Ordering::Relaxed);
            }
        }
    }
}

/// A registry with the collecting layer, and its delivered and dropped
/// counts, for traces of [`super::spans_per_trace`] spans.
pub fn dispatch() -> (Dispatch, Arc<AtomicU64>, Arc<AtomicU64>) {
    dispatch_for(super::spans_per_trace())
}

/// [`dispatch`] for traces of `spans_per_trace` spans.
pub fn dispatch_for(spans_per_trace: u64) -> (Dispatch, Arc<AtomicU64>, Arc<AtomicU64>) {
    let layer = Collect::new(spans_per_trace);
    let (delivered, dropped) = (layer.delivered.clone(), layer.dropped.clone());
    (Dispatch::new(Registry::default().with(layer)), delivered, dropped)
}

#[instrument(level = "info")]
#[inline(never)]
fn child() {}

#[instrument(level = "info", skip_all, fields(id = i))]
#[inline(never)]
fn child_tag1(i: u64) {}

#[instrument(level = "info", skip_all, fields(id = i, name = "x"))]
#[inline(never)]
fn child_tags2(i: u64) {}

/// A trace of untagged spans.
#[instrument(level = "info")]
#[inline(never)]
pub fn root() {
    for _ in 0..children() {
        child();
    }
}

/// A trace whose children carry one integer field.
#[instrument(level = "info")]
#[inline(never)]
pub fn root_tag1() {
    for i in 0..children() {
        child_tag1(black_box(i));
    }
}

/// A trace whose children carry an integer and a string field.
#[instrument(level = "info")]
#[inline(never)]
pub fn root_tags2() {
    for i in 0..children() {
        child_tags2(black_box(i));
    }
}

/// A trace of a single span: the cost of starting (and ending) a trace.
#[instrument(level = "info")]
#[inline(never)]
pub fn lone_root() {}

#[instrument(level = "info")]
#[inline(never)]
async fn child_async() {}

#[instrument(level = "info")]
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
