use trace_runtime::traced;

#[traced(level = "debug", target = "db")]
fn query() {}

fn main() {}
