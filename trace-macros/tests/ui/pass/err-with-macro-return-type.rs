#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

macro_rules! fallible {
    ($name:ident -> $ret:ty) => {
        #[traced(err)]
        fn $name() -> $ret {
            Err("from a macro".to_owned())
        }
    };
}

fallible!(load -> Result<(), String>);

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    tracer.in_scope(|| load().unwrap_err());
    assert_eq!(collector.render(), "load (error: from a macro)\n");
}
