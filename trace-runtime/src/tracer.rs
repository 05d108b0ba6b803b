//! The tracer: service identity, sampler and processors, and how it is installed.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::export::{
    BatchSpanProcessor, SimpleSpanProcessor, SpanBatch, SpanExporter, SpanProcessor,
};
use crate::id::TraceId;
use crate::limits::{LimitCounters, Limits};
use crate::record::{Record, RedactFn, Source};
use crate::sampling::Sampler;
use crate::value::Value;

/// Records spans for one service and hands them to its processors.
///
/// Cheap to clone (a reference count). Install one per process with
/// [`install`](Tracer::install), or make one current on this thread only with
/// [`set_default`](Tracer::set_default) / [`in_scope`](Tracer::in_scope),
/// which is what tests do so that each test has its own collector.
///
/// ```
/// use trace_runtime::{InMemoryCollector, Tracer, traced};
///
/// #[traced]
/// fn work() {}
///
/// let collector = InMemoryCollector::new();
/// let tracer = Tracer::builder("billing").span_processor(collector.clone()).build();
/// tracer.in_scope(work);
/// assert_eq!(collector.spans()[0].name, "work");
/// ```
#[derive(Clone)]
pub struct Tracer {
    pub(crate) inner: Arc<TracerInner>,
}

pub(crate) struct TracerInner {
    /// The service name and the redaction hook, shared with its batches.
    pub(crate) source: Arc<Source>,
    pub(crate) sampler: Sampler,
    pub(crate) limits: Limits,
    pub(crate) limit_counters: LimitCounters,
    processors: Vec<Box<dyn SpanProcessor>>,
    counters: Counters,
    shut_down: std::sync::atomic::AtomicBool,
    /// The longest [`Tracer::flush`] and [`Tracer::shutdown`] wait.
    pub(crate) shutdown_timeout: Duration,
    /// The longest the exit handler waits (see [`Tracer::install`]).
    exit_timeout: Duration,
}

/// The default of [`TracerBuilder::shutdown_timeout`]: OpenTelemetry's
/// default `OTEL_BSP_EXPORT_TIMEOUT`.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// The default of [`TracerBuilder::exit_timeout`].
const DEFAULT_EXIT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Counters {
    sampled_roots: AtomicU64,
    unsampled_roots: AtomicU64,
    spans_exported: AtomicU64,
    exporter_panics: AtomicU64,
}

/// Counts kept by a tracer, read with [`Tracer::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TracerStats {
    /// Traces started here (roots, or the first span under a propagated
    /// context) that were sampled.
    pub sampled_roots: u64,
    /// Traces started here that were not sampled.
    pub unsampled_roots: u64,
    /// Finished spans handed to the processors.
    pub spans_exported: u64,
    /// Calls to an exporter that panicked (the panic is caught; the batch
    /// may be lost for that exporter).
    pub exporter_panics: u64,
    /// Tags dropped because a span, event or link had as many as
    /// [`Limits::max_tags_per_span`].
    pub tags_dropped: u64,
    /// Events dropped over [`Limits::max_events_per_span`].
    pub events_dropped: u64,
    /// Links dropped over [`Limits::max_links_per_span`].
    pub links_dropped: u64,
    /// String values cut to [`Limits::max_tag_value_bytes`].
    pub values_truncated: u64,
    /// Span and event names cut to [`Limits::max_name_bytes`].
    pub names_truncated: u64,
}

/// Configures a [`Tracer`]; made by [`Tracer::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct TracerBuilder {
    service: String,
    sampler: Sampler,
    limits: Limits,
    redact: Option<Box<RedactFn>>,
    processors: Vec<Box<dyn SpanProcessor>>,
    panic_hook: bool,
    shutdown_timeout: Duration,
    exit_timeout: Duration,
}

/// [`Tracer::install`] was called when a tracer was already installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadyInstalled;

impl fmt::Display for AlreadyInstalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a global tracer is already installed")
    }
}

impl std::error::Error for AlreadyInstalled {}

static GLOBAL: OnceLock<Tracer> = OnceLock::new();

/// A flush or shutdown of one processor within a time budget.
type ProcessorStep = fn(&dyn SpanProcessor, Duration) -> bool;

/// Set for good when the first tracer is built.
static ANY_BUILT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Tracer {
    /// Starts configuring a tracer for the named service.
    pub fn builder(service: impl Into<String>) -> TracerBuilder {
        TracerBuilder {
            service: service.into(),
            sampler: Sampler::AlwaysOn,
            limits: Limits::default(),
            redact: None,
            processors: Vec::new(),
            panic_hook: true,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            exit_timeout: DEFAULT_EXIT_TIMEOUT,
        }
    }

    /// Starts configuring a tracer from the standard OpenTelemetry
    /// environment variables, so a service drops into an existing
    /// deployment with no code change:
    ///
    /// - `OTEL_SERVICE_NAME`, else `service.name` in
    ///   `OTEL_RESOURCE_ATTRIBUTES`, else `default_service`;
    /// - `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` ([`Sampler::from_lookup`]);
    /// - `OTEL_TRACES_EXPORTER`: `otlp` (the default: OTLP/HTTP JSON to
    ///   `OTEL_EXPORTER_OTLP_ENDPOINT`, or the protocol
    ///   `OTEL_EXPORTER_OTLP_PROTOCOL` names, `grpc` with the `grpc` feature;
    ///   see [`OtlpConfig::from_env`](crate::export::OtlpConfig::from_env)),
    ///   `zipkin`, `console` or `none`, behind a
    ///   [`BatchSpanProcessor`](crate::export::BatchSpanProcessor) configured by `OTEL_BSP_*`.
    ///
    /// More processors can be added to the builder it returns.
    pub fn builder_from_env(default_service: &str) -> TracerBuilder {
        Self::builder_from_lookup(default_service, |name| std::env::var(name).ok())
    }

    /// [`builder_from_env`](Self::builder_from_env), reading variables through `lookup`.
    ///
    /// ```
    /// use trace_runtime::Tracer;
    /// let tracer = Tracer::builder_from_lookup("checkout", |name| match name {
    ///     "OTEL_SERVICE_NAME" => Some("payments".into()),
    ///     "OTEL_TRACES_EXPORTER" => Some("none".into()),
    ///     _ => None,
    /// })
    /// .build();
    /// assert_eq!(tracer.service(), "payments");
    /// ```
    pub fn builder_from_lookup(
        default_service: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> TracerBuilder {
        use crate::export::{
            BatchConfig, BatchSpanProcessor, ConfigError, ConsoleExporter, ZipkinExporter,
            service_name_from_lookup,
        };
        let service =
            service_name_from_lookup(&lookup).unwrap_or_else(|| default_service.to_owned());
        let config = BatchConfig::from_lookup(&lookup);
        let mut builder = Self::builder(service)
            .sampler(Sampler::from_lookup(&lookup))
            .shutdown_timeout(config.flush_timeout);
        let kinds = lookup("OTEL_TRACES_EXPORTER").unwrap_or_else(|| "otlp".to_owned());
        // A comma-separated list, as the specification allows.
        for kind in kinds.split(',').map(str::trim).filter(|kind| !kind.is_empty()) {
            let exporter: Result<Box<dyn SpanExporter>, ConfigError> = match kind {
                "none" => continue,
                "otlp" => crate::export::otlp_exporter_from_lookup(&lookup),
                "zipkin" => ZipkinExporter::from_lookup(&lookup).map(|e| Box::new(e) as _),
                "console" => Ok(Box::new(ConsoleExporter::new())),
                other => Err(ConfigError::new(format!(
                    "OTEL_TRACES_EXPORTER={other:?}: expected otlp, zipkin, console or none"
                ))),
            };
            match exporter {
                Ok(exporter) => {
                    builder = builder
                        .span_processor(BatchSpanProcessor::with_config(exporter, config.clone()));
                }
                Err(error) => eprintln!(
                    "{}: {error}; spans will not be exported there",
                    crate::export::Who(Some(&builder.service))
                ),
            }
        }
        builder
    }

    /// Makes this the tracer of every thread that has no scoped tracer.
    ///
    /// # Errors
    /// [`AlreadyInstalled`] if a tracer was installed before; the first stays.
    ///
    /// The installed tracer is shut down (flushing every exporter) when the
    /// process exits through `main` returning, a panic leaving `main`, or
    /// `std::process::exit`: an exit handler is registered with the C
    /// runtime. It waits at most [`exit_timeout`](TracerBuilder::exit_timeout)
    /// (5 s by default) for the exporters, whatever their retry schedule, so
    /// a hung collector delays the exit by no more than that; spans not
    /// exported by then are counted as dropped and the count is printed. A process killed by a signal or aborting (`panic = "abort"`,
    /// `std::process::abort`) loses what was still queued.
    pub fn install(&self) -> Result<(), AlreadyInstalled> {
        GLOBAL.set(self.clone()).map_err(|_| AlreadyInstalled)?;
        exit::shut_down_global_at_exit();
        Ok(())
    }

    /// Whether any tracer was ever built in this process.
    #[inline(always)]
    pub(crate) fn any_built() -> bool {
        ANY_BUILT.load(Ordering::Relaxed)
    }

    /// The installed tracer, if any.
    #[inline]
    pub fn global() -> Option<&'static Self> {
        GLOBAL.get()
    }

    /// The service name given to the builder.
    pub fn service(&self) -> &str {
        &self.inner.source.service
    }

    /// The counts kept so far.
    pub fn stats(&self) -> TracerStats {
        let c = &self.inner.counters;
        let l = &self.inner.limit_counters;
        TracerStats {
            sampled_roots: c.sampled_roots.load(Ordering::Relaxed),
            unsampled_roots: c.unsampled_roots.load(Ordering::Relaxed),
            spans_exported: c.spans_exported.load(Ordering::Relaxed),
            exporter_panics: c.exporter_panics.load(Ordering::Relaxed),
            tags_dropped: l.tags_dropped.load(Ordering::Relaxed),
            events_dropped: l.events_dropped.load(Ordering::Relaxed),
            links_dropped: l.links_dropped.load(Ordering::Relaxed),
            values_truncated: l.values_truncated.load(Ordering::Relaxed),
            names_truncated: l.names_truncated.load(Ordering::Relaxed),
        }
    }

    /// Asks every span processor to deliver what it holds (after
    /// [`Tracer::flush`] handed this thread's spans over), waiting at most
    /// `timeout` for all of them together.
    pub(crate) fn flush_processors(&self, timeout: Duration) -> bool {
        self.on_every_processor(timeout, |processor, left| processor.flush_with_timeout(left))
    }

    /// Marks the tracer shut down; `false` if it already was.
    pub(crate) fn begin_shutdown(&self) -> bool {
        !self.inner.shut_down.swap(true, Ordering::AcqRel)
    }

    /// Shuts every span processor down (after [`Tracer::shutdown`] handed
    /// this thread's spans over), waiting at most `timeout` for all of them
    /// together.
    pub(crate) fn shut_down_processors(&self, timeout: Duration) -> bool {
        self.on_every_processor(timeout, |processor, left| processor.shutdown_with_timeout(left))
    }

    /// Runs `step` on every processor at once, each on a thread of its own
    /// when there are several, so that one waiting on a hung collector
    /// neither eats the others' time nor holds the caller beyond `timeout`;
    /// returns whether all finished in time.
    fn on_every_processor(&self, timeout: Duration, step: ProcessorStep) -> bool {
        let count = self.inner.processors.len();
        if count <= 1 {
            // A lone processor bounds its own wait (as `BatchSpanProcessor`
            // does); no thread is needed.
            return count == 0 || self.run_step(0, step, timeout);
        }
        let deadline = Instant::now() + timeout;
        let (done, finished) = mpsc::channel();
        let mut waiting = 0;
        let mut all = true;
        for index in 0..count {
            let tracer = self.clone();
            let done = done.clone();
            let spawned = thread::Builder::new().name("trace-shutdown".into()).spawn(move || {
                let _ = done.send(tracer.run_step(index, step, timeout));
            });
            match spawned {
                Ok(_) => waiting += 1,
                // No thread to spare: this one waits in turn.
                Err(_) => all &= self.run_step(index, step, timeout),
            }
        }
        for _ in 0..waiting {
            let left = deadline.saturating_duration_since(Instant::now());
            all &= finished.recv_timeout(left).unwrap_or(false);
        }
        all
    }

    fn run_step(&self, index: usize, step: ProcessorStep, timeout: Duration) -> bool {
        let processor = self.inner.processors[index].as_ref();
        // Like `on_end`: a processor's bug must not crash the caller.
        catch_unwind(AssertUnwindSafe(|| step(processor, timeout))).unwrap_or_else(|_| {
            self.inner.counters.exporter_panics.fetch_add(1, Ordering::Relaxed);
            true
        })
    }

    /// The sampler's decision for a trace that starts here (new, or
    /// continued from another process: `parent_sampled`), counted.
    #[inline]
    pub(crate) fn decide_root(&self, trace_id: TraceId, parent_sampled: Option<bool>) -> bool {
        let sampled = self.inner.sampler.should_sample(trace_id, parent_sampled);
        let counter = if sampled {
            &self.inner.counters.sampled_roots
        } else {
            &self.inner.counters.unsampled_roots
        };
        counter.fetch_add(1, Ordering::Relaxed);
        sampled
    }

    pub(crate) fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Hands closed records of this tracer to the processors; `closed` is
    /// how many there are, if the caller knows.
    pub(crate) fn export_records(&self, records: Vec<Record>, closed: Option<usize>) {
        let source = self.inner.source.clone();
        let batch = match closed {
            Some(closed) => SpanBatch::recorded_counted(source, records, closed),
            None => SpanBatch::recorded(source, records),
        };
        if !batch.is_empty() {
            self.export_batch(batch);
        }
    }

    pub(crate) fn export_batch(&self, batch: SpanBatch) {
        let count = batch.len() as u64;
        // Every exporter but the last gets a copy; the last one keeps the
        // batch itself.
        if let Some((last, others)) = self.inner.processors.split_last() {
            for exporter in others {
                self.export_to(exporter.as_ref(), batch.clone());
            }
            self.export_to(last.as_ref(), batch);
        }
        self.inner.counters.spans_exported.fetch_add(count, Ordering::Relaxed);
    }

    fn export_to(&self, processor: &dyn SpanProcessor, batch: SpanBatch) {
        // An exporter's bug must not take the application down with it.
        if catch_unwind(AssertUnwindSafe(|| processor.on_end(batch))).is_err() {
            self.inner.counters.exporter_panics.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracer")
            .field("service", &self.inner.source.service)
            .field("sampler", &self.inner.sampler)
            .field("processors", &self.inner.processors.len())
            .finish()
    }
}

impl TracerBuilder {
    /// The longest [`Tracer::flush`] and [`Tracer::shutdown`] wait for the
    /// processors, all of them together (default 30 s;
    /// [`Tracer::builder_from_env`] reads `OTEL_BSP_EXPORT_TIMEOUT`).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The longest the exit handler of an installed tracer waits for the
    /// processors (default 5 s); see [`Tracer::install`].
    pub fn exit_timeout(mut self, timeout: Duration) -> Self {
        self.exit_timeout = timeout;
        self
    }

    /// Adds a span processor; finished spans go to every processor added.
    pub fn span_processor(mut self, processor: impl SpanProcessor) -> Self {
        self.processors.push(Box::new(processor));
        self
    }

    /// Adds `exporter` behind a [`BatchSpanProcessor`] configured by the
    /// `OTEL_BSP_*` environment variables: spans are exported from a
    /// background thread, in batches, with retries.
    pub fn batch_exporter(self, exporter: impl SpanExporter) -> Self {
        self.span_processor(BatchSpanProcessor::from_env(exporter))
    }

    /// Adds `exporter` behind a [`SimpleSpanProcessor`]: each batch is
    /// exported on the thread that closed its spans. For quick processors
    /// (the console, tests); a network exporter belongs behind
    /// [`batch_exporter`](Self::batch_exporter).
    pub fn simple_exporter(self, exporter: impl SpanExporter + Sync) -> Self {
        self.span_processor(SimpleSpanProcessor::new(exporter))
    }

    /// Sets the sampler (default: [`Sampler::AlwaysOn`]).
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = sampler;
        self
    }

    /// Sets the per-span limits (default: [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets a hook that sees every tag (of spans, events and links) of a
    /// finished span before any exporter does: return the value to keep, a
    /// replacement, or `None` to drop the tag. The place to keep personal
    /// data out of traces that code records indirectly. It runs where spans
    /// are converted for the processors (on a
    /// [`BatchSpanProcessor`](crate::export::BatchSpanProcessor)'s thread, if there
    /// is one), not on the thread that recorded the span.
    ///
    /// ```
    /// use trace_runtime::{InMemoryCollector, Tracer, Value};
    /// let collector = InMemoryCollector::new();
    /// let tracer = Tracer::builder("accounts")
    ///     .redact(|key, value| match key {
    ///         "user.email" => Some(Value::from("[redacted]")),
    ///         "user.password" => None,
    ///         _ => Some(value),
    ///     })
    ///     .span_processor(collector.clone())
    ///     .build();
    /// tracer.in_scope(|| {
    ///     let _span = trace_runtime::span("signup")
    ///         .tag("user.email", "ada@example.com")
    ///         .tag("user.password", "hunter2")
    ///         .start();
    /// });
    /// assert_eq!(collector.render(), "signup user.email=\"[redacted]\"\n");
    /// ```
    pub fn redact(
        mut self,
        hook: impl Fn(&str, Value) -> Option<Value> + Send + Sync + 'static,
    ) -> Self {
        self.redact = Some(Box::new(hook));
        self
    }

    /// Whether [`build`](Self::build) installs the panic hook that lets a
    /// span closed by a panic record the panic's message (default: yes).
    /// Without it, such spans record the status `panicked` alone.
    ///
    /// The hook is process-wide, installed once, and calls the hook that was
    /// installed before it. A hook the application installs later replaces
    /// it unless that hook calls the previous one (`std::panic::take_hook`);
    /// spans then record `panicked` without a message, never the message of
    /// an earlier panic.
    ///
    /// ```
    /// use std::panic::{AssertUnwindSafe, catch_unwind};
    /// use trace_runtime::{InMemoryCollector, Tracer};
    /// let collector = InMemoryCollector::new();
    /// let tracer = Tracer::builder("jobs").panic_hook(false).span_processor(collector.clone()).build();
    /// let _ = catch_unwind(AssertUnwindSafe(|| {
    ///     tracer.in_scope(|| {
    ///         let _span = trace_runtime::span("job").start();
    ///         panic!("disk full");
    ///     })
    /// }));
    /// assert_eq!(collector.render(), "job (error: panicked)\n");
    /// ```
    pub fn panic_hook(mut self, install: bool) -> Self {
        self.panic_hook = install;
        self
    }

    /// Builds the tracer. Unless [`panic_hook(false)`](Self::panic_hook)
    /// was set, this installs a process-wide panic hook (once per process)
    /// that records panic messages for the spans a panic closes, and then
    /// calls the hook that was there before.
    pub fn build(self) -> Tracer {
        if self.panic_hook {
            crate::panic::install_hook();
        }
        // The first span must not pay for calibrating the clock.
        crate::clock::warm_up();
        ANY_BUILT.store(true, Ordering::Relaxed);
        Tracer {
            inner: Arc::new(TracerInner {
                source: Arc::new(Source { service: Arc::from(self.service), redact: self.redact }),
                sampler: self.sampler,
                limits: self.limits,
                limit_counters: LimitCounters::default(),
                processors: self.processors,
                shut_down: std::sync::atomic::AtomicBool::new(false),
                counters: Counters::default(),
                shutdown_timeout: self.shutdown_timeout,
                exit_timeout: self.exit_timeout,
            }),
        }
    }
}

/// Shutting the installed tracer down when the process exits.
mod exit {
    use std::sync::Once;

    use super::GLOBAL;

    unsafe extern "C" {
        /// The C runtime's exit handler registration: handlers run when
        /// `main` returns (also after a panic leaves it) and on `exit`.
        fn atexit(handler: extern "C" fn()) -> std::ffi::c_int;
    }

    extern "C" fn shut_down_global() {
        // Unwinding out of an exit handler would abort the process.
        let _ = std::panic::catch_unwind(|| {
            if let Some(tracer) = GLOBAL.get() {
                tracer.shutdown_with_timeout(tracer.inner.exit_timeout);
            }
        });
    }

    pub(super) fn shut_down_global_at_exit() {
        static REGISTER: Once = Once::new();
        REGISTER.call_once(|| {
            // SAFETY: `atexit` takes a function pointer with the C ABI and
            // no arguments, which is what is passed; registration can only
            // fail for lack of memory, in which case exit simply does not
            // flush (the same as without it).
            let _ = unsafe { atexit(shut_down_global) };
        });
    }
}
