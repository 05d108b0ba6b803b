//! The floor: what a span cannot cost less than in this design. Two reads of
//! the clock trace-runtime uses (a raw TSC read through quanta, as in its
//! `clock.rs`), a span record pushed into a thread-local `Vec`, and the
//! trace's `Vec` handed to a background thread (which drops it) when the
//! root closes. No IDs beyond a counter, no tags, no stack of open spans.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, OnceLock};

use super::{children, spans_per_trace};

/// A finished span, as small as a useful record gets.
pub struct Record {
    pub trace_id: u128,
    pub span_id: u64,
    pub parent_id: u64,
    pub name: &'static str,
    pub start: u64,
    pub end: u64,
}

struct Local {
    next_id: u64,
    spans: Vec<Record>,
}

thread_local! {
    static LOCAL: RefCell<Local> = const { RefCell::new(Local { next_id: 1, spans: Vec::new() }) };
}

struct Pipeline {
    sender: SyncSender<Vec<Record>>,
    delivered: Arc<AtomicU64>,
    dropped: AtomicU64,
}

static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
static PIPELINE: OnceLock<Pipeline> = OnceLock::new();

/// A raw TSC read through quanta, as trace-runtime's clock does.
fn now() -> u64 {
    CLOCK.get_or_init(quanta::Clock::new).raw()
}

fn pipeline() -> &'static Pipeline {
    PIPELINE.get_or_init(|| {
        // Bounded like trace-runtime's queue: 2048 spans, in traces.
        let traces = usize::try_from(2048 / spans_per_trace()).unwrap_or(0).max(1);
        let (sender, receiver) = mpsc::sync_channel::<Vec<Record>>(traces);
        let delivered = Arc::new(AtomicU64::new(0));
        let count = delivered.clone();
        std::thread::spawn(move || {
            for batch in receiver {
                count.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        });
        Pipeline { sender, delivered, dropped: AtomicU64::new(0) }
    })
}

/// Spans the background thread received, and spans dropped on a full queue.
pub fn counts() -> (u64, u64) {
    let pipeline = pipeline();
    (pipeline.delivered.load(Ordering::Relaxed), pipeline.dropped.load(Ordering::Relaxed))
}

fn new_id() -> u64 {
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        local.next_id += 1;
        local.next_id
    })
}

/// Pushes a finished span, numbering it if `span_id` is 0.
fn push(trace_id: u128, span_id: u64, parent_id: u64, name: &'static str, start: u64, end: u64) {
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        let span_id = if span_id == 0 {
            local.next_id += 1;
            local.next_id
        } else {
            span_id
        };
        local.spans.push(Record { trace_id, span_id, parent_id, name, start, end });
    });
}

#[inline(never)]
fn child(trace_id: u128, parent_id: u64) {
    let start = now();
    let end = now();
    push(trace_id, 0, parent_id, "child", start, end);
}

/// A trace of untagged spans, handed over when the root closes.
#[inline(never)]
pub fn root() {
    let start = now();
    let span_id = new_id();
    let trace_id = u128::from(start) << 64 | u128::from(span_id);
    for _ in 0..children() {
        child(trace_id, span_id);
    }
    let end = now();
    push(trace_id, span_id, 0, "root", start, end);
    let batch = LOCAL.with(|local| {
        let spans = &mut local.borrow_mut().spans;
        std::mem::replace(
            spans,
            Vec::with_capacity(usize::try_from(spans_per_trace()).unwrap_or(0)),
        )
    });
    let pipeline = pipeline();
    let count = batch.len() as u64;
    if pipeline.sender.try_send(batch).is_err() {
        pipeline.dropped.fetch_add(count, Ordering::Relaxed);
    }
}
