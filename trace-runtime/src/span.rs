//! What a span is made of, and the finished record handed to exporters.

use std::borrow::Cow;
use std::fmt;

use crate::flags::TraceFlags;
use crate::id::{SpanId, TraceId};
use crate::propagation::{Baggage, TraceState};
use crate::value::Tag;

/// The identity of a span as other spans and processes refer to it.
///
/// ```
/// use trace_runtime::{SpanContext, SpanId, TraceFlags, TraceId};
/// let parent = SpanContext {
///     trace_id: TraceId::random(),
///     span_id: SpanId::random(),
///     flags: TraceFlags::SAMPLED | TraceFlags::RANDOM,
///     remote: true,
/// };
/// assert!(parent.sampled());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanContext {
    /// The trace the span belongs to.
    pub trace_id: TraceId,
    /// The span.
    pub span_id: SpanId,
    /// The W3C trace flags: whether the trace is recorded (`sampled`), and
    /// whether its ID is random (`random`, kept from the caller).
    pub flags: TraceFlags,
    /// Whether the span lives in another process (it was propagated).
    pub remote: bool,
}

impl SpanContext {
    /// Whether the trace is recorded (the `sampled` flag).
    pub const fn sampled(&self) -> bool {
        self.flags.sampled()
    }
}

/// What a context carries beyond IDs: what other services put in the
/// request (trace state) and what the application passes along (baggage).
/// Shared, because it is copied into every context captured beneath.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Extras {
    pub(crate) trace_state: TraceState,
    pub(crate) baggage: Baggage,
}

/// The role of a span in a request, as OpenTelemetry defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    /// Work inside one service (the default).
    #[default]
    Internal,
    /// The handling of a request received from another service.
    Server,
    /// A request sent to another service.
    Client,
    /// A message sent for later, asynchronous processing.
    Producer,
    /// The processing of a message sent by a producer.
    Consumer,
}

impl SpanKind {
    /// The lower-case name used by `#[traced(kind = …)]`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Internal => "internal",
            Self::Server => "server",
            Self::Client => "client",
            Self::Producer => "producer",
            Self::Consumer => "consumer",
        }
    }
}

/// The outcome of a span.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Status {
    /// No outcome was recorded (the default).
    #[default]
    Unset,
    /// The operation was marked as successful.
    Ok,
    /// The operation failed; the message says why.
    Error(Cow<'static, str>),
}

impl Status {
    /// Whether this is an error status.
    pub const fn is_error(&self) -> bool {
        matches!(self, Self::Error(_))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unset => f.write_str("unset"),
            Self::Ok => f.write_str("ok"),
            Self::Error(message) => write!(f, "error: {message}"),
        }
    }
}

/// Something that happened at a point in time during a span.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// What happened.
    pub name: Cow<'static, str>,
    /// When, in nanoseconds since the Unix epoch.
    pub time_unix_nanos: u64,
    /// Details of the event.
    pub tags: Vec<Tag>,
}

impl Event {
    /// An event stamped with the current time.
    pub(crate) fn now(name: Cow<'static, str>, tags: Vec<Tag>) -> Self {
        let time_unix_nanos = crate::clock::Timestamp::now().unix_nanos();
        Self { name, time_unix_nanos, tags }
    }
}

/// A reference from one span to another span context, for relations that
/// are not parent and child: a batch consumer linking the messages it
/// processes, a fan-in joining several traces.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// The linked span.
    pub span_context: crate::SpanContext,
    /// Details of the relation.
    pub tags: Vec<Tag>,
}

/// A finished span, as exporters receive it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanData {
    /// The trace this span belongs to.
    pub trace_id: TraceId,
    /// This span's ID.
    pub span_id: SpanId,
    /// The parent span, or `None` for the root of a trace.
    pub parent_id: Option<SpanId>,
    /// The operation name.
    pub name: Cow<'static, str>,
    /// The span's role.
    pub kind: SpanKind,
    /// Start time, in nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// Duration in nanoseconds, from a monotonic clock.
    pub duration_nanos: u64,
    /// Tags in the order they were recorded.
    pub tags: Vec<Tag>,
    /// Events in the order they were recorded.
    pub events: Vec<Event>,
    /// Links to other spans.
    pub links: Vec<Link>,
    /// The outcome.
    pub status: Status,
    /// The name of the service that recorded the span.
    pub service: std::sync::Arc<str>,
}

impl SpanData {
    /// The value of the first tag with this key.
    ///
    /// ```
    /// # use trace_runtime::{InMemoryCollector, Tracer, Value};
    /// let collector = InMemoryCollector::new();
    /// let tracer = Tracer::builder("doc").span_processor(collector.clone()).build();
    /// tracer.in_scope(|| {
    ///     let _span = trace_runtime::span("op").tag("answer", 42).start();
    /// });
    /// assert_eq!(collector.spans()[0].tag("answer"), Some(&Value::I64(42)));
    /// ```
    pub fn tag(&self, key: &str) -> Option<&crate::Value> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// When the span ended, in nanoseconds since the Unix epoch.
    pub const fn end_unix_nanos(&self) -> u64 {
        self.start_unix_nanos + self.duration_nanos
    }
}
