use trace_runtime::traced;

#[traced(level = "info")]
fn handle() {}

fn main() {}
