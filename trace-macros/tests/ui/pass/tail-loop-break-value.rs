#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

#[traced(err, ret)]
fn count_to(limit: u32) -> Result<u32, String> {
    let mut n = 0;
    loop {
        n += 1;
        if n == limit {
            break if limit > 2 { Err(format!("stopped at {n}")) } else { Ok(n) };
        }
    }
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    tracer.in_scope(|| {
        assert_eq!(count_to(2), Ok(2));
        count_to(3).unwrap_err();
    });
    assert_eq!(
        collector.render(),
        "count_to return=\"Ok(2)\"\ncount_to return=\"Err(\\\"stopped at 3\\\")\" (error: stopped at 3)\n"
    );
}
