use trace_runtime::traced;

#[traced(colour = "red")]
fn handle() {}

fn main() {}
