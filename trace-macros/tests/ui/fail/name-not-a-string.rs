use trace_runtime::traced;

#[traced(name = handle_request)]
fn handle() {}

fn main() {}
