use trace_runtime::traced;

#[traced("get user")]
fn get_user() {}

fn main() {}
