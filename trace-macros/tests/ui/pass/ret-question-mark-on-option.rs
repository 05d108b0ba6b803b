#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

#[traced(ret)]
fn doubled_first(values: &[u32]) -> Option<u32> {
    let first = values.first()?;
    Some(first * 2)
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    tracer.in_scope(|| assert_eq!(doubled_first(&[]), None));
    assert_eq!(collector.render(), "doubled_first return=\"None\"\n");
}
