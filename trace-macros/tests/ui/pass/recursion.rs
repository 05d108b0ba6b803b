#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

#[traced(args)]
fn factorial(n: u64) -> u64 {
    if n <= 1 {
        return 1;
    }
    n * factorial(n - 1)
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    assert_eq!(tracer.in_scope(|| factorial(3)), 6);
    assert_eq!(collector.render(), "factorial n=3\n  factorial n=2\n    factorial n=1\n");
}
