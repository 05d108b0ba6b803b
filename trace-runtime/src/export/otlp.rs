//! OTLP over HTTP with the JSON encoding (protobuf: `otlp_proto.rs`): the payload and the exporter that
//! posts it to a collector's `/v1/traces`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value as Json;

use crate::export::env::{EnvReader, process_env, resource_attributes};
use crate::export::http::{self, ConfigError, Endpoint};
use crate::export::{ExportError, SpanSink};
use crate::span::{Link, SpanData, SpanKind, Status};
use crate::value::{Tag, Value};

/// The instrumentation scope named in every payload.
pub(super) const SCOPE_NAME: &str = "trace-runtime";
const DEFAULT_BASE: &str = "http://localhost:4318";
/// Where OTLP/gRPC goes by default.
const DEFAULT_GRPC: &str = "http://localhost:4317";

/// Encodes spans as an OTLP/HTTP JSON `ExportTraceServiceRequest`.
///
/// Spans are grouped into one `resourceSpans` entry per service (with a
/// `service.name` resource attribute), in the order services first appear,
/// under the scope `trace-runtime`, with attributes, events, links and
/// status. IDs are hex, enums are integers, 64-bit integers are decimal
/// strings, as the OTLP specification asks.
///
/// ```
/// # use trace_runtime::{InMemoryCollector, Tracer};
/// use trace_runtime::export::encode_otlp_json;
///
/// # let collector = InMemoryCollector::new();
/// # let tracer = Tracer::builder("shop").exporter(collector.clone()).build();
/// # tracer.in_scope(|| drop(trace_runtime::span("checkout").start()));
/// let spans = collector.spans();
/// let payload: serde_json::Value = serde_json::from_str(&encode_otlp_json(&spans)).unwrap();
/// let span = &payload["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
/// assert_eq!(span["name"], "checkout");
/// assert_eq!(span["kind"], 1); // SPAN_KIND_INTERNAL
/// assert_eq!(span["traceId"], spans[0].trace_id.to_string());
/// ```
pub fn encode_otlp_json(spans: &[SpanData]) -> String {
    encode(spans, &[])
}

/// [`encode_otlp_json`] with extra resource attributes for every service.
///
/// Written straight into one string (no intermediate JSON tree): encoding
/// runs on the export thread for every span, so it is kept to appends.
pub(super) fn encode(spans: &[SpanData], resource: &[(String, String)]) -> String {
    // Services in order of first appearance, each with its spans' indices.
    let mut services: Vec<(&str, Vec<usize>)> = Vec::new();
    for (index, span) in spans.iter().enumerate() {
        match services.iter_mut().find(|(name, _)| *name == &*span.service) {
            Some((_, list)) => list.push(index),
            None => services.push((&span.service, vec![index])),
        }
    }
    let mut out = String::with_capacity(64 + spans.len() * 320);
    out.push_str(r#"{"resourceSpans":["#);
    for (n, (service, indices)) in services.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(r#"{"resource":{"attributes":["#);
        write_string_attribute(&mut out, "service.name", service);
        for (key, value) in resource {
            out.push(',');
            write_string_attribute(&mut out, key, value);
        }
        out.push_str(r#"]},"scopeSpans":[{"scope":{"name":"#);
        write_str(&mut out, SCOPE_NAME);
        out.push_str(r#","version":"#);
        write_str(&mut out, env!("CARGO_PKG_VERSION"));
        out.push_str(r#"},"spans":["#);
        for (i, &index) in indices.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_span(&mut out, &spans[index]);
        }
        out.push_str("]}]}");
    }
    out.push_str("]}");
    out
}

fn write_span(out: &mut String, span: &SpanData) {
    let _ = write!(out, r#"{{"traceId":"{}","spanId":"{}""#, span.trace_id, span.span_id);
    if let Some(parent) = span.parent_id {
        let _ = write!(out, r#","parentSpanId":"{parent}""#);
    }
    out.push_str(r#","name":"#);
    write_str(out, &span.name);
    let _ = write!(
        out,
        r#","kind":{},"startTimeUnixNano":"{}","endTimeUnixNano":"{}""#,
        kind_number(span.kind),
        span.start_unix_nanos,
        span.end_unix_nanos()
    );
    if !span.tags.is_empty() {
        out.push_str(r#","attributes":"#);
        write_attributes(out, &span.tags);
    }
    if !span.events.is_empty() {
        out.push_str(r#","events":["#);
        for (i, event) in span.events.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, r#"{{"timeUnixNano":"{}","name":"#, event.time_unix_nanos);
            write_str(out, &event.name);
            if !event.tags.is_empty() {
                out.push_str(r#","attributes":"#);
                write_attributes(out, &event.tags);
            }
            out.push('}');
        }
        out.push(']');
    }
    if !span.links.is_empty() {
        out.push_str(r#","links":["#);
        for (i, link) in span.links.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_link(out, link);
        }
        out.push(']');
    }
    match &span.status {
        Status::Unset => out.push_str(r#","status":{"code":0}"#),
        Status::Ok => out.push_str(r#","status":{"code":1}"#),
        Status::Error(message) if message.is_empty() => out.push_str(r#","status":{"code":2}"#),
        Status::Error(message) => {
            out.push_str(r#","status":{"code":2,"message":"#);
            write_str(out, message);
            out.push('}');
        }
    }
    out.push('}');
}

fn write_link(out: &mut String, link: &Link) {
    let context = &link.span_context;
    // W3C flags, plus "is remote is known" (0x100) and "is remote" (0x200).
    let flags = u32::from(context.flags.bits()) | 0x100 | if context.remote { 0x200 } else { 0 };
    let _ = write!(out, r#"{{"traceId":"{}","spanId":"{}""#, context.trace_id, context.span_id);
    if !link.tags.is_empty() {
        out.push_str(r#","attributes":"#);
        write_attributes(out, &link.tags);
    }
    let _ = write!(out, r#","flags":{flags}}}"#);
}

pub(super) fn kind_number(kind: SpanKind) -> u8 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn write_attributes(out: &mut String, tags: &[Tag]) {
    out.push('[');
    for (i, (key, value)) in tags.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"key":"#);
        write_str(out, key);
        out.push_str(r#","value":"#);
        write_any_value(out, value);
        out.push('}');
    }
    out.push(']');
}

fn write_string_attribute(out: &mut String, key: &str, value: &str) {
    out.push_str(r#"{"key":"#);
    write_str(out, key);
    out.push_str(r#","value":{"stringValue":"#);
    write_str(out, value);
    out.push_str("}}");
}

/// An OTLP `AnyValue`: 64-bit integers as decimal strings, and the
/// non-finite doubles as the strings protobuf's JSON mapping uses.
fn write_any_value(out: &mut String, value: &Value) {
    match value {
        Value::Str(s) => {
            out.push_str(r#"{"stringValue":"#);
            write_str(out, s);
            out.push('}');
        }
        Value::I64(v) => {
            let _ = write!(out, r#"{{"intValue":"{v}"}}"#);
        }
        Value::F64(v) if v.is_finite() => {
            // serde_json prints the shortest text that reads back exactly.
            let _ = write!(out, r#"{{"doubleValue":{}}}"#, Json::from(*v));
        }
        Value::F64(v) if v.is_nan() => out.push_str(r#"{"doubleValue":"NaN"}"#),
        Value::F64(v) if *v > 0.0 => out.push_str(r#"{"doubleValue":"Infinity"}"#),
        Value::F64(_) => out.push_str(r#"{"doubleValue":"-Infinity"}"#),
        Value::Bool(v) => {
            let _ = write!(out, r#"{{"boolValue":{v}}}"#);
        }
    }
}

/// A JSON string literal, escaped as JSON requires.
fn write_str(out: &mut String, text: &str) {
    out.push('"');
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..0x20 => "",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// Where and how an [`OtlpHttpExporter`] sends.
///
/// ```
/// use trace_runtime::export::OtlpConfig;
///
/// let config = OtlpConfig::with_endpoint("http://collector:4318/");
/// assert_eq!(config.traces_endpoint, "http://collector:4318/v1/traces");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtlpConfig {
    /// The full URL posted to (default `http://localhost:4318/v1/traces`).
    pub traces_endpoint: String,
    /// Extra request headers, such as an API key.
    pub headers: Vec<(String, String)>,
    /// Longest one request may take, connecting included (default 10 s).
    pub timeout: Duration,
    /// Resource attributes added beside `service.name` (from
    /// `OTEL_RESOURCE_ATTRIBUTES`).
    pub resource_attributes: Vec<(String, String)>,
    /// The encoding (default JSON; `OTEL_EXPORTER_OTLP_PROTOCOL`).
    pub protocol: OtlpProtocol,
}

/// How OTLP requests are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// `http/json`: readable, accepted by every OTLP/HTTP receiver.
    #[default]
    HttpJson,
    /// `http/protobuf` (feature `protobuf`): smaller and cheaper to decode.
    #[cfg(feature = "protobuf")]
    HttpProtobuf,
    /// `grpc`: the `TraceService/Export` call, sent by an
    /// [`OtlpGrpcExporter`](super::OtlpGrpcExporter) (feature `grpc`).
    /// Without the feature, a configuration asking for it is refused.
    Grpc,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self::with_endpoint(DEFAULT_BASE)
    }
}

impl OtlpConfig {
    /// Sends to `/v1/traces` under a base URL such as `http://localhost:4318`.
    pub fn with_endpoint(base: &str) -> Self {
        Self {
            traces_endpoint: format!("{}/v1/traces", base.trim_end_matches('/')),
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            resource_attributes: Vec::new(),
            protocol: OtlpProtocol::HttpJson,
        }
    }

    /// OTLP/gRPC to a receiver such as `http://localhost:4317`, the URL
    /// used as it is (gRPC has a fixed path).
    ///
    /// ```
    /// use trace_runtime::export::{OtlpConfig, OtlpProtocol};
    ///
    /// let config = OtlpConfig::grpc("http://collector:4317");
    /// assert_eq!(config.traces_endpoint, "http://collector:4317");
    /// assert_eq!(config.protocol, OtlpProtocol::Grpc);
    /// ```
    pub fn grpc(url: &str) -> Self {
        Self {
            traces_endpoint: url.to_owned(),
            protocol: OtlpProtocol::Grpc,
            ..Self::with_endpoint(DEFAULT_BASE)
        }
    }

    /// The defaults, overridden by the standard environment variables.
    pub fn from_env() -> Self {
        Self::from_lookup(process_env)
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`:
    ///
    /// - `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, used as it is, else
    ///   `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/traces` appended;
    /// - `OTEL_EXPORTER_OTLP_HEADERS`, then `OTEL_EXPORTER_OTLP_TRACES_HEADERS`
    ///   (`key=value,…`, percent-encoded; the second wins for a repeated key);
    /// - `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT`
    ///   (milliseconds);
    /// - `OTEL_RESOURCE_ATTRIBUTES` (`service.name` there is left to the tracer).
    ///
    /// - `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`:
    ///   `http/json` (the default here), `http/protobuf` with the
    ///   `protobuf` feature, or `grpc` (then the endpoint defaults to
    ///   `http://localhost:4317` and `OTEL_EXPORTER_OTLP_ENDPOINT` is used
    ///   as it is).
    ///
    /// Malformed values are ignored with a message on stderr, as is a
    /// protocol this build does not speak (`http/protobuf` without the
    /// feature). `grpc` is kept even without the `grpc` feature, with a
    /// warning naming the variable and the feature: an exporter refuses it,
    /// so no span goes to an HTTP receiver the user did not name.
    ///
    /// ```
    /// use std::time::Duration;
    /// use trace_runtime::export::OtlpConfig;
    ///
    /// let config = OtlpConfig::from_lookup(|name| match name {
    ///     "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://otel:4318".into()),
    ///     "OTEL_EXPORTER_OTLP_HEADERS" => Some("api-key=s%3Dcret".into()),
    ///     "OTEL_EXPORTER_OTLP_TIMEOUT" => Some("2500".into()),
    ///     _ => None,
    /// });
    /// assert_eq!(config.traces_endpoint, "http://otel:4318/v1/traces");
    /// assert_eq!(config.headers, [("api-key".to_owned(), "s=cret".to_owned())]);
    /// assert_eq!(config.timeout, Duration::from_millis(2500));
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        EnvReader::read_with(&lookup, Self::read)
    }

    fn read(env: &mut EnvReader<'_>) -> Self {
        let mut config = Self::default();
        let protocol =
            env.first(&["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]);
        match protocol.as_ref().map(|(name, p)| (name.as_str(), p.as_str())) {
            None | Some((_, "http/json")) => {}
            #[cfg(feature = "protobuf")]
            Some((_, "http/protobuf")) => config.protocol = OtlpProtocol::HttpProtobuf,
            Some((_name, "grpc")) => {
                config = Self::grpc(DEFAULT_GRPC);
                #[cfg(not(feature = "grpc"))]
                env.warnings.push(format!(
                    "trace-runtime: {_name}=\"grpc\" needs the `grpc` feature of trace-runtime, which this build lacks; no spans will be sent over OTLP"
                ));
            }
            Some((name, other)) => env.warnings.push(format!(
                "trace-runtime: {name}={other:?} is not supported; sending OTLP http/json"
            )),
        }
        let grpc = config.protocol == OtlpProtocol::Grpc;
        let endpoint = env
            .string("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .map(|url| ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url))
            .or_else(|| {
                let base = env.string("OTEL_EXPORTER_OTLP_ENDPOINT")?;
                // gRPC's path is fixed: the base is the whole URL.
                let url = if grpc { base } else { Self::with_endpoint(&base).traces_endpoint };
                Some(("OTEL_EXPORTER_OTLP_ENDPOINT", url))
            });
        if let Some((name, url)) = endpoint {
            match Endpoint::parse(&url) {
                Ok(_) => config.traces_endpoint = url,
                Err(error) => env.warnings.push(format!(
                    "trace-runtime: ignoring {name}: {error}; sending to {}",
                    config.traces_endpoint
                )),
            }
        }
        for name in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"] {
            for (key, value) in env.key_values(name) {
                let pair = [(key, value)];
                if let Err(error) = http::check_headers(&pair) {
                    env.warnings
                        .push(format!("trace-runtime: ignoring a header in {name}: {error}"));
                    continue;
                }
                let [(key, value)] = pair;
                config.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
                config.headers.push((key, value));
            }
        }
        let timeout = env
            .millis("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
            .or_else(|| env.millis("OTEL_EXPORTER_OTLP_TIMEOUT"));
        if let Some(timeout) = timeout {
            config.timeout = timeout;
        }
        config.resource_attributes = resource_attributes(env);
        config
    }
}

/// Posts batches to an OpenTelemetry collector (or Jaeger, Tempo, any OTLP
/// receiver) as OTLP/HTTP, JSON by default (see [`OtlpProtocol`]).
///
/// It blocks on the network, so put it behind a
/// [`BatchExporter`](super::BatchExporter), which sends from a background
/// thread and retries. Only `http://` endpoints are supported (no TLS).
///
/// ```
/// use trace_runtime::Tracer;
/// use trace_runtime::export::{BatchExporter, OtlpHttpExporter};
///
/// // OTEL_EXPORTER_OTLP_ENDPOINT etc., defaulting to http://localhost:4318.
/// let otlp = BatchExporter::from_env(OtlpHttpExporter::from_env());
/// let tracer = Tracer::builder("checkout").exporter(otlp).build();
/// // ... at the end of main:
/// tracer.shutdown();
/// ```
#[derive(Debug)]
pub struct OtlpHttpExporter {
    endpoint: Endpoint,
    config: OtlpConfig,
    /// Spans the receiver rejected since the batch processor last asked.
    rejected: AtomicU64,
}

impl OtlpHttpExporter {
    /// An exporter for this configuration.
    ///
    /// # Errors
    /// [`ConfigError`] for an endpoint that is not an `http://` URL, a
    /// header that is not a valid HTTP header, or the protocol
    /// [`OtlpProtocol::Grpc`] (an [`OtlpGrpcExporter`](super::OtlpGrpcExporter)
    /// sends that, with the `grpc` feature).
    pub fn new(config: OtlpConfig) -> Result<Self, ConfigError> {
        if config.protocol == OtlpProtocol::Grpc {
            return Err(ConfigError::new(grpc_refusal()));
        }
        let endpoint = Endpoint::parse(&config.traces_endpoint)?;
        http::check_headers(&config.headers)?;
        Ok(Self { endpoint, config, rejected: AtomicU64::new(0) })
    }

    /// An exporter configured by the standard environment variables
    /// ([`OtlpConfig::from_env`]).
    pub fn from_env() -> Self {
        Self::from_lookup(process_env)
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        // `from_lookup` keeps only values that `new` accepts.
        Self::new(OtlpConfig::from_lookup(lookup))
            .or_else(|_| Self::new(OtlpConfig::default()))
            .expect("the default OTLP configuration is valid")
    }

    /// The configuration in use.
    pub fn config(&self) -> &OtlpConfig {
        &self.config
    }
}

impl SpanSink for OtlpHttpExporter {
    fn send(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        let resource = &self.config.resource_attributes;
        let (content_type, body) = match self.config.protocol {
            OtlpProtocol::HttpJson => ("application/json", encode(batch, resource).into_bytes()),
            #[cfg(feature = "protobuf")]
            OtlpProtocol::HttpProtobuf => {
                ("application/x-protobuf", super::otlp_proto::encode(batch, resource))
            }
            // `new` refuses it.
            OtlpProtocol::Grpc => return Err(ExportError::permanent(grpc_refusal())),
        };
        let response = http::send(
            &self.endpoint,
            content_type,
            &self.config.headers,
            &body,
            self.config.timeout,
        )?;
        let partial = match self.config.protocol {
            #[cfg(feature = "protobuf")]
            OtlpProtocol::HttpProtobuf => super::otlp_proto::partial_success(&response.body),
            _ => partial_success(&response.body),
        };
        if let Some((rejected, message)) = partial {
            report_rejected(&self.rejected, rejected, &message);
        }
        Ok(())
    }

    fn take_rejected(&self) -> u64 {
        self.rejected.swap(0, Ordering::Relaxed)
    }
}

/// The OTLP exporter the environment asks for (`OTEL_EXPORTER_OTLP_*`),
/// behind a batch processor; `None`, after a message on stderr, when the
/// protocol asked for cannot be sent by this build: spans then go nowhere
/// rather than to a receiver the user did not name.
pub(crate) fn batch_exporter_from_lookup(
    lookup: &dyn Fn(&str) -> Option<String>,
    batch: super::BatchConfig,
) -> Option<super::BatchExporter> {
    let config = OtlpConfig::from_lookup(lookup);
    if config.protocol != OtlpProtocol::Grpc {
        // `from_lookup` keeps only values that `new` accepts.
        let exporter = OtlpHttpExporter::new(config)
            .or_else(|_| OtlpHttpExporter::new(OtlpConfig::default()))
            .expect("the default OTLP configuration is valid");
        return Some(super::BatchExporter::with_config(exporter, batch));
    }
    #[cfg(feature = "grpc")]
    match super::OtlpGrpcExporter::new(config) {
        Ok(exporter) => Some(super::BatchExporter::with_config(exporter, batch)),
        Err(error) => {
            eprintln!("trace-runtime: no OTLP export: {error}");
            None
        }
    }
    // `OtlpConfig::from_lookup` said why, naming the variable and the feature.
    #[cfg(not(feature = "grpc"))]
    None
}

/// What [`OtlpHttpExporter::new`] says to a gRPC configuration.
fn grpc_refusal() -> String {
    if cfg!(feature = "grpc") {
        "OTLP/gRPC is sent by OtlpGrpcExporter, not OtlpHttpExporter".to_owned()
    } else {
        "OTLP/gRPC needs the `grpc` feature of trace-runtime, which this build lacks".to_owned()
    }
}

/// The rejected span count and message of an OTLP/JSON reply's
/// `partialSuccess`, if it rejected any.
fn partial_success(body: &[u8]) -> Option<(u64, String)> {
    let reply = serde_json::from_slice::<Json>(body).ok()?;
    let partial = &reply["partialSuccess"];
    let rejected = match &partial["rejectedSpans"] {
        Json::String(s) => s.parse().unwrap_or(0),
        other => other.as_u64().unwrap_or(0),
    };
    let message = partial["errorMessage"].as_str().unwrap_or_default().to_owned();
    (rejected > 0).then_some((rejected, message))
}

/// A receiver may accept a request yet reject some spans: they are counted
/// (the batch processor reads them as dropped) and said on stderr.
pub(super) fn report_rejected(counter: &AtomicU64, rejected: u64, message: &str) {
    counter.fetch_add(rejected, Ordering::Relaxed);
    eprintln!("trace-runtime: the OTLP receiver rejected {rejected} spans: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[test]
    fn strings_are_escaped_as_json_requires() {
        for text in [
            "plain",
            "quote \" and \\ backslash",
            "line\nbreak\ttab\r",
            "\u{1}\u{1f} control",
            "héllo ✓",
        ] {
            let mut out = String::new();
            write_str(&mut out, text);
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), text, "{out}");
        }
    }

    use crate::export::env::tests::vars;
    use crate::export::test_support::{
        CHILD, LINKED_SPAN, LINKED_TRACE, ROOT, Reply, T0, TestServer, closed_port, sample_trace,
    };
    use crate::export::{BatchConfig, BatchExporter, Exporter, RetryPolicy};
    use std::sync::Arc;

    fn spans_of(payload: &Json) -> Vec<Json> {
        payload["resourceSpans"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["scopeSpans"][0]["spans"].as_array().unwrap().clone())
            .collect()
    }

    #[test]
    fn encodes_every_field_of_a_span() {
        let payload: Json = serde_json::from_str(&encode_otlp_json(&sample_trace())).unwrap();
        let resource = &payload["resourceSpans"][0];
        assert_eq!(
            resource["resource"]["attributes"],
            json!([{ "key": "service.name", "value": { "stringValue": "shop" } }])
        );
        let scope = &resource["scopeSpans"][0]["scope"];
        assert_eq!(
            *scope,
            json!({ "name": "trace-runtime", "version": env!("CARGO_PKG_VERSION") })
        );
        let spans = spans_of(&payload);
        assert_eq!(spans.len(), 3);
        let child = &spans[1];
        assert_eq!(child["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(child["spanId"], format!("{CHILD:016x}"));
        assert_eq!(child["parentSpanId"], format!("{ROOT:016x}"));
        assert_eq!(child["name"], "load cart");
        assert_eq!(child["kind"], 3);
        assert_eq!(child["startTimeUnixNano"], (T0 + 1_000_000).to_string());
        assert_eq!(child["endTimeUnixNano"], (T0 + 4_000_000).to_string());
        assert_eq!(
            child["attributes"],
            json!([
                { "key": "db.system", "value": { "stringValue": "postgresql" } },
                { "key": "db.rows", "value": { "intValue": "-3" } },
                { "key": "ratio", "value": { "doubleValue": 0.25 } },
                { "key": "cached", "value": { "boolValue": false } },
            ])
        );
        assert_eq!(
            child["events"],
            json!([{
                "timeUnixNano": (T0 + 1_500_000).to_string(),
                "name": "retry",
                "attributes": [{ "key": "attempt", "value": { "intValue": "2" } }],
            }])
        );
        assert_eq!(
            child["links"],
            json!([{
                "traceId": format!("{LINKED_TRACE:032x}"),
                "spanId": format!("{LINKED_SPAN:016x}"),
                "attributes": [{ "key": "messaging.batch.index", "value": { "intValue": "0" } }],
                "flags": 0x301,
            }])
        );
        assert_eq!(child["status"], json!({ "code": 2, "message": "timeout \"db\"" }));
        let root = &spans[2];
        assert!(root.get("parentSpanId").is_none());
        assert_eq!(
            (root["kind"].clone(), root["status"].clone()),
            (json!(2), json!({ "code": 0 }))
        );
        assert_eq!(spans[0]["status"], json!({ "code": 1 }));
        assert!(["attributes", "events", "links"].iter().all(|k| spans[0].get(k).is_none()));
    }

    #[test]
    fn the_analysis_reader_reads_what_the_encoder_writes() {
        let spans = sample_trace();
        let outcome = crate::analysis::read_otlp_json(encode_otlp_json(&spans).as_bytes()).unwrap();
        assert_eq!(outcome.malformed_lines, 0, "{:?}", outcome.first_error);
        assert_eq!(outcome.spans.len(), spans.len());
        for (read, written) in outcome.spans.iter().zip(&spans) {
            assert_eq!(
                (read.trace_id, read.span_id, read.parent_id, &read.name, read.kind),
                (written.trace_id, written.span_id, written.parent_id, &written.name, written.kind)
            );
            assert_eq!(
                (read.start_unix_nanos, read.duration_nanos),
                (written.start_unix_nanos, written.duration_nanos)
            );
            assert_eq!(
                (&read.tags, &read.events, &read.status),
                (&written.tags, &written.events, &written.status)
            );
            assert_eq!(&*read.service, &*written.service);
            assert_eq!(read.links.len(), written.links.len());
        }
    }

    #[test]
    fn groups_spans_by_service_in_order_of_appearance() {
        let mut spans = sample_trace();
        spans[1].service = Arc::from("db");
        let payload: Json = serde_json::from_str(&encode(
            &spans,
            &[("deployment.environment".into(), "prod".into())],
        ))
        .unwrap();
        let resources = payload["resourceSpans"].as_array().unwrap();
        assert_eq!(resources.len(), 2);
        let names: Vec<&Json> = resources
            .iter()
            .map(|r| &r["resource"]["attributes"][0]["value"]["stringValue"])
            .collect();
        assert_eq!(names, [&json!("shop"), &json!("db")]);
        assert_eq!(resources[0]["scopeSpans"][0]["spans"].as_array().unwrap().len(), 2);
        assert_eq!(resources[1]["scopeSpans"][0]["spans"][0]["name"], "load cart");
        assert_eq!(
            resources[1]["resource"]["attributes"][1],
            json!({ "key": "deployment.environment", "value": { "stringValue": "prod" } })
        );
    }

    #[test]
    fn encodes_special_values() {
        let mut span = sample_trace().remove(2);
        span.tags = vec![
            ("nan".into(), Value::F64(f64::NAN)),
            ("inf".into(), Value::F64(f64::INFINITY)),
            ("-inf".into(), Value::F64(f64::NEG_INFINITY)),
            ("min".into(), Value::I64(i64::MIN)),
            ("big".into(), Value::from(u64::MAX)),
        ];
        span.status = Status::Error("".into());
        let payload: Json = serde_json::from_str(&encode_otlp_json(&[span])).unwrap();
        let span = &spans_of(&payload)[0];
        let values: Vec<&Json> =
            span["attributes"].as_array().unwrap().iter().map(|a| &a["value"]).collect();
        assert_eq!(
            values,
            [
                &json!({ "doubleValue": "NaN" }),
                &json!({ "doubleValue": "Infinity" }),
                &json!({ "doubleValue": "-Infinity" }),
                &json!({ "intValue": "-9223372036854775808" }),
                &json!({ "stringValue": "18446744073709551615" }),
            ]
        );
        assert_eq!(span["status"], json!({ "code": 2 }));
        assert_eq!(encode_otlp_json(&[]), r#"{"resourceSpans":[]}"#);
    }

    #[test]
    fn endpoint_variables_follow_the_specification() {
        let base = OtlpConfig::from_lookup(vars(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://otel:4318/base/",
        )]));
        assert_eq!(base.traces_endpoint, "http://otel:4318/base/v1/traces");
        let exact = OtlpConfig::from_lookup(vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://tempo:4318/custom"),
        ]));
        assert_eq!(exact.traces_endpoint, "http://tempo:4318/custom");
        assert_eq!(OtlpConfig::from_lookup(vars(&[])), OtlpConfig::default());
        assert_eq!(OtlpConfig::default().traces_endpoint, "http://localhost:4318/v1/traces");
    }

    #[test]
    fn header_timeout_and_resource_variables_are_read() {
        let config = OtlpConfig::from_lookup(vars(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=one,x-team=a%2Cb"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "API-KEY=two"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1500"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=x,host.name=h1"),
        ]));
        assert_eq!(
            config.headers,
            [("x-team".to_owned(), "a,b".to_owned()), ("API-KEY".to_owned(), "two".to_owned())]
        );
        assert_eq!(config.timeout, Duration::from_millis(700));
        assert_eq!(config.resource_attributes, [("host.name".to_owned(), "h1".to_owned())]);
    }

    #[test]
    fn malformed_variables_are_ignored_with_warnings() {
        let lookup = vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://secure:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x=%0D%0AEvil: 1,ok=1"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/xml"),
        ]);
        let mut env = EnvReader::new(&lookup);
        let config = OtlpConfig::read(&mut env);
        assert_eq!(config.traces_endpoint, OtlpConfig::default().traces_endpoint);
        assert_eq!(config.headers, [("ok".to_owned(), "1".to_owned())]);
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert_eq!(env.warnings.len(), 4, "{:#?}", env.warnings);
        assert!(OtlpHttpExporter::new(config).is_ok());
    }

    #[test]
    fn grpc_defaults_to_port_4317_and_takes_the_endpoint_as_it_is() {
        let config = OtlpConfig::from_lookup(vars(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]));
        assert_eq!(config.protocol, OtlpProtocol::Grpc);
        assert_eq!(config.traces_endpoint, "http://localhost:4317");
        let config = OtlpConfig::from_lookup(vars(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4317"),
        ]));
        assert_eq!(config, OtlpConfig::grpc("http://otel:4317"));
        // The HTTP exporter never sends a gRPC configuration as JSON.
        let error = OtlpHttpExporter::new(config).unwrap_err();
        assert!(error.to_string().contains("gRPC"), "{error}");
    }

    #[cfg(not(feature = "grpc"))]
    #[test]
    fn grpc_without_the_feature_is_a_warning_and_no_export() {
        let lookup = vars(&[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")]);
        let mut env = EnvReader::new(&lookup);
        let config = OtlpConfig::read(&mut env);
        assert_eq!(env.warnings.len(), 1, "{:?}", env.warnings);
        let warning = &env.warnings[0];
        assert!(warning.contains("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), "{warning}");
        assert!(warning.contains("`grpc` feature"), "{warning}");
        let error = OtlpHttpExporter::new(config).unwrap_err();
        assert!(error.to_string().contains("`grpc` feature"), "{error}");
        assert!(batch_exporter_from_lookup(&lookup, fast_batches()).is_none());
    }

    #[test]
    fn rejected_spans_of_a_partial_success_are_counted_as_dropped() {
        let server = TestServer::start(vec![Reply::Json(
            r#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"too old"}}"#,
        )]);
        let otlp = OtlpHttpExporter::new(OtlpConfig::with_endpoint(&server.url())).unwrap();
        let exporter = BatchExporter::with_config(otlp, fast_batches());
        exporter.export(&sample_trace());
        assert!(exporter.flush_with_timeout(Duration::from_secs(10)));
        let stats = exporter.stats();
        assert_eq!((stats.exported, stats.dropped, stats.failed_spans), (1, 2, 0));
    }

    #[test]
    fn new_refuses_https_and_bad_headers() {
        assert!(
            OtlpHttpExporter::new(OtlpConfig::with_endpoint("https://api.honeycomb.io")).is_err()
        );
        let mut config = OtlpConfig::default();
        config.headers.push(("bad header".into(), "1".into()));
        assert!(OtlpHttpExporter::new(config).is_err());
    }

    #[test]
    fn posts_json_to_v1_traces() {
        let server = TestServer::start(vec![]);
        let mut config = OtlpConfig::with_endpoint(&server.url());
        config.headers.push(("x-api-key".into(), "secret".into()));
        let exporter = OtlpHttpExporter::new(config).unwrap();
        exporter.send(&sample_trace()).unwrap();
        let request = server.requests.recv().unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/v1/traces");
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("x-api-key"), Some("secret"));
        let expected: Json = serde_json::from_str(&encode_otlp_json(&sample_trace())).unwrap();
        assert_eq!(request.json(), expected);
    }

    fn fast_batches() -> BatchConfig {
        BatchConfig {
            scheduled_delay: Duration::from_secs(3600),
            flush_timeout: Duration::from_secs(10),
            export_timeout: Duration::from_secs(5),
            retry: RetryPolicy {
                max_retries: 3,
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(20),
            },
            report_interval: None,
            ..BatchConfig::default()
        }
    }

    #[test]
    fn batch_exporter_retries_503_and_429_then_delivers() {
        let server = TestServer::start(vec![
            Reply::Status(503, vec![]),
            Reply::Status(429, vec![("Retry-After", "0")]),
        ]);
        let otlp = OtlpHttpExporter::new(OtlpConfig::with_endpoint(&server.url())).unwrap();
        let exporter = BatchExporter::with_config(otlp, fast_batches());
        exporter.export(&sample_trace());
        assert!(exporter.flush_with_timeout(Duration::from_secs(10)));
        let stats = exporter.stats();
        assert_eq!((stats.exported, stats.retries, stats.failed_exports), (3, 2, 0));
        let bodies: Vec<Json> = server.requests.try_iter().map(|r| r.json()).collect();
        assert_eq!(bodies.len(), 3);
        assert!(bodies.iter().all(|b| b == &bodies[0]));
    }

    #[test]
    fn an_unreachable_collector_is_counted_and_never_blocks_the_caller() {
        let url = format!("http://127.0.0.1:{}", closed_port());
        let otlp = OtlpHttpExporter::new(OtlpConfig::with_endpoint(&url)).unwrap();
        let config =
            BatchConfig { max_queue_size: 64, max_export_batch_size: 16, ..fast_batches() };
        let exporter = BatchExporter::with_config(otlp, config);
        let started = std::time::Instant::now();
        for _ in 0..1000 {
            exporter.export(&sample_trace());
        }
        // Generous: 3000 non-blocking sends take well under a millisecond.
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(exporter.flush_with_timeout(Duration::from_secs(10)));
        assert!(exporter.shutdown_with_timeout(Duration::from_secs(10)));
        let stats = exporter.stats();
        assert_eq!(stats.exported, 0);
        assert!(stats.failed_exports >= 1 && stats.retries >= 1, "{stats:?}");
        assert_eq!(stats.dropped + stats.failed_spans, 3000);
        assert!(exporter.last_error().unwrap().contains("127.0.0.1"));
    }
}
