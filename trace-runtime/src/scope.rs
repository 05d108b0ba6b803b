//! The parts of [`Tracer`] that reach the thread's span state: making a
//! tracer current on a thread, and handing the thread's finished spans to it
//! before its exporters flush or shut down. Kept apart from `tracer` so that
//! the tracer (which `local` sends batches to) does not import `local` back.

use std::fmt;

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

    /// Asks every exporter to deliver what it holds.
    ///
    /// Spans finished on this thread are handed over first; other threads
    /// hand theirs over whenever they have no span open.
    pub fn flush(&self) {
        local::hand_over_finished();
        self.flush_processors();
    }

    /// Flushes and shuts down every exporter; later calls do nothing.
    pub fn shutdown(&self) {
        if self.begin_shutdown() {
            local::hand_over_finished();
            self.shut_down_processors();
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
        local::swap_tracer(self.previous.take());
    }
}

impl fmt::Debug for DefaultGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DefaultGuard")
    }
}
