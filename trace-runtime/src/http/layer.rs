//! A tower layer that gives every request a server span (feature `tower`).

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use http::request::Parts;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::{ServerCall, failure_outcome, server_status};
use crate::future::Instrumented;
use crate::record::Outcome;

type RouteFn = Arc<dyn Fn(&Parts) -> Option<String> + Send + Sync>;

/// Wraps a service so each request runs in a server span continuing the
/// caller's trace (see [`ServerCall`]).
///
/// Spans are named after the method alone (`GET`) unless a function gives
/// the route template the request matched (`GET /stock/{sku}`, and the
/// `http.route` tag); the request's path is never the name, as it would make
/// a name per item. With axum, the route is its `MatchedPath`
/// (`parts.extensions.get::<MatchedPath>().map(|p| p.as_str().to_owned())`,
/// with the layer added by `Router::route_layer`):
///
/// ```
/// use trace_runtime::http::TraceLayer;
/// let layer = TraceLayer::new()
///     .with_route(|parts| parts.uri.path().starts_with("/stock/").then(|| "/stock/{sku}".into()));
/// # let _ = layer;
/// ```
#[derive(Clone, Default)]
pub struct TraceLayer {
    route: Option<RouteFn>,
}

impl TraceLayer {
    /// A layer naming spans after the request's method.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names spans `METHOD route` with `route` computed from the request (a
    /// `String`, or an `Option<String>`: `None` names the span `METHOD`).
    #[must_use]
    pub fn with_route<R>(mut self, route: impl Fn(&Parts) -> R + Send + Sync + 'static) -> Self
    where
        R: Into<Option<String>>,
    {
        self.route = Some(Arc::new(move |parts| route(parts).into()));
        self
    }
}

impl std::fmt::Debug for TraceLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceLayer").field("custom_route", &self.route.is_some()).finish()
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> TraceService<S> {
        TraceService { inner, route: self.route.clone() }
    }
}

/// The service made by [`TraceLayer`].
#[derive(Clone)]
pub struct TraceService<S> {
    inner: S,
    route: Option<RouteFn>,
}

impl<S> std::fmt::Debug for TraceService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceService").finish_non_exhaustive()
    }
}

fn record_outcome<B, E: std::fmt::Display>(outcome: &Result<Response<B>, E>) -> Outcome {
    match outcome {
        Ok(response) => server_status(response.status()),
        Err(error) => failure_outcome(error.to_string()),
    }
}

impl<S, B, RB> Service<Request<B>> for TraceService<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: std::fmt::Display,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (parts, body) = request.into_parts();
        let route = self.route.as_ref().and_then(|route| route(&parts));
        let mut call =
            ServerCall::open(&parts.method, &parts.uri, &parts.headers, route.as_deref());
        let request = Request::from_parts(parts, body);
        // The inner service's `call` runs inside the span too: work it does
        // before returning its future is part of the request.
        let future = call.span.run_sync(|| self.inner.call(request));
        call.span.instrument(future, Some(record_outcome::<RB, S::Error>))
    }
}
