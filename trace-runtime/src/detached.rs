//! A span not tied to a guard on one thread, for the `tracing` compat layer
//! (`compat::TracingLayer`): opened off the thread's stack (its record is
//! written straight into its owner, the layer's state of the `tracing`
//! span), written to from any thread, closed once.
//!
//! With `local::open_nested` (whether the top of the stack is an unsampled
//! span), this is the compat layer's hook into `local` and `record`; it is
//! kept narrow so the span core can change beneath it.

use std::borrow::Cow;
use std::sync::Arc;

use crate::limits;
use crate::local::compat::{
    Born, finish_detached, may_defer, open_detached, pop_marker, push_marker,
};
use crate::local::{self, Carried, Restore, SpanStart};
use crate::record::OpenSpan;
use crate::span::{Extras, SpanContext, SpanKind};
use crate::tracer::Tracer;

/// Registers the function that pushes the frames the layer deferred (see
/// `local::compat`).
pub(crate) fn on_deferred(push: fn()) {
    local::compat::on_deferred(push);
}

/// Tells `local` whether this thread has deferred frames.
#[inline]
pub(crate) fn note_deferred(any: bool) {
    local::compat::note_deferred(any);
}

/// Whether any span opened on this thread can go anywhere (a tracer is
/// installed or scoped): with none, the compat layer does nothing at all.
#[inline]
pub(crate) fn enabled() -> bool {
    local::enabled()
}

/// Opens a span as a child of the current span of this thread (or at the
/// root of a new trace): what entering it makes current, and its record if
/// it is sampled. `None` when no tracer is installed or scoped.
#[inline]
pub(crate) fn open(
    name: Cow<'static, str>,
    kind: SpanKind,
    root: bool,
) -> Option<(Anchor, Option<DetachedSpan>)> {
    let Born { span, extras, scoped, record } = open_detached(SpanStart { name, kind, root })?;
    Some((Anchor { span, extras, tracer: scoped }, record.map(|record| DetachedSpan(Some(record)))))
}

/// A sampled span held off any thread's stack. Dropping it closes the span
/// and hands its record to the exporters, so it cannot be leaked open.
pub(crate) struct DetachedSpan(Option<Box<Carried>>);

impl DetachedSpan {
    /// Runs `f` on the span's record.
    #[inline]
    pub(crate) fn record<R>(&mut self, f: impl FnOnce(&mut OpenSpan<'_>) -> R) -> Option<R> {
        let Carried { tracer, record } = &mut **self.0.as_mut()?;
        Some(f(&mut record.open_span(&tracer.inner.limits, &tracer.inner.limit_counters)))
    }

    /// Renames the span, within the tracer's name limit.
    pub(crate) fn rename(&mut self, mut name: Cow<'static, str>) {
        if let Some(carried) = &mut self.0 {
            let Carried { tracer, record } = &mut **carried;
            let limits = &tracer.inner;
            if limits::truncate(&mut name, limits.limits.max_name_bytes) {
                limits::count(&limits.limit_counters.names_truncated);
            }
            record.name = name;
        }
    }

    /// Changes the span's kind.
    pub(crate) fn set_kind(&mut self, kind: SpanKind) {
        if let Some(carried) = &mut self.0 {
            carried.record.kind = kind;
        }
    }

    /// Closes the span now (the same as dropping it).
    #[inline]
    pub(crate) fn finish(self) {}
}

impl Drop for DetachedSpan {
    #[inline]
    fn drop(&mut self) {
        if let Some(carried) = self.0.take() {
            finish_detached(carried);
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
#[derive(Clone)]
pub(crate) struct Anchor {
    span: SpanContext,
    extras: Option<Arc<Extras>>,
    /// The thread's scoped tracer where the span opened; `None` for the
    /// global one (the entering thread falls back to it as well).
    tracer: Option<Tracer>,
}

impl Anchor {
    /// The span's IDs.
    pub(crate) fn span_context(&self) -> SpanContext {
        self.span
    }

    /// Takes what the anchor shares (trace state and baggage, a scoped
    /// tracer) once its span has closed, for the caller to drop where
    /// dropping may release a tracer.
    pub(crate) fn take_shared(&mut self) -> (Option<Arc<Extras>>, Option<Tracer>) {
        (self.extras.take(), self.tracer.take())
    }

    /// Makes the span current on this thread until the guard drops.
    pub(crate) fn enter(&self) -> EnteredAnchor {
        let restore = push_marker(self.span, self.extras.as_ref(), self.tracer.as_ref());
        EnteredAnchor { span_id: self.span.span_id, restore: Some(restore) }
    }

    /// [`enter`](Self::enter) with the span's frame deferred (see
    /// `local::compat`): the caller keeps the guard, and replaces it with
    /// [`enter`](Self::enter)'s when asked to. `None` where it must be pushed
    /// now: a span of an unsampled trace, or over an unsampled span.
    #[inline]
    pub(crate) fn defer(&self) -> Option<EnteredAnchor> {
        (self.span.sampled() && may_defer())
            .then_some(EnteredAnchor { span_id: self.span.span_id, restore: None })
    }
}

/// Undoes [`Anchor::enter`] when dropped (on the thread that entered).
pub(crate) struct EnteredAnchor {
    span_id: crate::id::SpanId,
    /// `None` while the frame is deferred: nothing to take off.
    restore: Option<Restore>,
}

impl EnteredAnchor {
    /// Whether the span's frame is deferred.
    #[inline]
    pub(crate) fn is_deferred(&self) -> bool {
        self.restore.is_none()
    }
}

impl Drop for EnteredAnchor {
    #[inline]
    fn drop(&mut self) {
        if let Some(restore) = self.restore.take() {
            pop_marker(self.span_id, restore);
        }
    }
}
