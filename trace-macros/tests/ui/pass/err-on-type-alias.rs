#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

type Fallible<T> = Result<T, String>;

#[traced(err)]
fn load() -> Fallible<u32> {
    Err("alias".to_owned())
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    tracer.in_scope(|| load().unwrap_err());
    assert_eq!(collector.render(), "load (error: alias)\n");
}
