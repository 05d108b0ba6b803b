use trace_runtime::traced;

struct Secret(String);

#[traced(args)]
fn store(key: u32, secret: Secret) -> usize {
    key as usize + secret.0.len()
}

fn main() {}
