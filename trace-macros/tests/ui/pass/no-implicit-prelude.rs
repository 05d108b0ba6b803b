#![deny(warnings)]
#![deny(clippy::pedantic)]

#[no_implicit_prelude]
mod bare {
    use ::trace_runtime::traced;

    #[traced(err, ret, args)]
    pub fn checked(value: u32) -> ::core::result::Result<u32, u32> {
        if value == 0 {
            return ::core::result::Result::Err(value);
        }
        ::core::result::Result::Ok(value)
    }

    pub struct Counter;

    impl Counter {
        #[traced(ret)]
        pub fn get(&self) -> u32 {
            7
        }
    }
}

fn main() {
    let collector = ::trace_runtime::InMemoryCollector::new();
    let tracer = ::trace_runtime::Tracer::builder("ui").span_processor(collector.clone()).build();
    tracer.in_scope(|| {
        bare::checked(0).unwrap_err();
        assert_eq!(bare::Counter.get(), 7);
    });
    assert_eq!(
        collector.render(),
        "checked value=0 return=\"Err(0)\" (error: 0)\nCounter::get return=7\n"
    );
}
