#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

struct Wrapper;

impl Wrapper {
    #[traced]
    fn new() -> Self {
        Self
    }
}

trait Shown {
    fn show(&self) -> u32;
}

impl Shown for Wrapper {
    fn show(&self) -> u32 {
        1
    }
}

impl dyn Shown {
    #[traced]
    fn shown(&self) -> u32 {
        self.show()
    }
}

#[traced]
impl dyn Shown + Send {
    fn listed(&self) -> u32 {
        self.show()
    }
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    tracer.in_scope(|| {
        let wrapper = Wrapper::new();
        let shown: &dyn Shown = &wrapper;
        let sent: &(dyn Shown + Send) = &wrapper;
        shown.shown() + sent.listed()
    });
    assert_eq!(collector.render(), "Wrapper::new\ndyn Shown::shown\ndyn Shown::listed\n");
}
