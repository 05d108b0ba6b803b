//! Spans whose record never lives on a thread's stack, for the `tracing`
//! compat layer (through `detached`): the record is written where its owner
//! keeps it (the layer's state of the `tracing` span) when the span opens,
//! and comes back to a thread's buffer when it closes, on whichever thread
//! that is.
//!
//! Opening one reads the stack (the parent, the trace state and baggage, the
//! thread's tracer) but pushes nothing, so it costs no entry to push and
//! take off again. The record is boxed (in a box the thread keeps for
//! reuse), so it moves as a pointer. Entering such a span pushes a frame
//! with its IDs only, which [`pop_marker`] takes off again.
//!
//! Most entered `tracing` spans are exited before anything on their thread
//! asks what is current (a leaf `#[instrument]` function): the layer defers
//! their frames, keeping them in its list of entered spans, and they are
//! pushed onto the stack only when something reads or grows the stack
//! while they are entered ([`materialize`], from `with_top` and `open`),
//! so that a leaf costs neither the push nor the pop.

use std::cell::Cell;
use std::sync::{Arc, OnceLock};

use super::{
    Carried, Entry, Frame, Local, Origin, Restore, Slot, SpanStart, UNSAMPLED_TOP, with_local,
    with_top,
};
use crate::clock::Timestamp;
use crate::flags::TraceFlags;
use crate::id::SpanId;
use crate::record::Record;
use crate::span::{Extras, SpanContext};
use crate::tracer::Tracer;

/// A span opened off the stack by [`open_detached`].
pub(crate) struct Born {
    /// The span's IDs; an unsampled span opened under an unsampled parent
    /// shares its parent's span ID (nothing is recorded for either).
    pub(crate) span: SpanContext,
    /// The trace state and baggage in force where it opened.
    pub(crate) extras: Option<Arc<Extras>>,
    /// The thread's scoped tracer where it opened (`None`: the global one).
    pub(crate) scoped: Option<Tracer>,
    /// The record and its tracer, if the span is sampled: boxed (a box
    /// this thread kept for reuse, if it has one), so that it moves as a
    /// pointer until it closes.
    pub(crate) record: Option<Box<Carried>>,
}

/// Opens a span as a child of the current span of this thread (or as a
/// root) without putting it on the stack; `None` when no tracer is
/// installed or scoped.
pub(crate) fn open_detached(start: SpanStart) -> Option<Born> {
    with_top(|local| local.open_detached(start)).flatten()
}

impl Local {
    fn open_detached(&mut self, start: SpanStart) -> Option<Born> {
        let top = self.stack.len().checked_sub(1);
        // Baggage and trace state pass to children even across `root`.
        let extras = top.and_then(|position| self.extras(position));
        let parent = match top {
            Some(position) if !start.root => match &self.stack[position] {
                Entry::Frame(frame) if frame.origin == Origin::Detached => None,
                Entry::Frame(frame) => Some((frame.span_context()?, frame.origin)),
                Entry::Buffered(_) => Some((self.span_context(position)?, Origin::Span)),
            },
            _ => None,
        };
        let scoped = self.tracer.clone();
        let tracer = match &scoped {
            Some(tracer) => tracer,
            None => Tracer::global()?,
        };
        let (trace_id, span_id, parent_id, sampled, flags) = match parent {
            // Under an unsampled span of this process: no decision, no ID.
            Some((parent, origin)) if origin != Origin::Remote && !parent.sampled() => {
                let flags = parent.flags.with_sampled(false);
                let span = SpanContext { flags, ..parent };
                return Some(Born { span, extras, scoped, record: None });
            }
            Some((parent, origin)) if origin != Origin::Remote => {
                let flags = parent.flags.with_sampled(false);
                (parent.trace_id, self.ids.span_id(), Some(parent.span_id), true, flags)
            }
            Some((parent, _)) => {
                let sampled = tracer.decide_root(parent.trace_id, Some(parent.sampled()));
                let flags = parent.flags.with_sampled(false);
                (parent.trace_id, self.ids.span_id(), Some(parent.span_id), sampled, flags)
            }
            None => {
                let trace_id = self.ids.trace_id();
                let sampled = tracer.decide_root(trace_id, None);
                // As `open_slow`: our trace IDs are random throughout.
                (trace_id, self.ids.span_id(), None, sampled, TraceFlags::RANDOM)
            }
        };
        let span =
            SpanContext { trace_id, span_id, flags: flags.with_sampled(sampled), remote: false };
        let record = sampled.then(|| {
            let mut name = start.name;
            if crate::limits::truncate(&mut name, tracer.inner.limits.max_name_bytes) {
                crate::limits::count(&tracer.inner.limit_counters.names_truncated);
            }
            let mut boxed = self.boxes.empty();
            let raw = boxed.as_mut_ptr();
            // SAFETY: the box is valid for writes and aligned; `write_open`
            // writes every field of the record in place and the tracer is
            // written next to it, so the box holds a whole `Carried`, whose
            // layout `MaybeUninit<Carried>` has.
            unsafe {
                Record::write_open(
                    &raw mut (*raw).record,
                    (trace_id, span_id, parent_id, flags),
                    name,
                    start.kind,
                    Timestamp::now(),
                );
                (&raw mut (*raw).tracer).write(tracer.clone());
                Box::from_raw(Box::into_raw(boxed).cast::<Carried>())
            }
        });
        Some(Born { span, extras, scoped, record })
    }
}

/// Closes a span opened by [`open_detached`]: its record joins this
/// thread's buffer, to be handed over with the others.
#[inline]
pub(crate) fn finish_detached(carried: Box<Carried>) {
    super::finish_carried(carried);
}

/// Pushes a frame that stands for a span living elsewhere (an entered
/// `tracing` span): its IDs and extras, no record. `tracer` becomes current
/// if given and not current already: `push` for this one kind of frame,
/// built inside the thread's state rather than passed in.
pub(crate) fn push_marker(
    span: SpanContext,
    extras: Option<&Arc<Extras>>,
    tracer: Option<&Tracer>,
) -> Restore {
    super::arm_teardown();
    with_top(|local| {
        let switch = local.switch_for(tracer);
        local.push(Frame {
            trace_id: span.trace_id,
            span_id: span.span_id,
            sampled: span.sampled(),
            flags: span.flags.with_sampled(false),
            origin: Origin::Span,
            record: Slot::None,
            extras: extras.cloned(),
        });
        local.switch_to(switch)
    })
    .unwrap_or(Restore(None))
}

/// Undoes the `push` of a frame that stands for a span living elsewhere
/// (an entered `tracing` span): `pop` for the case where that frame is on
/// top, as it nearly always is, without handing the frame back.
pub(crate) fn pop_marker(span_id: SpanId, restore: Restore) {
    // Written by the closure rather than returned through it: a batch
    // moved out through nested options is copied at each level.
    let (mut removed, mut due) = (None, None);
    with_local(|local| {
        if let Restore(Some(previous)) = restore {
            local.tracer = previous;
            local.note_tracer();
        }
        match local.stack.last() {
            Some(Entry::Frame(frame))
                if frame.span_id == span_id && frame.origin == Origin::Span =>
            {
                local.open_spans -= 1;
                // Dropped in place, not moved out: a marker holds no record
                // and nothing whose drop runs user code.
                local.stack.truncate(local.stack.len() - 1);
                local.note_top();
            }
            _ => removed = local.remove(span_id, false),
        }
        // As `pop`: a thread with nothing open hands its records over.
        if local.open_spans == 0 && local.buffer.open == 0 {
            due = local.buffer.take();
        }
    });
    // Outside the thread's state: dropping may release a tracer.
    drop(removed);
    if let Some(batch) = due {
        batch.export();
    }
}

thread_local! {
    /// Whether the compat layer holds entered spans whose frames are not
    /// on the stack yet: the one read that the stack's readers pay (a flag
    /// without a destructor is reached directly).
    static ANY_DEFERRED: Cell<bool> = const { Cell::new(false) };
}

/// Pushes the compat layer's deferred frames (`push_deferred` of its
/// state), through [`push_marker`]. Registered by the layer rather than
/// called by name: this module does not reach up into the layer.
static PUSH_DEFERRED: OnceLock<fn()> = OnceLock::new();

/// Registers the function that pushes the deferred frames.
pub(crate) fn on_deferred(push: fn()) {
    let _ = PUSH_DEFERRED.set(push);
}

/// Notes whether frames are deferred on this thread. The layer holds them
/// (with its list of entered spans) and must not hold that list while it
/// calls into this module, which may ask it to push them.
#[inline]
pub(crate) fn note_deferred(any: bool) {
    // `with`: `LocalKey::set` and `get` go through an out-of-line shim.
    ANY_DEFERRED.with(|cell| cell.set(any));
}

/// Whether a frame may be deferred now: not if the top of the stack is an
/// unsampled span, whose children [`super::open_nested`] finds without
/// looking at the stack (nor at this flag).
#[inline]
pub(crate) fn may_defer() -> bool {
    UNSAMPLED_TOP.with(|cell| cell.get().is_none())
}

/// Pushes the deferred frames, if any: called before the stack is read or
/// grown, so that what is current is the innermost entered span.
#[inline(always)]
pub(super) fn materialize() {
    if ANY_DEFERRED.with(Cell::get) {
        push_deferred();
    }
}

#[cold]
#[inline(never)]
fn push_deferred() {
    // The layer clears the flag (`note_deferred`) once it has reached its
    // list, before pushing: a call that cannot reach it leaves the flag
    // set, to try again on the next access.
    match PUSH_DEFERRED.get() {
        Some(push) => push(),
        // Never: the flag is only set by a layer that registered.
        None => ANY_DEFERRED.with(|cell| cell.set(false)),
    }
}

/// Whether frames are deferred: the stack's top is not what is current.
pub(super) fn any_deferred() -> bool {
    ANY_DEFERRED.with(Cell::get)
}
