use trace_runtime::traced;

#[traced(err = true)]
fn handle() -> Result<(), String> {
    Ok(())
}

fn main() {}
