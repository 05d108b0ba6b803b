//! "The current span" as the bridges see it: the innermost span open on
//! this thread, whichever API opened it.

use std::borrow::Cow;

#[cfg(feature = "tracing")]
use crate::record::OpenSpan;
use crate::span::Status;
use crate::value::Tag;

/// Runs `f` on the record of the entered `tracing` span that is the current
/// span of this thread, if there is one and it records (the fallback of
/// `trace_runtime::add_tag` and its siblings).
#[cfg(feature = "tracing")]
pub(crate) fn record_entered(f: impl FnOnce(&mut OpenSpan<'_>)) {
    if let Some(span) = super::tracing_layer::entered_top() {
        span.record(f);
    }
}

/// Adds an event to the current span, and an error status if `error` is
/// given; does nothing outside a span or in an unsampled trace.
pub(crate) fn add_event(name: Cow<'static, str>, tags: Vec<Tag>, error: Option<Cow<'static, str>>) {
    #[cfg(feature = "tracing")]
    if let Some(span) = super::tracing_layer::entered_top() {
        span.add_event(name, tags, error);
        return;
    }
    crate::add_event(name, tags);
    if let Some(message) = error {
        crate::set_status(Status::Error(message));
    }
}

/// Whether the current span of this thread is in a sampled trace: outside
/// one, an event would be recorded nowhere, so it is not even built.
pub(crate) fn in_sampled_span() -> bool {
    crate::local::current_span_context().is_some_and(|span| span.sampled())
}
