//! A span not tied to a guard on one thread, for the `tracing` compat layer
//! (`compat::TracingLayer`): opened like any span, then taken off the
//! thread's stack and held by its owner (the layer keeps it in the `tracing`
//! span's extensions), written to from any thread, closed once.
//!
//! This is the compat layer's only hook into `local` and `record`; it is
//! kept narrow so the span core can change beneath it.

use std::borrow::Cow;
use std::sync::Arc;

use crate::guard::SpanGuard;
use crate::limits;
use crate::local::{self, Frame, Origin, Restore, Slot};
use crate::record::OpenSpan;
use crate::span::{Extras, SpanContext, SpanKind};
use crate::tracer::Tracer;

/// Whether any span opened on this thread can go anywhere (a tracer is
/// installed or scoped): with none, the compat layer does nothing at all.
#[inline]
pub(crate) fn enabled() -> bool {
    local::enabled()
}

/// A sampled span taken off its thread's stack. Dropping it closes the span
/// and hands its record to the exporters, so it cannot be leaked open.
pub(crate) struct DetachedSpan(Option<Frame>);

impl DetachedSpan {
    /// Takes the span `guard` opened (it must be the current span) off this
    /// thread's stack; `None` if it records nothing (no tracer, unsampled),
    /// in which case the guard is simply closed.
    pub(crate) fn from_guard(guard: SpanGuard) -> Option<Self> {
        if !guard.is_recording() {
            return None;
        }
        guard.detach().map(|frame| Self(Some(frame)))
    }

    /// Runs `f` on the span's record.
    pub(crate) fn record<R>(&mut self, f: impl FnOnce(&mut OpenSpan<'_>) -> R) -> Option<R> {
        self.0.as_mut()?.carried().map(|mut span| f(&mut span))
    }

    /// Renames the span, within the tracer's name limit.
    pub(crate) fn rename(&mut self, mut name: Cow<'static, str>) {
        if let Some(Frame { record: Slot::Carried(carried), .. }) = &mut self.0 {
            let limits = &carried.tracer.inner;
            if limits::truncate(&mut name, limits.limits.max_name_bytes) {
                limits::count(&limits.limit_counters.names_truncated);
            }
            carried.record.name = name;
        }
    }

    /// Changes the span's kind.
    pub(crate) fn set_kind(&mut self, kind: SpanKind) {
        if let Some(Frame { record: Slot::Carried(carried), .. }) = &mut self.0 {
            carried.record.kind = kind;
        }
    }

    /// Closes the span now (the same as dropping it).
    pub(crate) fn finish(self) {}
}

impl Drop for DetachedSpan {
    fn drop(&mut self) {
        if let Some(frame) = self.0.take() {
            local::finish(frame);
        }
    }
}

/// What entering a detached span makes current on a thread: the span's
/// IDs, its trace state and baggage, and its tracer.
///
/// Entered, it is a span frame of the thread (not an attached context), so
/// the thread counts a span open and keeps the records of spans closing
/// meanwhile (the detached span's children) to hand over together when it
/// is exited, one batch per trace rather than one per span.
pub(crate) struct Anchor {
    span: SpanContext,
    extras: Option<Arc<Extras>>,
    /// The thread's scoped tracer where the span opened; `None` for the
    /// global one (the entering thread falls back to it as well).
    tracer: Option<Tracer>,
}

impl Anchor {
    /// The current span of this thread (just opened); `None` if there is none.
    pub(crate) fn current() -> Option<Self> {
        let (span, extras, tracer) = local::capture();
        Some(Self { span: span?, extras, tracer })
    }

    /// The span's IDs.
    pub(crate) fn span_context(&self) -> SpanContext {
        self.span
    }

    /// Makes the span current on this thread until the guard drops.
    pub(crate) fn enter(&self) -> EnteredAnchor {
        let frame = Frame {
            trace_id: self.span.trace_id,
            span_id: self.span.span_id,
            sampled: self.span.sampled(),
            flags: self.span.flags.with_sampled(false),
            origin: Origin::Span,
            record: Slot::None,
            extras: self.extras.clone(),
        };
        let restore = local::push(frame, self.tracer.as_ref());
        EnteredAnchor { span_id: self.span.span_id, restore: Some(restore) }
    }
}

/// Undoes [`Anchor::enter`] when dropped (on the thread that entered).
pub(crate) struct EnteredAnchor {
    span_id: crate::id::SpanId,
    restore: Option<Restore>,
}

impl Drop for EnteredAnchor {
    fn drop(&mut self) {
        if let Some(restore) = self.restore.take() {
            drop(local::pop(self.span_id, false, restore));
        }
    }
}
