//! Futures that carry a span: current only while they are polled.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::id::SpanId;
use crate::local::{self, Frame};
use crate::record::Outcome;
use crate::span::Status;
use crate::tracer::Tracer;
use crate::value::Value;

/// Called with the future's output before the span closes, if the span
/// records (how `#[traced(err, ret)]` sees an async function's result).
pub(crate) type Observer<T> = fn(&T) -> Outcome;

/// A future whose span is pushed on the polling thread's stack for the
/// duration of each poll, on whichever thread polls it, and closed when the
/// future completes. Dropped before completion, the span closes with the tag
/// `cancelled = true`.
///
/// An `async fn`'s future is polled where it is made, at once (the body
/// awaits it in place): its span then stays where it opened, its entry on
/// the stack and its record in the thread's buffer, for that first poll.
/// Most such futures complete in that poll and close their span as a guard
/// would; only one that returns `Pending` takes its span off the stack, to
/// carry it to its later polls.
#[must_use = "futures do nothing unless polled"]
pub struct Instrumented<F: Future> {
    inner: F,
    /// The span left on this thread's stack for the first poll.
    in_place: Option<SpanId>,
    /// The span taken off the stack, pushed back for each poll.
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
        Self { inner, in_place: None, span, tracer, observer }
    }

    /// A future for the span `span_id`, whose entry stays on top of this
    /// thread's stack until the first poll. That poll must come next, on
    /// this thread, with nothing opened or closed in between (an `async
    /// fn`'s body awaiting it where it is made): otherwise the span's
    /// entry is found where it is, or, on another thread, not at all and
    /// the span stays open there until that thread ends.
    pub(crate) fn in_place(
        inner: F,
        span_id: SpanId,
        observer: Option<Observer<F::Output>>,
    ) -> Self {
        Self { inner, in_place: Some(span_id), span: None, tracer: None, observer }
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
        if let Some(span_id) = this.in_place.take() {
            return first_poll(inner, span_id, &mut this.span, &mut this.tracer, this.observer, cx);
        }
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

/// The first poll of a future whose span is still on the stack: the span
/// closes in place if the future completes, and is taken off the stack
/// into `slot` otherwise.
#[inline]
fn first_poll<F: Future>(
    inner: Pin<&mut F>,
    span_id: SpanId,
    slot: &mut Option<Frame>,
    tracer: &mut Option<Tracer>,
    observer: Option<Observer<F::Output>>,
    cx: &mut TaskContext<'_>,
) -> Poll<F::Output> {
    let unwinding = Unwinding { span_id, slot: &mut *slot };
    let output = inner.poll(cx);
    // The poll returned: nothing for the guard to do.
    std::mem::forget(unwinding);
    match &output {
        Poll::Ready(output) => {
            if let Some(observe) = observer {
                let outcome = observe(output);
                local::with_span(span_id, |span| outcome.apply(span));
            }
            local::close(span_id);
        }
        Poll::Pending => {
            local::suspend(span_id, slot);
            // A span that records carries its tracer with its record; only
            // one that does not needs the future to hold the tracer.
            if slot.as_ref().is_none_or(|frame| frame.carried_tracer().is_none()) {
                *tracer = local::current_tracer();
            }
        }
    }
    output
}

/// Takes the span off the stack into `slot` if the first poll panics, and
/// marks it, as later polls do (dropping the future then closes it as
/// cancelled).
struct Unwinding<'a> {
    span_id: SpanId,
    slot: &'a mut Option<Frame>,
}

impl Drop for Unwinding<'_> {
    #[cold]
    fn drop(&mut self) {
        local::suspend(self.span_id, self.slot);
        if let Some(mut span) = self.slot.as_mut().and_then(Frame::carried) {
            span.set_status(Status::Error(crate::panic::unwinding_message().into()));
        }
    }
}

impl<F: Future> Drop for Instrumented<F> {
    #[inline]
    fn drop(&mut self) {
        // A future that completed has nothing left to close.
        if self.in_place.is_some() || self.span.is_some() {
            cancel(self.in_place.take(), self.span.take());
        }
    }
}

/// Closes the span of a future dropped before it completed.
#[cold]
#[inline(never)]
fn cancel(in_place: Option<SpanId>, span: Option<Frame>) {
    if let Some(span_id) = in_place {
        // Never polled (not reached from `#[traced]`): the span closes
        // where it is, if it is on this thread.
        local::with_span(span_id, |span| span.add_tag("cancelled".into(), Value::Bool(true)));
        local::close(span_id);
    }
    if let Some(mut frame) = span {
        if let Some(mut span) = frame.carried() {
            span.add_tag("cancelled".into(), Value::Bool(true));
        }
        local::finish(frame);
    }
}

impl<F: Future> fmt::Debug for Instrumented<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let span_id = self.in_place.or_else(|| self.span.as_ref().map(|frame| frame.span_id));
        f.debug_struct("Instrumented").field("span_id", &span_id).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::future::{Future, poll_fn};
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use crate::__private::{SpanKind, enter, instrument_awaited};
    use crate::export::InMemoryCollector;
    use crate::span::Status;
    use crate::tracer::Tracer;
    use crate::value::Value;
    use crate::{current_span_id, local, span};

    fn tracer() -> (InMemoryCollector, Tracer) {
        let collector = InMemoryCollector::new();
        (collector.clone(), Tracer::builder("svc").span_processor(collector).build())
    }

    /// What `#[traced] async fn` expands to: the span opened, then the body
    /// awaited where it is made.
    async fn traced<F: Future>(name: &'static str, body: F) -> F::Output {
        instrument_awaited(enter(name, SpanKind::Internal, false), body, None).await
    }

    /// Pending on its first poll, ready on the next.
    fn wait_once() -> impl Future<Output = ()> {
        let mut waited = false;
        poll_fn(
            move |_| {
                if std::mem::replace(&mut waited, true) { Poll::Ready(()) } else { Poll::Pending }
            },
        )
    }

    #[test]
    fn a_future_ready_in_its_first_poll_keeps_its_record_in_the_buffer() {
        let (collector, tracer) = tracer();
        tracer.in_scope(|| {
            let _root = span("root").start();
            let child = traced("child", async {
                assert!(local::top_is_buffered(), "the span was never taken off the stack");
                let _inner = span("inner").start();
            });
            let mut cx = Context::from_waker(Waker::noop());
            assert_eq!(pin!(child).poll(&mut cx), Poll::Ready(()));
            assert!(local::top_is_buffered(), "the root is on top again");
        });
        assert_eq!(collector.render(), "root\n  child\n    inner\n");
    }

    #[test]
    fn a_future_pending_in_its_first_poll_takes_its_span_along() {
        let (collector, tracer) = tracer();
        let (mut child, root_id) = tracer.in_scope(|| {
            let root = span("root").start();
            let mut child = Box::pin(traced("child", async {
                wait_once().await;
                let _inner = span("inner").start();
            }));
            let mut cx = Context::from_waker(Waker::noop());
            assert!(child.as_mut().poll(&mut cx).is_pending());
            // Off the stack between polls: the root is current again.
            assert_eq!(current_span_id(), root.span_id());
            (child, root.span_id())
        });
        // Finished on another thread, with no tracer of its own.
        std::thread::spawn(move || {
            let mut cx = Context::from_waker(Waker::noop());
            assert_eq!(child.as_mut().poll(&mut cx), Poll::Ready(()));
            assert_eq!(current_span_id(), None);
        })
        .join()
        .unwrap();
        let spans = collector.spans();
        let find = |name: &str| spans.iter().find(|s| s.name == name).expect(name);
        assert_eq!(find("child").parent_id, root_id);
        assert_eq!(find("inner").parent_id, Some(find("child").span_id));
        assert_eq!(find("child").tag("cancelled"), None);
    }

    #[test]
    fn a_panic_in_the_first_poll_marks_the_span_and_closes_it_as_cancelled() {
        let (collector, tracer) = tracer();
        tracer.in_scope(|| {
            let mut child = Box::pin(traced("child", async { panic!("first poll") }));
            let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                child.as_mut().poll(&mut Context::from_waker(Waker::noop()))
            }));
            assert!(polled.is_err());
            assert_eq!(current_span_id(), None, "the span left the stack");
            drop(child);
        });
        let spans = collector.spans();
        assert_eq!(spans.len(), 1);
        // Another test of this binary may have replaced the panic hook.
        assert!(
            matches!(&spans[0].status, Status::Error(message) if message.starts_with("panicked")),
            "{:?}",
            spans[0].status
        );
        assert_eq!(spans[0].tag("cancelled"), Some(&Value::Bool(true)));
    }

    #[test]
    fn a_future_finished_during_thread_teardown_still_delivers_its_span() {
        type Late = Option<std::pin::Pin<Box<dyn Future<Output = ()>>>>;
        struct PollsWhenDropped(Late);
        impl Drop for PollsWhenDropped {
            fn drop(&mut self) {
                if let Some(mut future) = self.0.take() {
                    let mut cx = Context::from_waker(Waker::noop());
                    assert_eq!(future.as_mut().poll(&mut cx), Poll::Ready(()));
                }
            }
        }
        thread_local! {
            static LATE: std::cell::RefCell<PollsWhenDropped> =
                const { std::cell::RefCell::new(PollsWhenDropped(None)) };
        }
        let (collector, tracer) = tracer();
        std::thread::spawn(move || {
            // Registered before the thread's span state, so destroyed after
            // it (destructors run in reverse order on Linux): the second
            // poll finds no state, and the span must not be lost there.
            LATE.with(|_| {});
            let mut future = tracer.in_scope(|| Box::pin(traced("late", wait_once())));
            let mut cx = Context::from_waker(Waker::noop());
            tracer.in_scope(|| assert!(future.as_mut().poll(&mut cx).is_pending()));
            LATE.with(|late| late.borrow_mut().0 = Some(future));
        })
        .join()
        .expect("no panic at thread exit");
        assert_eq!(collector.render(), "late\n");
    }

    #[test]
    fn a_future_dropped_before_its_first_poll_closes_its_span_as_cancelled() {
        let (collector, tracer) = tracer();
        tracer.in_scope(|| {
            let child =
                instrument_awaited(enter("child", SpanKind::Internal, false), async {}, None);
            drop(child);
            assert_eq!(current_span_id(), None);
        });
        let spans = collector.spans();
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].tag("cancelled"), Some(&Value::Bool(true)));
    }
}
