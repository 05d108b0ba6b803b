#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

struct Point {
    x: i32,
    y: i32,
}

#[traced(args)]
fn add((a, b): (u8, u8), Point { x, y }: Point) -> i32 {
    i32::from(a) + i32::from(b) + x + y
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    assert_eq!(tracer.in_scope(|| add((1, 2), Point { x: 3, y: 4 })), 10);
    assert_eq!(collector.render(), "add a=1 b=2 x=3 y=4\n");
}
