#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

/// # Safety
/// `ptr` must point to a valid `u32`.
#[traced]
unsafe fn read(ptr: *const u32) -> u32 {
    unsafe { *ptr }
}

#[traced(args)]
extern "C" fn callback(code: i32) -> i32 {
    code + 1
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    tracer.in_scope(|| {
        let value = 9u32;
        assert_eq!(unsafe { read(&raw const value) }, 9);
        assert_eq!(callback(1), 2);
    });
    assert_eq!(collector.render(), "read\ncallback code=1\n");
}
