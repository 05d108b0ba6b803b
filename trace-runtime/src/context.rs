//! Carrying the current trace to other threads and into futures.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use std::sync::Arc;

use crate::flags::TraceFlags;
use crate::id::{SpanId, TraceId};
use crate::local::{self, Frame, Origin, Slot};
use crate::propagation::{Baggage, TraceState};
use crate::span::Extras;
pub use crate::span::SpanContext;
use crate::tracer::Tracer;

/// A captured trace context: the current span's IDs and trace flags, and
/// the tracer current where it was captured.
///
/// Capture it with [`Context::current`] where the work is handed off, then
/// run the work inside it on another thread ([`Context::attach`],
/// [`Context::wrap`]) or future ([`Context::instrument`]): spans opened there
/// become children of the span that was current at capture. It is `Send +
/// Sync` and cheap to clone.
///
/// ```
/// use trace_runtime::{Context, InMemoryCollector, Tracer, traced};
///
/// #[traced]
/// fn resize(image: u32) {}
///
/// #[traced]
/// fn upload() {
///     let workers: Vec<_> = (0..2)
///         .map(|image| std::thread::spawn(Context::current().wrap(move || resize(image))))
///         .collect();
///     workers.into_iter().for_each(|w| w.join().unwrap());
/// }
///
/// let collector = InMemoryCollector::new();
/// Tracer::builder("media").span_processor(collector.clone()).build().in_scope(upload);
/// assert_eq!(collector.render(), "upload\n  resize\n  resize\n");
/// ```
#[derive(Clone, Default)]
pub struct Context {
    span: Option<SpanContext>,
    tracer: Option<Tracer>,
    extras: Option<Arc<Extras>>,
}

static EMPTY_TRACE_STATE: TraceState = TraceState::new();
static EMPTY_BAGGAGE: Baggage = Baggage::new();

impl Context {
    /// An empty context: spans opened in it start new traces.
    pub fn new() -> Self {
        Self::default()
    }

    /// The context of this thread now: the current span (if any) and the
    /// thread's tracer.
    pub fn current() -> Self {
        let (span, extras, tracer) = local::capture();
        Self { span, tracer: tracer.or_else(|| Tracer::global().cloned()), extras }
    }

    /// A context whose parent is a span in another process, as extracted
    /// from request headers: the sampler decides for spans opened under it
    /// (a parent-based sampler follows `parent.sampled()`).
    pub fn with_remote_parent(parent: SpanContext) -> Self {
        Self { span: Some(SpanContext { remote: true, ..parent }), tracer: None, extras: None }
    }

    /// The same context with `parent` (from another process) as its span.
    #[must_use]
    pub fn with_remote_span(mut self, parent: SpanContext) -> Self {
        self.span = Some(SpanContext { remote: true, ..parent });
        self
    }

    /// The vendor entries that came with the trace (W3C `tracestate`).
    pub fn trace_state(&self) -> &TraceState {
        self.extras.as_ref().map_or(&EMPTY_TRACE_STATE, |e| &e.trace_state)
    }

    /// The same context with another trace state.
    #[must_use]
    pub fn with_trace_state(self, trace_state: TraceState) -> Self {
        let baggage = self.baggage().clone();
        self.with_extras(trace_state, baggage)
    }

    /// The application's key-value pairs that travel with the request (W3C
    /// `baggage`).
    ///
    /// ```
    /// use trace_runtime::Context;
    /// use trace_runtime::propagation::Baggage;
    ///
    /// let mut baggage = Baggage::new();
    /// baggage.insert("tenant", "acme").unwrap();
    /// let _guard = Context::current().with_baggage(baggage).attach();
    /// // Anywhere below, on this thread or where the context is carried:
    /// assert_eq!(Context::current().baggage().get("tenant"), Some("acme"));
    /// ```
    pub fn baggage(&self) -> &Baggage {
        self.extras.as_ref().map_or(&EMPTY_BAGGAGE, |e| &e.baggage)
    }

    /// The same context with other baggage.
    #[must_use]
    pub fn with_baggage(self, baggage: Baggage) -> Self {
        let trace_state = self.trace_state().clone();
        self.with_extras(trace_state, baggage)
    }

    fn with_extras(mut self, trace_state: TraceState, baggage: Baggage) -> Self {
        let empty = trace_state.is_empty() && baggage.is_empty();
        self.extras = (!empty).then(|| Arc::new(Extras { trace_state, baggage }));
        self
    }

    /// The same context, sending spans to `tracer`.
    #[must_use]
    pub fn with_tracer(mut self, tracer: Tracer) -> Self {
        self.tracer = Some(tracer);
        self
    }

    /// An empty context that keeps this thread's tracer: where the context
    /// extracted from an incoming request starts.
    pub(crate) fn empty_with_current_tracer() -> Self {
        Self { tracer: Self::current().tracer, ..Self::new() }
    }

    /// The span this context continues, if any.
    pub fn span_context(&self) -> Option<SpanContext> {
        self.span
    }

    /// Makes this the current context of this thread until the guard drops.
    pub fn attach(&self) -> ContextGuard {
        let frame = Frame {
            // A context without a span still carries baggage: its frame has
            // a placeholder ID, and spans opened under it start new traces.
            trace_id: self.span.map_or(TraceId::PLACEHOLDER, |s| s.trace_id),
            span_id: self.span.map_or_else(local::fresh_span_id, |s| s.span_id),
            sampled: self.span.is_some_and(|s| s.sampled()),
            flags: self.span.map_or(TraceFlags::NONE, |s| s.flags.with_sampled(false)),
            origin: match self.span {
                Some(span) if span.remote => Origin::Remote,
                Some(_) => Origin::Attached,
                None => Origin::Detached,
            },
            record: Slot::None,
            extras: self.extras.clone(),
        };
        let span_id = frame.span_id;
        let previous = local::push(frame, self.tracer.as_ref());
        ContextGuard { span_id, previous: Some(previous), _not_send: PhantomData }
    }

    /// Runs `f` in this context.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.attach();
        f()
    }

    /// Wraps a closure to run in this context wherever it is called: for
    /// `std::thread::spawn`, thread pools and job queues.
    pub fn wrap<R>(self, f: impl FnOnce() -> R) -> impl FnOnce() -> R {
        move || self.run(f)
    }

    /// Wraps a closure that is called many times (a `map` over a parallel
    /// iterator, a pool's task function), each call in this context.
    pub fn wrap_fn<T, R>(self, f: impl Fn(T) -> R) -> impl Fn(T) -> R {
        move |value| self.run(|| f(value))
    }

    /// Wraps a future so each poll runs in this context, on whatever thread
    /// polls it.
    pub fn instrument<F: Future>(self, future: F) -> WithContext<F> {
        WithContext { inner: future, context: self }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("span", &self.span)
            .field("trace_state", self.trace_state())
            .field("baggage", self.baggage())
            .finish_non_exhaustive()
    }
}

/// Restores the previous context when dropped; made by [`Context::attach`].
#[must_use = "the context is current only until the guard is dropped"]
pub struct ContextGuard {
    span_id: SpanId,
    previous: Option<local::Restore>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            drop(local::pop(self.span_id, true, previous));
        }
    }
}

impl fmt::Debug for ContextGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextGuard").field("span_id", &self.span_id).finish()
    }
}

/// A future that runs in a [`Context`] on every poll; made by
/// [`Context::instrument`] and [`FutureExt`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct WithContext<F> {
    inner: F,
    context: Context,
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned and never moved out;
        // `context` is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let _guard = this.context.attach();
        unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx)
    }
}

/// Runs futures in a trace context.
///
/// ```
/// use trace_runtime::{FutureExt, InMemoryCollector, Tracer, traced};
///
/// #[traced]
/// async fn fetch() {}
///
/// let collector = InMemoryCollector::new();
/// let tracer = Tracer::builder("api").span_processor(collector.clone()).build();
/// let future = tracer.in_scope(|| {
///     let _request = trace_runtime::span("request").start();
///     fetch().in_current_context()
/// });
/// // Polled later, elsewhere, it still belongs under `request`.
/// futures::executor::block_on(future);
/// assert_eq!(collector.render(), "request\n  fetch\n");
/// ```
pub trait FutureExt: Future + Sized {
    /// Runs this future in `context`.
    fn in_context(self, context: Context) -> WithContext<Self> {
        context.instrument(self)
    }

    /// Runs this future in the context current now.
    fn in_current_context(self) -> WithContext<Self> {
        Context::current().instrument(self)
    }
}

impl<F: Future> FutureExt for F {}

/// `tokio::spawn` in the current context (feature `tokio`).
///
/// ```
/// # #[tokio::main(flavor = "multi_thread")]
/// # async fn main() {
/// let handle = trace_runtime::spawn(async { 1 + 1 });
/// assert_eq!(handle.await.unwrap(), 2);
/// # }
/// ```
#[cfg(feature = "tokio")]
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(Context::current().instrument(future))
}
