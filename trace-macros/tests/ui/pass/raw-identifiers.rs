#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

#[traced(args, tags(r#type = "raw"))]
fn r#match(r#in: u32) -> u32 {
    r#in
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    tracer.in_scope(|| r#match(1));
    assert_eq!(collector.render(), "match type=\"raw\" in=1\n");
}
