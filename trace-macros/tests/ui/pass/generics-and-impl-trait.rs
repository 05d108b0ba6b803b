#![deny(warnings)]
#![deny(clippy::pedantic)]

use std::fmt::Debug;
use trace_runtime::{InMemoryCollector, Tracer, traced};

#[traced(args)]
fn largest<T>(items: &[T]) -> Option<&T>
where
    T: Ord + Debug,
{
    items.iter().max()
}

#[traced(args)]
fn describe(value: impl Debug) -> impl std::fmt::Display {
    format!("{value:?}")
}

#[traced]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    tracer.in_scope(|| {
        assert_eq!(largest(&[1, 3, 2]), Some(&3));
        assert_eq!(describe(7u8).to_string(), "7");
        assert_eq!(evens(5).count(), 3);
    });
    assert_eq!(collector.render(), "largest items=\"[1, 3, 2]\"\ndescribe value=\"7\"\nevens\n");
}
