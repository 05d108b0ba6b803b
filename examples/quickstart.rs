//! A small traced program: prints the trace tree of one request.
//!
//! Run with `cargo run --example quickstart`.

use std::time::Duration;

use trace_runtime::{Context, InMemoryCollector, Status, Tracer, traced};

#[derive(Debug)]
struct Order {
    id: u64,
    items: Vec<&'static str>,
}

#[traced(kind = server, tags(http.method = "POST", http.route = "/orders"))]
fn handle_request(order_id: u64) -> Result<(), String> {
    let order = load_order(order_id);
    let workers: Vec<_> = order
        .items
        .iter()
        .map(|&item| std::thread::spawn(Context::current().wrap(move || price(item))))
        .collect();
    let total = workers.into_iter().map(|w| w.join().expect("pricing thread")).sum();
    charge(order.id, total)
}

#[traced(args, ret)]
fn load_order(order_id: u64) -> Order {
    std::thread::sleep(Duration::from_millis(2));
    Order { id: order_id, items: vec!["book", "lamp"] }
}

#[traced(args)]
fn price(item: &str) -> u64 {
    std::thread::sleep(Duration::from_millis(1));
    item.len() as u64 * 100
}

#[traced(args, err)]
fn charge(order_id: u64, cents: u64) -> Result<(), String> {
    trace_runtime::add_event("card authorised", vec![("cents".into(), cents.into())]);
    if cents > 1_000 {
        return Err(format!("order {order_id}: amount over limit"));
    }
    trace_runtime::set_status(Status::Ok);
    Ok(())
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("checkout").span_processor(collector.clone()).build();
    tracer.install().expect("first tracer of this process");

    handle_request(42).expect("order accepted");

    print!("{}", collector.render());
    let spans = collector.spans();
    let root = spans.last().expect("the request span");
    let millis = root.duration_nanos as f64 / 1e6;
    println!("trace {} with {} spans, {millis:.2} ms end to end", root.trace_id, spans.len());
}
