#![deny(warnings)]
#![deny(clippy::pedantic)]

use std::task::Poll;

use trace_runtime::{InMemoryCollector, Tracer, traced};

#[traced(err)]
fn poll_next(ready: Poll<Result<u32, String>>) -> Poll<Result<u32, String>> {
    let value = ready?;
    value.map(Ok)
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    tracer.in_scope(|| {
        assert_eq!(poll_next(Poll::Pending), Poll::Pending);
        assert!(poll_next(Poll::Ready(Err("closed".to_owned()))).is_ready());
    });
    assert_eq!(collector.render(), "poll_next\npoll_next (error: closed)\n");
}
