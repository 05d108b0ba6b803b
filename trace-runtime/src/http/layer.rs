//! A tower layer that gives every request a server span (feature `tower`).

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use http::request::Parts;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::{ServerCall, server_status};
use crate::future::Instrumented;
use crate::record::Outcome;
use crate::span::Status;

type RouteFn = Arc<dyn Fn(&Parts) -> String + Send + Sync>;

/// Wraps a service so each request runs in a server span continuing the
/// caller's trace (see [`ServerCall`]).
///
/// The route defaults to the request path; give a function that returns the
/// route template to keep span names few, such as axum's `MatchedPath`:
///
/// ```
/// use trace_runtime::http::TraceLayer;
/// let layer = TraceLayer::new().with_route(|parts| {
///     parts.uri.path().split('/').take(2).collect::<Vec<_>>().join("/")
/// });
/// # let _ = layer;
/// ```
#[derive(Clone, Default)]
pub struct TraceLayer {
    route: Option<RouteFn>,
}

impl TraceLayer {
    /// A layer naming spans after the request path.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names spans `METHOD route` with `route` computed from the request.
    #[must_use]
    pub fn with_route(mut self, route: impl Fn(&Parts) -> String + Send + Sync + 'static) -> Self {
        self.route = Some(Arc::new(route));
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
        Err(error) => {
            let mut outcome = Outcome::default();
            outcome.set_status(Status::Error(error.to_string().into()));
            outcome
        }
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
        let route = match &self.route {
            Some(route) => route(&parts),
            None => parts.uri.path().to_owned(),
        };
        let mut call = ServerCall::from_parts(&parts.method, &parts.uri, &parts.headers, &route);
        let request = Request::from_parts(parts, body);
        // The inner service's `call` runs inside the span too: work it does
        // before returning its future is part of the request.
        let future = call.span.run_sync(|| self.inner.call(request));
        call.span.instrument(future, Some(record_outcome::<RB, S::Error>))
    }
}
