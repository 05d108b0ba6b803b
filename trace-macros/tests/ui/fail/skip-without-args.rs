use trace_runtime::traced;

#[traced(skip(password))]
fn login(user: &str, password: &str) -> bool {
    user == password
}

fn main() {}
