use trace_runtime::traced;

#[traced(args, skip(password))]
fn login(user: &str, passwd: &str) -> bool {
    user.len() == passwd.len()
}

fn main() {}
