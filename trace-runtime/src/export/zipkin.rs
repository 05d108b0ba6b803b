//! Zipkin v2 JSON: the payload and the exporter that posts it to
//! `/api/v2/spans`.

use std::time::Duration;

use serde_json::{Map, Value as Json, json};

use crate::export::env::{EnvReader, process_env};
use crate::export::http::{
    self, Compression, ConfigError, Endpoint, HttpClient, HttpSettings, TlsFiles,
};
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
/// [`BatchSpanProcessor`](super::BatchSpanProcessor). `https://` URLs need
/// the feature `tls` (on by default); [`builder`](Self::builder) sets gzip,
/// a custom CA, a client certificate and a proxy.
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
    /// One connection pool for every batch (keep-alive).
    client: HttpClient,
}

impl ZipkinExporter {
    /// Posts to this URL, such as `http://localhost:9411/api/v2/spans`, with
    /// a 10 s timeout per request.
    ///
    /// # Errors
    /// [`ConfigError`] if `url` is not an `http://` or `https://` URL.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        Self::builder(url).build()
    }

    /// Starts a configuration for this URL: timeout, gzip, TLS files, proxy.
    ///
    /// ```
    /// use std::time::Duration;
    /// use trace_runtime::export::{Compression, ZipkinExporter};
    ///
    /// let zipkin = ZipkinExporter::builder("https://zipkin.example.com/api/v2/spans")
    ///     .timeout(Duration::from_secs(5))
    ///     .compression(Compression::Gzip)
    ///     .build()
    ///     .unwrap();
    /// # drop(zipkin);
    /// let missing = ZipkinExporter::builder("https://zipkin.example.com/api/v2/spans")
    ///     .ca_certificate_pem("/no/such/ca.pem")
    ///     .build();
    /// assert!(missing.unwrap_err().to_string().contains("/no/such/ca.pem"));
    /// ```
    pub fn builder(url: &str) -> ZipkinBuilder {
        ZipkinBuilder {
            url: url.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            compression: Compression::None,
            tls: TlsFiles::default(),
            proxy: None,
        }
    }

    /// Sets the longest one request may take.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.client.set_timeout(timeout);
        self
    }

    /// Configured by `OTEL_EXPORTER_ZIPKIN_ENDPOINT` (default
    /// `http://localhost:9411/api/v2/spans`), `OTEL_EXPORTER_ZIPKIN_TIMEOUT`
    /// (milliseconds, default 10000), and the proxy variables
    /// (`HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`, `NO_PROXY`).
    ///
    /// # Errors
    /// [`ConfigError`] naming `OTEL_EXPORTER_ZIPKIN_ENDPOINT` or the proxy
    /// variable if it cannot be used; a malformed timeout is ignored with a
    /// message on stderr.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(process_env)
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        EnvReader::read_or_refuse(&lookup, Self::read)
    }

    fn read(env: &mut EnvReader<'_>) -> Self {
        let default = || Self::new(DEFAULT_URL).expect("the default Zipkin URL is valid");
        let url = match env.string("OTEL_EXPORTER_ZIPKIN_ENDPOINT") {
            None => DEFAULT_URL.to_owned(),
            Some(url) => match Endpoint::parse(&url) {
                Ok(_) => url,
                Err(error) => {
                    env.refusals.push(format!("OTEL_EXPORTER_ZIPKIN_ENDPOINT={url:?}: {error}"));
                    return default();
                }
            },
        };
        let mut builder = Self::builder(&url);
        if let Some(timeout) = env.millis("OTEL_EXPORTER_ZIPKIN_TIMEOUT") {
            builder = builder.timeout(timeout);
        }
        if let Ok(endpoint) = Endpoint::parse(&url) {
            if let Some((name, proxy)) = http::proxy_from_lookup(|n| env.string(n), &endpoint) {
                if let Err(error) = ureq::Proxy::new(&proxy) {
                    env.refusals.push(format!("{name}={proxy:?}: {error}"));
                    return default();
                }
                builder = builder.proxy(proxy);
            }
        }
        builder.build().unwrap_or_else(|error| {
            env.refusals.push(format!("OTEL_EXPORTER_ZIPKIN_ENDPOINT={url:?}: {error}"));
            default()
        })
    }
}

/// The settings of a [`ZipkinExporter`], checked by [`build`](Self::build).
#[derive(Debug, Clone)]
#[must_use]
pub struct ZipkinBuilder {
    url: String,
    timeout: Duration,
    compression: Compression,
    tls: TlsFiles,
    proxy: Option<String>,
}

impl ZipkinBuilder {
    /// The longest one request may take, connecting included (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Compresses request bodies (gzip, with `Content-Encoding: gzip`).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Trusts the CA certificates of this PEM file instead of the built-in roots.
    pub fn ca_certificate_pem(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls.ca_certificate = Some(path.into());
        self
    }

    /// Presents this client certificate chain and key (PEM files) for mTLS.
    pub fn client_certificate(
        mut self,
        certificate: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.tls.client_certificate = Some(certificate.into());
        self.tls.client_key = Some(key.into());
        self
    }

    /// Sends through this proxy (`http://host:port`).
    pub fn proxy(mut self, proxy: impl Into<String>) -> Self {
        self.proxy = Some(proxy.into());
        self
    }

    /// The exporter; certificate files are read here.
    ///
    /// # Errors
    /// [`ConfigError`] for a URL that is not `http://` or `https://`, a
    /// certificate or key file that cannot be read or parsed, or a proxy URL
    /// that cannot be used.
    pub fn build(self) -> Result<ZipkinExporter, ConfigError> {
        let settings = HttpSettings {
            what: "Zipkin",
            headers: &[],
            timeout: self.timeout,
            compression: self.compression,
            tls: &self.tls,
            proxy: self.proxy.as_deref(),
        };
        Ok(ZipkinExporter { client: HttpClient::new(&self.url, &settings)? })
    }
}

impl SpanExporter for ZipkinExporter {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        let body = encode_zipkin_json(batch);
        self.client.send("application/json", body.as_bytes())?;
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
        let server = TestServer::start(vec![]);
        let url = format!("{}/api/v2/spans", server.url());
        let lookup = move |name: &str| match name {
            "OTEL_EXPORTER_ZIPKIN_ENDPOINT" => Some(url.clone()),
            "OTEL_EXPORTER_ZIPKIN_TIMEOUT" => Some("250".into()),
            _ => None,
        };
        let mut env = EnvReader::new(&lookup);
        let zipkin = ZipkinExporter::read(&mut env);
        assert!(env.warnings.is_empty() && env.refusals.is_empty(), "{:?}", env.warnings);
        zipkin.export(&sample_trace()).unwrap();
        assert_eq!(server.requests.recv().unwrap().path, "/api/v2/spans");
    }

    #[test]
    fn an_endpoint_or_proxy_it_cannot_use_is_refused_naming_the_variable() {
        let bad = vars(&[("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "ftp://zipkin")]);
        let error = ZipkinExporter::from_lookup(bad).unwrap_err();
        assert!(
            error.to_string().starts_with("OTEL_EXPORTER_ZIPKIN_ENDPOINT=\"ftp://zipkin\""),
            "{error}"
        );
        let proxy = vars(&[("HTTP_PROXY", "http://[broken")]);
        let error = ZipkinExporter::from_lookup(proxy).unwrap_err();
        assert!(error.to_string().starts_with("HTTP_PROXY="), "{error}");
    }

    #[test]
    fn gzip_through_the_builder() {
        let server = TestServer::start(vec![]);
        let zipkin = ZipkinExporter::builder(&format!("{}/api/v2/spans", server.url()))
            .compression(Compression::Gzip)
            .build()
            .unwrap();
        zipkin.export(&sample_trace()).unwrap();
        let request = server.requests.recv().unwrap();
        assert_eq!(request.header("content-encoding"), Some("gzip"));
        let mut plain = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&request.body[..]),
            &mut plain,
        )
        .unwrap();
        assert_eq!(serde_json::from_slice::<Json>(&plain).unwrap(), Json::Array(encoded()));
    }
}
