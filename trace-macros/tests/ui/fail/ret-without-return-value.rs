use trace_runtime::traced;

#[traced(ret)]
fn log(line: &str) {
    println!("{line}");
}

fn main() {}
