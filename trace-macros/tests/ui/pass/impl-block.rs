#![deny(warnings)]
#![deny(clippy::pedantic)]

use trace_runtime::{InMemoryCollector, Tracer, traced};

struct Cart {
    items: Vec<u32>,
}

#[traced(kind = server)]
impl Cart {
    fn new() -> Self {
        Self { items: Vec::new() }
    }

    #[traced(args, kind = internal)]
    fn add(&mut self, item: u32) {
        self.items.push(item);
    }

    #[traced(off)]
    fn len(&self) -> usize {
        self.items.len()
    }
}

trait Total {
    fn total(&self) -> u32;
}

#[traced]
impl Total for Cart {
    fn total(&self) -> u32 {
        self.items.iter().sum()
    }
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("ui").span_processor(collector.clone()).build();
    tracer.in_scope(|| {
        let mut cart = Cart::new();
        cart.add(3);
        assert_eq!(cart.len(), 1);
        assert_eq!(cart.total(), 3);
    });
    assert_eq!(collector.render(), "Cart::new [server]\nCart::add item=3\nCart::total\n");
}
