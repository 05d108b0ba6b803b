#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

#[traced]
fn first(items: &mut Vec<u32>) -> &mut u32 {
    &mut items[0]
}

#[traced(err, ret)]
fn checked_first(items: &mut [u32]) -> Result<&mut u32, String> {
    if items.is_empty() {
        return Err("empty".to_owned());
    }
    Ok(&mut items[0])
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    tracer.in_scope(|| {
        let mut items = vec![1, 2];
        *first(&mut items) += 10;
        *checked_first(&mut items).unwrap() += 1;
        assert!(checked_first(&mut []).is_err());
        assert_eq!(items, [12, 2]);
    });
    assert_eq!(
        collector.render(),
        "first\nchecked_first return=\"Ok(11)\"\nchecked_first return=\"Err(\\\"empty\\\")\" (error: empty)\n"
    );
}
