//! The tracer: service identity, sampler and exporters, and how it is installed.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::export::Exporter;
use crate::sampling::Sampler;
use crate::span::SpanData;
use crate::stack;

/// Records spans for one service and hands them to its exporters.
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
/// let tracer = Tracer::builder("billing").exporter(collector.clone()).build();
/// tracer.in_scope(work);
/// assert_eq!(collector.spans()[0].name, "work");
/// ```
#[derive(Clone)]
pub struct Tracer {
    pub(crate) inner: Arc<TracerInner>,
}

pub(crate) struct TracerInner {
    pub(crate) service: Arc<str>,
    pub(crate) sampler: Sampler,
    exporters: Vec<Box<dyn Exporter>>,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    sampled_roots: AtomicU64,
    unsampled_roots: AtomicU64,
    spans_exported: AtomicU64,
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
    /// Finished spans handed to the exporters.
    pub spans_exported: u64,
}

/// Configures a [`Tracer`]; made by [`Tracer::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct TracerBuilder {
    service: String,
    sampler: Sampler,
    exporters: Vec<Box<dyn Exporter>>,
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

impl Tracer {
    /// Starts configuring a tracer for the named service.
    pub fn builder(service: impl Into<String>) -> TracerBuilder {
        TracerBuilder { service: service.into(), sampler: Sampler::AlwaysOn, exporters: Vec::new() }
    }

    /// Makes this the tracer of every thread that has no scoped tracer.
    ///
    /// # Errors
    /// [`AlreadyInstalled`] if a tracer was installed before; the first stays.
    pub fn install(&self) -> Result<(), AlreadyInstalled> {
        GLOBAL.set(self.clone()).map_err(|_| AlreadyInstalled)
    }

    /// The installed tracer, if any.
    pub fn global() -> Option<&'static Self> {
        GLOBAL.get()
    }

    /// Makes this the tracer of the current thread until the guard drops.
    ///
    /// Spans opened on this thread go to this tracer; futures instrumented
    /// here and contexts captured here carry it to other threads.
    pub fn set_default(&self) -> DefaultGuard {
        DefaultGuard {
            previous: stack::swap_tracer(Some(self.clone())),
            _not_send: std::marker::PhantomData,
        }
    }

    /// Runs `f` with this tracer as the current thread's tracer.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.set_default();
        f()
    }

    /// The service name given to the builder.
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// The counts kept so far.
    pub fn stats(&self) -> TracerStats {
        let c = &self.inner.counters;
        TracerStats {
            sampled_roots: c.sampled_roots.load(Ordering::Relaxed),
            unsampled_roots: c.unsampled_roots.load(Ordering::Relaxed),
            spans_exported: c.spans_exported.load(Ordering::Relaxed),
        }
    }

    /// Asks every exporter to deliver what it holds.
    pub fn flush(&self) {
        for exporter in &self.inner.exporters {
            exporter.flush();
        }
    }

    /// Flushes and shuts down every exporter.
    pub fn shutdown(&self) {
        for exporter in &self.inner.exporters {
            exporter.shutdown();
        }
    }

    pub(crate) fn count_root(&self, sampled: bool) {
        let counter = if sampled {
            &self.inner.counters.sampled_roots
        } else {
            &self.inner.counters.unsampled_roots
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn export_batch(&self, batch: Vec<SpanData>) {
        for exporter in &self.inner.exporters {
            exporter.export(&batch);
        }
        self.inner.counters.spans_exported.fetch_add(batch.len() as u64, Ordering::Relaxed);
    }
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracer")
            .field("service", &self.inner.service)
            .field("sampler", &self.inner.sampler)
            .field("exporters", &self.inner.exporters.len())
            .finish()
    }
}

impl TracerBuilder {
    /// Adds an exporter; spans go to every exporter added.
    pub fn exporter(mut self, exporter: impl Exporter) -> Self {
        self.exporters.push(Box::new(exporter));
        self
    }

    /// Sets the sampler (default: [`Sampler::AlwaysOn`]).
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = sampler;
        self
    }

    /// Builds the tracer.
    pub fn build(self) -> Tracer {
        crate::panic::install_hook();
        Tracer {
            inner: Arc::new(TracerInner {
                service: Arc::from(self.service),
                sampler: self.sampler,
                exporters: self.exporters,
                counters: Counters::default(),
            }),
        }
    }
}

/// Restores the previous thread tracer when dropped; made by [`Tracer::set_default`].
#[must_use = "the tracer is current only until the guard is dropped"]
pub struct DefaultGuard {
    previous: Option<Tracer>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for DefaultGuard {
    fn drop(&mut self) {
        stack::swap_tracer(self.previous.take());
    }
}

impl fmt::Debug for DefaultGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DefaultGuard")
    }
}
