use trace_runtime::traced;

struct Limits;

#[traced]
impl Limits {
    const fn max() -> u32 {
        7
    }
}

fn main() {}
