//! Opening spans by hand: the builder and the guard that closes the span.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use crate::id::{SpanId, TraceId};
use crate::local::{self, OpenedSpan, SpanStart};
use crate::record::OpenSpan;
use crate::span::{Link, SpanKind, Status};
use crate::value::{Tag, Value};

/// Starts building a span named `name`; [`SpanBuilder::start`] opens it.
///
/// For code that cannot use `#[traced]`:
///
/// ```
/// use trace_runtime::{InMemoryCollector, SpanKind, Tracer};
///
/// let collector = InMemoryCollector::new();
/// let tracer = Tracer::builder("shop").span_processor(collector.clone()).build();
/// tracer.in_scope(|| {
///     let request = trace_runtime::span("GET /cart").kind(SpanKind::Server).start();
///     request.tag("http.status_code", 200);
///     {
///         let _query = trace_runtime::span("load cart").start();
///     }
/// });
/// assert_eq!(
///     collector.render_trace(collector.spans()[0].trace_id),
///     "GET /cart [server] http.status_code=200\n  load cart\n"
/// );
/// ```
pub fn span(name: impl Into<Cow<'static, str>>) -> SpanBuilder {
    SpanBuilder {
        start: SpanStart { name: name.into(), kind: SpanKind::Internal, root: false },
        tags: Vec::new(),
        links: Vec::new(),
    }
}

/// A span about to be opened; made by [`span`].
#[must_use = "the span is opened by `start`"]
pub struct SpanBuilder {
    start: SpanStart,
    tags: Vec<Tag>,
    links: Vec<Link>,
}

impl SpanBuilder {
    /// Sets the span kind (default: internal).
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.start.kind = kind;
        self
    }

    /// Starts a new trace even if a span is current.
    pub fn root(mut self) -> Self {
        self.start.root = true;
        self
    }

    /// Adds a tag (kept only if the span is sampled).
    pub fn tag(mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Self {
        self.tags.push((key.into(), value.into()));
        self
    }

    /// Links the span to another span context.
    pub fn link(mut self, span_context: crate::SpanContext) -> Self {
        self.links.push(Link { span_context, tags: Vec::new() });
        self
    }

    /// Opens the span as the current span of this thread.
    pub fn start(self) -> SpanGuard {
        let guard = SpanGuard::open(self.start);
        if !self.tags.is_empty() || !self.links.is_empty() {
            guard.record(|span| {
                for (key, value) in self.tags {
                    span.add_tag(key, value);
                }
                for link in self.links {
                    span.add_link(link);
                }
            });
        }
        guard
    }
}

/// An open span; dropping it closes the span.
///
/// The guard is tied to the thread it was opened on (it is not `Send`). To
/// follow work onto other threads or into futures, capture a
/// [`Context`](crate::Context); for `async` code use `#[traced]`, which
/// moves its span with the future.
///
/// When the guard is dropped while the thread panics, the span's status
/// becomes an error carrying the panic message.
#[must_use = "the span closes when the guard is dropped"]
pub struct SpanGuard {
    /// The span, as [`OpenedSpan::into_raw`] gives it: two integers, so the
    /// guard is returned in registers, and `drop` tests one bit.
    raw: (u64, u8),
    _not_send: PhantomData<*const ()>,
}

impl SpanGuard {
    /// Opens a span; with no tracer anywhere, or under an unsampled span
    /// of this thread, without a call.
    #[inline(always)]
    pub(crate) fn open(start: SpanStart) -> Self {
        Self::open_named(start.name, start.kind, start.root)
    }

    /// [`open`](Self::open) with the name as the caller has it: for
    /// `#[traced]`, a `&'static str` passed in registers.
    #[inline(always)]
    pub(crate) fn open_named<N>(name: N, kind: SpanKind, root: bool) -> Self
    where
        N: Into<Cow<'static, str>>,
    {
        if !local::enabled() {
            return Self::holding(None);
        }
        match local::open_nested(root) {
            Some(nested) => Self::holding(Some(nested)),
            None => Self::open_frame(name, kind, root),
        }
    }

    #[inline(never)]
    fn open_frame<N>(name: N, kind: SpanKind, root: bool) -> Self
    where
        N: Into<Cow<'static, str>>,
    {
        // Whether the thread was unwinding already is in the span's bits.
        Self::holding(local::open(name, kind, root))
    }

    /// Whether the span records anything: a tracer is installed and the
    /// trace is sampled. Work done only to compute tags can be skipped when
    /// it is `false`.
    pub fn is_recording(&self) -> bool {
        self.opened().is_some_and(OpenedSpan::sampled)
    }

    /// The span's trace ID; `None` if no tracer is installed.
    pub fn trace_id(&self) -> Option<TraceId> {
        local::trace_id_of(self.opened()?.span_id)
    }

    /// The span's ID; `None` if no tracer is installed.
    pub fn span_id(&self) -> Option<SpanId> {
        self.opened().map(|span| span.span_id)
    }

    /// Adds a tag to this span.
    pub fn tag(&self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        self.record(|span| span.add_tag(key.into(), value.into()));
    }

    /// Adds a timestamped event to this span.
    pub fn add_event(&self, name: impl Into<Cow<'static, str>>, tags: Vec<Tag>) {
        self.record(|span| span.add_event(name.into(), tags));
    }

    /// Links this span to another span context.
    pub fn add_link(&self, span_context: crate::SpanContext, tags: Vec<Tag>) {
        self.record(|span| span.add_link(Link { span_context, tags }));
    }

    /// Sets this span's status.
    pub fn set_status(&self, status: Status) {
        self.record(|span| span.set_status(status));
    }

    /// Closes the span now (the same as dropping the guard).
    pub fn end(self) {}

    #[inline]
    pub(crate) fn record<R>(&self, f: impl FnOnce(&mut OpenSpan<'_>) -> R) -> Option<R> {
        let span = self.opened().filter(|span| span.sampled())?;
        local::with_span(span.span_id, f)
    }

    #[inline(always)]
    fn holding(opened: Option<OpenedSpan>) -> Self {
        Self { raw: OpenedSpan::into_raw(opened), _not_send: PhantomData }
    }

    fn opened(&self) -> Option<OpenedSpan> {
        OpenedSpan::from_raw(self.raw)
    }

    /// Hands the span over to the caller instead of closing it.
    pub(crate) fn detach(mut self) -> Option<local::Frame> {
        let span = self.opened()?;
        self.raw = OpenedSpan::into_raw(None);
        if span.nested() { local::detach_nested(span.span_id) } else { local::take(span.span_id) }
    }

    /// Hands the span over to the caller with its entry left on the stack,
    /// for a future polled at once, right here (see
    /// [`Instrumented::in_place`](crate::future::Instrumented)). A span
    /// without an entry of its own (nested in an unsampled one) or without
    /// a tracer comes back as the guard.
    #[inline]
    pub(crate) fn keep_entry(mut self) -> Result<SpanId, Self> {
        match self.opened() {
            Some(span) if !span.nested() => {
                self.raw = OpenedSpan::into_raw(None);
                Ok(span.span_id)
            }
            _ => Err(self),
        }
    }
}

impl Drop for SpanGuard {
    #[inline(always)]
    fn drop(&mut self) {
        // Nothing to do without a tracer, or for a span nested in an
        // unsampled one (it has no frame).
        if OpenedSpan::closes_raw(self.raw) {
            Self::close(self.raw);
        }
    }
}

impl SpanGuard {
    /// Out of line, and given the span by value rather than the guard by
    /// reference: the guard then stays in registers in the caller.
    #[inline(never)]
    fn close(raw: (u64, u8)) {
        let Some(span) = OpenedSpan::from_raw(raw) else { return };
        if span.sampled() && std::thread::panicking() && !span.panicking_at_open() {
            Self::record_panic(span);
        }
        local::close(span.span_id);
    }

    /// The panic unwinding through the span becomes its error status.
    #[cold]
    #[inline(never)]
    fn record_panic(span: OpenedSpan) {
        let message = crate::panic::unwinding_message();
        local::with_span(span.span_id, |record| record.set_status(Status::Error(message.into())));
    }
}

impl fmt::Debug for SpanGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanGuard").field("span", &self.opened()).finish()
    }
}
