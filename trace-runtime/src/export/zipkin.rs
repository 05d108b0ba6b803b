//! Zipkin v2 JSON: the payload and the exporter that posts it to
//! `/api/v2/spans`.

use std::time::Duration;

use serde_json::{Map, Value as Json, json};

use crate::export::env::{EnvReader, process_env};
use crate::export::http::{self, ConfigError, Endpoint};
use crate::export::{ExportError, SpanExporter};
use crate::span::{SpanData, SpanKind, Status};
use crate::value::{Tag, Value};

const DEFAULT_URL: &str = "http://localhost:9411/api/v2/spans";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Encodes spans as a Zipkin v2 JSON list, following OpenTelemetry's
/// Zipkin mapping.
///
/// Times are microseconds (a duration under one rounds up to one); the kind
/// is left out for internal spans; tags are strings; an `Ok` status becomes
/// the tag `otel.status_code=OK`, an error `otel.status_code=ERROR` plus
/// `error=<message>`; events become annotations whose value is the event
/// name, followed by its tags as a JSON object when it has any. Links are
/// left out: the Zipkin v2 model has no place for them.
///
/// ```
/// # use trace_runtime::{InMemoryCollector, SpanKind, Tracer};
/// use trace_runtime::export::encode_zipkin_json;
///
/// # let collector = InMemoryCollector::new();
/// # let tracer = Tracer::builder("shop").span_processor(collector.clone()).build();
/// # tracer.in_scope(|| drop(trace_runtime::span("GET /").kind(SpanKind::Server).start()));
/// let json: serde_json::Value = serde_json::from_str(&encode_zipkin_json(&collector.spans())).unwrap();
/// assert_eq!(json[0]["kind"], "SERVER");
/// assert_eq!(json[0]["localEndpoint"]["serviceName"], "shop");
/// ```
pub fn encode_zipkin_json(spans: &[SpanData]) -> String {
    Json::Array(spans.iter().map(encode_span).collect()).to_string()
}

fn encode_span(span: &SpanData) -> Json {
    let mut out = Map::new();
    out.insert("traceId".into(), span.trace_id.to_string().into());
    out.insert("id".into(), span.span_id.to_string().into());
    if let Some(parent) = span.parent_id {
        out.insert("parentId".into(), parent.to_string().into());
    }
    out.insert("name".into(), json!(span.name));
    if let Some(kind) = kind_name(span.kind) {
        out.insert("kind".into(), kind.into());
    }
    out.insert("timestamp".into(), (span.start_unix_nanos / 1000).into());
    out.insert("duration".into(), span.duration_nanos.div_ceil(1000).max(1).into());
    out.insert("localEndpoint".into(), json!({ "serviceName": &*span.service }));
    let mut tags: Map<String, Json> =
        span.tags.iter().map(|(key, value)| (key.to_string(), tag_text(value).into())).collect();
    match &span.status {
        Status::Unset => {}
        Status::Ok => {
            tags.insert("otel.status_code".into(), "OK".into());
        }
        Status::Error(message) => {
            tags.insert("otel.status_code".into(), "ERROR".into());
            tags.insert("error".into(), json!(message));
        }
    }
    if !tags.is_empty() {
        out.insert("tags".into(), tags.into());
    }
    if !span.events.is_empty() {
        let annotations: Vec<Json> = span
            .events
            .iter()
            .map(|event| {
                json!({
                    "timestamp": event.time_unix_nanos / 1000,
                    "value": annotation_value(&event.name, &event.tags),
                })
            })
            .collect();
        out.insert("annotations".into(), annotations.into());
    }
    Json::Object(out)
}

fn kind_name(kind: SpanKind) -> Option<&'static str> {
    match kind {
        SpanKind::Internal => None,
        SpanKind::Server => Some("SERVER"),
        SpanKind::Client => Some("CLIENT"),
        SpanKind::Producer => Some("PRODUCER"),
        SpanKind::Consumer => Some("CONSUMER"),
    }
}

fn tag_text(value: &Value) -> String {
    match value {
        Value::Str(s) => s.to_string(),
        Value::I64(v) => v.to_string(),
        Value::F64(v) => v.to_string(),
        Value::Bool(v) => v.to_string(),
    }
}

fn annotation_value(name: &str, tags: &[Tag]) -> String {
    if tags.is_empty() {
        return name.to_owned();
    }
    let attributes: Map<String, Json> =
        tags.iter().map(|(key, value)| (key.to_string(), value.to_display_json())).collect();
    format!("{name} {}", Json::Object(attributes))
}

/// Posts batches to a Zipkin server's `/api/v2/spans` as JSON.
///
/// It blocks on the network, so put it behind a
/// [`BatchSpanProcessor`](super::BatchSpanProcessor). Only `http://` URLs work.
///
/// ```
/// use trace_runtime::Tracer;
/// use trace_runtime::export::{BatchSpanProcessor, ZipkinExporter};
///
/// let zipkin = ZipkinExporter::new("http://localhost:9411/api/v2/spans").unwrap();
/// let tracer = Tracer::builder("checkout").span_processor(BatchSpanProcessor::new(zipkin)).build();
/// tracer.shutdown();
/// ```
#[derive(Debug)]
pub struct ZipkinExporter {
    endpoint: Endpoint,
    timeout: Duration,
}

impl ZipkinExporter {
    /// Posts to this URL, such as `http://localhost:9411/api/v2/spans`, with
    /// a 10 s timeout per request.
    ///
    /// # Errors
    /// [`ConfigError`] if `url` is not an `http://` URL.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        Ok(Self { endpoint: Endpoint::parse(url)?, timeout: DEFAULT_TIMEOUT })
    }

    /// Sets the longest one request may take.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Configured by `OTEL_EXPORTER_ZIPKIN_ENDPOINT` (default
    /// `http://localhost:9411/api/v2/spans`) and `OTEL_EXPORTER_ZIPKIN_TIMEOUT`
    /// (milliseconds, default 10000).
    pub fn from_env() -> Self {
        Self::from_lookup(process_env)
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    /// Malformed values are ignored with a message on stderr.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        EnvReader::read_with(&lookup, Self::read)
    }

    fn read(env: &mut EnvReader<'_>) -> Self {
        let default = || Self::new(DEFAULT_URL).expect("the default Zipkin URL is valid");
        let mut exporter = match env.string("OTEL_EXPORTER_ZIPKIN_ENDPOINT") {
            None => default(),
            Some(url) => Self::new(&url).unwrap_or_else(|error| {
                env.warnings.push(format!(
                    "trace-runtime: ignoring OTEL_EXPORTER_ZIPKIN_ENDPOINT: {error}; sending to {DEFAULT_URL}"
                ));
                default()
            }),
        };
        if let Some(timeout) = env.millis("OTEL_EXPORTER_ZIPKIN_TIMEOUT") {
            exporter.timeout = timeout;
        }
        exporter
    }
}

impl SpanExporter for ZipkinExporter {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        let body = encode_zipkin_json(batch);
        http::send(&self.endpoint, "application/json", &[], body.as_bytes(), self.timeout)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::env::tests::vars;
    use crate::export::test_support::{CHILD, ROOT, T0, TestServer, sample_trace};

    fn encoded() -> Vec<Json> {
        let json: Json = serde_json::from_str(&encode_zipkin_json(&sample_trace())).unwrap();
        json.as_array().unwrap().clone()
    }

    #[test]
    fn encodes_every_field_of_a_span() {
        let spans = encoded();
        assert_eq!(
            spans[1],
            json!({
                "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
                "id": format!("{CHILD:016x}"),
                "parentId": format!("{ROOT:016x}"),
                "name": "load cart",
                "kind": "CLIENT",
                "timestamp": T0 / 1000 + 1000,
                "duration": 3000,
                "localEndpoint": { "serviceName": "shop" },
                "tags": {
                    "db.system": "postgresql",
                    "db.rows": "-3",
                    "ratio": "0.25",
                    "cached": "false",
                    "otel.status_code": "ERROR",
                    "error": "timeout \"db\"",
                },
                "annotations": [{ "timestamp": T0 / 1000 + 1500, "value": "retry {\"attempt\":2}" }],
            })
        );
    }

    #[test]
    fn roots_internal_spans_and_statuses() {
        let spans = encoded();
        let leaf = &spans[0];
        assert!(leaf.get("kind").is_none(), "internal spans have no kind");
        assert_eq!(leaf["tags"], json!({ "otel.status_code": "OK" }));
        assert!(leaf.get("annotations").is_none());
        let root = &spans[2];
        assert!(root.get("parentId").is_none());
        assert_eq!(root["kind"], "SERVER");
        assert_eq!(root["tags"], json!({ "http.status_code": "200" }));
    }

    #[test]
    fn short_durations_round_up_to_one_microsecond() {
        let mut span = sample_trace().remove(0);
        span.duration_nanos = 1;
        let json: Json = serde_json::from_str(&encode_zipkin_json(&[span.clone()])).unwrap();
        assert_eq!(json[0]["duration"], 1);
        span.duration_nanos = 0;
        let json: Json = serde_json::from_str(&encode_zipkin_json(&[span])).unwrap();
        assert_eq!(json[0]["duration"], 1);
    }

    #[test]
    fn posts_to_the_configured_url() {
        let server = TestServer::start(vec![]);
        let zipkin = ZipkinExporter::new(&format!("{}/api/v2/spans", server.url())).unwrap();
        zipkin.export(&sample_trace()).unwrap();
        let request = server.requests.recv().unwrap();
        assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/api/v2/spans"));
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.json(), Json::Array(encoded()));
    }

    #[test]
    fn reads_its_environment_variables() {
        let lookup = vars(&[
            ("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "http://zipkin:9411/api/v2/spans"),
            ("OTEL_EXPORTER_ZIPKIN_TIMEOUT", "250"),
        ]);
        let mut env = EnvReader::new(&lookup);
        let zipkin = ZipkinExporter::read(&mut env);
        assert_eq!(zipkin.endpoint, Endpoint::parse("http://zipkin:9411/api/v2/spans").unwrap());
        assert_eq!(zipkin.timeout, Duration::from_millis(250));
        let bad = vars(&[("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "https://zipkin")]);
        let mut env = EnvReader::new(&bad);
        let zipkin = ZipkinExporter::read(&mut env);
        assert_eq!(zipkin.endpoint, Endpoint::parse(DEFAULT_URL).unwrap());
        assert_eq!(env.warnings.len(), 1);
    }
}
