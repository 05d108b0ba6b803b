#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

#[traced]
fn plain() {}

#[traced(name = "load user", kind = client, tags(user.id = 7, "db.system" = "postgres", cached = false))]
fn renamed() -> u8 {
    1
}

#[traced(args, skip(password))]
fn login(user: &str, password: &str, attempts: u32, ratio: f64) -> bool {
    user.len() + password.len() > attempts as usize && ratio > 0.0
}

#[traced(args(user))]
fn listed(user: &str, _ignored: &str) {}

#[traced(root)]
fn fresh_trace() {}

#[traced]
fn outer() {
    plain();
    fresh_trace();
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    tracer.in_scope(|| {
        renamed();
        assert!(login("ada", "pw", 1, 0.5));
        listed("ada", "x");
        outer();
    });
    assert_eq!(
        collector.render(),
        "load user [client] user.id=7 db.system=\"postgres\" cached=false\n\
         login user=\"ada\" attempts=1 ratio=0.5\n\
         listed user=\"ada\"\n\
         outer\n  plain\n\
         fresh_trace\n"
    );
}
