//! The thread's own world: its stack of open spans, the buffer their
//! records live in, its ID generator and its scoped tracer. Every
//! `thread_local!` of the crate's span state is declared here, and nothing
//! below this module reaches it; `context`, `guard`, `future`, `current`
//! and `__private` call the functions of this module.
//!
//! Each thread keeps the spans open on it, innermost last. A span opened
//! while another is on top becomes its child; one opened on an empty stack
//! starts a trace. A sampled span's record is written once, into the
//! thread's [`Buffer`], when the span opens; its [`Frame`] on the stack
//! holds the record's index, so tags can be added to "the current span"
//! from anywhere on the thread, and closing the span only stamps the end
//! time. The buffer goes to the exporters whole (one hand-off per batch,
//! not per span) when the thread has no span open (a request finished),
//! when enough closed records piled up under a long-lived span, when a
//! span of another tracer needs it, and at thread exit.
//!
//! Guards may be dropped out of order: closing a span removes exactly its
//! frame, wherever it is. Spans opened above it stay open, keep the parent
//! they were given, and the top of what remains is current again.
//!
//! The common case, a span opened under a sampled span of the same tracer,
//! takes a path of its own ([`open`]): no sampling decision, no tracer
//! lookup, an ID from a counter, the record written in place.

mod boxes;
mod buffer;
// The `tracing` layer's records, which live off the thread (`detached`).
#[cfg(feature = "tracing")]
pub(crate) mod compat;
mod frame;
mod ids;

use std::borrow::Cow;
use std::cell::{Cell, RefCell, RefMut};
use std::mem::{ManuallyDrop, MaybeUninit};
use std::sync::Arc;

use boxes::Boxes;
use buffer::{Batch, Buffer};
use frame::Entry;
pub(crate) use frame::{Carried, Frame, Origin, Slot};
use ids::IdSource;

use crate::flags::TraceFlags;
use crate::id::{SpanId, TraceId};
use crate::record::{OpenSpan, Record};
use crate::span::{Extras, SpanContext, SpanKind, Status};
use crate::tracer::Tracer;

struct Local {
    /// The tracer set for this thread (`Tracer::set_default`), if any.
    tracer: Option<Tracer>,
    ids: IdSource,
    stack: Vec<Entry>,
    /// Entries of `stack` that are spans (not attached contexts).
    open_spans: usize,
    buffer: Buffer,
    /// Whether spans opened now go to the buffer's tracer: kept in step
    /// with `tracer` and the buffer's, so the common path asks no more.
    buffer_current: bool,
    /// Boxes for records that follow futures, kept for reuse.
    boxes: Boxes,
}

impl Local {
    const fn new() -> Self {
        Self {
            tracer: None,
            ids: IdSource::new(),
            stack: Vec::new(),
            open_spans: 0,
            buffer: Buffer::new(),
            buffer_current: false,
            boxes: Boxes::new(),
        }
    }
}

thread_local! {
    /// The ID of the top entry when it is an unsampled span of ours: a span
    /// opened under it costs this one read (see [`open_nested`]).
    static UNSAMPLED_TOP: Cell<Option<SpanId>> = const { Cell::new(None) };

    /// The state itself has no destructor (`ManuallyDrop`): a thread-local
    /// without one is reached directly, where one with a destructor checks
    /// on every access whether it is registered or gone. [`TEARDOWN`] ends
    /// it at thread exit instead.
    static LOCAL: RefCell<ManuallyDrop<Local>> =
        const { RefCell::new(ManuallyDrop::new(Local::new())) };

    static TEARDOWN: Teardown = const { Teardown };
}

/// Ends the thread's state at thread exit; registered (by [`arm_teardown`])
/// before the state first holds anything that must not be lost or leaked.
struct Teardown;

impl Drop for Teardown {
    fn drop(&mut self) {
        let ended = LOCAL.with(|cell| {
            let mut local = cell.try_borrow_mut().ok()?;
            // Nothing may stay behind in the thread's buffer. A span still
            // open here had its guard leaked; it ends now.
            let batch = local.buffer.close_all();
            let state = std::mem::replace(&mut **local, Local::new());
            // Left borrowed for good: every later access (another
            // thread-local's destructor that traces) finds the state in use
            // and does nothing, as it would find a destroyed thread-local.
            std::mem::forget(local);
            Some((state, batch))
        });
        if let Some((state, batch)) = ended {
            drop(state);
            if let Some(batch) = batch {
                batch.export();
            }
        }
    }
}

/// Makes sure [`TEARDOWN`] runs at this thread's exit. Called on the paths
/// that first give the state something to hold (a new trace, a frame, a
/// tracer, a carried record), never on the common path.
#[inline]
fn arm_teardown() {
    let _ = TEARDOWN.try_with(|_| ());
}

/// Runs `f` on this thread's state; `None` during thread teardown, when the
/// state is gone and tracing quietly does nothing. `f` never runs user code
/// (tag expressions, `Debug`, exporters are called outside), so the state is
/// never in use already; if it were, the call would do nothing rather than
/// panic in the application.
#[inline(always)]
fn with_local<R>(f: impl FnOnce(&mut Local) -> R) -> Option<R> {
    let mut local = borrow_local()?;
    Some(f(&mut local))
}

/// [`with_local`] for what reads the top of the stack, grows it or changes
/// the thread's tracer: entered `tracing` spans' deferred frames go on the
/// stack first (see `compat`). What finds a span by its ID, or shrinks the
/// stack, needs not: a deferred frame is never one of ours, and it stays
/// above whatever remains.
#[inline(always)]
fn with_top<R>(f: impl FnOnce(&mut Local) -> R) -> Option<R> {
    #[cfg(feature = "tracing")]
    compat::materialize();
    with_local(f)
}

/// [`with_local`] as a borrow, for the two paths every span takes (open and
/// close): written straight in their functions, they leave the inliner no
/// closure to refuse.
#[inline(always)]
fn borrow_local<'a>() -> Option<RefMut<'a, ManuallyDrop<Local>>> {
    let cell: *const RefCell<ManuallyDrop<Local>> = LOCAL.with(std::ptr::from_ref);
    // SAFETY: the state has no destructor (`ManuallyDrop`), so it lives as
    // long as this thread, and a `RefMut` cannot leave the thread (it is
    // neither `Send` nor `Sync`); the callers hold it within one call.
    unsafe { &*cell }.try_borrow_mut().ok()
}

/// What a stack entry is, seen from outside the buffer.
struct Seen {
    span_id: SpanId,
    /// A span of ours (not an attached context).
    span: bool,
}

impl Local {
    /// The tracer spans opened now go to.
    #[inline]
    fn current_tracer(&self) -> Option<&Tracer> {
        self.tracer.as_ref().or_else(|| Tracer::global())
    }

    /// Recomputes [`Local::buffer_current`] after a tracer changed.
    fn note_tracer(&mut self) {
        let current = self.tracer.as_ref().or_else(|| Tracer::global());
        self.buffer_current = current.is_some_and(|tracer| self.buffer.owned_by(tracer));
    }

    fn seen(&self, entry: &Entry) -> Seen {
        match entry {
            Entry::Buffered(index) => {
                Seen { span_id: self.buffer.records[*index as usize].span_id, span: true }
            }
            Entry::Frame(frame) => {
                Seen { span_id: frame.span_id, span: frame.origin == Origin::Span }
            }
        }
    }

    /// The span context of the entry at `position`.
    fn span_context(&self, position: usize) -> Option<SpanContext> {
        match &self.stack[position] {
            Entry::Buffered(index) => {
                let record = &self.buffer.records[*index as usize];
                let (trace_id, span_id) = (record.trace_id, record.span_id);
                let flags = record.flags.with_sampled(true);
                Some(SpanContext { trace_id, span_id, flags, remote: false })
            }
            Entry::Frame(frame) => frame.span_context(),
        }
    }

    /// The trace state and baggage in force at `position`: a buffered span
    /// has those of the nearest frame below it.
    fn extras(&self, position: usize) -> Option<Arc<Extras>> {
        self.stack[..=position].iter().rev().find_map(|entry| match entry {
            Entry::Buffered(_) => None,
            Entry::Frame(frame) => Some(frame.extras.clone()),
        })?
    }

    /// Removes the innermost entry for `span_id`: an attached context's if
    /// `attached`, else the span's own. A context attached on the thread
    /// where its span is open has the same ID, hence the distinction.
    fn remove(&mut self, span_id: SpanId, attached: bool) -> Option<(usize, Entry)> {
        let is = |entry: &Entry| {
            let seen = self.seen(entry);
            seen.span_id == span_id && seen.span != attached
        };
        // Mostly the top: guards drop in the reverse order of opening.
        let top = self.stack.len().checked_sub(1)?;
        let position = if is(&self.stack[top]) { top } else { self.stack.iter().rposition(is)? };
        let entry = if position == top {
            self.stack.pop().expect("the top entry")
        } else {
            self.stack.remove(position)
        };
        if !attached {
            self.open_spans -= 1;
        }
        self.note_top();
        Some((position, entry))
    }

    #[inline]
    fn push(&mut self, frame: Frame) {
        if frame.origin == Origin::Span {
            self.open_spans += 1;
        }
        self.stack.push(Entry::Frame(frame));
        self.note_top();
    }

    /// Keeps [`UNSAMPLED_TOP`] in step with the stack.
    #[inline]
    fn note_top(&self) {
        let top = match self.stack.last() {
            // The top is not what is current: a deferred frame is (a span
            // closed out of order under an entered `tracing` span).
            #[cfg(feature = "tracing")]
            _ if compat::any_deferred() => None,
            Some(Entry::Frame(frame)) if !frame.sampled && frame.origin == Origin::Span => {
                Some(frame.span_id)
            }
            _ => None,
        };
        // `with`: `LocalKey::set` goes through an out-of-line initialiser.
        UNSAMPLED_TOP.with(|cell| cell.set(top));
    }

    /// Closes the span `span_id`; returns a batch to hand over, if one is due.
    fn close(&mut self, span_id: SpanId) -> Option<Batch> {
        match self.remove(span_id, false)?.1 {
            Entry::Buffered(index) => {
                self.buffer.close(index);
                self.due()
            }
            // Not reached through a guard (a carried span ends in `finish`);
            // handed over as it is.
            Entry::Frame(Frame { record: Slot::Carried(carried), .. }) => {
                let Carried { tracer, mut record } = *carried;
                record.close();
                Some(Batch::single(tracer, record))
            }
            Entry::Frame(_) => None,
        }
    }

    #[inline]
    fn due(&mut self) -> Option<Batch> {
        self.buffer.due(self.open_spans != 0, &mut self.stack)
    }

    /// Access for adding to the record of the entry at `position`.
    fn open_span(&mut self, position: usize) -> Option<OpenSpan<'_>> {
        match &mut self.stack[position] {
            Entry::Buffered(index) => self.buffer.open_span(*index),
            Entry::Frame(frame) => frame.carried(),
        }
    }

    /// The position of the open span `span_id`, innermost first.
    #[inline]
    fn find_span(&self, span_id: SpanId) -> Option<usize> {
        // Mostly the top: tags go to the span just opened.
        let top = self.stack.len().checked_sub(1)?;
        if let Entry::Buffered(index) = self.stack[top]
            && self.buffer.records[index as usize].span_id == span_id
        {
            return Some(top);
        }
        self.find_span_below(span_id)
    }

    #[inline(never)]
    fn find_span_below(&self, span_id: SpanId) -> Option<usize> {
        self.stack.iter().rposition(|entry| {
            let seen = self.seen(entry);
            seen.span_id == span_id && seen.span
        })
    }
}

/// Whether spans can go anywhere: `false` until a tracer is built in this
/// process, so that instrumented code in a program that never builds one
/// pays this one load.
#[inline(always)]
pub(crate) fn enabled() -> bool {
    Tracer::any_built()
}

/// Replaces the thread's scoped tracer, returning the previous one.
pub(crate) fn swap_tracer(tracer: Option<Tracer>) -> Option<Tracer> {
    arm_teardown();
    with_top(|local| {
        let previous = std::mem::replace(&mut local.tracer, tracer);
        local.note_tracer();
        previous
    })
    .flatten()
}

/// The tracer spans opened on this thread go to.
pub(crate) fn current_tracer() -> Option<Tracer> {
    with_top(|local| local.tracer.clone()).flatten().or_else(|| Tracer::global().cloned())
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
    /// For a span opened under an unsampled span of this thread, its
    /// parent's ID (see [`open_nested`]).
    pub(crate) span_id: SpanId,
    /// The flags below in one byte: an ID and a byte are a pair of scalars,
    /// which (unlike a struct of four fields) is returned in registers.
    bits: u8,
}

impl OpenedSpan {
    const SAMPLED: u8 = 1;
    /// Opened under an unsampled span of this thread, without an entry.
    const NESTED: u8 = 2;
    /// Opened while the thread was unwinding already: the panic in flight
    /// is not this span's.
    const PANICKING_AT_OPEN: u8 = 4;
    /// Not nested: there is an entry to close.
    const CLOSES: u8 = 8;

    #[inline(always)]
    pub(crate) fn new(span_id: SpanId, sampled: bool, nested: bool) -> Self {
        let bits = if sampled { Self::SAMPLED } else { 0 }
            | if nested { Self::NESTED } else { Self::CLOSES };
        // Only a recorded span has a status to set on unwinding. Asked at
        // open, not worked out at close from when the panic began:
        // `resume_unwind` (a task's panic carried to its awaiter) runs no
        // panic hook, so only this tells a panic that began after the span
        // opened from one it opened under. Asked here, where the bits are
        // built, it costs a load and a test.
        let bits =
            if sampled && std::thread::panicking() { bits | Self::PANICKING_AT_OPEN } else { bits };
        Self { span_id, bits }
    }

    /// The span as two integers, for a guard to hold; `(0, 0)` stands for
    /// no span, and tells [`closes_raw`](Self::closes_raw) so in one test.
    #[inline(always)]
    pub(crate) const fn into_raw(span: Option<Self>) -> (u64, u8) {
        match span {
            Some(span) => (span.span_id.to_u64(), span.bits),
            None => (0, 0),
        }
    }

    /// Undoes [`into_raw`](Self::into_raw).
    #[inline(always)]
    pub(crate) fn from_raw((span_id, bits): (u64, u8)) -> Option<Self> {
        SpanId::from_u64(span_id).map(|span_id| Self { span_id, bits })
    }

    /// Whether the span in `raw` has an entry to close.
    #[inline(always)]
    pub(crate) const fn closes_raw((_, bits): (u64, u8)) -> bool {
        bits & Self::CLOSES != 0
    }

    #[inline(always)]
    pub(crate) const fn sampled(self) -> bool {
        self.bits & Self::SAMPLED != 0
    }

    #[inline(always)]
    pub(crate) const fn nested(self) -> bool {
        self.bits & Self::NESTED != 0
    }

    #[inline(always)]
    pub(crate) const fn panicking_at_open(self) -> bool {
        self.bits & Self::PANICKING_AT_OPEN != 0
    }
}

/// A span opened under an unsampled span of this thread: it gets no entry
/// of its own and shares the parent's IDs, since nothing is recorded for an
/// unsampled trace and what it propagates (the trace ID, the unsampled
/// flag) is the same. `None` if the top of the stack is something else.
#[inline(always)]
pub(crate) fn open_nested(root: bool) -> Option<OpenedSpan> {
    if root {
        return None;
    }
    let span_id = UNSAMPLED_TOP.get()?;
    Some(OpenedSpan::new(span_id, false, true))
}

/// Opens a span on top of this thread's stack; `None` when no tracer is
/// installed. The name is generic so that `#[traced]`'s `&'static str`
/// reaches the record without passing through a `Cow` in memory.
#[inline]
pub(crate) fn open<N>(name: N, kind: SpanKind, root: bool) -> Option<OpenedSpan>
where
    N: Into<Cow<'static, str>>,
{
    #[cfg(feature = "tracing")]
    compat::materialize();
    let mut borrowed = borrow_local()?;
    let local = &mut **borrowed;
    // The common case: a child of a buffered span, for the tracer that owns
    // the buffer. The top stays a sampled span of ours, so `UNSAMPLED_TOP`
    // stays empty.
    if local.buffer_current {
        // Two arms rather than a parent value matched twice: the value
        // and its tag were spilled and reloaded on every span.
        match local.stack.last() {
            Some(&Entry::Buffered(parent)) if !root => {
                let span_id = local.ids.span_id();
                let mut name = name.into();
                local.buffer.bound_name(&mut name);
                let index = local.buffer.open_child_of(parent, span_id, name, kind);
                return Some(local.opened_buffered(index, span_id));
            }
            // A future's span, or a context captured in this process.
            Some(Entry::Frame(frame))
                if !root
                    && frame.sampled
                    && matches!(frame.origin, Origin::Span | Origin::Attached) =>
            {
                let (trace_id, parent_id, flags) = (frame.trace_id, frame.span_id, frame.flags);
                let span_id = local.ids.span_id();
                let mut name = name.into();
                local.buffer.bound_name(&mut name);
                let ids = (trace_id, span_id, Some(parent_id), flags);
                let index = local.buffer.open_record(ids, name, kind, None);
                return Some(local.opened_buffered(index, span_id));
            }
            // Nothing open: a new trace, for the buffer's tracer.
            None => return open_trace(borrowed, name.into(), kind),
            _ => {}
        }
    }
    // `open_slow` takes the state itself.
    drop(borrowed);
    open_slow(SpanStart { name: name.into(), kind, root })
}

impl Local {
    /// The end of [`open`]'s common path: the span's entry pushed.
    #[inline(always)]
    fn opened_buffered(&mut self, index: u32, span_id: SpanId) -> OpenedSpan {
        push_buffered(&mut self.stack, index);
        self.open_spans += 1;
        OpenedSpan::new(span_id, true, false)
    }
}

/// Pushes the entry of a buffered span: its tag and index written in
/// place, where `push` builds the whole (frame-sized) entry first and
/// copies it.
#[inline(always)]
fn push_buffered(stack: &mut Vec<Entry>, index: u32) {
    let len = stack.len();
    if len == stack.capacity() {
        grow(stack);
    }
    // SAFETY: there is room for one more entry (above), written before the
    // length covers it.
    unsafe {
        stack.as_mut_ptr().add(len).write(Entry::Buffered(index));
        stack.set_len(len + 1);
    }
}

#[cold]
fn grow(stack: &mut Vec<Entry>) {
    stack.reserve(1);
}

/// [`open`] of a span that starts a trace on a thread with nothing open
/// (a request begins), for the tracer that owns the buffer: no parent, no
/// trace state or baggage to inherit, no tracer to look up or adopt.
#[inline(never)]
fn open_trace(
    mut borrowed: RefMut<'_, ManuallyDrop<Local>>,
    mut name: Cow<'static, str>,
    kind: SpanKind,
) -> Option<OpenedSpan> {
    arm_teardown();
    let local = &mut **borrowed;
    let span_id = local.ids.span_id();
    let trace_id = local.ids.trace_id();
    let sampled = local.buffer.tracer.as_ref()?.decide_root(trace_id, None);
    local.open_spans += 1;
    // Our trace IDs are random throughout: W3C Level 2 says the random flag
    // SHOULD then be set.
    let flags = TraceFlags::RANDOM;
    if sampled {
        local.buffer.bound_name(&mut name);
        let index = local.buffer.open_record((trace_id, span_id, None, flags), name, kind, None);
        push_buffered(&mut local.stack, index);
    } else {
        let (origin, record, extras) = (Origin::Span, Slot::None, None);
        let frame = Frame { trace_id, span_id, sampled, flags, origin, record, extras };
        local.stack.push(Entry::Frame(frame));
        local.note_top();
    }
    Some(OpenedSpan::new(span_id, sampled, false))
}

/// [`open`] for everything but the common cases: a parent that is remote
/// or unsampled, another tracer, a new trace under an open span.
#[inline(never)]
fn open_slow(start: SpanStart) -> Option<OpenedSpan> {
    arm_teardown();
    // Written by the closure rather than returned through it: the nested
    // `Option`s would copy the batch several times.
    let mut switched = None;
    let opened = with_local(|local| {
        let top = local.stack.len().checked_sub(1);
        // Baggage and trace state pass to children even across `root`.
        let extras = top.and_then(|position| local.extras(position));
        let parent = match top {
            Some(position) if !start.root => match &local.stack[position] {
                Entry::Frame(frame) if frame.origin == Origin::Detached => None,
                Entry::Frame(frame) => Some((frame.span_context()?, frame.origin)),
                Entry::Buffered(_) => Some((local.span_context(position)?, Origin::Span)),
            },
            _ => None,
        };
        // The tracer stays borrowed from its field while the others change.
        let Local { tracer, ids, stack, open_spans, buffer, buffer_current, .. } = local;
        let tracer = match tracer {
            Some(tracer) => &*tracer,
            None => Tracer::global()?,
        };
        let span_id = ids.span_id();
        let (trace_id, parent_id, sampled, flags) = match parent {
            Some((parent, origin)) if origin != Origin::Remote => {
                let flags = parent.flags.with_sampled(false);
                (parent.trace_id, Some(parent.span_id), parent.sampled(), flags)
            }
            Some((parent, _)) => {
                let sampled = tracer.decide_root(parent.trace_id, Some(parent.sampled()));
                let flags = parent.flags.with_sampled(false);
                (parent.trace_id, Some(parent.span_id), sampled, flags)
            }
            None => {
                let trace_id = ids.trace_id();
                let sampled = tracer.decide_root(trace_id, None);
                // Our trace IDs are random throughout: W3C Level 2 says the
                // random flag SHOULD then be set.
                (trace_id, None, sampled, TraceFlags::RANDOM)
            }
        };
        *open_spans += 1;
        if sampled {
            let foreign = if buffer.owned_by(tracer) {
                *buffer_current = true;
                None
            } else {
                let (foreign, previous) = buffer.adopt(tracer);
                switched = previous;
                *buffer_current = !foreign;
                foreign.then(|| tracer.clone())
            };
            let mut name = start.name;
            if foreign.is_none() {
                buffer.bound_name(&mut name);
            } else if crate::limits::truncate(&mut name, tracer.inner.limits.max_name_bytes) {
                crate::limits::count(&tracer.inner.limit_counters.names_truncated);
            }
            let ids = (trace_id, span_id, parent_id, flags);
            let index = buffer.open_record(ids, name, start.kind, foreign);
            push_buffered(stack, index);
        } else {
            let (origin, record) = (Origin::Span, Slot::None);
            let frame = Frame { trace_id, span_id, sampled, flags, origin, record, extras };
            stack.push(Entry::Frame(frame));
        }
        local.note_top();
        Some(OpenedSpan::new(span_id, sampled, false))
    })
    .flatten();
    if let Some(batch) = switched {
        batch.export();
    }
    opened
}

/// A frame of its own for a span that [`open_nested`] nested in its unsampled
/// parent `span_id`, to be carried by a future to other threads.
pub(crate) fn detach_nested(span_id: SpanId) -> Option<Frame> {
    with_local(|local| {
        let position = local.find_span(span_id)?;
        let parent = local.span_context(position)?;
        Some(Frame {
            trace_id: parent.trace_id,
            span_id: local.ids.span_id(),
            sampled: false,
            flags: parent.flags.with_sampled(false),
            origin: Origin::Span,
            record: Slot::None,
            extras: local.extras(position),
        })
    })
    .flatten()
}

/// A new span ID from this thread's generator (a placeholder for a frame
/// that has none); a random one during thread teardown.
pub(crate) fn fresh_span_id() -> SpanId {
    with_local(|local| local.ids.span_id()).unwrap_or_else(SpanId::random)
}

/// The trace of the open span `span_id`.
pub(crate) fn trace_id_of(span_id: SpanId) -> Option<TraceId> {
    with_local(|local| Some(local.span_context(local.find_span(span_id)?)?.trace_id)).flatten()
}

/// Removes the entry of the span `span_id` from this thread's stack, and
/// returns it as a frame that carries its record.
pub(crate) fn take(span_id: SpanId) -> Option<Frame> {
    with_local(|local| local.take(span_id)).flatten()
}

impl Local {
    fn take(&mut self, span_id: SpanId) -> Option<Frame> {
        // Mostly the span just opened (an `async fn`), on top.
        let position = match self.stack.last() {
            Some(&Entry::Buffered(index))
                if self.buffer.records[index as usize].span_id == span_id =>
            {
                self.stack.len() - 1
            }
            _ => self.find_span(span_id)?,
        };
        let extras = self.extras(position);
        let entry = if position + 1 == self.stack.len() {
            self.open_spans -= 1;
            let entry = self.stack.pop().expect("the top entry");
            self.note_top();
            entry
        } else {
            self.remove(span_id, false)?.1
        };
        match entry {
            Entry::Frame(frame) => Some(frame),
            Entry::Buffered(index) => {
                let in_place = &self.buffer.records[index as usize];
                let (trace_id, span_id, flags) =
                    (in_place.trace_id, in_place.span_id, in_place.flags);
                let record = self.carry(index);
                let origin = Origin::Span;
                Some(Frame { trace_id, span_id, sampled: true, flags, origin, record, extras })
            }
        }
    }

    /// Moves the record at `index` out of the buffer into a box that goes
    /// with its span (a future's), copying it once.
    fn carry(&mut self, index: u32) -> Slot {
        let mut boxed = self.boxes.empty();
        let raw = boxed.as_mut_ptr();
        // SAFETY: a field of the uninitialised `Carried` in the box, viewed
        // as uninitialised: nothing is read through it.
        let record = unsafe { &mut *(&raw mut (*raw).record).cast::<MaybeUninit<Record>>() };
        match self.buffer.move_out(index, record) {
            Some(tracer) => {
                // SAFETY: `move_out` initialised the record and this the
                // tracer: the box holds a whole `Carried`, and
                // `MaybeUninit<Carried>` has its layout.
                unsafe {
                    (&raw mut (*raw).tracer).write(tracer);
                    Slot::Carried(Box::from_raw(Box::into_raw(boxed).cast::<Carried>()))
                }
            }
            None => {
                // No tracer to take it (one that was never set): drop it.
                // SAFETY: `move_out` initialised it.
                unsafe { record.assume_init_drop() };
                self.boxes.keep(boxed);
                Slot::None
            }
        }
    }
}

/// [`take`] for a future's span after its first poll returned `Pending`
/// (its entry was left on the stack for that poll; see
/// `Instrumented`), into the future's `slot`. A thread left with nothing
/// open hands its closed records over, as [`pop`] does after later polls.
pub(crate) fn suspend(span_id: SpanId, slot: &mut Option<Frame>) {
    let mut due = None;
    with_local(|local| {
        *slot = local.take(span_id);
        if local.open_spans == 0 && local.buffer.open == 0 {
            due = local.buffer.take();
        }
    });
    if let Some(batch) = due {
        batch.export();
    }
}

/// Closes the span `span_id` if it is open on this thread. Always inlined:
/// its callers (a guard's close, a future's) are out of line already, and
/// a call more costs a frame of its own on every span.
#[inline(always)]
pub(crate) fn close(span_id: SpanId) {
    let Some(mut borrowed) = borrow_local() else { return };
    let local = &mut **borrowed;
    // The common case: the innermost span, its record in the buffer.
    let len = local.stack.len();
    if let Some(&Entry::Buffered(index)) = local.stack.last()
        && local.buffer.records[index as usize].span_id == span_id
    {
        // SAFETY: the top entry is `Buffered`, which owns nothing, so
        // forgetting it is dropping it (`truncate` would call the entry's
        // drop glue out of line, on every span).
        unsafe { local.stack.set_len(len - 1) };
        local.open_spans -= 1;
        if matches!(local.stack.last(), Some(Entry::Frame(frame)) if !frame.sampled) {
            local.note_top();
        }
        local.buffer.close(index);
        if local.buffer.is_due(local.open_spans != 0) {
            hand_over_due(borrowed);
        }
        return;
    }
    drop(borrowed);
    close_elsewhere(span_id);
}

/// Takes the batch [`Buffer::is_due`] said is due and hands it over, out
/// of line (close stays small) and in one frame: the batch is built where
/// it is exported, not moved through three calls.
#[inline(never)]
fn hand_over_due(mut borrowed: RefMut<'_, ManuallyDrop<Local>>) {
    // The common case, a request finished: the whole buffer, one tracer's,
    // goes as it is, with no `Batch` built and taken apart.
    if let Some((tracer, records, closed)) = borrowed.buffer.take_plain() {
        drop(borrowed);
        tracer.export_records(records, Some(closed));
        return;
    }
    let due = borrowed.due();
    // Exporting runs processors, which may trace: not while the state is
    // borrowed.
    drop(borrowed);
    if let Some(batch) = due {
        batch.export();
    }
}

/// [`close`] of a span that is not on top, or has a frame of its own.
#[cold]
#[inline(never)]
fn close_elsewhere(span_id: SpanId) {
    if let Some(Some(batch)) = with_local(|local| local.close(span_id)) {
        batch.export();
    }
}

/// Hands this thread's closed records over now (flush and shutdown).
pub(crate) fn hand_over_finished() {
    let batch = with_local(|local| {
        if local.buffer.open == 0 {
            local.buffer.take()
        } else {
            local.buffer.split_closed(&mut local.stack)
        }
    });
    if let Some(Some(batch)) = batch {
        batch.export();
    }
}

/// Closes a span taken off the stack (a future's span), and adds its
/// record to this thread's buffer.
pub(crate) fn finish(frame: Frame) {
    if let Slot::Carried(carried) = frame.record {
        finish_carried(carried);
    }
}

/// Closes the record in `carried` and adds it to this thread's buffer,
/// copying it once; the box is kept for reuse.
pub(crate) fn finish_carried(carried: Box<Carried>) {
    arm_teardown();
    // No deferred frame need go on the stack first: this reads no top.
    let Some(mut borrowed) = borrow_local() else {
        // Thread teardown: no buffer left, hand the record over directly.
        let Carried { tracer, mut record } = *carried;
        record.close();
        tracer.export_records(vec![record], Some(1));
        return;
    };
    let local = &mut **borrowed;
    let raw = Box::into_raw(carried);
    // SAFETY: `raw` is a live `Carried` from its box. Its tracer is read out
    // and its record copied into the buffer, after which the allocation is
    // treated as uninitialised (kept for reuse, never dropped as a
    // `Carried`): each field has one owner.
    let (tracer, previous) = unsafe {
        (*raw).record.close();
        let tracer = (&raw const (*raw).tracer).read();
        let previous = local.buffer.push_closed_from(&raw const (*raw).record, &tracer);
        local.boxes.keep(Box::from_raw(raw.cast::<MaybeUninit<Carried>>()));
        (tracer, previous)
    };
    if let Some(previous) = previous {
        switched_buffer(borrowed, tracer, previous);
        return;
    }
    // As in `close`: a batch is built only when one is due.
    if local.buffer.is_due(local.open_spans != 0) {
        hand_over_due(borrowed);
    } else {
        drop(borrowed);
    }
    // Not while the state is borrowed: it may be a tracer's last reference.
    drop(tracer);
}

/// The rest of [`finish_carried`] when the buffer took another tracer's
/// record and handed its own over (`previous`).
#[cold]
#[inline(never)]
fn switched_buffer(mut borrowed: RefMut<'_, ManuallyDrop<Local>>, tracer: Tracer, previous: Batch) {
    borrowed.note_tracer();
    let due = borrowed.due();
    // Exporting runs processors, which may trace; dropping a tracer may be
    // its last reference: not while the state is borrowed.
    drop(borrowed);
    drop(tracer);
    previous.export();
    if let Some(batch) = due {
        batch.export();
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
    push_from(&mut Some(frame), tracer)
}

/// [`push`] of the frame in `slot` (a future's), moved from there straight
/// onto the stack; it stays in `slot` during thread teardown.
#[inline]
fn push_from(slot: &mut Option<Frame>, tracer: Option<&Tracer>) -> Restore {
    arm_teardown();
    with_top(|local| {
        let Some(frame) = slot.as_ref() else { return Restore(None) };
        // A frame carrying a record brings the record's tracer: a future
        // need not hold a second reference to it.
        let switch = local.switch_for(tracer.or_else(|| frame.carried_tracer()));
        local.push(slot.take().expect("checked above"));
        local.switch_to(switch)
    })
    .unwrap_or(Restore(None))
}

impl Local {
    /// `tracer`, if given and not current already: what a pushed frame
    /// makes current.
    fn switch_for(&self, tracer: Option<&Tracer>) -> Option<Tracer> {
        tracer.filter(|tracer| !self.current_tracer().is_some_and(|c| c.same_as(tracer))).cloned()
    }

    /// Makes `switch` (from [`switch_for`](Self::switch_for)) current, and
    /// says what to put back when the frame is popped.
    fn switch_to(&mut self, switch: Option<Tracer>) -> Restore {
        match switch {
            Some(tracer) => {
                let previous = self.tracer.replace(tracer);
                self.note_tracer();
                Restore(Some(previous))
            }
            None => Restore(None),
        }
    }
}

/// Undoes [`push`]: takes the frame back and restores the previous tracer.
///
/// A thread left with no open span hands its closed records over here too:
/// spans that closed inside a future's poll would otherwise wait on a worker
/// thread until the next span closes there.
pub(crate) fn pop(span_id: SpanId, attached: bool, restore: Restore) -> Option<Frame> {
    let mut frame = None;
    pop_into(&mut frame, span_id, attached, restore);
    frame
}

/// [`pop`] into `slot` (a future's): the frame and the batch are written
/// where they go rather than returned through the closure's nested
/// `Option`s, which would copy them.
fn pop_into(slot: &mut Option<Frame>, span_id: SpanId, attached: bool, restore: Restore) {
    let mut due = None;
    with_local(|local| {
        if let Restore(Some(previous)) = restore {
            local.tracer = previous;
            local.note_tracer();
        }
        // A frame pushed here is never buffered.
        if let Some((_, Entry::Frame(frame))) = local.remove(span_id, attached) {
            *slot = Some(frame);
        }
        if local.open_spans == 0 && local.buffer.open == 0 {
            due = local.buffer.take();
        }
    });
    if let Some(batch) = due {
        batch.export();
    }
}

/// Runs `f` on the record of the open span `span_id`, if it is sampled.
#[inline]
pub(crate) fn with_span<R>(span_id: SpanId, f: impl FnOnce(&mut OpenSpan<'_>) -> R) -> Option<R> {
    with_local(|local| {
        let position = local.find_span(span_id)?;
        local.open_span(position).map(|mut span| f(&mut span))
    })
    .flatten()
}

/// Runs `f` on the record of the current span, if it is a sampled span of ours.
pub(crate) fn with_current<R>(f: impl FnOnce(&mut OpenSpan<'_>) -> R) -> Option<R> {
    with_top(|local| {
        let top = local.stack.len().checked_sub(1)?;
        local.open_span(top).map(|mut span| f(&mut span))
    })
    .flatten()
}

/// The current span context, if any.
pub(crate) fn current_span_context() -> Option<SpanContext> {
    with_top(|local| local.span_context(local.stack.len().checked_sub(1)?)).flatten()
}

/// What `Context::current` captures: the top entry's IDs and extras, and
/// the thread's scoped tracer.
pub(crate) fn capture() -> (Option<SpanContext>, Option<Arc<Extras>>, Option<Tracer>) {
    with_top(|local| {
        let tracer = local.tracer.clone();
        match local.stack.len().checked_sub(1) {
            Some(top) => (local.span_context(top), local.extras(top), tracer),
            None => (None, None, tracer),
        }
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
    let Some(span_id) = slot.as_ref().map(|frame| frame.span_id) else { return f() };
    let previous = push_from(slot, tracer);
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
        pop_into(self.slot, self.span_id, false, previous);
        if std::thread::panicking()
            && let Some(mut span) = self.slot.as_mut().and_then(Frame::carried)
        {
            span.set_status(Status::Error(crate::panic::unwinding_message().into()));
        }
    }
}

/// Whether the top of the stack is a span whose record is in the buffer
/// (what a future's first poll leaves in place), for the tests.
#[cfg(test)]
pub(crate) fn top_is_buffered() -> bool {
    with_top(|local| matches!(local.stack.last(), Some(Entry::Buffered(_)))).unwrap_or(false)
}

#[cfg(test)]
mod tests;
