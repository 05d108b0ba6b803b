use trace_runtime::traced;

#[traced(kind = serverless, name = "", colour = "red", args(missing))]
fn handle(request: u32) -> u32 {
    request
}

fn main() {}
