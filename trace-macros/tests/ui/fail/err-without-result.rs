use trace_runtime::traced;

#[traced(err)]
fn parse(input: &str) -> Option<u32> {
    input.parse().ok()
}

fn main() {}
