//! Bounds on what one span may hold, so no input makes tracing allocate
//! without bound. What goes over a limit is dropped or truncated, and
//! counted in [`TracerStats`](crate::TracerStats).

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::value::Value;

/// Per-span limits, set with [`TracerBuilder::limits`](crate::TracerBuilder::limits).
///
/// The defaults follow OpenTelemetry's span limits (128 tags, events and
/// links) and add bounds on lengths, which OpenTelemetry leaves unlimited.
///
/// ```
/// use trace_runtime::{Limits, Tracer};
/// let tracer = Tracer::builder("api")
///     .limits(Limits { max_tag_value_bytes: 256, ..Limits::default() })
///     .build();
/// # let _ = tracer;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Tags kept per span (and per event, per link); later ones are dropped.
    pub max_tags_per_span: usize,
    /// Events kept per span; later ones are dropped.
    pub max_events_per_span: usize,
    /// Links kept per span; later ones are dropped.
    pub max_links_per_span: usize,
    /// Bytes kept of a string tag value; longer values are cut at a
    /// character boundary.
    pub max_tag_value_bytes: usize,
    /// Bytes kept of a span or event name.
    pub max_name_bytes: usize,
    /// Finished spans a thread keeps before handing them to the exporters
    /// while spans are still open on it (a thread with none open hands
    /// them over at once). Reaching it drops nothing: the batch goes early.
    pub max_spans_buffered_per_thread: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_tags_per_span: 128,
            max_events_per_span: 128,
            max_links_per_span: 128,
            max_tag_value_bytes: 4096,
            max_name_bytes: 256,
            max_spans_buffered_per_thread: 64,
        }
    }
}

/// How often each limit was hit.
#[derive(Default, Debug)]
pub(crate) struct LimitCounters {
    pub(crate) tags_dropped: AtomicU64,
    pub(crate) events_dropped: AtomicU64,
    pub(crate) links_dropped: AtomicU64,
    pub(crate) values_truncated: AtomicU64,
    pub(crate) names_truncated: AtomicU64,
}

pub(crate) fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Cuts `text` to at most `max` bytes, at a character boundary.
pub(crate) fn truncate(text: &mut Cow<'static, str>, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    match text {
        Cow::Borrowed(s) => *s = &s[..end],
        Cow::Owned(s) => s.truncate(end),
    }
    true
}

impl Limits {
    /// Applies the value-length limit; returns whether it cut.
    pub(crate) fn cut_value(&self, value: &mut Value) -> bool {
        match value {
            Value::Str(text) => truncate(text, self.max_tag_value_bytes),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        let mut text: Cow<'static, str> = Cow::Owned("héllo".to_owned());
        assert!(truncate(&mut text, 2));
        assert_eq!(text, "h");
        let mut short: Cow<'static, str> = Cow::Borrowed("ok");
        assert!(!truncate(&mut short, 2));
        assert_eq!(short, "ok");
    }
}
