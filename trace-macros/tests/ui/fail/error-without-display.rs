use trace_runtime::traced;

#[derive(Debug)]
struct NotDisplay;

#[traced(err)]
fn fail() -> Result<(), NotDisplay> {
    Err(NotDisplay)
}

fn main() {}
