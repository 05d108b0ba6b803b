#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

struct Config(u32);

#[traced]
impl Config {
    #[cfg_attr(all(), traced(off))]
    fn skipped(&self) -> u32 {
        self.0
    }

    #[cfg_attr(all(), traced(name = "config.load"))]
    fn renamed(&self) -> u32 {
        self.0
    }

    #[cfg_attr(any(), traced(name = "never"))]
    fn kept(&self) -> u32 {
        self.0
    }
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    let config = Config(1);
    tracer.in_scope(|| config.skipped() + config.renamed() + config.kept());
    assert_eq!(collector.render(), "config.load\nConfig::kept\n");
}
