use trace_runtime::traced;

#[traced(name = "first", kind = server, name = "second")]
fn handle() {}

fn main() {}
