//! Context propagation interoperates with the official OpenTelemetry
//! propagators, and the HTTP helpers continue the caller's trace.

use std::collections::HashMap;

use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{self as otel, TraceContextExt};
use opentelemetry::{Context as OtelContext, KeyValue};
use opentelemetry_sdk::propagation::{
    BaggagePropagator as OtelBaggage, TraceContextPropagator as OtelTraceContext,
};
use trace_runtime::propagation::{self, Baggage, TraceState};
use trace_runtime::{
    Context, InMemoryCollector, SpanContext, SpanId, TraceFlags, TraceId, Tracer, traced,
};

fn ids() -> (TraceId, SpanId) {
    (TraceId::random(), SpanId::random())
}

#[test]
fn headers_we_inject_are_read_by_opentelemetry() {
    let (trace_id, span_id) = ids();
    let mut state = TraceState::new();
    state.insert("congo", "t61rcWkgMzE").unwrap();
    state.insert("rojo", "00f067aa0ba902b7").unwrap();
    let mut baggage = Baggage::new();
    baggage.insert("tenant", "acme corp").unwrap();
    baggage.insert("user.tier", "gold;premium").unwrap();
    let context = Context::with_remote_parent(SpanContext {
        trace_id,
        span_id,
        flags: TraceFlags::SAMPLED | TraceFlags::RANDOM,
        remote: true,
    })
    .with_trace_state(state)
    .with_baggage(baggage);

    let mut headers: HashMap<String, String> = HashMap::new();
    propagation::inject_context(&context, &mut headers);

    // Level 2's random flag goes out; OpenTelemetry 0.33 (Level 1) accepts
    // the header and keeps the sampled flag.
    assert!(headers["traceparent"].ends_with("-03"), "{}", headers["traceparent"]);
    let otel_context = OtelTraceContext::new().extract(&headers);
    let span = otel_context.span().span_context().clone();
    assert!(span.is_valid());
    assert_eq!(span.trace_id().to_string(), trace_id.to_string());
    assert_eq!(span.span_id().to_string(), span_id.to_string());
    assert!(span.is_sampled());
    // Our entry first, the others kept in order.
    assert_eq!(
        span.trace_state().header(),
        format!("tr={span_id},rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
    );

    let otel_baggage = OtelBaggage::new().extract(&headers);
    let otel_baggage = otel_baggage.baggage();
    assert_eq!(
        otel_baggage.get("tenant").map(|v| v.as_str().to_owned()),
        Some("acme corp".to_owned())
    );
    assert_eq!(
        otel_baggage.get("user.tier").map(|v| v.as_str().to_owned()),
        Some("gold;premium".to_owned())
    );
}

#[test]
fn headers_opentelemetry_injects_are_read_by_us() {
    let (trace_id, span_id) = ids();
    for sampled in [true, false] {
        let flags = if sampled { otel::TraceFlags::SAMPLED } else { otel::TraceFlags::default() };
        let state =
            otel::TraceState::from_key_value([("vendor", "value"), ("other", "x")]).unwrap();
        let span = otel::SpanContext::new(
            otel::TraceId::from_bytes(trace_id.to_bytes()),
            otel::SpanId::from_bytes(span_id.to_bytes()),
            flags,
            true,
            state,
        );
        let otel_context = OtelContext::new().with_remote_span_context(span).with_baggage(vec![
            KeyValue::new("tenant", "acme corp"),
            KeyValue::new("region", "eu-west"),
        ]);
        let mut headers: HashMap<String, String> = HashMap::new();
        OtelTraceContext::new().inject_context(&otel_context, &mut headers);
        OtelBaggage::new().inject_context(&otel_context, &mut headers);

        let context = propagation::extract(&headers);
        let parent = context.span_context().expect("a remote parent");
        assert_eq!(
            (parent.trace_id, parent.span_id, parent.sampled(), parent.remote),
            (trace_id, span_id, sampled, true)
        );
        // OpenTelemetry 0.33 sends no random flag: none is assumed.
        assert!(!parent.flags.random());
        let state: Vec<(&str, &str)> = context.trace_state().iter().collect();
        assert_eq!(state, [("vendor", "value"), ("other", "x")]);
        assert_eq!(context.baggage().get("tenant"), Some("acme corp"));
        assert_eq!(context.baggage().get("region"), Some("eu-west"));
    }
}

#[traced]
fn downstream_call() -> HashMap<String, String> {
    let mut headers = HashMap::new();
    propagation::inject(&mut headers);
    headers
}

#[test]
fn a_request_continues_the_callers_trace_and_forwards_its_state() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("orders").span_processor(collector.clone()).build();
    let incoming = HashMap::from([
        (
            "traceparent".to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        ),
        ("tracestate".to_owned(), "congo=t61rcWkgMzE,tr=1111111111111111".to_owned()),
        ("baggage".to_owned(), "tenant=acme".to_owned()),
    ]);
    let outgoing = tracer.in_scope(|| propagation::extract(&incoming).run(downstream_call));
    let span = &collector.spans()[0];
    assert_eq!(span.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(span.parent_id.map(|p| p.to_string()).as_deref(), Some("00f067aa0ba902b7"));
    assert_eq!(
        outgoing["traceparent"],
        format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", span.span_id)
    );
    // Our entry is updated and moved to the front; the other vendor's stays.
    assert_eq!(outgoing["tracestate"], format!("tr={},congo=t61rcWkgMzE", span.span_id));
    assert_eq!(outgoing["baggage"], "tenant=acme");
}

#[test]
fn a_malformed_traceparent_starts_a_new_trace_and_is_counted() {
    let before = propagation::stats().malformed_traceparent;
    let incoming = HashMap::from([
        (
            "traceparent".to_owned(),
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01".to_owned(),
        ),
        ("tracestate".to_owned(), "congo=t61rcWkgMzE".to_owned()),
    ]);
    let context = propagation::extract(&incoming);
    assert_eq!(context.span_context(), None);
    assert!(context.trace_state().is_empty(), "tracestate goes with a bad traceparent");
    assert!(propagation::stats().malformed_traceparent > before);
}

#[test]
fn a_malformed_tracestate_is_dropped_alone() {
    let before = propagation::stats().malformed_tracestate;
    let incoming = HashMap::from([
        (
            "traceparent".to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        ),
        ("tracestate".to_owned(), "Bad Key=1".to_owned()),
    ]);
    let context = propagation::extract(&incoming);
    assert!(context.span_context().is_some());
    assert!(context.trace_state().is_empty());
    assert!(propagation::stats().malformed_tracestate > before);
}

#[test]
fn b3_headers_are_read_when_no_traceparent_is_present() {
    let single = HashMap::from([(
        "b3".to_owned(),
        "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1".to_owned(),
    )]);
    let multi = HashMap::from([
        ("X-B3-TraceId".to_owned(), "80f198ee56343ba864fe8b2a57d3eff7".to_owned()),
        ("X-B3-SpanId".to_owned(), "e457b5a2e4d86bd1".to_owned()),
        ("X-B3-Sampled".to_owned(), "1".to_owned()),
    ]);
    for headers in [single, multi] {
        let parent = propagation::extract(&headers).span_context().expect("a B3 parent");
        assert_eq!(parent.trace_id.to_string(), "80f198ee56343ba864fe8b2a57d3eff7");
        assert_eq!(parent.span_id.to_string(), "e457b5a2e4d86bd1");
        assert!(parent.sampled());
    }
}

mod http_helpers {
    use std::convert::Infallible;

    use http::{HeaderMap, Method, Request, Response, StatusCode};
    // The conventions' own names for the tags, so a misspelt key fails.
    use opentelemetry_semantic_conventions::attribute::{
        ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_REQUEST_METHOD_ORIGINAL, HTTP_RESPONSE_STATUS_CODE,
        HTTP_ROUTE, SERVER_ADDRESS, SERVER_PORT, URL_FULL, URL_PATH, URL_QUERY, URL_TEMPLATE,
    };
    use tower::{Layer, Service, ServiceExt};
    use trace_runtime::http::{ClientCall, ServerCall, ServerSpan, TraceLayer};
    use trace_runtime::{InMemoryCollector, SpanData, SpanKind, Status, Tracer, Value, traced};

    const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn request(path: &str) -> Request<()> {
        Request::get(path)
            .header("traceparent", CALLER)
            .header("authorization", "Bearer secret-token")
            .header("cookie", "session=secret")
            .body(())
            .unwrap()
    }

    #[traced]
    fn load() {}

    #[test]
    fn server_span_records_the_standard_tags_and_5xx_as_error() {
        let collector = InMemoryCollector::new();
        let tracer = Tracer::builder("orders").span_processor(collector.clone()).build();
        tracer.in_scope(|| {
            let span = ServerSpan::start(&request("/orders/7?token=abc"), "/orders/{id}");
            load();
            span.record_status(StatusCode::SERVICE_UNAVAILABLE);
        });
        let spans = collector.spans();
        let server = spans.iter().find(|s| s.kind == SpanKind::Server).unwrap();
        assert_eq!(server.name, "GET /orders/{id}");
        assert_eq!(server.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(server.parent_id.unwrap().to_string(), "00f067aa0ba902b7");
        assert_eq!(server.tag("http.route"), Some(&Value::Str("/orders/{id}".into())));
        assert_eq!(server.tag("url.query"), Some(&Value::Str("token=REDACTED".into())));
        assert_eq!(server.tag("http.response.status_code"), Some(&Value::I64(503)));
        assert!(server.status.is_error());
        let child = spans.iter().find(|s| s.name == "load").unwrap();
        assert_eq!(child.parent_id, Some(server.span_id));
        let everything = format!("{spans:?}");
        assert!(!everything.contains("secret"), "no header value or query value is recorded");
    }

    #[traced]
    async fn query() {
        tokio::task::yield_now().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tower_layer_and_client_call_link_a_request_end_to_end() {
        let collector = InMemoryCollector::new();
        let tracer = Tracer::builder("gateway").span_processor(collector.clone()).build();
        let service = tower::service_fn(|req: Request<()>| async move {
            query().await;
            // The handler calls the next service: the client span is a child
            // of the server span and its context travels in the headers.
            let mut headers = HeaderMap::new();
            let call =
                ClientCall::start(&Method::GET, "http://inventory:8080/stock?sku=1", &mut headers);
            call.end(Ok::<_, Infallible>(StatusCode::NOT_FOUND));
            let status =
                if req.uri().path() == "/fail" { StatusCode::BAD_GATEWAY } else { StatusCode::OK };
            Ok::<_, Infallible>(Response::builder().status(status).body(headers).unwrap())
        });
        // No route function: the span is named after the method alone.
        let mut traced_service = TraceLayer::new().layer(service);
        let ready = traced_service.ready().await.unwrap();
        let response = tracer.in_scope(|| ready.call(request("/stock"))).await.unwrap();
        let downstream = response.body().get("traceparent").unwrap().to_str().unwrap().to_owned();

        let spans = collector.spans();
        let server = spans.iter().find(|s| s.kind == SpanKind::Server).unwrap();
        let client = spans.iter().find(|s| s.kind == SpanKind::Client).unwrap();
        let inner = spans.iter().find(|s| s.name == "query").unwrap();
        assert_eq!(server.name, "GET");
        assert_eq!(server.tag("http.route"), None);
        assert_eq!(server.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(inner.parent_id, Some(server.span_id));
        assert_eq!(client.parent_id, Some(server.span_id));
        assert_eq!(client.name, "GET");
        assert_eq!(client.tag("url.full"), Some(&str("http://inventory:8080/stock?sku=1")));
        assert_eq!(client.tag("server.address"), Some(&str("inventory")));
        assert_eq!(client.tag("server.port"), Some(&Value::I64(8080)));
        assert_eq!(client.tag("http.response.status_code"), Some(&Value::I64(404)));
        assert_eq!(client.tag("error.type"), Some(&str("404")));
        assert_eq!(client.status, Status::Error("HTTP 404 Not Found".into()));
        assert_eq!(downstream, format!("00-{}-{}-01", client.trace_id, client.span_id));
        assert_eq!(server.tag("http.response.status_code"), Some(&Value::I64(200)));
        assert_eq!(server.tag("error.type"), None);
    }

    fn str(text: &'static str) -> Value {
        Value::Str(text.into())
    }

    /// The tags of `span` named in `keys`, in that order, as `key=value`
    /// (strings unquoted; `key` alone when the span has no such tag).
    fn tags(span: &SpanData, keys: &[&str]) -> Vec<String> {
        let shown = |key: &&str| match span.tag(key) {
            Some(Value::Str(text)) => format!("{key}={text}"),
            Some(value) => format!("{key}={value}"),
            None => (*key).to_owned(),
        };
        keys.iter().map(shown).collect()
    }

    const CLIENT_TAGS: [&str; 8] = [
        HTTP_REQUEST_METHOD,
        URL_FULL,
        URL_TEMPLATE,
        SERVER_ADDRESS,
        SERVER_PORT,
        HTTP_RESPONSE_STATUS_CODE,
        ERROR_TYPE,
        HTTP_REQUEST_METHOD_ORIGINAL,
    ];

    /// One client call under a root span, ended with `outcome`; the client
    /// span as it reached the collector.
    fn client_span(
        method: &Method,
        url: &str,
        template: Option<&str>,
        outcome: Result<StatusCode, &str>,
    ) -> SpanData {
        let collector = InMemoryCollector::new();
        let tracer = Tracer::builder("orders").span_processor(collector.clone()).build();
        let mut headers = HeaderMap::new();
        tracer.in_scope(|| {
            let _root = trace_runtime::span("process_order").start();
            let call = match template {
                Some(template) => {
                    ClientCall::start_with_template(method, url, template, &mut headers)
                }
                None => ClientCall::start(method, url, &mut headers),
            };
            call.end(outcome);
        });
        let spans = collector.spans();
        let client = spans.iter().find(|s| s.kind == SpanKind::Client).unwrap();
        let root = spans.iter().find(|s| s.name == "process_order").unwrap();
        assert_eq!(client.parent_id, Some(root.span_id));
        let sent = headers.get("traceparent").unwrap().to_str().unwrap();
        let sent_ids = sent.rsplit_once('-').unwrap().0;
        assert_eq!(sent_ids, format!("00-{}-{}", client.trace_id, client.span_id));
        client.clone()
    }

    #[test]
    fn client_spans_are_named_after_their_url_template_with_the_conventions_tags() {
        let url = "https://alice:hunter2@shop.example/stock/42?sig=abc123&page=2";
        let client = client_span(&Method::GET, url, Some("/stock/{sku}"), Ok(StatusCode::OK));
        assert_eq!(client.name, "GET /stock/{sku}");
        assert_eq!(
            tags(&client, &CLIENT_TAGS),
            [
                "http.request.method=GET",
                "url.full=https://REDACTED:REDACTED@shop.example/stock/42?sig=REDACTED&page=2",
                "url.template=/stock/{sku}",
                "server.address=shop.example",
                "server.port=443",
                "http.response.status_code=200",
                "error.type",
                "http.request.method_original",
            ]
        );
        assert_eq!(client.status, Status::Unset);
        let everything = format!("{client:?}");
        assert!(!everything.contains("hunter2") && !everything.contains("alice"));
        assert!(!everything.contains("abc123"), "the signature is not recorded");
    }

    #[test]
    fn client_spans_without_a_template_are_named_after_the_method_only() {
        let client = client_span(
            &Method::POST,
            "http://payments/charge/991?api_key=k-1&access_token=t-2&currency=eur",
            None,
            Ok(StatusCode::SERVICE_UNAVAILABLE),
        );
        assert_eq!(client.name, "POST", "never the URL's path");
        assert_eq!(
            tags(&client, &CLIENT_TAGS),
            [
                "http.request.method=POST",
                "url.full=http://payments/charge/991?api_key=REDACTED&access_token=REDACTED&currency=eur",
                "url.template",
                "server.address=payments",
                "server.port=80",
                "http.response.status_code=503",
                "error.type=503",
                "http.request.method_original",
            ]
        );
        assert_eq!(client.status, Status::Error("HTTP 503 Service Unavailable".into()));
    }

    #[test]
    fn a_client_call_without_an_answer_is_an_error_of_type_other() {
        let failed = Err("connection refused");
        let client =
            client_span(&Method::GET, "http://[::1]:9/stock/1", Some("/stock/{sku}"), failed);
        assert_eq!(client.name, "GET /stock/{sku}");
        assert_eq!(client.tag("server.address"), Some(&str("::1")));
        assert_eq!(client.tag("server.port"), Some(&Value::I64(9)));
        assert_eq!(client.tag("url.full"), Some(&str("http://[::1]:9/stock/1")));
        assert_eq!(client.tag("http.response.status_code"), None);
        assert_eq!(client.tag("error.type"), Some(&str("_OTHER")));
        assert_eq!(client.status, Status::Error("connection refused".into()));
    }

    #[test]
    fn methods_the_conventions_do_not_know_are_other_and_name_the_span_http() {
        let purge = Method::from_bytes(b"PURGE").unwrap();
        let client = client_span(
            &purge,
            "http://cache:8080/items/7",
            Some("/items/{id}"),
            Ok(StatusCode::OK),
        );
        assert_eq!(client.name, "HTTP /items/{id}");
        assert_eq!(client.tag("http.request.method"), Some(&str("_OTHER")));
        assert_eq!(client.tag("http.request.method_original"), Some(&str("PURGE")));
        let invalid = client_span(&Method::GET, "http://a b/", None, Ok(StatusCode::OK));
        assert_eq!(invalid.tag("url.full"), Some(&str("(not a valid URL)")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tower_layer_names_server_spans_after_the_route_template_and_4xx_is_not_an_error() {
        let collector = InMemoryCollector::new();
        let tracer = Tracer::builder("inventory").span_processor(collector.clone()).build();
        let service = tower::service_fn(|_: Request<()>| async move {
            Ok::<_, Infallible>(Response::builder().status(StatusCode::NOT_FOUND).body(()).unwrap())
        });
        let layer = TraceLayer::new().with_route(|parts| {
            parts.uri.path().starts_with("/stock/").then(|| "/stock/{sku}".to_owned())
        });
        let mut traced_service = layer.layer(service);
        let request = Request::get("/stock/42?token=abc&page=2")
            .header("host", "inventory.internal:8080")
            .header("traceparent", CALLER)
            .body(())
            .unwrap();
        let ready = traced_service.ready().await.unwrap();
        tracer.in_scope(|| ready.call(request)).await.unwrap();

        let spans = collector.spans();
        let server = spans.iter().find(|s| s.kind == SpanKind::Server).unwrap();
        assert_eq!(server.name, "GET /stock/{sku}");
        assert_eq!(
            tags(
                server,
                &[
                    HTTP_REQUEST_METHOD,
                    HTTP_ROUTE,
                    URL_PATH,
                    URL_QUERY,
                    SERVER_ADDRESS,
                    SERVER_PORT,
                    HTTP_RESPONSE_STATUS_CODE,
                    ERROR_TYPE,
                ]
            ),
            [
                "http.request.method=GET",
                "http.route=/stock/{sku}",
                "url.path=/stock/42",
                "url.query=token=REDACTED&page=2",
                "server.address=inventory.internal",
                "server.port=8080",
                "http.response.status_code=404",
                "error.type",
            ]
        );
        assert_eq!(server.status, Status::Unset, "a 4xx is the client's error, not the server's");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn server_call_keeps_the_span_across_awaits_on_any_worker() {
        let collector = InMemoryCollector::new();
        let tracer = Tracer::builder("orders").span_processor(collector.clone()).build();
        let handler = tracer.in_scope(|| {
            ServerCall::start(&request("/fail"), "/fail").run(async {
                query().await;
                query().await;
                Response::builder().status(StatusCode::INTERNAL_SERVER_ERROR).body(()).unwrap()
            })
        });
        let response = tokio::spawn(handler).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let spans = collector.spans();
        let server = spans.iter().find(|s| s.kind == SpanKind::Server).unwrap();
        assert_eq!(spans.iter().filter(|s| s.parent_id == Some(server.span_id)).count(), 2);
        assert_eq!(server.status, Status::Error("HTTP 500 Internal Server Error".into()));
        assert_eq!(server.tag("error.type"), Some(&str("500")));
    }
}
