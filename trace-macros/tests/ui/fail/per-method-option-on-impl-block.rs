use trace_runtime::traced;

struct Cart;

#[traced(name = "cart", err)]
impl Cart {
    fn add(&mut self) {}
}

fn main() {}
