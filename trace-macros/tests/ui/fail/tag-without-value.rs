use trace_runtime::traced;

#[traced(tags(k, user.id = 7))]
fn handle() {}

fn main() {}
