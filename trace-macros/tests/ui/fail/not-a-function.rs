use trace_runtime::traced;

#[traced]
struct Order {
    id: u64,
}

fn main() {}
