use trace_runtime::traced;

#[traced(tags(region = "eu", region = "us"))]
fn handle() {}

fn main() {}
