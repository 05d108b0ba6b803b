use trace_runtime::traced;

#[traced]
fn handle() {
    // The span guard is generated with mixed-site hygiene: the body cannot name it.
    drop(__trace_guard);
}

fn main() {}
