//! Hand-built spans for the analysis unit tests.

use std::borrow::Cow;

use trace_runtime::{SpanData, SpanId, SpanKind, Status, TraceId};

/// A span of trace `trace` with ID `id`, starting at `start` nanoseconds.
pub(crate) fn span(
    trace: u64,
    id: u64,
    parent: Option<u64>,
    service: &str,
    name: &str,
    start: u64,
    duration: u64,
) -> SpanData {
    SpanData {
        trace_id: TraceId::from_u128(u128::from(trace)).unwrap(),
        span_id: SpanId::from_u64(id).unwrap(),
        parent_id: parent.map(|p| SpanId::from_u64(p).unwrap()),
        name: Cow::Owned(name.to_owned()),
        kind: SpanKind::Internal,
        start_unix_nanos: start,
        duration_nanos: duration,
        tags: Vec::new(),
        events: Vec::new(),
        links: Vec::new(),
        status: Status::Unset,
        service: service.into(),
    }
}

/// The span with an error status.
pub(crate) fn failed(mut span: SpanData, message: &str) -> SpanData {
    span.status = Status::Error(Cow::Owned(message.to_owned()));
    span
}

/// Two services' spans in one OTLP JSON request.
pub(crate) const OTLP_SAMPLE: &str = r#"{"resourceSpans":[
  {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"gateway"}}]},
   "scopeSpans":[{"scope":{"name":"demo"},"spans":[
     {"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174","parentSpanId":"",
      "name":"GET /checkout","kind":2,"startTimeUnixNano":"1000","endTimeUnixNano":10000,
      "attributes":[
        {"key":"http.route","value":{"stringValue":"/checkout"}},
        {"key":"http.status","value":{"intValue":"502"}},
        {"key":"ratio","value":{"doubleValue":0.5}},
        {"key":"cached","value":{"boolValue":false}},
        {"key":"list","value":{"arrayValue":{"values":[{"intValue":"1"}]}}},
        {"key":"empty","value":{}}],
      "status":{"code":"STATUS_CODE_ERROR","message":"upstream failed"}}]}]},
  {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"payments"}}]},
   "scopeSpans":[{"spans":[
     {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"00000000000000aa","parentSpanId":"eee19b7ec3c1b174",
      "name":"charge","kind":"SPAN_KIND_CLIENT","startTimeUnixNano":2000,"endTimeUnixNano":"3000",
      "events":[{"timeUnixNano":"2500","name":"retry","attributes":[]}],
      "status":{"code":1}}]}]}]}"#;
