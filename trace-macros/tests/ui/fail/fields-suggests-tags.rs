use trace_runtime::traced;

#[traced(fields(user = 7))]
fn handle() {}

fn main() {}
