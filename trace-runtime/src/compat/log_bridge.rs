//! `log` records as events of the current span.

use std::borrow::Cow;
use std::fmt;

use log::kv::{self, VisitSource};
use log::{LevelFilter, Log, Metadata, Record, SetLoggerError};

use crate::value::{Tag, Value};

/// A [`log::Log`] that adds each record to the current span as an event,
/// then passes it to the logger it wraps (feature `log`).
///
/// The event is named after the message and tagged with `level`, `target`
/// and the record's key-values. A record logged outside any span goes only
/// to the wrapped logger. The current span is the innermost one open on the
/// thread: a `#[traced]` span, one opened by hand, or an entered `tracing`
/// span with [`TracingLayer`](crate::compat) installed.
///
/// ```
/// use trace_runtime::compat::LogBridge;
/// use trace_runtime::{InMemoryCollector, Tracer, traced};
///
/// #[traced]
/// fn charge() {
///     log::info!(target: "billing", cents = 250; "charging card");
/// }
///
/// // Usually `LogBridge::install(env_logger::Logger::from_default_env(), …)`.
/// LogBridge::install(NoLogger, log::LevelFilter::Info).unwrap();
/// let collector = InMemoryCollector::new();
/// Tracer::builder("shop").span_processor(collector.clone()).build().in_scope(charge);
/// assert_eq!(
///     collector.render(),
///     "charge\n  @ charging card level=\"INFO\" target=\"billing\" cents=250\n"
/// );
/// # struct NoLogger;
/// # impl log::Log for NoLogger {
/// #     fn enabled(&self, _: &log::Metadata<'_>) -> bool { false }
/// #     fn log(&self, _: &log::Record<'_>) {}
/// #     fn flush(&self) {}
/// # }
/// ```
pub struct LogBridge<L> {
    inner: L,
    level: LevelFilter,
}

impl<L: Log> LogBridge<L> {
    /// Wraps `inner`; records up to `Trace` become events (the `log`
    /// crate's maximum level still applies first).
    pub fn new(inner: L) -> Self {
        Self { inner, level: LevelFilter::Trace }
    }

    /// The most verbose level that becomes an event.
    #[must_use]
    pub fn max_level(mut self, level: LevelFilter) -> Self {
        self.level = level;
        self
    }

    /// The wrapped logger.
    pub fn inner(&self) -> &L {
        &self.inner
    }
}

impl<L: Log + 'static> LogBridge<L> {
    /// Installs a bridge around `inner` as the process's logger, with
    /// `max_level` as both `log`'s maximum level and the bridge's.
    ///
    /// # Errors
    /// [`SetLoggerError`] if a logger was installed before.
    pub fn install(inner: L, max_level: LevelFilter) -> Result<(), SetLoggerError> {
        log::set_boxed_logger(Box::new(Self::new(inner).max_level(max_level)))?;
        log::set_max_level(max_level);
        Ok(())
    }
}

impl<L: Log> Log for LogBridge<L> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level || self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if record.level() <= self.level && super::current::in_sampled_span() {
            let name = match record.args().as_str() {
                Some(text) => Cow::Borrowed(text),
                None => Cow::Owned(record.args().to_string()),
            };
            let mut tags: Vec<Tag> = vec![
                (Cow::Borrowed("level"), Value::Str(Cow::Borrowed(record.level().as_str()))),
                (Cow::Borrowed("target"), Value::Str(Cow::Owned(record.target().to_owned()))),
            ];
            let _ = record.key_values().visit(&mut KeyValues(&mut tags));
            super::current::add_event(name, tags, None);
        }
        if self.inner.enabled(record.metadata()) {
            self.inner.log(record);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

impl<L: fmt::Debug> fmt::Debug for LogBridge<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogBridge").field("inner", &self.inner).field("level", &self.level).finish()
    }
}

/// Turns a record's key-values into typed tags.
struct KeyValues<'a>(&'a mut Vec<Tag>);

impl<'kvs> VisitSource<'kvs> for KeyValues<'_> {
    fn visit_pair(&mut self, key: kv::Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        let value = if let Some(v) = value.to_i64() {
            Value::I64(v)
        } else if let Some(v) = value.to_u64() {
            Value::from(v)
        } else if let Some(v) = value.to_bool() {
            Value::Bool(v)
        } else if let Some(v) = value.to_f64() {
            Value::F64(v)
        } else if let Some(v) = value.to_borrowed_str() {
            Value::Str(Cow::Owned(v.to_owned()))
        } else {
            Value::Str(Cow::Owned(value.to_string()))
        };
        self.0.push((Cow::Owned(key.as_str().to_owned()), value));
        Ok(())
    }
}
