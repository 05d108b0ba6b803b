#![deny(warnings)]
#![deny(clippy::pedantic)]

mod reexport {
    pub use trace_runtime as tracing_kit;
}

use reexport::tracing_kit::{InMemoryCollector, Tracer, traced};

#[traced(crate = reexport::tracing_kit, args)]
fn handle(id: u32) -> u32 {
    id
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    assert_eq!(tracer.in_scope(|| handle(3)), 3);
    assert_eq!(collector.render(), "handle id=3\n");
}
