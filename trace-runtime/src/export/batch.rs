//! The batch span processor: application threads put finished spans in a bounded
//! queue; one background thread takes them out in batches and sends them.

use std::borrow::Cow;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;

use crate::export::span_batch::{Conversion, OrderBuffers, Slots};
use crate::export::{BatchConfig, ExportError, SpanBatch, SpanExporter, SpanProcessor, Who};
use crate::span::{SpanData, Status};

/// Sends spans to a [`SpanExporter`] from a background thread, so the thread
/// that closes a span never waits for I/O.
///
/// Handing over a thread's finished spans costs one push on a bounded
/// lock-free queue, for the whole batch (no lock, no I/O, no copy of a
/// record); the background thread is woken only when a full batch is
/// waiting. When the queue is full the
/// span is dropped and counted. The background thread sends a batch when it
/// is full or when [`scheduled_delay`](BatchConfig::scheduled_delay) has
/// passed since the last one, and retries failures
/// the exporter marks retryable with exponential backoff and jitter, honouring
/// `Retry-After`, until the [`export_timeout`](BatchConfig::export_timeout);
/// then the batch is dropped and counted. [`stats`](Self::stats) reads the
/// counters; while spans are being dropped or failing they are also printed
/// to stderr, at most once per
/// [`report_interval`](BatchConfig::report_interval).
///
/// ```
/// use trace_runtime::{InMemoryCollector, Tracer};
/// use trace_runtime::export::BatchSpanProcessor;
///
/// let collector = InMemoryCollector::new();
/// let processor = std::sync::Arc::new(BatchSpanProcessor::new(collector.clone()));
/// let tracer = Tracer::builder("shop").span_processor(processor.clone()).build();
/// tracer.in_scope(|| drop(trace_runtime::span("checkout").start()));
/// tracer.shutdown(); // flushes: everything closed so far reaches the collector
/// assert_eq!(collector.spans().len(), 1);
/// assert_eq!(processor.stats().exported, 1);
/// ```
///
/// # Ending the process
///
/// Spans still queued are delivered by [`flush`](SpanProcessor::flush),
/// [`shutdown`](SpanProcessor::shutdown) (both wait at most
/// [`flush_timeout`](BatchConfig::flush_timeout)) and by dropping the
/// processor, which shuts it down. So call `tracer.shutdown()` before `main`
/// returns: a tracer installed globally is never dropped.
///
/// - `std::process::exit` runs no destructors: whatever was not flushed
///   before the call is lost. Flush first.
/// - A panic that unwinds closes the spans it passes through (they record
///   the panic message) and queues them; they are delivered if a tracer or
///   processor is dropped, or `shutdown` is called, before the process ends
///   (for example, by a guard in `main`). When the main thread's panic ends
///   the process, the background thread is stopped with whatever is queued.
///   With `panic = "abort"` nothing queued is delivered.
/// - A panic inside the exporter is caught: that batch counts as failed and the
///   exporter keeps running.
pub struct BatchSpanProcessor {
    shared: Arc<Shared>,
    worker: Mutex<Option<JoinHandle<()>>>,
    /// The background thread, to unpark; `None` if it could not start.
    worker_thread: Option<Thread>,
}

/// Counters kept by a [`BatchSpanProcessor`], read with [`BatchSpanProcessor::stats`].
///
/// Once the processor has shut down, every span it was given is in exactly
/// one of `exported`, `dropped` and `failed_spans`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BatchStats {
    /// Spans the exporter accepted.
    pub exported: u64,
    /// Spans dropped because the queue was full or the exporter had shut
    /// down, or rejected by the receiver in an otherwise accepted batch (an
    /// OTLP partial success; see [`SpanExporter::take_rejected`]).
    pub dropped: u64,
    /// Batches given up on: a permanent failure, or retries exhausted.
    pub failed_exports: u64,
    /// Spans in the batches given up on.
    pub failed_spans: u64,
    /// Retries made after failed attempts.
    pub retries: u64,
}

impl fmt::Display for BatchStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} spans exported, {} dropped (queue full or rejected), {} failed exports ({} spans), {} retries",
            self.exported, self.dropped, self.failed_exports, self.failed_spans, self.retries
        )
    }
}

enum Message {
    /// A thread's batch of finished spans, moved whole: one queue operation
    /// per batch, not per span.
    Spans(SpanBatch),
    /// Everything before this marker must be sent; then mark `id` done.
    Flush(u64),
}

#[derive(Default)]
struct Counters {
    exported: AtomicU64,
    dropped: AtomicU64,
    failed_exports: AtomicU64,
    failed_spans: AtomicU64,
    retries: AtomicU64,
}

#[derive(Default)]
struct Progress {
    /// The highest flush marker the worker has passed.
    flushed: u64,
    /// The worker has sent everything and exited.
    stopped: bool,
    /// A shutdown ran out of time: the spans still pending were counted as
    /// dropped, and the worker counts nothing more.
    abandoned: bool,
    last_error: Option<String>,
}

struct Shared {
    /// Finished spans on their way to the worker, in batches, and flush
    /// markers. A lock-free bounded queue with no waiting on either side:
    /// the worker sleeps on its own (`thread::park_timeout`), so a send
    /// needs no wake-up bookkeeping (`std::sync::mpsc`'s `try_send` checked
    /// its receivers' waker list on every call: 86 instructions per
    /// hand-over against the queue's ~30).
    queue: ArrayQueue<Message>,
    config: BatchConfig,
    counters: Counters,
    shutting_down: AtomicBool,
    /// The worker has stopped taking spans (it finished, or died): whoever
    /// finds spans in the queue from then on counts them as dropped
    /// ([`Shared::discard_queued`]). A bounded queue, unlike a channel, has
    /// no receiver whose end refuses later sends.
    closed: AtomicBool,
    next_flush: AtomicU64,
    /// Spans in the queue (approximately); the worker is woken when this
    /// reaches a full batch.
    queued: AtomicUsize,
    /// Spans accepted and not yet counted as exported or failed: in the
    /// queue, being converted, or being sent.
    pending: AtomicU64,
    /// The service whose spans these are, for messages (from the first batch).
    service: OnceLock<Arc<str>>,
    progress: Mutex<Progress>,
    /// Signalled when `progress` changes and when shutdown starts.
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Progress> {
        // Progress is plain counters: a panic cannot leave it half-written.
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stats(&self) -> BatchStats {
        let c = &self.counters;
        BatchStats {
            exported: c.exported.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            failed_exports: c.failed_exports.load(Ordering::Relaxed),
            failed_spans: c.failed_spans.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
        }
    }

    /// Waits on `changed` until `done` holds or `deadline` passes.
    fn wait_until(&self, deadline: Instant, done: impl Fn(&Progress) -> bool) -> bool {
        let mut progress = self.lock();
        loop {
            if done(&progress) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            progress =
                self.changed.wait_timeout(progress, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// `trace-runtime [service]`, the start of every message printed.
    fn who(&self) -> Who<'_> {
        Who(self.service.get().map(|service| &**service))
    }

    /// Counts `count` spans of the worker's as exported (or failed), unless
    /// a shutdown that ran out of time already counted them as dropped.
    fn settle(&self, count: u64, outcome: Result<(), ExportError>, rejected: u64) {
        let mut progress = self.lock();
        if progress.abandoned {
            return;
        }
        self.pending.fetch_sub(count, Ordering::Relaxed);
        match outcome {
            Ok(()) => {
                let rejected = rejected.min(count);
                self.counters.exported.fetch_add(count - rejected, Ordering::Relaxed);
                self.counters.dropped.fetch_add(rejected, Ordering::Relaxed);
            }
            Err(error) => {
                self.counters.failed_exports.fetch_add(1, Ordering::Relaxed);
                self.counters.failed_spans.fetch_add(count, Ordering::Relaxed);
                progress.last_error = Some(error.to_string());
            }
        }
    }

    /// Counts every pending span as dropped; returns how many there were.
    fn drop_pending(&self, progress: &mut Progress) -> u64 {
        progress.abandoned = true;
        let left = self.pending.swap(0, Ordering::Relaxed);
        self.counters.dropped.fetch_add(left, Ordering::Relaxed);
        left
    }

    /// Takes every message out of the queue once the worker has stopped:
    /// the spans are counted as dropped, unless `counted` already (a
    /// shutdown that gave up counted everything pending). Each message is
    /// taken by one caller, so each span is counted once.
    fn discard_queued(&self, counted: bool) {
        while let Some(message) = self.queue.pop() {
            if let Message::Spans(spans) = message {
                let count = spans.len();
                self.queued.fetch_sub(count, Ordering::Relaxed);
                if !counted {
                    // Saturating: a span queued while the worker died may
                    // have been in the pending count it zeroed.
                    let _ = self.pending.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        Some(n.saturating_sub(count as u64))
                    });
                    self.counters.dropped.fetch_add(count as u64, Ordering::Relaxed);
                }
            }
        }
    }

    /// Marks the worker stopped: the queue emptied (its spans `counted`
    /// already, or counted now as dropped), later spans counted as they are
    /// queued, and flushes and shutdowns released.
    fn stop(&self, mut progress: MutexGuard<'_, Progress>, counted: bool) {
        self.closed.store(true, Ordering::SeqCst);
        self.discard_queued(counted);
        progress.stopped = true;
        drop(progress);
        self.changed.notify_all();
    }

    /// [`discard_queued`](Self::discard_queued) from an application
    /// thread that queued spans after the worker stopped.
    #[cold]
    fn discard_after_stop(&self) {
        let progress = self.lock();
        self.discard_queued(progress.abandoned);
    }

    /// Sleeps for `wait`, cut short when shutdown starts.
    fn pause(&self, wait: Duration) {
        let progress = self.lock();
        let _ = self
            .changed
            .wait_timeout_while(progress, wait, |_| !self.shutting_down.load(Ordering::Acquire))
            .unwrap_or_else(PoisonError::into_inner);
    }
}

impl BatchSpanProcessor {
    /// A batch span processor with the default [`BatchConfig`].
    pub fn new(exporter: impl SpanExporter) -> Self {
        Self::with_config(exporter, BatchConfig::default())
    }

    /// A batch span processor with the default configuration overridden by the
    /// `OTEL_BSP_*` environment variables ([`BatchConfig::from_env`]).
    pub fn from_env(exporter: impl SpanExporter) -> Self {
        Self::with_config(exporter, BatchConfig::from_env())
    }

    /// A batch span processor with this configuration; starts the background thread.
    ///
    /// If the thread cannot be started, the processor drops every span and
    /// says so on stderr.
    pub fn with_config(exporter: impl SpanExporter, mut config: BatchConfig) -> Self {
        config.max_queue_size = config.max_queue_size.max(1);
        config.max_export_batch_size = config.max_export_batch_size.clamp(1, config.max_queue_size);
        let shared = Arc::new(Shared {
            queue: ArrayQueue::new(config.max_queue_size),
            config,
            counters: Counters::default(),
            shutting_down: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            next_flush: AtomicU64::new(0),
            queued: AtomicUsize::new(0),
            pending: AtomicU64::new(0),
            service: OnceLock::new(),
            progress: Mutex::new(Progress::default()),
            changed: Condvar::new(),
        });
        let worker = Worker::new(shared.clone(), Box::new(exporter));
        let spawned =
            thread::Builder::new().name("trace-export".into()).spawn(move || worker.run());
        let worker = match spawned {
            Ok(handle) => Some(handle),
            Err(error) => {
                eprintln!(
                    "trace-runtime: cannot start the export thread ({error}); spans will be dropped"
                );
                shared.shutting_down.store(true, Ordering::Release);
                shared.lock().stopped = true;
                None
            }
        };
        let worker_thread = worker.as_ref().map(|handle| handle.thread().clone());
        Self { shared, worker: Mutex::new(worker), worker_thread }
    }

    /// Wakes the background thread if it sleeps; cheap if it does not.
    fn wake(&self) {
        if let Some(thread) = &self.worker_thread {
            thread.unpark();
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> BatchStats {
        self.shared.stats()
    }

    /// Why the last batch given up on failed, if one did.
    pub fn last_error(&self) -> Option<String> {
        self.shared.lock().last_error.clone()
    }

    /// The configuration in use.
    pub fn config(&self) -> &BatchConfig {
        &self.shared.config
    }

    /// Waits until every span queued before the call was handed to the exporter
    /// (sent, or given up on) and the exporter flushed, or until `timeout`.
    /// Returns whether that happened in time.
    pub fn flush_with_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let id = self.shared.next_flush.fetch_add(1, Ordering::Relaxed) + 1;
        let mut marker = Message::Flush(id);
        while let Err(returned) = self.shared.queue.push(marker) {
            // The worker has stopped: nothing is left to wait for.
            if self.shared.lock().stopped {
                return true;
            }
            // The worker is draining a full queue; wait for a free slot.
            if Instant::now() >= deadline {
                return false;
            }
            marker = returned;
            thread::sleep(Duration::from_millis(1));
        }
        self.wake();
        self.shared.wait_until(deadline, |p| p.flushed >= id || p.stopped)
    }

    /// Stops taking spans, sends what is queued and stops the background
    /// thread, waiting at most `timeout`. Returns whether the thread finished
    /// in time. If not, the spans not yet exported are counted as dropped
    /// and the count is printed with the service name; the thread ends on
    /// its own once its current export returns (or with the process).
    ///
    /// While shutting down, a failing batch gets one last attempt without
    /// waiting out its backoff.
    pub fn shutdown_with_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        {
            let _progress = self.shared.lock();
            self.shared.shutting_down.store(true, Ordering::Release);
            self.shared.changed.notify_all();
        }
        self.wake();
        let stopped = self.shared.wait_until(deadline, |p| p.stopped);
        if !stopped {
            let mut progress = self.shared.lock();
            if !progress.stopped && !progress.abandoned {
                let left = self.shared.drop_pending(&mut progress);
                drop(progress);
                eprintln!(
                    "{}: the exporter did not finish within {} s; {left} spans not exported were dropped",
                    self.shared.who(),
                    timeout.as_secs_f64()
                );
            }
        }
        if stopped {
            let handle = self.worker.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(handle) = handle {
                let _ = handle.join();
            }
        }
        stopped
    }
}

impl SpanProcessor for BatchSpanProcessor {
    /// Queues the batch as it is: the background thread converts it.
    fn on_end(&self, mut batch: SpanBatch) {
        if self.shared.service.get().is_none()
            && let Some(service) = batch.service()
        {
            let _ = self.shared.service.set(service.clone());
        }
        let dropped = &self.shared.counters.dropped;
        if self.shared.shutting_down.load(Ordering::Relaxed) {
            dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
            return;
        }
        // The queue bound is in spans: what does not fit is dropped here,
        // counted, and never allocated for.
        let room = self
            .shared
            .config
            .max_queue_size
            .saturating_sub(self.shared.queued.load(Ordering::Relaxed));
        if batch.len() > room {
            dropped.fetch_add((batch.len() - room) as u64, Ordering::Relaxed);
            batch.truncate(room);
        }
        let count = batch.len();
        if count == 0 {
            return;
        }
        // Counted before the send, so the worker never counts below zero.
        let queued = self.shared.queued.fetch_add(count, Ordering::Relaxed) + count;
        self.shared.pending.fetch_add(count as u64, Ordering::Relaxed);
        if self.shared.queue.push(Message::Spans(batch)).is_err() {
            self.shared.queued.fetch_sub(count, Ordering::Relaxed);
            self.shared.pending.fetch_sub(count as u64, Ordering::Relaxed);
            dropped.fetch_add(count as u64, Ordering::Relaxed);
        } else if self.shared.closed.load(Ordering::SeqCst) {
            // Queued after the worker's last look: nobody will take it.
            // (Read after the push's sequentially consistent update of the
            // queue's tail; the worker sets `closed` before its last look.)
            self.shared.discard_after_stop();
        } else if queued >= self.shared.config.max_export_batch_size
            && queued - count < self.shared.config.max_export_batch_size
        {
            self.wake();
        }
    }

    fn flush(&self) {
        self.flush_with_timeout(self.shared.config.flush_timeout);
    }

    fn shutdown(&self) {
        self.shutdown_with_timeout(self.shared.config.flush_timeout);
    }

    fn flush_with_timeout(&self, timeout: Duration) -> bool {
        BatchSpanProcessor::flush_with_timeout(self, timeout)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> bool {
        BatchSpanProcessor::shutdown_with_timeout(self, timeout)
    }
}

impl Drop for BatchSpanProcessor {
    fn drop(&mut self) {
        self.shutdown_with_timeout(self.shared.config.flush_timeout);
    }
}

impl fmt::Debug for BatchSpanProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchSpanProcessor")
            .field("config", &self.shared.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Marks the worker stopped if it unwinds: everything pending is counted
/// as dropped (what it held cannot be told from what is queued), the queue
/// is emptied, and later spans are counted as they are queued.
struct StopGuard(Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        if !thread::panicking() {
            return;
        }
        let shared = &self.0;
        let progress = shared.lock();
        // Not `drop_pending`: spans queued from now on are still to count
        // (`discard_after_stop` counts them unless a shutdown gave up).
        if !progress.abandoned {
            let left = shared.pending.swap(0, Ordering::Relaxed);
            shared.counters.dropped.fetch_add(left, Ordering::Relaxed);
            eprintln!("{}: the export thread panicked; {left} spans dropped", shared.who());
        }
        // What is queued was in the pending count just taken.
        shared.stop(progress, true);
    }
}

/// The background thread's state.
struct Worker {
    shared: Arc<Shared>,
    exporter: Box<dyn SpanExporter>,
    batch: Pending,
    /// The buffers each batch's spans are put in end order with, reused.
    order_buffers: OrderBuffers,
    last_report: Option<Instant>,
    /// (dropped, failed exports) at the last report.
    reported: (u64, u64),
}

impl Worker {
    fn new(shared: Arc<Shared>, exporter: Box<dyn SpanExporter>) -> Self {
        let batch = Pending::new(shared.config.max_export_batch_size);
        Self {
            shared,
            exporter,
            batch,
            order_buffers: OrderBuffers::default(),
            last_report: None,
            reported: (0, 0),
        }
    }

    /// Drains the queue, sending full batches, then sleeps until the next
    /// scheduled send or until woken (a full batch waits, a flush, shutdown).
    /// It never blocks on the queue: an application thread's send then
    /// needs no wake-up call, except once per full batch.
    fn run(mut self) {
        // If the worker dies (a panic in the redaction hook, which runs
        // here), what it held and what is queued is counted as dropped,
        // and flushes and shutdowns stop waiting for it.
        let _stopped = StopGuard(self.shared.clone());
        let delay = self.shared.config.scheduled_delay;
        let mut next_send = Instant::now() + delay;
        'running: loop {
            loop {
                if self.shared.shutting_down.load(Ordering::Acquire) {
                    break 'running;
                }
                let Some(message) = self.shared.queue.pop() else { break };
                if self.take(message) {
                    next_send = Instant::now() + delay;
                }
            }
            let now = Instant::now();
            if now >= next_send {
                self.send_batch();
                next_send = now + delay;
            }
            self.report(false);
            // Wake-ups come after their message is queued, so a wake-up
            // consumed elsewhere (say, by the exporter) loses nothing: the drain
            // above already saw the message.
            thread::park_timeout(next_send.saturating_duration_since(Instant::now()));
        }
        while let Some(message) = self.shared.queue.pop() {
            self.take(message);
        }
        self.send_batch();
        let exporter = &self.exporter;
        if catch_unwind(AssertUnwindSafe(|| exporter.shutdown())).is_err() {
            eprintln!("trace-runtime: the span exporter panicked while shutting down");
        }
        self.report(true);
        // Spans queued after the drain above (closed while `shutdown` ran)
        // are counted as dropped, here or by the thread that queued them.
        let progress = self.shared.lock();
        let counted = progress.abandoned;
        self.shared.stop(progress, counted);
    }

    /// Handles one message; returns whether a batch was sent.
    fn take(&mut self, message: Message) -> bool {
        match message {
            Message::Spans(spans) => {
                self.shared.queued.fetch_sub(spans.len(), Ordering::Relaxed);
                let max = self.shared.config.max_export_batch_size;
                let mut sent = false;
                let mut converting = spans.into_conversion_with(&mut self.order_buffers);
                while !converting.is_done() {
                    let room = max.saturating_sub(self.batch.spans.len());
                    self.batch.append(&mut converting, room);
                    if self.batch.spans.len() >= max {
                        self.send_batch();
                        sent = true;
                    }
                }
                converting.recycle(&mut self.order_buffers);
                sent
            }
            Message::Flush(id) => {
                self.send_batch();
                let exporter = &self.exporter;
                if catch_unwind(AssertUnwindSafe(|| exporter.flush())).is_err() {
                    eprintln!("trace-runtime: the span exporter panicked while flushing");
                }
                let mut progress = self.shared.lock();
                progress.flushed = progress.flushed.max(id);
                self.shared.changed.notify_all();
                true
            }
        }
    }

    /// Sends the current batch, retrying as configured, and empties it.
    fn send_batch(&mut self) {
        if self.batch.spans.is_empty() {
            return;
        }
        let count = self.batch.spans.len() as u64;
        let outcome = self.send_with_retries();
        // Spans the receiver refused in an accepted batch (OTLP partial
        // success) are dropped, not exported.
        let rejected = match outcome {
            Ok(()) => {
                let exporter = &self.exporter;
                catch_unwind(AssertUnwindSafe(|| exporter.take_rejected())).unwrap_or(0)
            }
            Err(_) => 0,
        };
        self.shared.settle(count, outcome, rejected);
        self.batch.clear();
    }

    fn send_with_retries(&self) -> Result<(), ExportError> {
        let config = &self.shared.config;
        let deadline = Instant::now() + config.export_timeout;
        let mut retry = 0;
        loop {
            let error = match self.send_once() {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            let shutting_down = self.shared.shutting_down.load(Ordering::Acquire);
            if !error.is_retryable() || retry >= config.retry.max_retries || shutting_down {
                return Err(error);
            }
            let wait = config.retry.backoff(retry).max(error.retry_after().unwrap_or_default());
            if Instant::now() + wait > deadline {
                return Err(error);
            }
            self.shared.counters.retries.fetch_add(1, Ordering::Relaxed);
            retry += 1;
            self.shared.pause(wait);
        }
    }

    fn send_once(&self) -> Result<(), ExportError> {
        catch_unwind(AssertUnwindSafe(|| self.exporter.export(&self.batch.spans)))
            .unwrap_or_else(|_| Err(ExportError::permanent("the span exporter panicked")))
    }

    /// Prints the counters if spans were dropped or failed since the last
    /// report, at most once per interval unless `last` is set.
    fn report(&mut self, last: bool) {
        let Some(interval) = self.shared.config.report_interval else {
            return;
        };
        let stats = self.shared.stats();
        let trouble = (stats.dropped, stats.failed_exports);
        if trouble == self.reported {
            return;
        }
        if !last && self.last_report.is_some_and(|at| at.elapsed() < interval) {
            return;
        }
        let error = self.shared.lock().last_error.clone();
        match error {
            Some(error) => eprintln!("{}: export: {stats}; last error: {error}", self.shared.who()),
            None => eprintln!("{}: export: {stats}", self.shared.who()),
        }
        self.reported = trouble;
        self.last_report = Some(Instant::now());
    }
}

/// The worker's spans waiting to be sent. Their `service` fields own no
/// reference count (see [`Conversion::append_uncounted_to`]): `services`
/// holds the counts, so that a span costs no atomic operation here. The
/// spans are only lent out (`&[SpanData]`) and are emptied by
/// [`clear`](Self::clear), also when the worker unwinds.
struct Pending {
    spans: Vec<SpanData>,
    services: Vec<Arc<str>>,
    /// Whether a span may own memory other than its service and tags.
    /// Spans of static names (most of them, in many programs) own none:
    /// clearing them is then setting a length, not visiting each (20
    /// instructions a span).
    owning: bool,
    /// The slots past the spans' length, below this, hold the tags `Vec`
    /// of the span sent from them, which the next span converted there
    /// takes over (see [`Slots`]): clearing a span leaves its tags where
    /// they are.
    kept_tags: usize,
}

impl Pending {
    /// No spans, with room for `capacity`.
    fn new(capacity: usize) -> Self {
        Self {
            spans: Vec::with_capacity(capacity),
            services: Vec::new(),
            owning: false,
            kept_tags: 0,
        }
    }

    /// Appends up to `count` more spans of `converting`.
    fn append(&mut self, converting: &mut Conversion, count: usize) {
        // Owning until the call returns: if the redaction hook (user code)
        // panics, the spans appended so far are kept and may own memory.
        let owning = std::mem::replace(&mut self.owning, true);
        // SAFETY: `services` is kept until `clear` has forgotten the
        // spans' services, and the spans are only lent by shared reference.
        let slots = Slots { spans: &mut self.spans, kept_tags: &mut self.kept_tags };
        // A slot that keeps no tags yet (the first batches) gets a new
        // `Vec` for a tagged span.
        let owns = unsafe { converting.append_uncounted_to(slots, count, &mut self.services) };
        self.owning = owning | owns;
    }

    /// Drops every span but for its tags, which stay in its slot for the
    /// next span converted there (see [`Slots`]).
    fn clear(&mut self) {
        let len = self.spans.len();
        if self.owning {
            clear(&mut self.spans);
        } else {
            debug_assert!(self.spans.iter().all(|span| {
                matches!(span.name, Cow::Borrowed(_))
                    && span.events.capacity() == 0
                    && span.links.capacity() == 0
                    && span.status == Status::Unset
            }));
            // SAFETY: no span owns anything but its service, which owns
            // no count (see above), and its tags, which stay in its slot.
            unsafe { self.spans.set_len(0) };
        }
        // Every slot below `len` now keeps its tags.
        self.kept_tags = self.kept_tags.max(len);
        self.owning = false;
        self.services.clear();
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.clear();
        Slots { spans: &mut self.spans, kept_tags: &mut self.kept_tags }.drop_kept_tags();
    }
}

/// Empties a sent batch for reuse, dropping each span but for its
/// `service`, which owns no count (see [`Pending`]), and its tags, which
/// stay in its slot (see [`Slots`]). Spans as tracers make them mostly
/// have no events or links: their empty `Vec`s own nothing and are
/// skipped, which spares an out-of-line call per `Vec` and span that
/// `clear` would make (and the move of each span out of the buffer that a
/// safe loop makes).
fn clear(spans: &mut Vec<SpanData>) {
    let len = spans.len();
    // SAFETY: with the length at zero first, the loop below owns the `len`
    // spans and drops each exactly once; a panic in a drop would leak the
    // rest, never drop them twice.
    unsafe { spans.set_len(0) };
    let base = spans.as_mut_ptr();
    for index in 0..len {
        // SAFETY: `index < len`: an initialised span nothing else uses.
        let span = unsafe { &mut *base.add(index) };
        // Every field is named, so that a new one must be handled here.
        let SpanData {
            trace_id: _,
            span_id: _,
            parent_id: _,
            name,
            kind: _,
            start_unix_nanos: _,
            duration_nanos: _,
            // Kept in the slot.
            tags: _,
            events,
            links,
            status,
            // Owns no count: forgotten.
            service: _,
        } = span;
        // SAFETY: each field that may own something is dropped once; a
        // `Vec` with no capacity owns nothing.
        unsafe {
            std::ptr::drop_in_place(name);
            if events.capacity() != 0 {
                std::ptr::drop_in_place(events);
            }
            if links.capacity() != 0 {
                std::ptr::drop_in_place(links);
            }
            std::ptr::drop_in_place(status);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryCollector;
    use crate::export::RetryPolicy;
    use crate::export::test_support::{sample_span, sample_trace};
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;

    fn feed(processor: &BatchSpanProcessor, spans: &[SpanData]) {
        processor.on_end(spans.to_vec().into());
    }

    fn quick_config() -> BatchConfig {
        BatchConfig {
            scheduled_delay: Duration::from_secs(3600),
            flush_timeout: Duration::from_secs(10),
            retry: RetryPolicy {
                max_retries: 3,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(4),
            },
            report_interval: None,
            ..BatchConfig::default()
        }
    }

    /// Blocks in `send` until `release` gets a message; reports entry on `entered`.
    struct Gate {
        entered: mpsc::Sender<()>,
        release: Mutex<mpsc::Receiver<()>>,
        collector: InMemoryCollector,
    }

    impl SpanExporter for Gate {
        fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
            let _ = self.entered.send(());
            let _ = self.release.lock().unwrap().recv();
            self.collector.export(batch)
        }
    }

    /// Fails the first `failures` calls with `error`, then accepts.
    struct Flaky {
        calls: Arc<AtomicUsize>,
        failures: usize,
        error: ExportError,
    }

    impl SpanExporter for Flaky {
        fn export(&self, _: &[SpanData]) -> Result<(), ExportError> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            if call < self.failures { Err(self.error.clone()) } else { Ok(()) }
        }
    }

    #[test]
    fn clearing_a_sent_batch_drops_every_span_once_and_keeps_the_buffer() {
        let service: Arc<str> = Arc::from("shop");
        let mut plain = sample_span("plain");
        plain.name = "plain".into();
        let mut spans: Vec<SpanData> = sample_trace()
            .into_iter()
            .chain([plain, sample_span("owned name")])
            .map(|span| SpanData { service: service.clone(), ..span })
            .collect();
        spans[0].links = Vec::with_capacity(2);
        assert!(spans.iter().any(|span| !span.tags.is_empty() && !span.events.is_empty()));
        let tagged = spans.iter().filter(|span| !span.tags.is_empty()).count();
        let count = spans.len();
        let mut pending = Pending::new(count);
        pending.append(&mut SpanBatch::from(spans).into_conversion(), count);
        assert_eq!(pending.spans.len(), count);
        assert_eq!(Arc::strong_count(&service), count + 1);
        pending.clear();
        assert!(pending.spans.is_empty());
        assert_eq!(pending.spans.capacity(), count);
        assert_eq!(Arc::strong_count(&service), 1);
        // Each slot keeps its span's tags, for the next span there.
        assert_eq!(pending.kept_tags, count);
        assert!(tagged > 0);
        // Spans moved in whole write over the slots: the tags kept there
        // are dropped first, and the new spans keep theirs.
        let again = sample_trace();
        pending.append(&mut SpanBatch::from(again.clone()).into_conversion(), count);
        assert_eq!(pending.kept_tags, 0);
        assert_eq!(pending.spans.len(), again.len());
        assert!(pending.spans.iter().zip(&again).all(|(span, was)| span.tags == was.tags));
        pending.clear();
        assert_eq!(pending.kept_tags, again.len());
    }

    #[test]
    fn converted_records_hold_one_count_of_their_service_until_cleared() {
        use crate::record::{Record, Source};
        let source = Arc::new(Source { service: Arc::from("svc"), redact: None });
        let records = (0..5)
            .map(|i| {
                let tags = vec![("k".into(), crate::Value::from(i))];
                Record::closed_for_test(format!("r{i}"), i, i + 1, tags)
            })
            .collect();
        let mut converting = SpanBatch::recorded(source.clone(), records).into_conversion();
        let mut pending = Pending::new(0);
        pending.append(&mut converting, 2);
        pending.append(&mut converting, 10);
        drop(converting);
        assert_eq!(pending.spans.len(), 5);
        assert!(pending.spans.iter().all(|span| &*span.service == "svc"));
        // One count for the batch, whatever its length.
        assert_eq!(Arc::strong_count(&source.service), 2);
        let copy = pending.spans[0].clone();
        assert_eq!(Arc::strong_count(&source.service), 3);
        drop(pending);
        assert_eq!(Arc::strong_count(&source.service), 2);
        drop(copy);
        assert_eq!(Arc::strong_count(&source.service), 1);
    }

    #[test]
    fn spans_that_own_nothing_are_forgotten_and_their_slots_keep_their_tags() {
        use crate::record::{Record, Source};
        use crate::value::Tag;
        let source = Arc::new(Source { service: Arc::from("svc"), redact: None });
        let record = |name: &'static str, tags: Vec<Tag>| {
            let mut record = Record::closed_for_test(String::new(), 0, 1, tags);
            record.name = Cow::Borrowed(name);
            record
        };
        let batch = |records: Vec<Record>| SpanBatch::recorded(source.clone(), records);
        let tag = |key: &'static str, value: crate::Value| (Cow::Borrowed(key), value);
        let mut pending = Pending::new(8);
        let plain = || record("plain", Vec::new());
        pending.append(&mut batch(vec![plain(), plain(), plain()]).into_conversion(), 10);
        assert!(!pending.owning);
        let tags = vec![tag("id", 1.into()), tag("name", "x".into())];
        pending.append(&mut batch(vec![record("tagged", tags.clone())]).into_conversion(), 10);
        // Static names: forgotten, with their tags left in their slots.
        assert!(!pending.owning);
        assert_eq!(pending.spans.len(), 4);
        assert_eq!(pending.spans[3].tags, tags);
        let kept = pending.spans[3].tags.as_ptr();
        pending.clear();
        assert!(pending.spans.is_empty() && !pending.owning);
        assert_eq!(pending.kept_tags, 4);
        assert_eq!(Arc::strong_count(&source.service), 1);
        // The next span in the slot takes its `Vec` over, with its own
        // tags (one a heap text, one tag for a repeated key, none at all).
        let heap = vec![tag("k", String::from("heap").into()), tag("n", 2.into())];
        let repeated = vec![tag("k", 1.into()), tag("k", 2.into())];
        let records = vec![
            record("a", repeated),
            record("b", Vec::new()),
            record("c", tags.clone()),
            record("d", heap.clone()),
            record("e", tags.clone()),
        ];
        pending.append(&mut batch(records).into_conversion(), 10);
        assert_eq!(pending.spans[3].tags.as_ptr(), kept);
        let tags_of = |span: &SpanData| span.tags.clone();
        let all: Vec<_> = pending.spans.iter().map(tags_of).collect();
        assert_eq!(all, [vec![tag("k", 2.into())], vec![], tags.clone(), heap, tags.clone()]);
        // A heap name: every span is visited, and the slots still keep
        // their tags.
        pending.clear();
        assert_eq!(pending.kept_tags, 5);
        let mut named = record("", tags.clone());
        named.name = Cow::Owned("heap name".into());
        pending.append(&mut batch(vec![named]).into_conversion(), 10);
        assert!(pending.owning);
        assert_eq!(&*pending.spans[0].name, "heap name");
        assert_eq!(pending.spans[0].tags, tags);
        pending.clear();
        assert_eq!(pending.kept_tags, 5);
        // More spans than the buffer holds: it grows, and the tags kept
        // past its length (which growing does not move) are dropped first.
        let many: Vec<_> = (0..20).map(|_| record("m", tags.clone())).collect();
        pending.append(&mut batch(many).into_conversion(), 20);
        assert_eq!(pending.spans.len(), 20);
        assert!(pending.spans.iter().all(|span| span.tags == tags));
        pending.clear();
        assert_eq!(pending.kept_tags, 20);
        // Tags that did not fit in the record bring their own `Vec`: the
        // one kept in the slot is dropped, and the next span takes theirs.
        let many: Vec<_> = (0..9).map(|i| tag("k", i.into())).collect();
        let three = tags.iter().cloned().chain([tag("t", 3.into())]).collect::<Vec<_>>();
        let records = vec![record("many", many), record("three", three.clone())];
        pending.append(&mut batch(records).into_conversion(), 10);
        assert!(!pending.owning);
        assert_eq!(pending.spans[0].tags, [tag("k", 8.into())], "one tag per key");
        assert_eq!(pending.spans[1].tags, three);
        pending.clear();
        pending.append(&mut batch(vec![record("next", tags.clone())]).into_conversion(), 10);
        assert_eq!(pending.spans[0].tags, tags);
    }

    #[test]
    fn full_queue_drops_and_counts_spans_without_blocking() {
        let (entered_tx, entered) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        let collector = InMemoryCollector::new();
        let gate = Gate {
            entered: entered_tx,
            release: Mutex::new(release_rx),
            collector: collector.clone(),
        };
        let config = BatchConfig { max_queue_size: 4, max_export_batch_size: 1, ..quick_config() };
        let processor = BatchSpanProcessor::with_config(gate, config);
        feed(&processor, &[sample_span("first")]);
        // The worker now holds "first" and is stuck in the exporter; the queue is empty.
        entered.recv().unwrap();
        for i in 0..10 {
            feed(&processor, &[sample_span(&format!("span {i}"))]);
        }
        assert_eq!(processor.stats().dropped, 6);
        for _ in 0..5 {
            release.send(()).unwrap();
        }
        assert!(processor.flush_with_timeout(Duration::from_secs(10)));
        let stats = processor.stats();
        assert_eq!((stats.exported, stats.dropped), (5, 6));
        assert_eq!(collector.spans().len(), 5);
    }

    #[test]
    fn flush_delivers_everything_queued() {
        let collector = InMemoryCollector::new();
        let processor = BatchSpanProcessor::with_config(collector.clone(), quick_config());
        let trace = sample_trace();
        for _ in 0..300 {
            feed(&processor, &trace);
        }
        assert!(processor.flush_with_timeout(Duration::from_secs(10)));
        assert_eq!(collector.spans().len(), 300 * trace.len());
        assert_eq!(processor.stats().exported, 300 * trace.len() as u64);
        assert_eq!(processor.stats().dropped, 0);
    }

    #[test]
    fn flush_from_many_threads_sees_its_own_spans() {
        let collector = InMemoryCollector::new();
        let processor =
            Arc::new(BatchSpanProcessor::with_config(collector.clone(), quick_config()));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let processor = processor.clone();
                let collector = collector.clone();
                thread::spawn(move || {
                    let name = format!("thread {t}");
                    for _ in 0..50 {
                        feed(&processor, &[sample_span(&name)]);
                    }
                    assert!(processor.flush_with_timeout(Duration::from_secs(10)));
                    let mine = collector.spans().iter().filter(|s| s.name == name).count();
                    assert_eq!(mine, 50);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    }

    #[test]
    fn retryable_failures_are_retried_then_counted() {
        let calls = Arc::new(AtomicUsize::new(0));
        let exporter = Flaky {
            calls: calls.clone(),
            failures: usize::MAX,
            error: ExportError::retryable("HTTP 503"),
        };
        let processor = BatchSpanProcessor::with_config(exporter, quick_config());
        feed(&processor, &sample_trace());
        assert!(processor.flush_with_timeout(Duration::from_secs(10)));
        let stats = processor.stats();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(stats.retries, 3);
        assert_eq!(stats.failed_exports, 1);
        assert_eq!(stats.failed_spans, sample_trace().len() as u64);
        assert_eq!(stats.exported, 0);
        assert_eq!(processor.last_error().as_deref(), Some("HTTP 503"));
    }

    #[test]
    fn a_retry_that_succeeds_exports_the_batch() {
        let calls = Arc::new(AtomicUsize::new(0));
        let exporter = Flaky {
            calls: calls.clone(),
            failures: 2,
            error: ExportError::retryable("connection refused"),
        };
        let processor = BatchSpanProcessor::with_config(exporter, quick_config());
        feed(&processor, &[sample_span("a")]);
        assert!(processor.flush_with_timeout(Duration::from_secs(10)));
        let stats = processor.stats();
        assert_eq!((stats.exported, stats.retries, stats.failed_exports), (1, 2, 0));
    }

    #[test]
    fn permanent_failures_are_not_retried() {
        let calls = Arc::new(AtomicUsize::new(0));
        let exporter = Flaky {
            calls: calls.clone(),
            failures: usize::MAX,
            error: ExportError::permanent("HTTP 400"),
        };
        let processor = BatchSpanProcessor::with_config(exporter, quick_config());
        feed(&processor, &[sample_span("a")]);
        assert!(processor.flush_with_timeout(Duration::from_secs(10)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let stats = processor.stats();
        assert_eq!((stats.retries, stats.failed_exports), (0, 1));
    }

    #[test]
    fn retry_after_beyond_the_export_timeout_gives_up_at_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let exporter = Flaky {
            calls: calls.clone(),
            failures: usize::MAX,
            error: ExportError::retryable("HTTP 429").with_retry_after(Duration::from_secs(600)),
        };
        let processor = BatchSpanProcessor::with_config(exporter, quick_config());
        feed(&processor, &[sample_span("a")]);
        assert!(processor.flush_with_timeout(Duration::from_secs(10)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(processor.stats().failed_exports, 1);
    }

    #[test]
    fn a_panicking_exporter_counts_as_a_failure_and_the_processor_goes_on() {
        struct Panics(AtomicBool);
        impl SpanExporter for Panics {
            fn export(&self, _: &[SpanData]) -> Result<(), ExportError> {
                if !self.0.swap(true, Ordering::SeqCst) {
                    panic!("exporter bug");
                }
                Ok(())
            }
        }
        let processor =
            BatchSpanProcessor::with_config(Panics(AtomicBool::new(false)), quick_config());
        feed(&processor, &[sample_span("a")]);
        assert!(processor.flush_with_timeout(Duration::from_secs(10)));
        feed(&processor, &[sample_span("b")]);
        assert!(processor.flush_with_timeout(Duration::from_secs(10)));
        let stats = processor.stats();
        assert_eq!((stats.failed_exports, stats.exported), (1, 1));
    }

    #[test]
    fn shutdown_sends_the_queue_and_later_spans_are_dropped() {
        let collector = InMemoryCollector::new();
        let processor = BatchSpanProcessor::with_config(collector.clone(), quick_config());
        feed(&processor, &sample_trace());
        assert!(processor.shutdown_with_timeout(Duration::from_secs(10)));
        assert_eq!(collector.spans().len(), sample_trace().len());
        feed(&processor, &[sample_span("late")]);
        assert_eq!(processor.stats().dropped, 1);
        // Shutting down twice, and flushing afterwards, return at once.
        assert!(processor.shutdown_with_timeout(Duration::from_secs(1)));
        assert!(processor.flush_with_timeout(Duration::from_secs(1)));
    }

    #[test]
    fn an_export_thread_killed_by_a_redaction_hook_counts_every_span_and_stops_blocking() {
        let collector = InMemoryCollector::new();
        let processor =
            Arc::new(BatchSpanProcessor::with_config(collector.clone(), quick_config()));
        let tracer = crate::Tracer::builder("svc")
            .redact(|key, value| if key == "boom" { panic!("hook bug") } else { Some(value) })
            .span_processor(processor.clone())
            .build();
        tracer.in_scope(|| {
            let _fine = crate::span("fine").start();
            crate::span("fatal").start().tag("boom", 1);
        });
        // The worker dies converting "fatal": the flush is not left to wait
        // for it, and both spans are counted as dropped.
        let started = Instant::now();
        assert!(processor.flush_with_timeout(Duration::from_secs(10)));
        assert!(started.elapsed() < Duration::from_secs(5));
        // Spans queued from then on are counted as they are queued.
        tracer.in_scope(|| drop(crate::span("later").start()));
        let stats = processor.stats();
        assert_eq!((stats.exported, stats.dropped), (0, 3), "{stats:?}");
        assert!(collector.spans().is_empty());
    }

    #[test]
    fn dropping_the_processor_delivers_the_queue() {
        let collector = InMemoryCollector::new();
        {
            let processor = BatchSpanProcessor::with_config(collector.clone(), quick_config());
            feed(&processor, &sample_trace());
        }
        assert_eq!(collector.spans().len(), sample_trace().len());
    }

    #[test]
    fn spans_from_a_tracer_reach_the_exporter_after_tracer_shutdown() {
        let collector = InMemoryCollector::new();
        let processor =
            Arc::new(BatchSpanProcessor::with_config(collector.clone(), quick_config()));
        let tracer = crate::Tracer::builder("svc").span_processor(processor.clone()).build();
        tracer.in_scope(|| {
            let _root = crate::span("root").start();
            let _child = crate::span("child").start();
        });
        tracer.shutdown();
        assert_eq!(collector.spans().len(), 2);
        assert_eq!(processor.stats().exported, 2);
    }

    #[test]
    fn shutdown_does_not_wait_out_a_long_backoff() {
        let calls = Arc::new(AtomicUsize::new(0));
        let exporter = Flaky {
            calls: calls.clone(),
            failures: usize::MAX,
            error: ExportError::retryable("HTTP 503").with_retry_after(Duration::from_secs(20)),
        };
        let config = BatchConfig { max_export_batch_size: 1, ..quick_config() };
        let processor = BatchSpanProcessor::with_config(exporter, config);
        feed(&processor, &[sample_span("a")]);
        // Wait until the worker is inside its 20 s pause, then shut down.
        while processor.stats().retries == 0 {
            thread::sleep(Duration::from_millis(1));
        }
        assert!(processor.shutdown_with_timeout(Duration::from_secs(10)));
        let stats = processor.stats();
        assert_eq!((stats.retries, stats.failed_exports), (1, 1));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_shutdown_that_runs_out_of_time_counts_what_it_could_not_export_as_dropped() {
        let (entered, entered_rx) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        let gate =
            Gate { entered, release: Mutex::new(release_rx), collector: InMemoryCollector::new() };
        let config = BatchConfig { max_export_batch_size: 1, ..quick_config() };
        let processor = BatchSpanProcessor::with_config(gate, config);
        feed(&processor, &[sample_span("stuck")]);
        entered_rx.recv().unwrap();
        feed(&processor, &[sample_span("queued 1"), sample_span("queued 2")]);

        // The exporter hangs on the first span: nothing more can leave.
        assert!(!processor.shutdown_with_timeout(Duration::from_millis(50)));
        let stats = processor.stats();
        assert_eq!((stats.exported, stats.dropped, stats.failed_spans), (0, 3, 0));

        // The hung export returning late changes no figure: each span is
        // counted once.
        release.send(()).unwrap();
        drop(release);
        processor.worker.lock().unwrap().take().unwrap().join().unwrap();
        assert_eq!(processor.stats(), stats);
    }
}
