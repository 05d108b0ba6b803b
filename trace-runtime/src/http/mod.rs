//! HTTP server and client spans (feature `http`), and a tower layer
//! (feature `tower`).
//!
//! Server side: extract the caller's context from the request headers, open
//! a `server` span named `METHOD route`, record the standard tags
//! (`http.request.method`, `http.route`, `url.path`, `url.query`,
//! `http.response.status_code`) and an error status for 5xx, and make the
//! span current for the handler. Client side: open a `client` span and
//! inject its context into the outgoing headers.
//!
//! Header values are never recorded, so `Authorization`, `Cookie`,
//! `Set-Cookie` and `Proxy-Authorization` cannot leak; URL user-info is
//! dropped and query values are replaced by `REDACTED`.

use std::fmt::Display;
use std::future::Future;

use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};

#[cfg(feature = "tower")]
mod layer;
#[cfg(feature = "tower")]
pub use layer::{TraceLayer, TraceService};

use crate::context::ContextGuard;
use crate::future::Instrumented;
use crate::guard::SpanGuard;
use crate::local::{self, Frame};
use crate::propagation;
use crate::record::{OpenSpan, Outcome};
use crate::span::{SpanKind, Status};
use crate::tracer::Tracer;
use crate::value::Value;

/// The server span of a request handled on one thread (a synchronous
/// server). Drop it when the response is sent.
///
/// ```
/// use trace_runtime::http::ServerSpan;
/// # use trace_runtime::{InMemoryCollector, Tracer};
/// # let collector = InMemoryCollector::new();
/// # let tracer = Tracer::builder("orders").span_processor(collector.clone()).build();
/// # let _scope = tracer.set_default();
/// let request = http::Request::get("/orders/7?verbose=1")
///     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
///     .body(())
///     .unwrap();
/// let span = ServerSpan::start(&request, "/orders/{id}");
/// span.record_status(http::StatusCode::OK);
/// drop(span);
/// let spans = collector.spans();
/// assert_eq!(spans[0].name, "GET /orders/{id}");
/// assert_eq!(spans[0].trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// ```
#[must_use = "the span closes when this is dropped"]
pub struct ServerSpan {
    // Fields drop in order: the span closes before the caller's context goes.
    span: SpanGuard,
    _caller: ContextGuard,
}

impl ServerSpan {
    /// Continues the caller's trace from `request`'s headers and opens the
    /// server span; `route` is the route template (`/orders/{id}`), which
    /// keeps span names few.
    pub fn start<B>(request: &Request<B>, route: &str) -> Self {
        Self::from_parts(request.method(), request.uri(), request.headers(), route)
    }

    /// [`start`](Self::start) for a request already taken apart.
    pub fn from_parts(method: &Method, uri: &Uri, headers: &HeaderMap, route: &str) -> Self {
        let caller = propagation::extract(headers).attach();
        let span = crate::span(format!("{method} {route}")).kind(SpanKind::Server).start();
        if span.is_recording() {
            span.tag("http.request.method", method.as_str().to_owned());
            span.tag("http.route", route.to_owned());
            span.tag("url.path", uri.path().to_owned());
            if let Some(query) = uri.query() {
                span.tag("url.query", redact_query(query));
            }
        }
        Self { span, _caller: caller }
    }

    /// Records the response status; 5xx sets an error status.
    pub fn record_status(&self, status: StatusCode) {
        self.span.record(|span| record_server_status(span, status));
    }
}

fn record_server_status(span: &mut OpenSpan<'_>, status: StatusCode) {
    server_status(status).apply(span);
}

/// What a server response status adds to the span; 5xx is an error.
pub(crate) fn server_status(status: StatusCode) -> Outcome {
    let mut outcome = Outcome::default();
    outcome.add_tag("http.response.status_code".into(), Value::I64(i64::from(status.as_u16())));
    if status.is_server_error() {
        outcome.set_status(Status::Error(format!("HTTP {status}").into()));
    }
    outcome
}

fn record_response<B>(response: &Response<B>) -> Outcome {
    server_status(response.status())
}

/// The server span of a request handled by a future, which may move
/// between threads: `Send`, and current only while the handler is polled.
///
/// ```
/// use trace_runtime::http::ServerCall;
/// # use trace_runtime::{InMemoryCollector, Tracer, traced};
/// #[traced]
/// async fn load_order() {}
///
/// async fn handle(request: http::Request<()>) -> http::Response<String> {
///     ServerCall::start(&request, "/orders/{id}")
///         .run(async {
///             load_order().await; // a child of the server span
///             http::Response::new("ok".to_owned())
///         })
///         .await
/// }
/// # let collector = InMemoryCollector::new();
/// # let tracer = Tracer::builder("orders").span_processor(collector.clone()).build();
/// # let request = http::Request::get("/orders/1").body(()).unwrap();
/// # let response = tracer.in_scope(|| futures::executor::block_on(handle(request)));
/// # assert_eq!(collector.render(), "GET /orders/{id} [server] http.request.method=\"GET\" http.route=\"/orders/{id}\" url.path=\"/orders/1\" http.response.status_code=200\n  load_order\n");
/// ```
#[must_use = "the span closes when this is dropped"]
pub struct ServerCall {
    span: DetachedSpan,
}

impl ServerCall {
    /// Opens the server span of `request` (see [`ServerSpan::start`]).
    pub fn start<B>(request: &Request<B>, route: &str) -> Self {
        Self::from_parts(request.method(), request.uri(), request.headers(), route)
    }

    /// [`start`](Self::start) for a request already taken apart.
    pub fn from_parts(method: &Method, uri: &Uri, headers: &HeaderMap, route: &str) -> Self {
        let server = ServerSpan::from_parts(method, uri, headers, route);
        Self { span: DetachedSpan::detach(server.span) }
    }

    /// Runs the handler inside the span and records its response status.
    pub fn run<F, B>(self, handler: F) -> Instrumented<F>
    where
        F: Future<Output = Response<B>>,
    {
        self.span.instrument(handler, Some(record_response::<B>))
    }
}

/// The client span of an outgoing request. `Send`, so it can be held
/// across the `.await` of the call.
///
/// ```
/// use trace_runtime::http::ClientCall;
/// # let tracer = trace_runtime::Tracer::builder("gateway").build();
/// # let _scope = tracer.set_default();
/// let mut headers = http::HeaderMap::new();
/// let call = ClientCall::start(&http::Method::GET, "http://inventory:8080/stock/7?debug=1", &mut headers);
/// assert!(headers.contains_key("traceparent"));
/// // let response = client.get(url).headers(headers).send().await;
/// call.end(Ok::<_, String>(http::StatusCode::OK));
/// ```
#[must_use = "the span closes when this is dropped"]
pub struct ClientCall {
    span: DetachedSpan,
}

impl ClientCall {
    /// Opens a `client` span named `METHOD` (OpenTelemetry's name when no
    /// URL template is known) as a child of the current span, and injects
    /// its context into `headers`.
    pub fn start(method: &Method, url: &str, headers: &mut HeaderMap) -> Self {
        Self::open(method.as_str().to_owned(), method, url, headers)
    }

    /// [`start`](Self::start) with the span named `METHOD template`, for a
    /// URL template such as `/stock/{sku}` (names stay few; the full URL is
    /// in the `url.full` tag).
    pub fn start_with_template(
        method: &Method,
        url: &str,
        template: &str,
        headers: &mut HeaderMap,
    ) -> Self {
        Self::open(format!("{method} {template}"), method, url, headers)
    }

    fn open(name: String, method: &Method, url: &str, headers: &mut HeaderMap) -> Self {
        let uri: Option<Uri> = url.parse().ok();
        let span = crate::span(name).kind(SpanKind::Client).start();
        if span.is_recording() {
            span.tag("http.request.method", method.as_str().to_owned());
            span.tag("url.full", uri.as_ref().map_or_else(|| "(invalid)".to_owned(), redact_url));
            if let Some(host) = uri.as_ref().and_then(Uri::host) {
                span.tag("server.address", host.to_owned());
            }
            if let Some(port) = uri.as_ref().and_then(Uri::port_u16) {
                span.tag("server.port", port);
            }
        }
        propagation::inject(headers);
        Self { span: DetachedSpan::detach(span) }
    }

    /// Ends the span with the response status (4xx and 5xx are errors for a
    /// client) or the error that prevented a response.
    pub fn end<E: Display>(mut self, outcome: Result<StatusCode, E>) {
        self.span.record(|span| match outcome {
            Ok(status) => {
                let code = Value::I64(i64::from(status.as_u16()));
                span.add_tag("http.response.status_code".into(), code);
                if status.is_client_error() || status.is_server_error() {
                    span.set_status(Status::Error(format!("HTTP {status}").into()));
                }
            }
            Err(error) => span.set_status(Status::Error(error.to_string().into())),
        });
    }
}

/// A span taken off the thread's stack, to be carried by a future or a
/// `Send` handle and closed when dropped.
struct DetachedSpan {
    frame: Option<Frame>,
    tracer: Option<Tracer>,
}

impl DetachedSpan {
    fn detach(span: SpanGuard) -> Self {
        Self { frame: span.detach(), tracer: local::current_tracer() }
    }

    fn record(&mut self, f: impl FnOnce(&mut OpenSpan<'_>)) {
        if let Some(mut span) = self.frame.as_mut().and_then(Frame::carried) {
            f(&mut span);
        }
    }

    /// Runs `f` with this span current on this thread.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    fn run_sync<R>(&mut self, f: impl FnOnce() -> R) -> R {
        local::resume(&mut self.frame, self.tracer.as_ref(), f)
    }

    fn instrument<F: Future>(
        mut self,
        future: F,
        observer: Option<fn(&F::Output) -> Outcome>,
    ) -> Instrumented<F> {
        Instrumented::new(future, self.frame.take(), self.tracer.take(), observer)
    }
}

impl Drop for DetachedSpan {
    fn drop(&mut self) {
        if let Some(frame) = self.frame.take() {
            local::finish(frame);
        }
    }
}

/// `url.full` without user-info and with query values redacted.
fn redact_url(uri: &Uri) -> String {
    let mut url = String::new();
    if let Some(scheme) = uri.scheme_str() {
        url.push_str(scheme);
        url.push_str("://");
    }
    if let Some(host) = uri.host() {
        url.push_str(host);
    }
    if let Some(port) = uri.port_u16() {
        url.push_str(&format!(":{port}"));
    }
    url.push_str(uri.path());
    if let Some(query) = uri.query() {
        url.push('?');
        url.push_str(&redact_query(query));
    }
    url
}

/// Query keys kept, values replaced: values often hold tokens and personal
/// data, keys say what the request was.
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) => format!("{key}=REDACTED"),
            None => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_user_info_and_query_values() {
        let uri: Uri =
            "https://alice:secret@shop.example:8443/cart?token=abc&page=2&flag".parse().unwrap();
        assert_eq!(
            redact_url(&uri),
            "https://shop.example:8443/cart?token=REDACTED&page=REDACTED&flag"
        );
    }
}
