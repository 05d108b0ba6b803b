use trace_runtime::traced;

#[traced]
const fn answer() -> u32 {
    42
}

fn main() {}
