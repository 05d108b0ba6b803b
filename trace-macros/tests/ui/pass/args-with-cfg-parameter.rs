#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

#[traced(args)]
fn sum(kept: u32, #[cfg(any())] dropped: u32, #[cfg(not(any()))] also_kept: u32) -> u32 {
    kept + also_kept
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    tracer.in_scope(|| assert_eq!(sum(1, 2), 3));
    assert_eq!(collector.render(), "sum kept=1 also_kept=2\n");
}
