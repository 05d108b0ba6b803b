use trace_runtime::traced;

#[traced(skip_all)]
fn handle(_password: &str) {}

fn main() {}
