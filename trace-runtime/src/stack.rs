//! The thread-local stack of open spans.
//!
//! Each thread keeps the spans open on it, innermost last, and the tracer
//! current on it. A span opened while another is on top becomes its child;
//! one opened on an empty stack starts a trace. Records of sampled spans live
//! in their frame until they close, so tags can be added to "the current
//! span" from anywhere on the thread.
//!
//! Guards may be dropped out of order: closing a span removes exactly its
//! frame, wherever it is. Spans opened above it stay open, keep the parent
//! they were given, and the top of what remains is current again.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::context::{Extras, SpanContext};
use crate::id::{SpanId, TraceId};
use crate::limits;
use crate::span::{Event, Link, SpanData, SpanKind, Status};
use crate::tracer::Tracer;
use crate::value::{Tag, Value};

/// An entry of the stack: an open span of ours, or an attached context.
pub(crate) struct Frame {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) sampled: bool,
    pub(crate) origin: Origin,
    /// The record of a sampled span of ours; `None` for unsampled spans and
    /// attached contexts.
    pub(crate) record: Option<OpenSpan>,
    /// Trace state and baggage, inherited from the parent frame.
    pub(crate) extras: Option<Arc<Extras>>,
    /// Spans open under this unsampled span that have no frame of their
    /// own (see [`open`]).
    pub(crate) nested_unsampled: u32,
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

/// What a sampled span accumulates while it is open (reached by generated
/// code only through `__private`).
pub struct OpenSpan {
    pub(crate) tracer: Tracer,
    pub(crate) parent_id: Option<SpanId>,
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: SpanKind,
    pub(crate) start: Timestamp,
    pub(crate) tags: Vec<Tag>,
    /// Events, links and a status other than unset: allocated only for
    /// spans that have any, so the frame every span pushes stays small.
    rare: Option<Box<Rare>>,
}

#[derive(Default)]
struct Rare {
    events: Vec<Event>,
    links: Vec<Link>,
    status: Status,
}

impl OpenSpan {
    /// Adds a tag within the tracer's limits.
    pub(crate) fn add_tag(&mut self, key: Cow<'static, str>, mut value: Value) {
        let inner = &self.tracer.inner;
        if self.tags.len() >= inner.limits.max_tags_per_span {
            limits::count(&inner.limit_counters.tags_dropped);
            return;
        }
        if inner.limits.cut_value(&mut value) {
            limits::count(&inner.limit_counters.values_truncated);
        }
        self.tags.push((key, value));
    }

    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// Sets the status.
    pub(crate) fn set_status(&mut self, status: Status) {
        if status != Status::Unset || self.rare.is_some() {
            self.rare().status = status;
        }
    }

    /// Adds an event within the tracer's limits.
    pub(crate) fn add_event(&mut self, name: Cow<'static, str>, tags: Vec<Tag>) {
        let inner = &self.tracer.inner;
        if self.rare.as_ref().map_or(0, |r| r.events.len()) >= inner.limits.max_events_per_span {
            limits::count(&inner.limit_counters.events_dropped);
            return;
        }
        let mut event = Event::now(name, tags);
        if limits::truncate(&mut event.name, inner.limits.max_name_bytes) {
            limits::count(&inner.limit_counters.names_truncated);
        }
        self.bound_tags(&mut event.tags);
        self.rare().events.push(event);
    }

    /// Adds a link within the tracer's limits.
    pub(crate) fn add_link(&mut self, mut link: Link) {
        let inner = &self.tracer.inner;
        if self.rare.as_ref().map_or(0, |r| r.links.len()) >= inner.limits.max_links_per_span {
            limits::count(&inner.limit_counters.links_dropped);
            return;
        }
        self.bound_tags(&mut link.tags);
        self.rare().links.push(link);
    }

    fn bound_tags(&self, tags: &mut Vec<Tag>) {
        let inner = &self.tracer.inner;
        if tags.len() > inner.limits.max_tags_per_span {
            let dropped = tags.len() - inner.limits.max_tags_per_span;
            tags.truncate(inner.limits.max_tags_per_span);
            inner
                .limit_counters
                .tags_dropped
                .fetch_add(dropped as u64, std::sync::atomic::Ordering::Relaxed);
        }
        for (_, value) in tags.iter_mut() {
            if inner.limits.cut_value(value) {
                limits::count(&inner.limit_counters.values_truncated);
            }
        }
    }

    /// Reads the clock and turns the record into its exported form.
    fn finish(self, trace_id: TraceId, span_id: SpanId) -> (Tracer, SpanData) {
        let end = Timestamp::now();
        let Rare { mut events, mut links, status } = self.rare.map(|r| *r).unwrap_or_default();
        let mut tags = self.tags;
        if let Some(redact) = &self.tracer.inner.redact {
            redact_tags(redact.as_ref(), &mut tags);
            for event in &mut events {
                redact_tags(redact.as_ref(), &mut event.tags);
            }
            for link in &mut links {
                redact_tags(redact.as_ref(), &mut link.tags);
            }
        }
        let data = SpanData {
            trace_id,
            span_id,
            parent_id: self.parent_id,
            name: self.name,
            kind: self.kind,
            start_unix_nanos: self.start.unix_nanos(),
            duration_nanos: end.nanos_since(self.start),
            tags,
            events,
            links,
            status,
            service: self.tracer.inner.service.clone(),
        };
        (self.tracer, data)
    }
}

fn redact_tags(redact: &crate::tracer::RedactFn, tags: &mut Vec<Tag>) {
    *tags = std::mem::take(tags)
        .into_iter()
        .filter_map(|(key, value)| redact(&key, value).map(|value| (key, value)))
        .collect();
}

impl Frame {
    pub(crate) fn span_context(&self) -> Option<SpanContext> {
        (self.origin != Origin::Detached).then_some(SpanContext {
            trace_id: self.trace_id,
            span_id: self.span_id,
            sampled: self.sampled,
            remote: self.origin == Origin::Remote,
        })
    }
}

/// Finished spans waiting on this thread to be handed over together: the
/// hand-off costs one call per batch instead of one per span. A batch goes
/// when the thread has no open span left (a request finished), when it is
/// full, when the next span belongs to another tracer, and at thread exit.
#[derive(Default)]
struct Finished {
    tracer: Option<Tracer>,
    spans: Vec<SpanData>,
}

/// Finished spans to hand to one tracer.
type Batch = (Tracer, Vec<SpanData>);

impl Finished {
    /// Adds a span; returns the batch of another tracer that was waiting,
    /// which must be handed over first (a thread switching tracers).
    #[inline]
    fn push(&mut self, tracer: Tracer, span: SpanData) -> Option<Batch> {
        if let Some(current) = &self.tracer
            && current.same_as(&tracer)
        {
            self.spans.push(span);
            return None;
        }
        let previous = self.take();
        self.tracer = Some(tracer);
        self.spans.push(span);
        previous
    }

    /// The buffer, if it is due: nothing is open on the thread, or it is full.
    #[inline]
    fn take_if_due(&mut self, open_spans: usize) -> Option<Batch> {
        let limit = self.tracer.as_ref()?.inner.limits.max_spans_buffered_per_thread;
        if open_spans == 0 || self.spans.len() >= limit { self.take() } else { None }
    }

    fn take(&mut self) -> Option<Batch> {
        if self.spans.is_empty() {
            return None;
        }
        let tracer = self.tracer.clone()?;
        Some((tracer, std::mem::take(&mut self.spans)))
    }
}

/// Hands batches to their tracers; outside the thread state, so exporters
/// may trace too.
fn hand_over(first: Option<Batch>, then: Option<Batch>) {
    for (tracer, batch) in first.into_iter().chain(then) {
        tracer.export_batch(batch);
    }
}

#[derive(Default)]
struct Local {
    tracer: Option<Tracer>,
    stack: Vec<Frame>,
    /// Frames of `stack` that are spans (not attached contexts).
    open_spans: usize,
    finished: Finished,
}

impl Drop for Local {
    fn drop(&mut self) {
        // Thread exit: nothing may stay behind in the thread's buffer.
        if let Some((tracer, batch)) = self.finished.take() {
            tracer.export_batch(batch);
        }
    }
}

impl Local {
    /// Removes the innermost frame for `span_id`: an attached context's if
    /// `attached`, else the span's own. A context attached on the thread
    /// where its span is open has the same ID, hence the distinction.
    fn remove(&mut self, span_id: SpanId, attached: bool) -> Option<Frame> {
        let index = self
            .stack
            .iter()
            .rposition(|f| f.span_id == span_id && (f.origin != Origin::Span) == attached)?;
        let frame = self.stack.remove(index);
        if frame.origin == Origin::Span {
            self.open_spans -= 1;
        }
        Some(frame)
    }

    fn push(&mut self, frame: Frame) {
        if frame.origin == Origin::Span {
            self.open_spans += 1;
        }
        self.stack.push(frame);
    }
}

thread_local! {
    /// Whether this thread has a scoped tracer: with no global tracer
    /// either, opening a span costs this one check (a plain thread-local
    /// read: no destructor, no borrow flag).
    static HAS_SCOPED_TRACER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };

    static LOCAL: RefCell<Local> = const {
        RefCell::new(Local {
            tracer: None,
            stack: Vec::new(),
            open_spans: 0,
            finished: Finished { tracer: None, spans: Vec::new() },
        })
    };
}

/// Runs `f` on this thread's state; `None` during thread teardown, when the
/// state is gone and tracing quietly does nothing.
fn with_local<R>(f: impl FnOnce(&mut Local) -> R) -> Option<R> {
    LOCAL.try_with(|local| f(&mut local.borrow_mut())).ok()
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
    /// Counted on its unsampled parent instead of having a frame.
    pub(crate) nested: bool,
}

/// Opens a span on top of this thread's stack; `None` when no tracer is
/// installed (nothing is generated or read then).
///
/// A span opened under an unsampled span of this thread gets no frame of
/// its own: the parent counts it, and it shares the parent's IDs. Nothing
/// is recorded for an unsampled trace, so the only cost left is that count,
/// and what it propagates (the trace ID, the unsampled flag) is the same.
pub(crate) fn open(start: SpanStart) -> Option<OpenedSpan> {
    if Tracer::global().is_none() && !HAS_SCOPED_TRACER.get() {
        return None;
    }
    with_local(|local| {
        let top = local.stack.last_mut();
        if let Some(parent) = top
            && !start.root
            && !parent.sampled
            && parent.origin == Origin::Span
        {
            parent.nested_unsampled += 1;
            return Some(OpenedSpan {
                span_id: parent.span_id,
                trace_id: parent.trace_id,
                sampled: false,
                nested: true,
            });
        }
        let tracer = local.tracer.as_ref().or_else(|| Tracer::global())?;
        let top = local.stack.last();
        // Baggage and trace state pass to children even across `root`.
        let extras = top.and_then(|frame| frame.extras.clone());
        let parent = top.filter(|frame| !start.root && frame.origin != Origin::Detached);
        let span_id = SpanId::random();
        let (trace_id, parent_id, sampled) = match parent {
            Some(parent) if parent.origin != Origin::Remote => {
                (parent.trace_id, Some(parent.span_id), parent.sampled)
            }
            Some(parent) => {
                let sampled =
                    tracer.inner.sampler.should_sample(parent.trace_id, Some(parent.sampled));
                tracer.count_root(sampled);
                (parent.trace_id, Some(parent.span_id), sampled)
            }
            None => {
                let trace_id = TraceId::random();
                let sampled = tracer.inner.sampler.should_sample(trace_id, None);
                tracer.count_root(sampled);
                (trace_id, None, sampled)
            }
        };
        let record = sampled.then(|| {
            let mut name = start.name;
            if limits::truncate(&mut name, tracer.inner.limits.max_name_bytes) {
                limits::count(&tracer.inner.limit_counters.names_truncated);
            }
            OpenSpan {
                tracer: tracer.clone(),
                parent_id,
                name,
                kind: start.kind,
                start: Timestamp::now(),
                tags: Vec::new(),
                rare: None,
            }
        });
        let origin = Origin::Span;
        local.push(Frame {
            trace_id,
            span_id,
            sampled,
            origin,
            record,
            extras,
            nested_unsampled: 0,
        });
        Some(OpenedSpan { span_id, trace_id, sampled, nested: false })
    })
    .flatten()
}

/// Closes a span that [`open`] counted on its unsampled parent.
pub(crate) fn close_nested(span_id: SpanId) {
    with_local(|local| {
        if let Some(parent) =
            local.stack.iter_mut().rev().find(|f| f.span_id == span_id && f.origin == Origin::Span)
        {
            parent.nested_unsampled = parent.nested_unsampled.saturating_sub(1);
        }
    });
}

/// A frame of its own for a span counted on its unsampled parent, to be
/// carried by a future to other threads.
pub(crate) fn detach_nested(span_id: SpanId) -> Option<Frame> {
    with_local(|local| {
        let parent = local
            .stack
            .iter_mut()
            .rev()
            .find(|f| f.span_id == span_id && f.origin == Origin::Span)?;
        parent.nested_unsampled = parent.nested_unsampled.saturating_sub(1);
        Some(Frame {
            trace_id: parent.trace_id,
            span_id: SpanId::random(),
            sampled: false,
            origin: Origin::Span,
            record: None,
            extras: parent.extras.clone(),
            nested_unsampled: 0,
        })
    })
    .flatten()
}

/// Removes the frame of the span `span_id` from this thread's stack.
pub(crate) fn take(span_id: SpanId) -> Option<Frame> {
    with_local(|local| local.remove(span_id, false)).flatten()
}

/// Closes the span `span_id` if it is open on this thread.
pub(crate) fn close(span_id: SpanId) {
    let due = with_local(|local| {
        let frame = local.remove(span_id, false)?;
        let (tracer, span) = frame.record?.finish(frame.trace_id, frame.span_id);
        let switched = local.finished.push(tracer, span);
        Some((switched, local.finished.take_if_due(local.open_spans)))
    });
    if let Some(Some((switched, due))) = due
        && (switched.is_some() || due.is_some())
    {
        hand_over(switched, due);
    }
}

/// Hands this thread's finished spans over now (flush and shutdown).
pub(crate) fn hand_over_finished() {
    if let Some(Some((tracer, batch))) = with_local(|local| local.finished.take()) {
        tracer.export_batch(batch);
    }
}

/// Closes a span taken off the stack (a future's span).
pub(crate) fn finish(frame: Frame) {
    let Some(record) = frame.record else { return };
    let mut pending = Some(record.finish(frame.trace_id, frame.span_id));
    let due = with_local(|local| {
        let (tracer, span) = pending.take().expect("taken once");
        let switched = local.finished.push(tracer, span);
        (switched, local.finished.take_if_due(local.open_spans))
    });
    match (due, pending) {
        (Some((switched, due)), _) => hand_over(switched, due),
        // Thread teardown: no buffer left, hand the span over directly.
        (None, Some((tracer, span))) => tracer.export_batch(vec![span]),
        (None, None) => {}
    }
}

/// Pushes a frame (a span resumed on this thread, or an attached context),
/// making `tracer` current if given; returns the tracer it replaced.
pub(crate) fn push(frame: Frame, tracer: Option<Tracer>) -> Option<Tracer> {
    with_local(|local| {
        local.push(frame);
        match tracer {
            Some(tracer) => {
                HAS_SCOPED_TRACER.set(true);
                local.tracer.replace(tracer)
            }
            None => local.tracer.clone(),
        }
    })
    .flatten()
}

/// Undoes [`push`]: takes the frame back and restores the previous tracer.
///
/// A thread left with no open span hands its finished spans over here too:
/// spans that closed inside a future's poll would otherwise wait on a worker
/// thread until the next span closes there.
pub(crate) fn pop(span_id: SpanId, attached: bool, previous: Option<Tracer>) -> Option<Frame> {
    let (frame, due) = with_local(|local| {
        HAS_SCOPED_TRACER.set(previous.is_some());
        local.tracer = previous;
        let frame = local.remove(span_id, attached);
        let due = if local.open_spans == 0 { local.finished.take() } else { None };
        (frame, due)
    })
    .unwrap_or((None, None));
    if due.is_some() {
        hand_over(None, due);
    }
    frame
}

/// Runs `f` on the record of the open span `span_id`, if it is sampled.
pub(crate) fn with_span<R>(span_id: SpanId, f: impl FnOnce(&mut OpenSpan) -> R) -> Option<R> {
    with_local(|local| {
        let frame = local
            .stack
            .iter_mut()
            .rev()
            .find(|f| f.span_id == span_id && f.origin == Origin::Span)?;
        frame.record.as_mut().map(f)
    })
    .flatten()
}

/// Runs `f` on the record of the current span, if it is a sampled span of ours.
pub(crate) fn with_current<R>(f: impl FnOnce(&mut OpenSpan) -> R) -> Option<R> {
    with_local(|local| local.stack.last_mut()?.record.as_mut().map(f)).flatten()
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
    let previous = push(frame, tracer.cloned());
    let _resumed = Resumed { slot, span_id, previous: Some(previous) };
    f()
}

struct Resumed<'a> {
    slot: &'a mut Option<Frame>,
    span_id: SpanId,
    previous: Option<Option<Tracer>>,
}

impl Drop for Resumed<'_> {
    fn drop(&mut self) {
        *self.slot = pop(self.span_id, false, self.previous.take().flatten());
        if std::thread::panicking()
            && let Some(record) = self.slot.as_mut().and_then(|f| f.record.as_mut())
        {
            record.set_status(Status::Error(crate::panic::unwinding_message().into()));
        }
    }
}
