//! Prints each finished trace as an indented tree, for development.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::export::assemble::{Assembled, DEFAULT_ROOT_WAIT, TraceAssembler, tree_order};
use crate::export::tree_text::write_span;
use crate::export::{ExportError, SpanExporter};
use crate::span::SpanData;

/// Prints every trace, once its root span finishes, as an indented tree with
/// durations:
///
/// ```text
/// trace 4bf92f3577b34da6a3ce929d0e0e4736 (shop)
/// GET /cart [server] 5.0 ms http.status_code=200
///   load cart [client] 3.0 ms db.rows=-3 (error: timeout)
///     @ +500.0 µs retry attempt=2
///     -> link 0af7651916cd43dd8448eb211c80319c/b7ad6b7169203331
///     decode 500.0 µs (ok)
/// ```
///
/// Events (`@`) show their offset from the span's start; links (`->`) show
/// the linked trace and span IDs. A trace whose root
/// is in another process, or never finishes, is printed with
/// `(root not seen)` once no span of it has arrived for 30 seconds, or at
/// shutdown.
///
/// Behind a [`SimpleSpanProcessor`](super::SimpleSpanProcessor) (what
/// [`TracerBuilder::simple_exporter`](crate::TracerBuilder::simple_exporter)
/// sets up) it prints on the thread that closes the root span, which suits
/// development; behind a [`BatchSpanProcessor`](super::BatchSpanProcessor)
/// it prints from a background thread.
///
/// ```
/// use trace_runtime::Tracer;
/// use trace_runtime::export::ConsoleExporter;
///
/// let tracer = Tracer::builder("shop").simple_exporter(ConsoleExporter::new()).build();
/// tracer.in_scope(|| {
///     let _request = trace_runtime::span("GET /cart").start();
///     let _query = trace_runtime::span("load cart").start();
/// });
/// ```
pub struct ConsoleExporter {
    state: Mutex<State>,
}

struct State {
    out: Box<dyn Write + Send>,
    traces: TraceAssembler,
}

impl Default for ConsoleExporter {
    fn default() -> Self {
        Self::new()
    }
}

impl ConsoleExporter {
    /// Prints to standard output.
    pub fn new() -> Self {
        Self::to_writer(io::stdout())
    }

    /// Prints to any writer (standard error, a file, a buffer in tests).
    pub fn to_writer(out: impl Write + Send + 'static) -> Self {
        Self {
            state: Mutex::new(State {
                out: Box::new(out),
                traces: TraceAssembler::new(DEFAULT_ROOT_WAIT),
            }),
        }
    }

    /// Sets how long a trace waits for its root before it is printed
    /// without it (default 30 s).
    #[must_use]
    pub fn with_root_wait(self, wait: Duration) -> Self {
        let mut state = self.state.into_inner().unwrap_or_else(PoisonError::into_inner);
        state.traces = TraceAssembler::new(wait);
        Self { state: Mutex::new(state) }
    }

    fn print(state: &mut State, traces: Vec<Assembled>) {
        if traces.is_empty() {
            return;
        }
        let mut text = String::new();
        for trace in &traces {
            render(&mut text, trace);
        }
        // A closed stdout must not take the application down.
        let _ = state.out.write_all(text.as_bytes());
        let _ = state.out.flush();
    }
}

impl SpanExporter for ConsoleExporter {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let done = state.traces.add(batch);
        Self::print(&mut state, done);
        Ok(())
    }

    fn flush(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = state.out.flush();
    }

    fn shutdown(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let rest = state.traces.drain();
        Self::print(&mut state, rest);
    }
}

impl std::fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleExporter").finish_non_exhaustive()
    }
}

fn render(out: &mut String, trace: &Assembled) {
    let Some(first) = trace.spans.first() else {
        return;
    };
    let mut services: Vec<&str> = Vec::new();
    for span in &trace.spans {
        if !services.contains(&&*span.service) {
            services.push(&span.service);
        }
    }
    let _ = write!(out, "trace {} ({})", first.trace_id, services.join(", "));
    if !trace.complete {
        out.push_str(" (root not seen)");
    }
    out.push('\n');
    for (depth, span) in tree_order(&trace.spans) {
        write_span(out, depth, span, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::test_support::sample_trace;
    use std::sync::Arc;

    /// A writer whose bytes the test can read.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn prints_a_trace_when_its_root_arrives() {
        let out = Shared::default();
        let console = ConsoleExporter::to_writer(out.clone());
        let trace = sample_trace();
        console.export(&trace[..2]).unwrap();
        assert_eq!(out.text(), "", "nothing before the root");
        console.export(&trace[2..]).unwrap();
        assert_eq!(
            out.text(),
            "trace 4bf92f3577b34da6a3ce929d0e0e4736 (shop)\n\
             GET /cart [server] 5.0 ms http.status_code=200\n\
             \x20 load cart [client] 3.0 ms db.system=\"postgresql\" db.rows=-3 ratio=0.25 cached=false (error: timeout \"db\")\n\
             \x20   @ +500.0 µs retry attempt=2\n\
             \x20   -> link 0af7651916cd43dd8448eb211c80319c/b7ad6b7169203331 messaging.batch.index=0\n\
             \x20   decode 500.0 µs (ok)\n"
        );
    }

    #[test]
    fn traces_without_a_root_are_printed_at_shutdown() {
        let out = Shared::default();
        let console = ConsoleExporter::to_writer(out.clone());
        console.export(&sample_trace()[..2]).unwrap();
        console.shutdown();
        let text = out.text();
        assert!(
            text.starts_with("trace 4bf92f3577b34da6a3ce929d0e0e4736 (shop) (root not seen)\n"),
            "{text}"
        );
        assert!(text.contains("\nload cart [client]"), "{text}");
    }

    #[test]
    fn traces_whose_root_is_remote_are_printed_after_the_wait() {
        let out = Shared::default();
        let console = ConsoleExporter::to_writer(out.clone()).with_root_wait(Duration::ZERO);
        console.export(&sample_trace()[..1]).unwrap();
        console.export(&[]).unwrap();
        assert!(out.text().contains("(root not seen)\ndecode 500.0 µs (ok)\n"), "{}", out.text());
    }

    #[test]
    fn works_behind_the_tracer() {
        let out = Shared::default();
        let tracer = crate::Tracer::builder("shop")
            .simple_exporter(ConsoleExporter::to_writer(out.clone()))
            .build();
        tracer.in_scope(|| {
            let _request = crate::span("GET /cart").start();
            let _query = crate::span("load cart").start();
        });
        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[1].starts_with("GET /cart "), "{text}");
        assert!(lines[2].starts_with("  load cart "), "{text}");
    }
}
