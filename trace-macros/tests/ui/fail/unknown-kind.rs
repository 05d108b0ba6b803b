use trace_runtime::traced;

#[traced(kind = database)]
fn query() {}

fn main() {}
