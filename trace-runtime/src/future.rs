//! Futures that carry a span: current only while they are polled.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::local::{self, Frame};
use crate::record::Outcome;
use crate::tracer::Tracer;
use crate::value::Value;

/// Called with the future's output before the span closes, if the span
/// records (how `#[traced(err, ret)]` sees an async function's result).
pub(crate) type Observer<T> = fn(&T) -> Outcome;

/// A future whose span is pushed on the polling thread's stack for the
/// duration of each poll, on whichever thread polls it, and closed when the
/// future completes. Dropped before completion, the span closes with the tag
/// `cancelled = true`.
#[must_use = "futures do nothing unless polled"]
pub struct Instrumented<F: Future> {
    inner: F,
    span: Option<Frame>,
    tracer: Option<Tracer>,
    observer: Option<Observer<F::Output>>,
}

impl<F: Future> Instrumented<F> {
    pub(crate) fn new(
        inner: F,
        span: Option<Frame>,
        tracer: Option<Tracer>,
        observer: Option<Observer<F::Output>>,
    ) -> Self {
        Self { inner, span, tracer, observer }
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of
        // `self`, and `Instrumented` has no `Unpin` impl of its own beyond the
        // auto trait, which requires `F: Unpin`. The other fields are not
        // pinned and may be moved freely.
        let this = unsafe { self.get_unchecked_mut() };
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        let output = local::resume(&mut this.span, this.tracer.as_ref(), || inner.poll(cx));
        if let Poll::Ready(output) = &output
            && let Some(mut frame) = this.span.take()
        {
            if let (Some(observe), Some(mut span)) = (this.observer, frame.carried()) {
                observe(output).apply(&mut span);
            }
            local::finish(frame);
        }
        output
    }
}

impl<F: Future> Drop for Instrumented<F> {
    fn drop(&mut self) {
        if let Some(mut frame) = self.span.take() {
            if let Some(mut span) = frame.carried() {
                span.add_tag("cancelled".into(), Value::Bool(true));
            }
            local::finish(frame);
        }
    }
}

impl<F: Future> fmt::Debug for Instrumented<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instrumented")
            .field("span_id", &self.span.as_ref().map(|frame| frame.span_id))
            .finish_non_exhaustive()
    }
}
