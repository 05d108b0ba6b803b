use trace_runtime::traced;

#[traced(off)]
fn handle() {}

fn main() {}
