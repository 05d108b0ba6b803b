use trace_runtime::traced;

#[traced(err)]
fn first(values: &[u32]) -> Result<u32, String> {
    let first = values.first()?;
    Ok(*first)
}

fn main() {}
