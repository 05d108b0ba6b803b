//! Across services: a trace that leaves one service over HTTP and continues
//! in the next. An axum server with `TraceLayer` (the `inventory` service)
//! and a reqwest client with `ClientCall` (the `checkout` caller), in one
//! process on 127.0.0.1, and a caller on an older, B3-only stack.
//!
//! Run with `cargo run --example across_services`: it prints the headers
//! sent and read, and the one trace both services' spans form.

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::get;
use trace_runtime::http::{ClientCall, TraceLayer};
use trace_runtime::propagation::{
    B3Encoding, B3Propagator, Baggage, BaggagePropagator, CompositePropagator,
    TraceContextPropagator,
};
use trace_runtime::{Context, InMemoryCollector, SpanData, SpanKind, Tracer, traced};

/// The headers a request carries its trace in.
const PROPAGATED: [&str; 4] = ["traceparent", "tracestate", "baggage", "b3"];

fn main() {
    // What goes out with each call: W3C Trace Context and Baggage (the
    // default), and a single `b3` header for Zipkin-era peers. Every format
    // listed is also read; the first that finds a parent wins.
    trace_runtime::propagation::set_propagator(CompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator),
        Box::new(B3Propagator::new(B3Encoding::Single)),
    ]));
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("across-services").span_processor(collector.clone()).build();
    tracer.install().expect("the first tracer of this process");

    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let runtime = runtime.expect("a tokio runtime");
    let spans = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let inventory = format!("http://{}", listener.local_addr().expect("its address"));
        tokio::spawn(async move { axum::serve(listener, inventory_service()).await });
        let client = reqwest::Client::new();

        println!("== checkout calls inventory (W3C Trace Context, Baggage and B3) ==");
        let trace_id = checkout(&client, &inventory).await;

        println!("\n== a B3-only caller calls inventory ==");
        let b3 = "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1";
        println!("sent:  b3: {b3}");
        let response = client.get(format!("{inventory}/stock/lamp")).header("b3", b3).send();
        let read = response.await.expect("inventory answers").text().await.expect("a body");
        print!("read by inventory:\n{read}");
        trace_id
    });
    drop(runtime);
    tracer.shutdown();
    check(&collector.spans(), spans);
    print!("\n== the spans, as one trace per request ==\n{}", collector.render());
}

/// The `inventory` service: every request in a server span that continues
/// the caller's trace, named after its route template.
fn inventory_service() -> Router {
    Router::new().route("/stock/{sku}", get(stock)).layer(TraceLayer::new().with_route(|parts| {
        parts.extensions.get::<MatchedPath>().map(|path| path.as_str().to_owned())
    }))
}

/// Answers with the propagation headers it read, and the baggage the
/// request's context holds (extracted by `TraceLayer`).
async fn stock(headers: HeaderMap) -> String {
    let mut read = String::new();
    for name in PROPAGATED {
        for value in headers.get_all(name) {
            read.push_str(&format!("  {name}: {}\n", value.to_str().unwrap_or("(not text)")));
        }
    }
    if let Some(tenant) = Context::current().baggage().get("tenant") {
        read.push_str(&format!("  (baggage in the handler's context: tenant={tenant})\n"));
    }
    lookup_stock().await;
    read
}

#[traced]
async fn lookup_stock() {
    tokio::task::yield_now().await;
}

/// The `checkout` side: a request span with baggage, and one call to
/// inventory in a client span. Returns the trace ID.
async fn checkout(client: &reqwest::Client, inventory: &str) -> trace_runtime::TraceId {
    let request = trace_runtime::span("POST /checkout").kind(SpanKind::Server).start();
    let trace_id = request.trace_id().expect("a tracer is installed");
    let mut baggage = Baggage::new();
    baggage.insert("tenant", "acme").expect("a valid key");
    let context = Context::current().with_baggage(baggage);

    let url = format!("{inventory}/stock/book");
    let mut headers = HeaderMap::new();
    let call = context
        .run(|| ClientCall::start_with_template(&Method::GET, &url, "/stock/{sku}", &mut headers));
    println!("sent:");
    for (name, value) in &headers {
        println!("  {name}: {}", value.to_str().unwrap_or("(not text)"));
    }
    let response = client.get(&url).headers(headers).send().await;
    match response {
        Ok(response) => {
            call.end(Ok::<_, String>(response.status()));
            let read = response.text().await.expect("a body");
            print!("read by inventory:\n{read}");
        }
        Err(error) => {
            call.end(Err::<StatusCode, _>(error.to_string()));
            panic!("inventory did not answer: {error}");
        }
    }
    drop(request);
    trace_id
}

/// The spans form the trees the headers promise: checkout's client span is
/// the parent of inventory's server span, and the B3 caller's span the
/// parent of the other server span.
fn check(spans: &[SpanData], checkout_trace: trace_runtime::TraceId) {
    let child_of = |parent: Option<trace_runtime::SpanId>, kind: SpanKind| {
        spans
            .iter()
            .find(|s| s.parent_id == parent && s.kind == kind)
            .unwrap_or_else(|| panic!("a {kind:?} span under {parent:?}: {spans:#?}"))
    };
    let client = spans.iter().find(|s| s.kind == SpanKind::Client).expect("checkout's call");
    assert_eq!(client.trace_id, checkout_trace);
    let server = child_of(Some(client.span_id), SpanKind::Server);
    assert_eq!((server.trace_id, server.name.as_ref()), (checkout_trace, "GET /stock/{sku}"));
    child_of(Some(server.span_id), SpanKind::Internal);

    let b3_parent = "e457b5a2e4d86bd1".parse().ok();
    let b3_server = child_of(b3_parent, SpanKind::Server);
    assert_eq!(b3_server.trace_id.to_string(), "80f198ee56343ba864fe8b2a57d3eff7");
}
