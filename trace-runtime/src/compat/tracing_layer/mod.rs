//! `tracing` spans and events as our spans and span events.

mod fields;
mod state;
mod table;
#[cfg(test)]
mod tests;
mod text;

use std::borrow::Cow;

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::registry::LookupSpan;

use self::fields::{EventFields, SpanFields, Visitor, names_span};
use self::state::Kept;
pub(crate) use self::state::entered_top;
use self::table::Table;
use crate::detached::{self, DetachedSpan};
use crate::span::SpanKind;
use crate::value::{Tag, Value};

/// A [`tracing_subscriber::Layer`] that makes `tracing` spans and events
/// part of our traces (feature `tracing`).
///
/// Each `tracing` span the layer sees becomes one of our spans, opened when
/// the `tracing` span is created (as a child of the span current then, or
/// of its explicit parent) and closed when its last handle drops. While it
/// is entered (`enter`, `in_scope`, each poll of an `Instrument`ed future),
/// on any thread, it is the current span there: `#[traced]` functions
/// called inside become its children, and `#[traced]` spans around it are
/// its parents. One tree, whichever API opened each level.
///
/// ```
/// use trace_runtime::compat::TracingLayer;
/// use trace_runtime::{InMemoryCollector, Tracer, traced};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// #[traced]
/// fn load(user: u64) {}
///
/// #[traced]
/// fn handle() {
///     let span = tracing::info_span!("query", table = "users", rows = 3);
///     span.in_scope(|| {
///         tracing::info!(target: "db", cached = false, "loading");
///         load(7);
///     });
/// }
///
/// let collector = InMemoryCollector::new();
/// let tracer = Tracer::builder("api").span_processor(collector.clone()).build();
/// let subscriber = tracing_subscriber::registry().with(TracingLayer::new());
/// tracing::subscriber::with_default(subscriber, || tracer.in_scope(handle));
/// assert_eq!(
///     collector.render(),
///     "handle\n\
///     \x20 query table=\"users\" rows=3\n\
///     \x20   @ loading level=\"INFO\" target=\"db\" cached=false\n\
///     \x20   load\n"
/// );
/// ```
///
/// Field values keep their type (integers, floats, bools, strings; other
/// values through `Debug`) and are subject to the tracer's limits and
/// redaction like any tag. The fields `otel.name`, `otel.kind`,
/// `otel.status_code` and `otel.status_message` set the span's name, kind
/// and status, as `tracing-opentelemetry` reads them.
///
/// Put a filter on the layer (`TracingLayer::new().with_filter(…)`) to
/// choose which spans become ours: the others cost nothing here. Without an
/// installed tracer no span gets a state: a callback costs at most a look-up
/// that finds nothing.
///
/// A layer keeps the spans of the subscriber it is part of; a clone starts
/// with none (each subscriber numbers its spans on its own).
pub struct TracingLayer {
    errors_from_events: bool,
    /// The layer's state of each of its open spans, by `tracing` span ID.
    spans: Table<Kept>,
}

impl Default for TracingLayer {
    fn default() -> Self {
        detached::on_deferred(state::push_deferred);
        Self { errors_from_events: false, spans: Table::new() }
    }
}

impl Clone for TracingLayer {
    fn clone(&self) -> Self {
        Self { errors_from_events: self.errors_from_events, spans: Table::new() }
    }
}

impl std::fmt::Debug for TracingLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracingLayer")
            .field("errors_from_events", &self.errors_from_events)
            .finish_non_exhaustive()
    }
}

impl TracingLayer {
    /// A layer that records spans and events; ERROR events leave the span's
    /// status alone.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether an ERROR-level event, or a field named `error` (or recorded
    /// as an error), marks its span's status as an error, with the event's
    /// message or the field's text (default: no). `otel.status_code` takes
    /// precedence either way.
    ///
    /// ```
    /// use trace_runtime::compat::TracingLayer;
    /// use trace_runtime::{InMemoryCollector, Status, Tracer};
    /// use tracing_subscriber::layer::SubscriberExt;
    ///
    /// let collector = InMemoryCollector::new();
    /// let tracer = Tracer::builder("api").span_processor(collector.clone()).build();
    /// let layer = TracingLayer::new().errors_from_events(true);
    /// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
    ///     tracer.in_scope(|| {
    ///         tracing::info_span!("charge").in_scope(|| tracing::error!("card declined"));
    ///     })
    /// });
    /// assert_eq!(collector.spans()[0].status, Status::Error("card declined".into()));
    /// ```
    #[must_use]
    pub fn errors_from_events(mut self, yes: bool) -> Self {
        self.errors_from_events = yes;
        self
    }
}

impl TracingLayer {
    /// What this thread's list of entered spans knows the span `id` by.
    fn key(&self, id: &Id) -> state::Key {
        (std::ptr::from_ref(self) as usize, id.into_u64())
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

/// Records a new span's fields as its tags, straight into its record (no
/// list in between); returns what its special fields say.
#[inline(always)]
fn record_fields(span: &mut DetachedSpan, attrs: &Attributes<'_>) -> fields::Specials {
    let mut special = None;
    span.record(|record| {
        // Inlined into each field's visitor, where a value's type is known
        // and the limit checks fold to its own.
        let mut fields = Visitor(SpanFields::new(
            #[inline(always)]
            |(key, value)| record.add_tag(key, value),
        ));
        attrs.record(&mut fields);
        special = Some(fields.0.special);
    });
    special.flatten()
}

/// Where a new span goes.
enum Parent {
    /// Under the span current on this thread.
    Current,
    /// Under this span (an explicit parent).
    Span(Kept),
    /// At the root of a new trace (`parent: None`).
    Root,
}

impl<S> Layer<S> for TracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: LayerContext<'_, S>) {
        if !detached::enabled() {
            return;
        }
        let metadata = attrs.metadata();
        // The common case, a child of whatever is current, named by its
        // metadata: its own path, with no parent or early fields to carry.
        if attrs.is_contextual() && !names_span(metadata.fields()) {
            let opened = detached::open(Cow::Borrowed(metadata.name()), SpanKind::Internal, false);
            match opened {
                Some((anchor, Some(mut span))) => {
                    let special = record_fields(&mut span, attrs);
                    let state = state::opened(self.key(id), anchor, Some(span), special);
                    self.spans.insert(id, Kept::State(state));
                }
                Some((anchor, None)) => self.spans.insert(id, Kept::Unsampled(anchor)),
                None => {}
            }
            return;
        }
        // Name and kind may come from fields: read those first, then.
        let mut early = names_span(metadata.fields()).then(|| {
            let mut tags = Vec::new();
            let mut fields = SpanFields::new(|tag| tags.push(tag));
            attrs.record(&mut Visitor(&mut fields));
            let special = fields.special;
            (tags, special)
        });
        let (name, kind) = match &mut early {
            Some((_, special)) => (
                special
                    .as_mut()
                    .and_then(|special| special.name.take())
                    .map_or(Cow::Borrowed(metadata.name()), Cow::Owned),
                special.as_ref().and_then(|special| special.kind).unwrap_or(SpanKind::Internal),
            ),
            None => (Cow::Borrowed(metadata.name()), SpanKind::Internal),
        };
        let parent = if attrs.is_root() {
            Parent::Root
        } else if let Some(parent) = attrs.parent() {
            match self.spans.get(parent) {
                Some(state) => Parent::Span(state),
                None => Parent::Current,
            }
        } else {
            Parent::Current
        };

        let attached = match &parent {
            Parent::Span(parent) => Some(parent.anchor().enter()),
            _ => None,
        };
        let opened = detached::open(name, kind, matches!(parent, Parent::Root));
        drop(attached);
        let Some((anchor, mut recorded)) = opened else { return };

        let special = match (early, &mut recorded) {
            (Some((tags, special)), Some(span)) => {
                span.record(|record| {
                    for (key, value) in tags {
                        record.add_tag(key, value);
                    }
                });
                special
            }
            (None, Some(span)) => record_fields(span, attrs),
            // Nothing is recorded: the IDs are all the span needs, until
            // it is entered where they are not current already.
            (_, None) => {
                self.spans.insert(id, Kept::Unsampled(anchor));
                return;
            }
        };
        let state = state::opened(self.key(id), anchor, recorded, special);
        self.spans.insert(id, Kept::State(state));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: LayerContext<'_, S>) {
        let Some(Kept::State(state)) = self.spans.get(id) else { return };
        if !state.is_recording() {
            return;
        }
        // Read outside the span's lock: `Debug` of a value is user code.
        let mut tags = Vec::new();
        let mut fields = SpanFields::new(|tag| tags.push(tag));
        values.record(&mut Visitor(&mut fields));
        let special = fields.special;
        state.update(tags, special);
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, _: LayerContext<'_, S>) {
        if let (Some(Kept::State(state)), Some(cause)) =
            (self.spans.get(id), self.spans.get(follows))
        {
            state.add_link(cause.anchor().span_context());
        }
    }

    fn on_event(&self, event: &Event<'_>, _: LayerContext<'_, S>) {
        // Outside any span (of ours or entered), or in an unsampled trace,
        // an event belongs nowhere.
        let target = if event.is_root() {
            return;
        } else if let Some(parent) = event.parent() {
            match self.spans.get(parent) {
                Some(Kept::State(state)) => Some(state),
                Some(Kept::Unsampled(_)) | None => return,
            }
        } else if super::current::in_sampled_span() {
            None
        } else {
            return;
        };
        let metadata = event.metadata();
        let mut fields = EventFields::default();
        event.record(&mut Visitor(&mut fields));
        let name = fields.message.map_or(Cow::Borrowed(metadata.name()), Cow::Owned);
        let mut tags: Vec<Tag> = Vec::with_capacity(fields.tags.len() + 2);
        tags.push((Cow::Borrowed("level"), Value::Str(level_name(metadata.level()).into())));
        tags.push((Cow::Borrowed("target"), Value::Str(metadata.target().into())));
        tags.append(&mut fields.tags);
        let error = self.errors_from_events.then_some(()).and_then(|()| {
            if *metadata.level() == Level::ERROR {
                Some(name.clone())
            } else {
                fields.error.map(Cow::Owned)
            }
        });
        match target {
            Some(state) => state.add_event(name, tags, error),
            None => super::current::add_event(name, tags, error),
        }
    }

    fn on_enter(&self, id: &Id, _: LayerContext<'_, S>) {
        if state::enter_created(self.key(id)) {
            return;
        }
        // An unsampled span entered where its IDs are current already (its
        // parent's, shared) changes nothing: no entry, nothing to exit.
        let top = crate::local::open_nested(false).map(|top| top.span_id);
        let state = self.spans.update(id, |kept| kept.state_to_enter(top)).flatten();
        // Out of the table: entering pushes on the thread's stack, which
        // may hand spans over (exporters), never under a shard lock.
        if let Some(state) = state {
            state::enter(self.key(id), state);
        }
    }

    fn on_exit(&self, id: &Id, _: LayerContext<'_, S>) {
        state::exit(self.key(id));
    }

    fn on_close(&self, id: Id, _: LayerContext<'_, S>) {
        if let Some(Kept::State(state)) = self.spans.remove(&id) {
            state::close(self.key(&id), state, self.errors_from_events);
        }
    }
}
