//! HTTP server and client spans (feature `http`), and a tower layer
//! (feature `tower`), named and tagged after OpenTelemetry's HTTP semantic
//! conventions.
//!
//! Server side: extract the caller's context from the request headers, open
//! a `server` span named `METHOD route` (`GET /orders/{id}`; `GET` alone
//! when no route template is known, never the request's path), record
//! `http.request.method`, `http.route`, `url.path`, `url.query`,
//! `url.scheme` (when the request target has one), `server.address`,
//! `server.port` and `http.response.status_code`, an
//! error status and `error.type` for 5xx, and make the span current for the
//! handler. Client side: open a `client` span named `METHOD template`
//! (`GET /stock/{sku}`) or `METHOD`, record `http.request.method`,
//! `url.full`, `url.template`, `server.address`, `server.port` and
//! `http.response.status_code`, an error status and `error.type` for 4xx
//! and 5xx or a failed call, and inject the span's context into the
//! outgoing headers. A method other than RFC 9110's and PATCH is recorded
//! as `_OTHER`, with `http.request.method_original`, and
//! names the span `HTTP`.
//!
//! Header values are never recorded, so `Authorization`, `Cookie`,
//! `Set-Cookie` and `Proxy-Authorization` cannot leak; a URL's user name
//! and password become `REDACTED:REDACTED`, and the values of
//! secret-looking query keys (`sig`, `access_token`, `api_key`,
//! `X-Amz-Credential`...) become `REDACTED`.

use std::fmt::Display;
use std::future::Future;

use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};

mod attributes;
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
        Self::open(method, uri, headers, Some(route))
    }

    /// The server span, named `METHOD route`, or `METHOD` without a route.
    fn open(method: &Method, uri: &Uri, headers: &HeaderMap, route: Option<&str>) -> Self {
        let caller = propagation::extract(headers).attach();
        let name = attributes::span_name(method, route);
        let span = crate::span(name).kind(SpanKind::Server).start();
        if span.is_recording() {
            attributes::tag_method(&span, method);
            if let Some(route) = route {
                span.tag("http.route", route.to_owned());
            }
            if let Some(scheme) = uri.scheme_str() {
                span.tag("url.scheme", scheme.to_owned());
            }
            span.tag("url.path", uri.path().to_owned());
            if let Some(query) = uri.query() {
                span.tag("url.query", attributes::redact_query(query));
            }
            attributes::tag_server_of_request(&span, uri, headers);
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
    status_outcome(status, false)
}

/// `http.response.status_code`, and for an error status (see
/// [`attributes::is_error`]) the error and `error.type`, the code.
fn status_outcome(status: StatusCode, client: bool) -> Outcome {
    let mut outcome = Outcome::default();
    let code = status.as_u16();
    outcome.add_tag("http.response.status_code".into(), Value::I64(i64::from(code)));
    if attributes::is_error(status, client) {
        outcome.add_tag("error.type".into(), Value::Str(code.to_string().into()));
        outcome.set_status(Status::Error(format!("HTTP {status}").into()));
    }
    outcome
}

/// A request that failed without a response: the error, and `error.type`
/// `_OTHER` (the conventions' fallback: the message itself is not a
/// low-cardinality class).
fn failure_outcome(message: String) -> Outcome {
    let mut outcome = Outcome::default();
    outcome.add_tag("error.type".into(), Value::Str("_OTHER".into()));
    outcome.set_status(Status::Error(message.into()));
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
        Self::open(method, uri, headers, Some(route))
    }

    /// The server span, named `METHOD route`, or `METHOD` without a route.
    fn open(method: &Method, uri: &Uri, headers: &HeaderMap, route: Option<&str>) -> Self {
        let server = ServerSpan::open(method, uri, headers, route);
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
/// let url = "http://inventory:8080/stock/7?debug=1";
/// // Named `GET /stock/{sku}`; `ClientCall::start` would name it `GET`.
/// let call =
///     ClientCall::start_with_template(&http::Method::GET, url, "/stock/{sku}", &mut headers);
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
    /// URL template is known; the URL's path is never the name) as a child
    /// of the current span, and injects its context into `headers`.
    pub fn start(method: &Method, url: &str, headers: &mut HeaderMap) -> Self {
        Self::open(method, url, None, headers)
    }

    /// [`start`](Self::start) with the span named `METHOD template`, for a
    /// URL template such as `/stock/{sku}` (names stay few; the template is
    /// also the `url.template` tag and the full URL, redacted, `url.full`).
    pub fn start_with_template(
        method: &Method,
        url: &str,
        template: &str,
        headers: &mut HeaderMap,
    ) -> Self {
        Self::open(method, url, Some(template), headers)
    }

    fn open(method: &Method, url: &str, template: Option<&str>, headers: &mut HeaderMap) -> Self {
        let name = attributes::span_name(method, template);
        let span = crate::span(name).kind(SpanKind::Client).start();
        if span.is_recording() {
            attributes::tag_method(&span, method);
            match url.parse::<Uri>() {
                Ok(uri) => {
                    span.tag("url.full", attributes::full_url(&uri));
                    attributes::tag_server_of_url(&span, &uri);
                }
                // Not recorded as given: it may hold credentials.
                Err(_) => span.tag("url.full", "(not a valid URL)"),
            }
            if let Some(template) = template {
                span.tag("url.template", template.to_owned());
            }
        }
        propagation::inject(headers);
        Self { span: DetachedSpan::detach(span) }
    }

    /// Ends the span with the response status (4xx, 5xx and codes past 599
    /// are errors for a client, with `error.type` the code) or the error
    /// that prevented a response (`error.type` `_OTHER`).
    pub fn end<E: Display>(mut self, outcome: Result<StatusCode, E>) {
        let outcome = match outcome {
            Ok(status) => status_outcome(status, true),
            Err(error) => failure_outcome(error.to_string()),
        };
        self.span.record(|span| outcome.apply(span));
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
