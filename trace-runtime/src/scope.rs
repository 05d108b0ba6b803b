//! The parts of [`Tracer`] that reach the thread's span state: making a
//! tracer current on a thread, and handing the thread's finished spans to it
//! before its exporters flush or shut down. Kept apart from `tracer` so that
//! the tracer (which `local` sends batches to) does not import `local` back.

use std::fmt;
use std::time::Duration;

use crate::local;
use crate::tracer::Tracer;

impl Tracer {
    /// Makes this the tracer of the current thread until the guard drops.
    ///
    /// Spans opened on this thread go to this tracer; futures instrumented
    /// here and contexts captured here carry it to other threads.
    pub fn set_default(&self) -> DefaultGuard {
        DefaultGuard {
            previous: local::swap_tracer(Some(self.clone())),
            _not_send: std::marker::PhantomData,
        }
    }

    /// Runs `f` with this tracer as the current thread's tracer.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.set_default();
        f()
    }

    /// Asks every span processor to deliver what it holds, waiting at most
    /// the [`shutdown_timeout`](crate::TracerBuilder::shutdown_timeout)
    /// (30 s by default) for all of them together.
    ///
    /// Spans finished on this thread are handed over first; other threads
    /// hand theirs over whenever they have no span open.
    pub fn flush(&self) {
        local::hand_over_finished();
        self.flush_processors(self.inner.shutdown_timeout);
    }

    /// Flushes and shuts down every span processor, waiting at most the
    /// [`shutdown_timeout`](crate::TracerBuilder::shutdown_timeout) (30 s by
    /// default) for all of them together; later calls do nothing.
    pub fn shutdown(&self) {
        self.shutdown_with_timeout(self.inner.shutdown_timeout);
    }

    /// [`shutdown`](Self::shutdown) waiting at most `timeout`, whatever the
    /// exporters' retry schedules. Returns whether every processor finished
    /// in time; a [`BatchSpanProcessor`](crate::export::BatchSpanProcessor)
    /// that did not counts the spans it could not export as dropped and
    /// prints how many, with the service name.
    pub fn shutdown_with_timeout(&self, timeout: Duration) -> bool {
        if !self.begin_shutdown() {
            return true;
        }
        local::hand_over_finished();
        self.shut_down_processors(timeout)
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
        local::swap_tracer(self.previous.take());
    }
}

impl fmt::Debug for DefaultGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DefaultGuard")
    }
}
