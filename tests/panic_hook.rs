//! The panic hook and hooks the application installs after the tracer: a
//! hook that calls the previous one keeps panic messages; one that replaces
//! it drops them, and spans then record "panicked" alone, never an earlier
//! panic's message. One test: the hook is process-wide.

use std::panic::{AssertUnwindSafe, catch_unwind};

use trace_runtime::{InMemoryCollector, Tracer, traced};

#[traced]
fn explode(message: &'static str) {
    panic!("{message}");
}

#[test]
fn later_hooks_that_chain_keep_messages_and_replacing_hooks_drop_them() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("panic-hook").span_processor(collector.clone()).build();
    tracer.in_scope(|| {
        catch_unwind(AssertUnwindSafe(|| explode("first"))).unwrap_err();
        // A logger that calls the hook before it.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| previous(info)));
        catch_unwind(AssertUnwindSafe(|| explode("chained"))).unwrap_err();
        // An error reporter that replaces it.
        std::panic::set_hook(Box::new(|_| {}));
        catch_unwind(AssertUnwindSafe(|| explode("replaced"))).unwrap_err();
    });
    assert_eq!(
        collector.render(),
        "explode (error: panicked: first)\n\
         explode (error: panicked: chained)\n\
         explode (error: panicked)\n"
    );
}
