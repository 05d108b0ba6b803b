use trace_runtime::traced;

#[traced(args(user, tenant))]
fn login(user: &str) -> bool {
    user.is_empty()
}

fn main() {}
