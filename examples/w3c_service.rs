//! The service under test of the official W3C Trace Context test suite
//! (github.com/w3c/trace-context, `test/`), built on the public API only:
//! `TraceLayer` continues the caller's trace from the `http::HeaderMap`,
//! and each outgoing call opens a `ClientCall` span, which injects it.
//!
//! ```text
//! cargo run --example w3c_service -- --listen 127.0.0.1:5000
//! ```
//!
//! The suite POSTs a JSON list of `{"url": …, "arguments": …}` to `/test`;
//! for each item, in order, the service POSTs `arguments` (as JSON) to
//! `url` with the propagated headers, then answers 200. See
//! `scripts/w3c_suite.sh` to run the suite against it.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::routing::post;
use serde_json::Value;
use trace_runtime::Tracer;
use trace_runtime::http::{ClientCall, TraceLayer};

fn main() {
    let listen = match parse_args(std::env::args().skip(1)) {
        Ok(listen) => listen,
        Err(message) => {
            eprintln!("{message}\nusage: w3c_service --listen <address:port>");
            std::process::exit(2);
        }
    };
    // Spans are opened (so IDs and flags propagate) and sent nowhere.
    Tracer::builder("w3c-service").build().install().expect("the first tracer of this process");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let runtime = runtime.expect("a tokio runtime");
    if let Err(error) = runtime.block_on(serve(listen)) {
        eprintln!("w3c_service: {error}");
        std::process::exit(1);
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<SocketAddr, String> {
    match (args.next().as_deref(), args.next(), args.next()) {
        (Some("--listen"), Some(address), None) => {
            address.parse().map_err(|e| format!("`{address}` is not an address:port: {e}"))
        }
        _ => Err("expected `--listen <address:port>`".to_owned()),
    }
}

async fn serve(listen: SocketAddr) -> std::io::Result<()> {
    let app = Router::new()
        .route("/test", post(test))
        .with_state(reqwest::Client::new())
        .layer(TraceLayer::new());
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("w3c_service listening on http://{}/test", listener.local_addr()?);
    axum::serve(listener, app).await
}

/// `POST /test`: calls each `url` in order with its `arguments`.
async fn test(State(client): State<reqwest::Client>, body: Bytes) -> (StatusCode, String) {
    let items = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(items)) => items,
        Ok(_) => return (StatusCode::BAD_REQUEST, "expected a JSON list".to_owned()),
        Err(error) => return (StatusCode::BAD_REQUEST, format!("invalid JSON: {error}")),
    };
    for item in &items {
        let Some(url) = item.get("url").and_then(Value::as_str) else {
            return (StatusCode::BAD_REQUEST, format!("an item has no `url`: {item}"));
        };
        let arguments = item.get("arguments").cloned().unwrap_or(Value::Array(Vec::new()));
        if let Err(error) = call(&client, url, &arguments).await {
            return (StatusCode::BAD_GATEWAY, error);
        }
    }
    (StatusCode::OK, String::new())
}

/// One outgoing `POST` in a client span, whose context goes out in the
/// `traceparent`, `tracestate` and `baggage` headers.
async fn call(client: &reqwest::Client, url: &str, arguments: &Value) -> Result<(), String> {
    let mut headers = HeaderMap::new();
    let span = ClientCall::start(&Method::POST, url, &mut headers);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let sent = client.post(url).headers(headers).body(arguments.to_string()).send().await;
    match sent {
        Ok(response) => {
            span.end(Ok::<_, String>(response.status()));
            Ok(())
        }
        Err(error) => {
            let message = format!("POST {url}: {error}");
            span.end(Err::<StatusCode, _>(&message));
            Err(message)
        }
    }
}
