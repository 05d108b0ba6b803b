//! The thread-local stack of open spans, and the buffer their records live in.
//!
//! Each thread keeps the spans open on it, innermost last, and the tracer
//! current on it. A span opened while another is on top becomes its child;
//! one opened on an empty stack starts a trace.
//!
//! A sampled span's record is written once, into the thread's buffer, when
//! the span opens; its frame on the stack holds the record's index, so tags
//! can be added to "the current span" from anywhere on the thread, and
//! closing the span only stamps the end time. The buffer goes to the
//! exporters whole (one hand-off per batch, not per span) when the thread
//! has no span open (a request finished), when enough closed records piled
//! up under a long-lived span, when a span of another tracer needs it, and
//! at thread exit.
//!
//! Guards may be dropped out of order: closing a span removes exactly its
//! frame, wherever it is. Spans opened above it stay open, keep the parent
//! they were given, and the top of what remains is current again.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::sync::Arc;

use crate::context::{Extras, SpanContext};
use crate::flags::TraceFlags;
use crate::id::{IdSource, SpanId, TraceId};
use crate::limits;
use crate::record::{OpenSpan, Record, State, spare};
use crate::span::{SpanKind, Status};
use crate::tracer::Tracer;

/// An entry of the stack: an open span of ours, or an attached context.
pub(crate) struct Frame {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) sampled: bool,
    /// The trace's W3C flags other than `sampled` (kept clear here; the
    /// field above holds it): `random`, passed from parent to child.
    pub(crate) flags: TraceFlags,
    pub(crate) origin: Origin,
    /// Where the record of a sampled span of ours is.
    pub(crate) record: Slot,
    /// Trace state and baggage, inherited from the parent frame.
    pub(crate) extras: Option<Arc<Extras>>,
}

/// What a frame stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A span open on this thread.
    Span,
    /// A context captured elsewhere in this process and attached here.
    Attached,
    /// A context propagated from another process: the sampler decides anew
    /// (or follows its flag, if parent-based) for spans opened under it.
    Remote,
    /// A context without a span (only baggage, or nothing): spans opened
    /// under it start new traces. Its IDs are placeholders.
    Detached,
}

/// Where a frame's record is.
pub(crate) enum Slot {
    /// Nothing is recorded: an unsampled span, or an attached context.
    None,
    /// In this thread's buffer, at this index.
    Buffered(u32),
    /// With the frame itself: a span taken off its thread's stack to follow
    /// a future (or a client call) wherever it is polled.
    Carried(Box<Record>),
}

impl Frame {
    pub(crate) fn span_context(&self) -> Option<SpanContext> {
        (self.origin != Origin::Detached).then_some(SpanContext {
            trace_id: self.trace_id,
            span_id: self.span_id,
            flags: self.flags.with_sampled(self.sampled),
            remote: self.origin == Origin::Remote,
        })
    }

    /// Access to the record a frame carries.
    pub(crate) fn carried(&mut self) -> Option<OpenSpan<'_>> {
        match &mut self.record {
            Slot::Carried(record) => record.open_span(None),
            _ => None,
        }
    }
}

/// Records of one tracer to hand over together.
type Batch = (Tracer, Vec<Record>);

/// The records of spans opened (or finished) on this thread, open and
/// closed, in the order they were written.
#[derive(Default)]
struct Buffer {
    /// The tracer the records belong to, unless a record names its own.
    tracer: Option<Tracer>,
    records: Vec<Record>,
    /// Records still open: their frames are on this thread's stack.
    open: usize,
    /// Slots whose record moved out.
    moved: usize,
}

impl Buffer {
    /// Whether records for `tracer` need not name it.
    #[inline(always)]
    fn owned_by(&self, tracer: &Tracer) -> bool {
        self.tracer.as_ref().is_some_and(|own| own.same_as(tracer))
    }

    /// The tracer to write into a record for `tracer`: `None` for the
    /// buffer's own. A buffer with nothing open switches to `tracer`,
    /// returning what it held for the previous one.
    #[cold]
    fn adopt(&mut self, tracer: &Tracer) -> (Option<Tracer>, Option<Batch>) {
        if self.owned_by(tracer) {
            return (None, None);
        }
        if self.open == 0 {
            let previous = self.take();
            self.tracer = Some(tracer.clone());
            return (None, previous);
        }
        (Some(tracer.clone()), None)
    }

    /// Adds the record of a span opening now; returns its index.
    #[inline(always)]
    fn push_open(&mut self, record: Record) -> u32 {
        let index = u32::try_from(self.records.len()).expect("fewer than 2^32 records per thread");
        self.records.push(record);
        self.open += 1;
        index
    }

    /// Adds a closed record brought from elsewhere (a future's span); may
    /// return a batch of the buffer's previous tracer.
    fn push_closed(&mut self, mut record: Record) -> Option<Batch> {
        let mut previous = None;
        if let Some(tracer) = record.tracer.take() {
            let (own, switched) = self.adopt(&tracer);
            record.tracer = own;
            previous = switched;
        }
        self.records.push(record);
        previous
    }

    /// Everything, when nothing is open (moved-out slots included: the
    /// batch skips them where it is converted).
    fn take(&mut self) -> Option<Batch> {
        debug_assert_eq!(self.open, 0, "open records stay with their frames");
        if self.records.len() == self.moved {
            self.records.clear();
            self.moved = 0;
            return None;
        }
        self.moved = 0;
        let tracer = self.tracer.clone()?;
        let capacity = self.records.capacity();
        Some((tracer, std::mem::replace(&mut self.records, spare::take(capacity))))
    }

    /// Access for adding to the record in `slot`.
    fn open_span<'a>(&'a mut self, slot: &'a mut Slot) -> Option<OpenSpan<'a>> {
        let Self { tracer, records, .. } = self;
        match slot {
            Slot::None => None,
            Slot::Buffered(index) => records[*index as usize].open_span(tracer.as_ref()),
            Slot::Carried(record) => record.open_span(tracer.as_ref()),
        }
    }
}

/// Hands a batch to its tracer, or to the tracers its records name;
/// outside the thread state, so exporters may trace too.
fn hand_over(batch: Batch) {
    let (tracer, records) = batch;
    if records.iter().all(|record| record.tracer.is_none()) {
        tracer.export_records(records);
        return;
    }
    // Spans of another tracer opened while the buffer's spans were open.
    let mut groups: Vec<Batch> = Vec::new();
    for mut record in records {
        let owner = record.tracer.take().unwrap_or_else(|| tracer.clone());
        match groups.iter_mut().find(|(t, _)| t.same_as(&owner)) {
            Some((_, group)) => group.push(record),
            None => groups.push((owner, vec![record])),
        }
    }
    for (tracer, records) in groups {
        tracer.export_records(records);
    }
}

#[derive(Default)]
struct Local {
    tracer: Option<Tracer>,
    ids: IdSource,
    stack: Vec<Frame>,
    /// Frames of `stack` that are spans (not attached contexts).
    open_spans: usize,
    buffer: Buffer,
}

impl Drop for Local {
    fn drop(&mut self) {
        // Thread exit: nothing may stay behind in the thread's buffer. A
        // span still open here had its guard leaked; it ends now.
        for record in &mut self.buffer.records {
            if record.data.state == State::Open {
                record.close();
            }
        }
        self.buffer.open = 0;
        if let Some(batch) = self.buffer.take() {
            hand_over(batch);
        }
    }
}

impl Local {
    /// Removes the innermost frame for `span_id`: an attached context's if
    /// `attached`, else the span's own. A context attached on the thread
    /// where its span is open has the same ID, hence the distinction.
    #[inline]
    fn remove(&mut self, span_id: SpanId, attached: bool) -> Option<Frame> {
        let is = |f: &Frame| f.span_id == span_id && (f.origin != Origin::Span) == attached;
        // Mostly the top: guards drop in the reverse order of opening.
        let frame = if self.stack.last().is_some_and(is) {
            self.stack.pop()?
        } else {
            let index = self.stack.iter().rposition(is)?;
            self.stack.remove(index)
        };
        if frame.origin == Origin::Span {
            self.open_spans -= 1;
        }
        self.note_top();
        Some(frame)
    }

    fn push(&mut self, frame: Frame) {
        if frame.origin == Origin::Span {
            self.open_spans += 1;
        }
        self.stack.push(frame);
        self.note_top();
    }

    /// Keeps [`UNSAMPLED_TOP`] in step with the stack.
    #[inline]
    fn note_top(&self) {
        let top = self.stack.last().filter(|f| !f.sampled && f.origin == Origin::Span);
        UNSAMPLED_TOP.set(top.map(|f| (f.trace_id, f.span_id)));
    }

    /// Closes the span `span_id`; returns a batch to hand over, if one is due.
    #[inline]
    fn close(&mut self, span_id: SpanId) -> Option<Batch> {
        let frame = self.remove(span_id, false)?;
        match frame.record {
            Slot::Buffered(index) => {
                self.buffer.records[index as usize].close();
                self.buffer.open -= 1;
                self.due()
            }
            // Not reached through a guard (a carried span ends in `finish`);
            // handed over as it is.
            Slot::Carried(mut record) => {
                record.close();
                let tracer = record.tracer.take().or_else(|| self.buffer.tracer.clone())?;
                Some((tracer, vec![*record]))
            }
            Slot::None => None,
        }
    }

    /// A batch to hand over after a span closed, if one is due.
    #[inline]
    fn due(&mut self) -> Option<Batch> {
        let buffer = &mut self.buffer;
        let limit = buffer.tracer.as_ref()?.inner.limits.max_spans_buffered_per_thread;
        if buffer.open == 0 {
            if self.open_spans == 0 || buffer.records.len() >= limit { buffer.take() } else { None }
        } else if buffer.records.len() - buffer.open >= limit {
            self.split_closed()
        } else {
            None
        }
    }

    /// The closed records, leaving the open ones (and renumbering their
    /// frames): a long-lived span does not hold back its children. The few
    /// open records move to a new buffer; the rest stays where it is.
    fn split_closed(&mut self) -> Option<Batch> {
        let buffer = &mut self.buffer;
        let tracer = buffer.tracer.clone()?;
        let capacity = buffer.records.capacity();
        let mut closed = std::mem::replace(&mut buffer.records, spare::take(capacity));
        // Frames with a buffered record are in the order of their records:
        // both are added as spans open, and removal keeps the order.
        for frame in &mut self.stack {
            if let Slot::Buffered(index) = &mut frame.record {
                let slot = &mut closed[*index as usize];
                let moved = slot.moved();
                *index = buffer.push_open(std::mem::replace(slot, moved));
                buffer.open -= 1;
            }
        }
        debug_assert_eq!(buffer.open, buffer.records.len());
        buffer.moved = 0;
        Some((tracer, closed))
    }
}

thread_local! {
    /// Whether this thread has a scoped tracer: with no global tracer
    /// either, opening a span costs this one check (a plain thread-local
    /// read: no destructor, no borrow flag).
    static HAS_SCOPED_TRACER: Cell<bool> = const { Cell::new(false) };

    /// The IDs of the top frame when it is an unsampled span of ours: a span
    /// opened under it costs this one read (see [`open_nested`]).
    static UNSAMPLED_TOP: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };

    static LOCAL: RefCell<Local> = const {
        RefCell::new(Local {
            tracer: None,
            ids: IdSource::new(),
            stack: Vec::new(),
            open_spans: 0,
            buffer: Buffer { tracer: None, records: Vec::new(), open: 0, moved: 0 },
        })
    };
}

/// Runs `f` on this thread's state; `None` during thread teardown, when the
/// state is gone and tracing quietly does nothing. `f` never runs user code
/// (tag expressions, `Debug`, exporters are called outside), so the state is
/// never in use already; if it were, the call would do nothing rather than
/// panic in the application.
#[inline]
fn with_local<R>(f: impl FnOnce(&mut Local) -> R) -> Option<R> {
    LOCAL
        .try_with(|local| local.try_borrow_mut().ok().map(|mut local| f(&mut local)))
        .ok()
        .flatten()
}

/// Whether spans opened on this thread can go anywhere.
#[inline(always)]
pub(crate) fn enabled() -> bool {
    HAS_SCOPED_TRACER.get() || Tracer::global().is_some()
}

/// Replaces the thread's scoped tracer, returning the previous one.
pub(crate) fn swap_tracer(tracer: Option<Tracer>) -> Option<Tracer> {
    with_local(|local| {
        HAS_SCOPED_TRACER.set(tracer.is_some());
        std::mem::replace(&mut local.tracer, tracer)
    })
    .flatten()
}

/// The tracer spans opened on this thread go to.
pub(crate) fn current_tracer() -> Option<Tracer> {
    with_local(|local| local.tracer.clone()).flatten().or_else(|| Tracer::global().cloned())
}

/// How to open a span.
pub(crate) struct SpanStart {
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: SpanKind,
    /// Start a new trace even if a span is current.
    pub(crate) root: bool,
}

/// What an open span is known by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenedSpan {
    pub(crate) span_id: SpanId,
    pub(crate) trace_id: TraceId,
    pub(crate) sampled: bool,
    /// Opened under an unsampled span of this thread, without a frame.
    pub(crate) nested: bool,
}

/// A span opened under an unsampled span of this thread: it gets no frame
/// of its own and shares the parent's IDs, since nothing is recorded for an
/// unsampled trace and what it propagates (the trace ID, the unsampled
/// flag) is the same. `None` if the top of the stack is something else.
#[inline(always)]
pub(crate) fn open_nested(root: bool) -> Option<OpenedSpan> {
    if root {
        return None;
    }
    let (trace_id, span_id) = UNSAMPLED_TOP.get()?;
    Some(OpenedSpan { span_id, trace_id, sampled: false, nested: true })
}

/// Opens a span on top of this thread's stack; `None` when no tracer is
/// installed.
pub(crate) fn open_frame(start: SpanStart) -> Option<OpenedSpan> {
    let (opened, switched) = with_local(|local| {
        let tracer = local.tracer.as_ref().or_else(|| Tracer::global())?;
        let top = local.stack.last();
        // Baggage and trace state pass to children even across `root`.
        let extras = top.and_then(|frame| frame.extras.clone());
        let parent = top.filter(|frame| !start.root && frame.origin != Origin::Detached);
        let span_id = local.ids.span_id();
        let (trace_id, parent_id, sampled, flags) = match parent {
            Some(parent) if parent.origin != Origin::Remote => {
                (parent.trace_id, Some(parent.span_id), parent.sampled, parent.flags)
            }
            Some(parent) => {
                let sampled =
                    tracer.inner.sampler.should_sample(parent.trace_id, Some(parent.sampled));
                tracer.count_root(sampled);
                (parent.trace_id, Some(parent.span_id), sampled, parent.flags)
            }
            None => {
                let trace_id = local.ids.trace_id();
                let sampled = tracer.inner.sampler.should_sample(trace_id, None);
                tracer.count_root(sampled);
                // Our trace IDs are random throughout: W3C Level 2 says the
                // random flag SHOULD then be set.
                (trace_id, None, sampled, TraceFlags::RANDOM)
            }
        };
        let mut switched = None;
        let record = if sampled {
            let mut name = start.name;
            if limits::truncate(&mut name, tracer.inner.limits.max_name_bytes) {
                limits::count(&tracer.inner.limit_counters.names_truncated);
            }
            let own = if local.buffer.owned_by(tracer) {
                None
            } else {
                let (own, previous) = local.buffer.adopt(tracer);
                switched = previous;
                own
            };
            let record = Record::open(own, (trace_id, span_id, parent_id), name, start.kind);
            Slot::Buffered(local.buffer.push_open(record))
        } else {
            Slot::None
        };
        let origin = Origin::Span;
        local.push(Frame { trace_id, span_id, sampled, flags, origin, record, extras });
        Some((OpenedSpan { span_id, trace_id, sampled, nested: false }, switched))
    })
    .flatten()?;
    if let Some(batch) = switched {
        hand_over(batch);
    }
    Some(opened)
}

/// A frame of its own for a span that [`open_nested`] nested in its unsampled
/// parent `span_id`, to be carried by a future to other threads.
pub(crate) fn detach_nested(trace_id: TraceId, span_id: SpanId) -> Frame {
    let (extras, flags) = with_local(|local| {
        let parent =
            local.stack.iter().rev().find(|f| f.span_id == span_id && f.origin == Origin::Span);
        parent.map_or((None, TraceFlags::NONE), |frame| (frame.extras.clone(), frame.flags))
    })
    .unwrap_or((None, TraceFlags::NONE));
    Frame {
        trace_id,
        span_id: SpanId::random(),
        sampled: false,
        flags,
        origin: Origin::Span,
        record: Slot::None,
        extras,
    }
}

/// Removes the frame of the span `span_id` from this thread's stack, its
/// record with it.
pub(crate) fn take(span_id: SpanId) -> Option<Frame> {
    with_local(|local| {
        let mut frame = local.remove(span_id, false)?;
        if let Slot::Buffered(index) = frame.record {
            let buffer = &mut local.buffer;
            let index = index as usize;
            // Mostly the last record: an `async fn` hands its span to its
            // future right after opening it.
            let mut record = if index + 1 == buffer.records.len() {
                buffer.records.pop().expect("the record at `index`")
            } else {
                let slot = &mut buffer.records[index];
                let moved = slot.moved();
                buffer.moved += 1;
                std::mem::replace(slot, moved)
            };
            buffer.open -= 1;
            if record.tracer.is_none() {
                record.tracer.clone_from(&buffer.tracer);
            }
            frame.record = Slot::Carried(Box::new(record));
        }
        Some(frame)
    })
    .flatten()
}

/// Closes the span `span_id` if it is open on this thread.
#[inline]
pub(crate) fn close(span_id: SpanId) {
    if let Some(Some(batch)) = with_local(|local| local.close(span_id)) {
        hand_over(batch);
    }
}

/// Hands this thread's closed records over now (flush and shutdown).
pub(crate) fn hand_over_finished() {
    let batch =
        with_local(
            |local| {
                if local.buffer.open == 0 { local.buffer.take() } else { local.split_closed() }
            },
        );
    if let Some(Some(batch)) = batch {
        hand_over(batch);
    }
}

/// Closes a span taken off the stack (a future's span).
pub(crate) fn finish(frame: Frame) {
    let Slot::Carried(mut record) = frame.record else { return };
    record.close();
    let mut pending = Some(record);
    let due = with_local(|local| {
        let record = pending.take().expect("taken once");
        let previous = local.buffer.push_closed(*record);
        (previous, local.due())
    });
    match (due, pending) {
        (Some((previous, due)), _) => {
            if let Some(batch) = previous {
                hand_over(batch);
            }
            if let Some(batch) = due {
                hand_over(batch);
            }
        }
        // Thread teardown: no buffer left, hand the record over directly.
        (None, Some(mut record)) => {
            if let Some(tracer) = record.tracer.take() {
                tracer.export_records(vec![*record]);
            }
        }
        (None, None) => {}
    }
}

/// The thread's tracer as it was before [`push`] made another one current,
/// for [`pop`] to put back; empty when `push` changed nothing.
pub(crate) struct Restore(Option<Option<Tracer>>);

/// Pushes a frame (a span resumed on this thread, or an attached context),
/// making `tracer` current if given and not current already (a future
/// carrying the tracer every thread falls back to changes nothing, and
/// costs no reference count, on each poll).
pub(crate) fn push(frame: Frame, tracer: Option<&Tracer>) -> Restore {
    with_local(|local| {
        local.push(frame);
        let current = local.tracer.as_ref().or_else(|| Tracer::global());
        match tracer {
            Some(tracer) if !current.is_some_and(|current| current.same_as(tracer)) => {
                HAS_SCOPED_TRACER.set(true);
                Restore(Some(local.tracer.replace(tracer.clone())))
            }
            _ => Restore(None),
        }
    })
    .unwrap_or(Restore(None))
}

/// Undoes [`push`]: takes the frame back and restores the previous tracer.
///
/// A thread left with no open span hands its closed records over here too:
/// spans that closed inside a future's poll would otherwise wait on a worker
/// thread until the next span closes there.
pub(crate) fn pop(span_id: SpanId, attached: bool, restore: Restore) -> Option<Frame> {
    let (frame, due) = with_local(|local| {
        if let Restore(Some(previous)) = restore {
            HAS_SCOPED_TRACER.set(previous.is_some());
            local.tracer = previous;
        }
        let frame = local.remove(span_id, attached);
        let due = if local.open_spans == 0 && local.buffer.open == 0 {
            local.buffer.take()
        } else {
            None
        };
        (frame, due)
    })
    .unwrap_or((None, None));
    if let Some(batch) = due {
        hand_over(batch);
    }
    frame
}

/// Runs `f` on the record of the open span `span_id`, if it is sampled.
#[inline]
pub(crate) fn with_span<R>(span_id: SpanId, f: impl FnOnce(&mut OpenSpan<'_>) -> R) -> Option<R> {
    with_local(|local| {
        let frame = local
            .stack
            .iter_mut()
            .rev()
            .find(|f| f.span_id == span_id && f.origin == Origin::Span)?;
        local.buffer.open_span(&mut frame.record).map(|mut span| f(&mut span))
    })
    .flatten()
}

/// Runs `f` on the record of the current span, if it is a sampled span of ours.
pub(crate) fn with_current<R>(f: impl FnOnce(&mut OpenSpan<'_>) -> R) -> Option<R> {
    with_local(|local| {
        let top = local.stack.last_mut()?;
        local.buffer.open_span(&mut top.record).map(|mut span| f(&mut span))
    })
    .flatten()
}

/// The current span context, if any.
pub(crate) fn current_span_context() -> Option<SpanContext> {
    with_local(|local| local.stack.last()?.span_context()).flatten()
}

/// What `Context::current` captures: the top frame's IDs and extras, and
/// the thread's scoped tracer.
pub(crate) fn capture() -> (Option<SpanContext>, Option<Arc<Extras>>, Option<Tracer>) {
    with_local(|local| {
        let top = local.stack.last();
        let span = top.and_then(Frame::span_context);
        (span, top.and_then(|f| f.extras.clone()), local.tracer.clone())
    })
    .unwrap_or((None, None, None))
}

/// Runs `f` with the span in `slot` (taken off another thread's stack, or
/// carried by a future) current on this thread, then puts it back in
/// `slot`, also when `f` panics, in which case the span records the panic.
pub(crate) fn resume<R>(
    slot: &mut Option<Frame>,
    tracer: Option<&Tracer>,
    f: impl FnOnce() -> R,
) -> R {
    let Some(frame) = slot.take() else { return f() };
    let span_id = frame.span_id;
    let previous = push(frame, tracer);
    let _resumed = Resumed { slot, span_id, previous: Some(previous) };
    f()
}

struct Resumed<'a> {
    slot: &'a mut Option<Frame>,
    span_id: SpanId,
    previous: Option<Restore>,
}

impl Drop for Resumed<'_> {
    fn drop(&mut self) {
        let previous = self.previous.take().unwrap_or(Restore(None));
        *self.slot = pop(self.span_id, false, previous);
        if std::thread::panicking()
            && let Some(mut span) = self.slot.as_mut().and_then(Frame::carried)
        {
            span.set_status(Status::Error(crate::panic::unwinding_message().into()));
        }
    }
}
