//! The entries of a thread's stack: open spans and attached contexts.

use std::sync::Arc;

use crate::flags::TraceFlags;
use crate::id::{SpanId, TraceId};
use crate::record::{OpenSpan, Record};
use crate::span::{Extras, SpanContext};
use crate::tracer::Tracer;

/// An entry of the stack, innermost last.
pub(crate) enum Entry {
    /// A sampled span of ours whose record is in the thread's buffer at
    /// this index. Its IDs are in the record; its trace state and baggage
    /// are those of the nearest frame below it (opening a span never
    /// changes them), so the entry needs nothing else.
    Buffered(u32),
    /// Anything else.
    Frame(Frame),
}

/// A stack entry that is not a buffered span: an unsampled span, a span
/// carried by a future, or an attached context.
pub(crate) struct Frame {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) sampled: bool,
    /// The trace's W3C flags other than `sampled` (the random flag).
    pub(crate) flags: TraceFlags,
    pub(crate) origin: Origin,
    /// The record of a sampled span carried by a future.
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
    /// With the frame itself: a span taken off its thread's stack to follow
    /// a future (or a client call) wherever it is polled.
    Carried(Box<Carried>),
}

/// A record that travels with its frame, and the tracer it belongs to.
pub(crate) struct Carried {
    pub(crate) tracer: Tracer,
    pub(crate) record: Record,
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
    /// The tracer of the record this frame carries, if it carries one.
    pub(crate) fn carried_tracer(&self) -> Option<&Tracer> {
        match &self.record {
            Slot::Carried(carried) => Some(&carried.tracer),
            _ => None,
        }
    }

    pub(crate) fn carried(&mut self) -> Option<OpenSpan<'_>> {
        match &mut self.record {
            Slot::Carried(carried) => {
                let Carried { tracer, record } = &mut **carried;
                Some(record.open_span(&tracer.inner.limits, &tracer.inner.limit_counters))
            }
            _ => None,
        }
    }
}
