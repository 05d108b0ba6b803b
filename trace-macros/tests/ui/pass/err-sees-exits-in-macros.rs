#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

#[traced(err)]
fn checked(input: u32) -> anyhow::Result<u32> {
    if input == 0 {
        anyhow::bail!("zero");
    }
    anyhow::ensure!(input < 10, "{input} is too large");
    Ok(input)
}

/// The body runs as an `FnOnce` closure: a borrow of a `&mut` argument
/// still comes back out.
#[traced(err, ret)]
fn first(values: &mut [u32]) -> anyhow::Result<&mut u32> {
    anyhow::ensure!(!values.is_empty(), "empty");
    Ok(&mut values[0])
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    tracer.in_scope(|| {
        checked(0).unwrap_err();
        checked(11).unwrap_err();
        let mut values = [1];
        *first(&mut values).unwrap() = 2;
        assert_eq!(values, [2]);
    });
    assert_eq!(
        collector.render(),
        "checked (error: zero)\nchecked (error: 11 is too large)\nfirst return=\"Ok(1)\"\n"
    );
}
