use trace_runtime::traced;

#[traced(tags(user.id => 7))]
fn handle() {}

fn main() {}
