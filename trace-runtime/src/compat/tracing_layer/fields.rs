//! Reading `tracing` fields: typed tags, and the `otel.*` fields that
//! `tracing-opentelemetry` gives a meaning.

use std::borrow::Cow;
use std::fmt;

use tracing_core::field::{Field, Visit};

use super::text;
use crate::span::SpanKind;
use crate::value::{Tag, Value};

/// A status set by `otel.status_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StatusCode {
    Unset,
    Ok,
    Error,
}

/// What a span's fields say besides tags.
#[derive(Debug, Default)]
pub(super) struct Special {
    /// `otel.name`.
    pub(super) name: Option<String>,
    /// `otel.kind`.
    pub(super) kind: Option<SpanKind>,
    /// `otel.status_code`.
    pub(super) status_code: Option<StatusCode>,
    /// `otel.status_message`.
    pub(super) status_message: Option<String>,
    /// A field named `error`, or one recorded as an error.
    pub(super) error: Option<String>,
}

/// What a span's fields say besides tags, boxed when they say anything:
/// most spans have none of these fields, and their state then moves and
/// drops a pointer instead of five fields.
pub(super) type Specials = Option<Box<Special>>;

impl Special {
    /// Takes what `later` set over what `own` says.
    pub(super) fn merge(own: &mut Specials, later: Specials) {
        let Some(later) = later else { return };
        match own {
            Some(own) => own.update(*later),
            None => *own = Some(later),
        }
    }

    /// Takes what `later` set over what is here.
    fn update(&mut self, later: Self) {
        let Self { name, kind, status_code, status_message, error } = later;
        self.name = name.or(self.name.take());
        self.kind = kind.or(self.kind);
        self.status_code = status_code.or(self.status_code);
        self.status_message = status_message.or(self.status_message.take());
        self.error = error.or(self.error.take());
    }
}

/// Whether fields with these names need [`Special`] handling before the
/// span opens (its name and kind come from them).
pub(super) fn names_span(fields: &tracing_core::field::FieldSet) -> bool {
    fields.iter().any(|field| matches!(field.name(), "otel.name" | "otel.kind"))
}

fn kind(text: &str) -> Option<SpanKind> {
    [SpanKind::Server, SpanKind::Client, SpanKind::Producer, SpanKind::Consumer, SpanKind::Internal]
        .into_iter()
        .find(|kind| text.eq_ignore_ascii_case(kind.as_str()))
}

fn status_code(text: &str) -> StatusCode {
    if text.eq_ignore_ascii_case("error") {
        StatusCode::Error
    } else if text.eq_ignore_ascii_case("ok") {
        StatusCode::Ok
    } else {
        StatusCode::Unset
    }
}

/// Turns a span's fields into tags (given to `tag`) and [`Special`].
pub(super) struct SpanFields<F> {
    pub(super) special: Specials,
    tag: F,
}

impl<F: FnMut(Tag)> SpanFields<F> {
    #[inline]
    pub(super) fn new(tag: F) -> Self {
        Self { special: None, tag }
    }

    fn special(&mut self) -> &mut Special {
        self.special.get_or_insert_with(Box::default)
    }
}

impl<F: FnMut(Tag)> Fields for SpanFields<F> {
    #[cold]
    fn error(&mut self, text: String) {
        self.special().error = Some(text);
    }

    #[inline(always)]
    fn value(&mut self, field: &Field, value: Value) {
        (self.tag)((Cow::Borrowed(field.name()), value));
    }

    #[inline(always)]
    fn text(&mut self, field: &Field, text: Cow<'static, str>) {
        if special(field.name()) {
            self.special_text(field, text);
        } else {
            self.value(field, Value::Str(text));
        }
    }
}

/// Whether [`Special`] reads a text field of this name.
#[inline(always)]
fn special(name: &str) -> bool {
    matches!(name, "otel.name" | "otel.kind" | "otel.status_code" | "otel.status_message" | "error")
}

impl<F: FnMut(Tag)> SpanFields<F> {
    /// A text field [`special`] names: out of line, so that the visitor
    /// of other text fields, nearly all of them, carries none of this.
    #[inline(never)]
    fn special_text(&mut self, field: &Field, text: Cow<'static, str>) {
        match field.name() {
            "otel.name" => self.special().name = Some(text.into_owned()),
            "otel.kind" => self.special().kind = kind(&text),
            "otel.status_code" => self.special().status_code = Some(status_code(&text)),
            "otel.status_message" => self.special().status_message = Some(text.into_owned()),
            // `error`, the one name left: a tag as well.
            _ => {
                self.error(text.clone().into_owned());
                self.value(field, Value::Str(text));
            }
        }
    }
}

/// Turns an event's fields into its name (the `message` field) and tags.
#[derive(Default)]
pub(super) struct EventFields {
    pub(super) message: Option<String>,
    pub(super) tags: Vec<Tag>,
    /// A field named `error`, or one recorded as an error.
    pub(super) error: Option<String>,
}

impl Fields for EventFields {
    fn error(&mut self, text: String) {
        self.error = Some(text);
    }

    fn value(&mut self, field: &Field, value: Value) {
        self.tags.push((Cow::Borrowed(field.name()), value));
    }

    fn text(&mut self, field: &Field, text: Cow<'static, str>) {
        match field.name() {
            "message" => self.message = Some(text.into_owned()),
            "error" => {
                self.error(text.clone().into_owned());
                self.value(field, Value::Str(text));
            }
            _ => self.value(field, Value::Str(text)),
        }
    }
}

/// What a visitor of `tracing` fields does with each: [`Visitor`] turns
/// every typed `record_*` call into one of these.
pub(super) trait Fields {
    /// A field that is a tag.
    fn value(&mut self, field: &Field, value: Value);
    /// A field given as text (`&str`, `Debug`), which may be special.
    fn text(&mut self, field: &Field, text: Cow<'static, str>);
    /// An error's text, besides its tag.
    fn error(&mut self, text: String);
}

/// A visitor's fields lent to it: `attrs.record(&mut Visitor(&mut fields))`.
impl<T: Fields> Fields for &mut T {
    #[inline(always)]
    fn value(&mut self, field: &Field, value: Value) {
        (**self).value(field, value);
    }

    #[inline(always)]
    fn text(&mut self, field: &Field, text: Cow<'static, str>) {
        (**self).text(field, text);
    }

    fn error(&mut self, text: String) {
        (**self).error(text);
    }
}

/// Reads fields into `T`: `attrs.record(&mut Visitor(&mut fields))`, or,
/// one pointer nearer on every field, `Visitor(fields)`.
pub(super) struct Visitor<T>(pub(super) T);

impl<T: Fields> Visitor<T> {
    /// An integer past `i64`, as its text: out of line, so that the
    /// visitor's common path sees a value that is never text and drops the
    /// text's checks.
    /// An integer field: an `I64` where it fits, else (out of line) the
    /// text `Value::from` makes of it.
    #[inline(always)]
    fn integer<N: Copy>(&mut self, field: &Field, value: N)
    where
        i64: TryFrom<N>,
        Value: From<N>,
    {
        match i64::try_from(value) {
            Ok(value) => self.0.value(field, Value::I64(value)),
            Err(_) => self.wide(field, Value::from(value)),
        }
    }

    #[cold]
    #[inline(never)]
    fn wide(&mut self, field: &Field, value: Value) {
        self.0.value(field, value);
    }

    /// A text with no kept copy: out of line, as it is copied into a
    /// `String` (an allocation that costs more than the call), or kept now.
    #[inline(never)]
    fn unkept(&mut self, field: &Field, value: &str) {
        self.0.text(field, text::note(value));
    }
}

impl<T: Fields> Visit for Visitor<T> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.value(field, Value::F64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.value(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.integer(field, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.integer(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.integer(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.value(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        // A kept copy, the common case, goes its own way: a value known to
        // be borrowed moves and checks less than one that may be a `String`.
        match text::kept(value) {
            Some(kept) => self.0.text(field, Cow::Borrowed(kept)),
            None => self.unkept(field, value),
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let text = value.to_string();
        self.0.error(text.clone());
        self.0.value(field, Value::Str(text.into()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.text(field, Cow::Owned(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use tracing_subscriber::layer::SubscriberExt;

    use crate::compat::TracingLayer;
    use crate::span::SpanKind;
    use crate::{InMemoryCollector, Limits, Status, Tracer, Value};

    #[test]
    fn every_kind_of_field_keeps_its_type_within_the_limits_each_time() {
        let collector = InMemoryCollector::new();
        let limits = Limits { max_tags_per_span: 9, max_tag_value_bytes: 4, ..Limits::default() };
        let tracer = Tracer::builder("fields").limits(limits).span_processor(collector.clone());
        let tracer = tracer.build();
        let subscriber = tracing_subscriber::registry().with(TracingLayer::new());
        tracing::subscriber::with_default(subscriber, || {
            tracer.in_scope(|| {
                // One callsite three times: its literals are copied the
                // first time, then borrowed, and must come out the same.
                for _ in 0..3 {
                    let owned = String::from("dynamic");
                    drop(tracing::info_span!(
                        "typed",
                        small = 7u64,
                        wide = u64::MAX,
                        neg = -3i64,
                        big = i128::MIN,
                        yes = true,
                        ratio = 0.5,
                        short = "ab",
                        long = "abcdefgh",
                        owned = owned.as_str(),
                        over = 1,
                    ));
                }
            });
        });
        let str = |text: &'static str| Value::Str(Cow::Borrowed(text));
        let expected = [
            ("small", Value::I64(7)),
            ("wide", str("1844")),
            ("neg", Value::I64(-3)),
            ("big", str("-170")),
            ("yes", Value::Bool(true)),
            ("ratio", Value::F64(0.5)),
            ("short", str("ab")),
            ("long", str("abcd")),
            ("owned", str("dyna")),
        ];
        let spans = collector.spans();
        assert_eq!(spans.len(), 3);
        for span in &spans {
            let tags: Vec<_> =
                span.tags.iter().map(|(key, value)| (&**key, value.clone())).collect();
            assert_eq!(tags, expected);
        }
        let stats = tracer.stats();
        assert_eq!(stats.tags_dropped, 3, "`over`, past 9 tags, on each span");
        assert_eq!(stats.values_truncated, 12, "wide, big, long and owned on each span");
    }

    #[test]
    fn special_text_fields_keep_their_meaning_when_their_texts_are_kept() {
        let collector = InMemoryCollector::new();
        let tracer = Tracer::builder("fields").span_processor(collector.clone()).build();
        let subscriber = tracing_subscriber::registry().with(TracingLayer::new());
        tracing::subscriber::with_default(subscriber, || {
            tracer.in_scope(|| {
                // Three times each: copied texts first, kept ones after.
                for _ in 0..3 {
                    drop(tracing::info_span!(
                        "query",
                        otel.status_code = "error",
                        otel.status_message = "backend down",
                        error = "timeout",
                        db = "orders",
                    ));
                    drop(tracing::info_span!(
                        "request",
                        otel.name = "GET /cart",
                        otel.kind = "server"
                    ));
                }
            });
        });
        let spans = collector.spans();
        assert_eq!(spans.len(), 6);
        let queries: Vec<_> = spans.iter().filter(|span| span.name == "query").collect();
        assert_eq!(queries.len(), 3, "{}", collector.render());
        for span in queries {
            assert_eq!(span.status, Status::Error("backend down".into()));
            let tags: Vec<_> =
                span.tags.iter().map(|(key, value)| (&**key, value.clone())).collect();
            assert_eq!(
                tags,
                [("error", Value::Str("timeout".into())), ("db", Value::Str("orders".into()))]
            );
        }
        let requests: Vec<_> = spans.iter().filter(|span| span.name == "GET /cart").collect();
        assert_eq!(requests.len(), 3, "{}", collector.render());
        for span in requests {
            assert_eq!(span.kind, SpanKind::Server);
            assert!(span.tags.is_empty(), "{:?}", span.tags);
        }
    }
}
