//! Propagators: which headers carry a context, in which format.

use std::ops::ControlFlow;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::context::Context;
use crate::flags::TraceFlags;
use crate::propagation::{
    B3, B3Context, Baggage, Extractor, HeaderError, Injector, TraceParent, TraceState, baggage,
    tracestate,
};
use crate::span::SpanContext;

/// Reads a context from a carrier and writes one into it, in one format.
pub trait Propagator: Send + Sync {
    /// Adds what this format finds in `carrier` to `context`. A span found
    /// here is used only if `context` has none yet, so the first format in a
    /// [`CompositePropagator`] that finds one wins.
    fn extract(&self, carrier: &dyn Extractor, context: Context) -> Context;

    /// Writes `context` into `carrier`.
    fn inject(&self, context: &Context, carrier: &mut dyn Injector);
}

static MALFORMED_TRACEPARENT: AtomicU64 = AtomicU64::new(0);
static MALFORMED_TRACESTATE: AtomicU64 = AtomicU64::new(0);
static DUPLICATE_TRACESTATE_KEYS: AtomicU64 = AtomicU64::new(0);
static DROPPED_BAGGAGE_MEMBERS: AtomicU64 = AtomicU64::new(0);
static MALFORMED_B3: AtomicU64 = AtomicU64::new(0);
static UNSENDABLE_HEADERS: AtomicU64 = AtomicU64::new(0);

#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn count_unsendable() {
    UNSENDABLE_HEADERS.fetch_add(1, Ordering::Relaxed);
}

/// Malformed propagation headers seen by this process, by kind. A malformed
/// header is ignored (the request starts a new trace, or loses only the bad
/// part) and counted here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PropagationStats {
    /// `traceparent` headers rejected (their `tracestate` was dropped too).
    pub malformed_traceparent: u64,
    /// `tracestate` headers dropped while their `traceparent` was kept.
    pub malformed_tracestate: u64,
    /// `tracestate` members left out because their key came earlier in the
    /// header (the first is passed on).
    pub duplicate_tracestate_keys: u64,
    /// `baggage` members dropped (malformed, or over the limits). A header
    /// line that is not text, and the unread rest of a header longer than
    /// [`Baggage::MAX_LEN`], count as one each.
    pub dropped_baggage_members: u64,
    /// B3 headers rejected.
    pub malformed_b3: u64,
    /// Header values that could not be written into an `http::HeaderMap`.
    pub unsendable_headers: u64,
}

/// The counts of malformed headers so far.
pub fn stats() -> PropagationStats {
    PropagationStats {
        malformed_traceparent: MALFORMED_TRACEPARENT.load(Ordering::Relaxed),
        malformed_tracestate: MALFORMED_TRACESTATE.load(Ordering::Relaxed),
        duplicate_tracestate_keys: DUPLICATE_TRACESTATE_KEYS.load(Ordering::Relaxed),
        dropped_baggage_members: DROPPED_BAGGAGE_MEMBERS.load(Ordering::Relaxed),
        malformed_b3: MALFORMED_B3.load(Ordering::Relaxed),
        unsendable_headers: UNSENDABLE_HEADERS.load(Ordering::Relaxed),
    }
}

/// W3C Trace Context (Level 2): `traceparent` and `tracestate`.
///
/// The `sampled` and `random` flags are read and passed on (the `random`
/// flag of an incoming trace goes out with every call in it); the reserved
/// flags are cleared. On injection, this service's entry (`key=<span id>`,
/// key `tr` by default) is put at the front of `tracestate`, and other
/// vendors' entries are kept in order.
#[derive(Debug, Clone)]
pub struct TraceContextPropagator {
    vendor_key: Option<String>,
}

impl Default for TraceContextPropagator {
    fn default() -> Self {
        Self { vendor_key: Some(Self::VENDOR_KEY.to_owned()) }
    }
}

impl TraceContextPropagator {
    /// The `tracestate` key this crate uses unless told otherwise.
    pub const VENDOR_KEY: &'static str = "tr";

    /// A propagator that adds its own `tracestate` entry under `tr`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses another `tracestate` key for this service's entry, or none.
    #[must_use]
    pub fn with_vendor_key(mut self, key: Option<&str>) -> Self {
        self.vendor_key = key.map(str::to_owned);
        self
    }
}

impl Propagator for TraceContextPropagator {
    fn extract(&self, carrier: &dyn Extractor, context: Context) -> Context {
        if context.span_context().is_some() {
            return context;
        }
        // Lines are counted whether readable or not, and only up to two:
        // two `traceparent` lines cannot both be right.
        let mut lines = 0;
        let mut first = None;
        carrier.for_each_value(TraceParent::HEADER, &mut |value| {
            lines += 1;
            if lines == 1 {
                first = value.map(TraceParent::parse);
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        });
        let parent = match (lines, first) {
            (0, _) => return context,
            (1, Some(Ok(parent))) => parent,
            _ => {
                MALFORMED_TRACEPARENT.fetch_add(1, Ordering::Relaxed);
                return context;
            }
        };
        let span = SpanContext {
            trace_id: parent.trace_id,
            span_id: parent.parent_id,
            flags: TraceFlags::from_bits(parent.flags),
            remote: true,
        };
        let mut state = tracestate::Parser::default();
        let mut result = Ok(());
        carrier.for_each_value(TraceState::HEADER, &mut |value| {
            result = value.ok_or(HeaderError::NotText).and_then(|value| state.field(value));
            if result.is_ok() { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
        });
        let state = match result {
            Ok(()) => {
                if state.duplicates > 0 {
                    DUPLICATE_TRACESTATE_KEYS.fetch_add(state.duplicates as u64, Ordering::Relaxed);
                }
                state.state
            }
            Err(_) => {
                MALFORMED_TRACESTATE.fetch_add(1, Ordering::Relaxed);
                TraceState::new()
            }
        };
        context.with_remote_span(span).with_trace_state(state)
    }

    fn inject(&self, context: &Context, carrier: &mut dyn Injector) {
        let Some(span) = context.span_context() else { return };
        carrier.set(
            TraceParent::HEADER,
            TraceParent::new(span.trace_id, span.span_id, span.flags.bits()).to_string(),
        );
        let mut state = context.trace_state().clone();
        if let Some(key) = &self.vendor_key {
            // A key that does not fit the grammar is left out rather than
            // spoiling the whole header.
            let _ = state.insert(key, &span.span_id.to_string());
        }
        if !state.is_empty() {
            carrier.set(TraceState::HEADER, state.to_string());
        }
    }
}

/// W3C Baggage: the `baggage` header.
#[derive(Debug, Clone, Default)]
pub struct BaggagePropagator;

impl Propagator for BaggagePropagator {
    fn extract(&self, carrier: &dyn Extractor, context: Context) -> Context {
        let mut parser = baggage::Parser::default();
        let mut lines = 0;
        let mut dropped = 0;
        carrier.for_each_value(Baggage::HEADER, &mut |value| {
            lines += 1;
            parser.field(value, &mut |_| dropped += 1)
        });
        if dropped > 0 {
            DROPPED_BAGGAGE_MEMBERS.fetch_add(dropped, Ordering::Relaxed);
        }
        if lines == 0 {
            return context;
        }
        let mut baggage = context.baggage().clone();
        baggage.merge(parser.baggage);
        context.with_baggage(baggage)
    }

    fn inject(&self, context: &Context, carrier: &mut dyn Injector) {
        let baggage = context.baggage();
        if !baggage.is_empty() {
            carrier.set(Baggage::HEADER, baggage.to_string());
        }
    }
}

/// How [`B3Propagator`] writes headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum B3Encoding {
    /// One `b3` header.
    Single,
    /// `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled`.
    Multi,
    /// Read B3, write nothing (to accept calls from Zipkin-era services
    /// while sending W3C).
    ExtractOnly,
}

/// B3, for services on Zipkin-era stacks. Extraction reads the single `b3`
/// header, else the `X-B3-*` headers. A deferred sampling decision is read
/// as "sampled", leaving the choice to this service's sampler; `b3: 0`
/// (deny without IDs) starts a new trace.
#[derive(Debug, Clone)]
pub struct B3Propagator {
    encoding: B3Encoding,
}

impl B3Propagator {
    /// A propagator writing `encoding`.
    pub fn new(encoding: B3Encoding) -> Self {
        Self { encoding }
    }
}

impl Propagator for B3Propagator {
    fn extract(&self, carrier: &dyn Extractor, context: Context) -> Context {
        if context.span_context().is_some() {
            return context;
        }
        let parsed = match carrier.get(B3::SINGLE_HEADER) {
            Some(single) => B3::parse_single(single).map(Some),
            None => B3::parse_multi(|name| carrier.get(name)),
        };
        match parsed {
            // B3 says nothing of how the trace ID was made (it may be a
            // 64-bit ID padded with zeros): the random flag stays clear.
            Ok(Some(B3::Context(b3))) => context.with_remote_span(SpanContext {
                trace_id: b3.trace_id,
                span_id: b3.span_id,
                flags: TraceFlags::NONE.with_sampled(b3.sampled.unwrap_or(true)),
                remote: true,
            }),
            Ok(_) => context,
            Err(_) => {
                MALFORMED_B3.fetch_add(1, Ordering::Relaxed);
                context
            }
        }
    }

    fn inject(&self, context: &Context, carrier: &mut dyn Injector) {
        let Some(span) = context.span_context() else { return };
        let mut b3 = B3Context::new(span.trace_id, span.span_id);
        b3.sampled = Some(span.sampled());
        match self.encoding {
            B3Encoding::Single => carrier.set(B3::SINGLE_HEADER, b3.to_string()),
            B3Encoding::Multi => {
                B3::Context(b3).write_multi(|name, value| carrier.set(name, value))
            }
            B3Encoding::ExtractOnly => {}
        }
    }
}

/// Several formats at once: extracts from whichever is present (the first
/// that finds a span wins; baggage is merged), injects all of them.
///
/// ```
/// use std::collections::HashMap;
/// use trace_runtime::propagation::{CompositePropagator, Propagator};
///
/// let propagator = CompositePropagator::default();
/// let incoming = HashMap::from([(
///     "b3".to_owned(),
///     "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1".to_owned(),
/// )]);
/// let context = propagator.extract(&incoming, trace_runtime::Context::new());
/// assert!(context.span_context().unwrap().remote);
///
/// let mut outgoing = HashMap::new();
/// propagator.inject(&context, &mut outgoing);
/// assert!(outgoing["traceparent"].starts_with("00-80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-01"));
/// ```
pub struct CompositePropagator {
    propagators: Vec<Box<dyn Propagator>>,
}

impl CompositePropagator {
    /// The given formats, in order of precedence for extraction.
    pub fn new(propagators: Vec<Box<dyn Propagator>>) -> Self {
        Self { propagators }
    }
}

/// W3C Trace Context and Baggage, and B3 read but not written.
impl Default for CompositePropagator {
    fn default() -> Self {
        Self::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator),
            Box::new(B3Propagator::new(B3Encoding::ExtractOnly)),
        ])
    }
}

impl Propagator for CompositePropagator {
    fn extract(&self, carrier: &dyn Extractor, context: Context) -> Context {
        self.propagators.iter().fold(context, |context, p| p.extract(carrier, context))
    }

    fn inject(&self, context: &Context, carrier: &mut dyn Injector) {
        for propagator in &self.propagators {
            propagator.inject(context, carrier);
        }
    }
}

impl std::fmt::Debug for CompositePropagator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompositePropagator").field("formats", &self.propagators.len()).finish()
    }
}

static GLOBAL: OnceLock<Box<dyn Propagator>> = OnceLock::new();

/// Sets the propagator [`inject`] and [`extract`] use (default:
/// [`CompositePropagator::default`]). Only the first call has an effect;
/// returns whether this one did.
pub fn set_propagator(propagator: impl Propagator + 'static) -> bool {
    GLOBAL.set(Box::new(propagator)).is_ok()
}

fn global() -> &'static dyn Propagator {
    GLOBAL.get_or_init(|| Box::new(CompositePropagator::default())).as_ref()
}

/// Writes the current context into outgoing headers.
///
/// ```
/// use std::collections::HashMap;
/// # let tracer = trace_runtime::Tracer::builder("client").build();
/// # tracer.in_scope(|| {
/// let _call = trace_runtime::span("GET /stock").start();
/// let mut headers = HashMap::new();
/// trace_runtime::propagation::inject(&mut headers);
/// assert!(headers.contains_key("traceparent"));
/// # });
/// ```
pub fn inject(carrier: &mut dyn Injector) {
    inject_context(&Context::current(), carrier);
}

/// Writes `context` into outgoing headers.
pub fn inject_context(context: &Context, carrier: &mut dyn Injector) {
    global().inject(context, carrier);
}

/// Reads the caller's context from incoming headers; attach it (or use
/// the HTTP helpers) so the spans of the request continue the caller's trace.
/// Malformed headers are ignored and counted in [`stats`].
pub fn extract(carrier: &dyn Extractor) -> Context {
    global().extract(carrier, Context::empty_with_current_tracer())
}
