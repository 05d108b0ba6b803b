//! OTLP over gRPC (feature `grpc`): the `TraceService/Export` call of the
//! official OTLP service, made with tonic from the export thread.
//!
//! The export thread is a plain OS thread, so the exporter owns a small
//! current-thread tokio runtime, built once, and blocks on each call with
//! the configured timeout. One channel (one HTTP/2 connection) is kept for
//! every batch.

use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link as SpanLink};
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status as SpanStatus,
};
use tonic::Code;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic_types::StatusExt;

use crate::export::env::process_env;
use crate::export::http::{Compression, ConfigError, TlsFiles};
use crate::export::otlp::{OtlpConfig, OtlpProtocol, SCOPE_NAME, json::kind_number};
#[cfg(feature = "grpc-tls")]
use crate::export::pem;
use crate::export::{ExportError, SpanExporter};
use crate::span::{Link, SpanData, Status};
use crate::value::{Tag, Value};
use tonic::codec::CompressionEncoding;

/// Sends batches to an OpenTelemetry collector (or any OTLP receiver) with
/// OTLP/gRPC, the protocol most collectors listen for on port 4317.
///
/// It blocks on the network, so put it behind a
/// [`BatchSpanProcessor`](crate::export::BatchSpanProcessor), which sends from a background
/// thread and retries: gRPC codes `UNAVAILABLE`, `DEADLINE_EXCEEDED`,
/// `ABORTED`, `OUT_OF_RANGE`, `DATA_LOSS` and `CANCELLED` are retried, and
/// `RESOURCE_EXHAUSTED` when the status carries a `google.rpc.RetryInfo`
/// (its delay is waited out); other codes drop the batch. Spans the receiver
/// reports as rejected in a partial success are counted as dropped.
///
/// ```
/// use trace_runtime::Tracer;
/// use trace_runtime::export::{BatchSpanProcessor, OtlpConfig, OtlpGrpcExporter};
///
/// let otlp = OtlpGrpcExporter::new(OtlpConfig::grpc("http://localhost:4317")).unwrap();
/// let tracer = Tracer::builder("checkout").span_processor(BatchSpanProcessor::from_env(otlp)).build();
/// // ... at the end of main:
/// tracer.shutdown();
/// ```
pub struct OtlpGrpcExporter {
    /// Drives the channel; only while an export blocks on it.
    runtime: tokio::runtime::Runtime,
    /// The channel's client, compressing if configured.
    client: TraceServiceClient<Channel>,
    metadata: MetadataMap,
    config: OtlpConfig,
    /// Spans the receiver rejected since the batch processor last asked.
    rejected: AtomicU64,
}

impl std::fmt::Debug for OtlpGrpcExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpGrpcExporter").field("config", &self.config).finish_non_exhaustive()
    }
}

impl OtlpGrpcExporter {
    /// An exporter for this configuration; connects on the first export.
    ///
    /// # Errors
    /// [`ConfigError`] when the protocol is not [`OtlpProtocol::Grpc`], the
    /// endpoint is not an `http://` URL (or `https://` with the `grpc-tls`
    /// feature), the CA certificate file cannot be read, a header is not
    /// valid gRPC metadata, or the runtime cannot start.
    pub fn new(config: OtlpConfig) -> Result<Self, ConfigError> {
        let url = &config.traces_endpoint;
        let fail = |reason: &dyn std::fmt::Display| {
            ConfigError::new(format!("cannot export to {url:?}: {reason}"))
        };
        if config.protocol != OtlpProtocol::Grpc {
            return Err(ConfigError::new(format!(
                "OtlpGrpcExporter needs OtlpProtocol::Grpc, not {:?} (use OtlpHttpExporter)",
                config.protocol
            )));
        }
        let tls = if url.starts_with("https://") {
            true
        } else if url.starts_with("http://") {
            false
        } else {
            return Err(fail(&"not an http:// or https:// URL (expected http://host:port)"));
        };
        // The call's deadline is applied once, around the whole call, in
        // `export`; connecting happens in the channel's background task,
        // which this bounds so that a dead address fails and is retried
        // rather than holding every later call.
        let mut endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| fail(&e))?
            .connect_timeout(config.timeout)
            .user_agent(concat!("trace-runtime/", env!("CARGO_PKG_VERSION")))
            .map_err(|e| ConfigError::new(format!("the gRPC user agent: {e}")))?;
        if tls {
            endpoint = with_tls(endpoint, &config).map_err(|e| fail(&e))?;
        } else if config.tls != TlsFiles::default() {
            return Err(fail(&"certificate files are given for a plain http:// endpoint"));
        }
        if let Some(proxy) = &config.proxy {
            return Err(fail(&format_args!(
                "OTLP/gRPC connects directly; it cannot go through the proxy {proxy:?}"
            )));
        }
        let metadata = metadata(&config.headers)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ConfigError::new(format!("cannot start the gRPC runtime: {e}")))?;
        // The channel's background task lives on this runtime.
        let channel = {
            let _entered = runtime.enter();
            endpoint.connect_lazy()
        };
        let mut client = TraceServiceClient::new(channel);
        if config.compression == Compression::Gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        Ok(Self { runtime, client, metadata, config, rejected: AtomicU64::new(0) })
    }

    /// An exporter configured by the standard environment variables
    /// ([`OtlpConfig::from_env`]), the protocol being `grpc` whatever
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` says.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable for a setting that cannot be
    /// honoured, or as [`new`](Self::new).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(process_env)
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::new(OtlpConfig::from_lookup(|name| match name {
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" => Some("grpc".to_owned()),
            _ => lookup(name),
        })?)
    }

    /// The configuration in use.
    pub fn config(&self) -> &OtlpConfig {
        &self.config
    }

    fn request(&self, batch: &[SpanData]) -> tonic::Request<ExportTraceServiceRequest> {
        let message = request(batch, &self.config.resource_attributes);
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = self.metadata.clone();
        request
    }
}

impl SpanExporter for OtlpGrpcExporter {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        let request = self.request(batch);
        // A clone shares the channel (`export` takes `&mut self`).
        let mut client = self.client.clone();
        let timeout = self.config.timeout;
        let url = &self.config.traces_endpoint;
        // The one deadline: it covers waiting for the connection too, which
        // a per-request timeout of the channel would not.
        let outcome = self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, client.export(request)).await });
        let response = match outcome {
            Ok(Ok(response)) => response.into_inner(),
            Ok(Err(status)) => return Err(classify(url, &status)),
            Err(_) => {
                return Err(ExportError::retryable(format!(
                    "gRPC export to {url}: no answer within {} ms",
                    timeout.as_millis()
                )));
            }
        };
        if let Some(partial) = response.partial_success {
            let rejected = u64::try_from(partial.rejected_spans).unwrap_or(0);
            if rejected > 0 {
                super::http::report_rejected(
                    &self.rejected,
                    rejected,
                    &partial.error_message,
                    batch,
                );
            }
        }
        Ok(())
    }

    fn take_rejected(&self) -> u64 {
        self.rejected.swap(0, Ordering::Relaxed)
    }
}

/// Turns a failed call's status into an [`ExportError`] with the OTLP
/// specification's retry rules for gRPC.
fn classify(url: &str, status: &tonic::Status) -> ExportError {
    let code = status.code();
    let message = format!("gRPC export to {url}: {code:?}: {}", status.message());
    let retry_after = || status.get_details_retry_info().and_then(|info| info.retry_delay);
    match code {
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::DataLoss
        | Code::Cancelled => {
            let error = ExportError::retryable(message);
            match retry_after() {
                Some(wait) => error.with_retry_after(wait),
                None => error,
            }
        }
        // Throttling: only a receiver that says when to come back is retried.
        Code::ResourceExhausted => match retry_after() {
            Some(wait) => ExportError::retryable(message).with_retry_after(wait),
            None => ExportError::permanent(message),
        },
        _ => ExportError::permanent(message),
    }
}

/// TLS trusting the configured CA, else Mozilla's root certificates (as
/// the HTTP exporter does), with the client certificate for mTLS if set.
/// The files are read and checked as the HTTP exporter's are (`export::pem`).
#[cfg(feature = "grpc-tls")]
fn with_tls(endpoint: Endpoint, config: &OtlpConfig) -> Result<Endpoint, ConfigError> {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let files = &config.tls;
    let mut tls = match &files.ca_certificate {
        Some(path) => {
            let roots = pem::read_certificates(path, "CA certificate")?;
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(roots.pem))
        }
        None => ClientTlsConfig::new().with_webpki_roots(),
    };
    if let Some(identity) = pem::client_identity(files)? {
        tls = tls.identity(Identity::from_pem(identity.certificates.pem, identity.key_pem));
    }
    endpoint.tls_config(tls).map_err(|e| ConfigError::new(format!("TLS: {e}")))
}

/// Without the `grpc-tls` feature, https:// is refused.
#[cfg(not(feature = "grpc-tls"))]
fn with_tls(_: Endpoint, _: &OtlpConfig) -> Result<Endpoint, ConfigError> {
    Err(ConfigError::new(
        "https needs the `grpc-tls` feature of trace-runtime, which this build lacks",
    ))
}

/// `OTEL_EXPORTER_OTLP_HEADERS` as gRPC metadata: lower-case ASCII keys;
/// binary (`-bin`) keys are refused.
fn metadata(headers: &[(String, String)]) -> Result<MetadataMap, ConfigError> {
    let mut map = MetadataMap::new();
    for (name, value) in headers {
        let bad = || ConfigError::new(format!("the header {name:?} is not valid gRPC metadata"));
        let lower = name.to_ascii_lowercase();
        if lower.ends_with("-bin") {
            return Err(bad());
        }
        let key = MetadataKey::from_bytes(lower.as_bytes()).map_err(|_| bad())?;
        let value = MetadataValue::try_from(value.as_str()).map_err(|_| bad())?;
        map.insert(key, value);
    }
    Ok(map)
}

/// Spans as the official OTLP request: one `ResourceSpans` per service (with `service.name` and the extra
/// resource attributes), in order of first appearance, each with one scope.
fn request(spans: &[SpanData], resource: &[(String, String)]) -> ExportTraceServiceRequest {
    let resource_spans = crate::export::by_service(spans)
        .into_iter()
        .map(|(service, spans)| {
            let spans = spans.into_iter().map(span_message).collect();
            let mut attributes = vec![string_attribute("service.name", service)];
            attributes.extend(resource.iter().map(|(key, value)| string_attribute(key, value)));
            ResourceSpans {
                resource: Some(Resource { attributes, ..Resource::default() }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: SCOPE_NAME.to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..InstrumentationScope::default()
                    }),
                    spans,
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

fn span_message(span: &SpanData) -> Span {
    Span {
        trace_id: span.trace_id.to_bytes().to_vec(),
        span_id: span.span_id.to_bytes().to_vec(),
        parent_span_id: span.parent_id.map(|p| p.to_bytes().to_vec()).unwrap_or_default(),
        name: span.name.to_string(),
        kind: i32::from(kind_number(span.kind)),
        start_time_unix_nano: span.start_unix_nanos,
        end_time_unix_nano: span.end_unix_nanos(),
        attributes: attributes(&span.tags),
        events: span
            .events
            .iter()
            .map(|event| Event {
                time_unix_nano: event.time_unix_nanos,
                name: event.name.to_string(),
                attributes: attributes(&event.tags),
                ..Event::default()
            })
            .collect(),
        links: span.links.iter().map(link).collect(),
        status: Some(match &span.status {
            Status::Unset => SpanStatus { message: String::new(), code: 0 },
            Status::Ok => SpanStatus { message: String::new(), code: 1 },
            Status::Error(message) => SpanStatus { message: message.to_string(), code: 2 },
        }),
        ..Span::default()
    }
}

fn link(link: &Link) -> SpanLink {
    let context = &link.span_context;
    SpanLink {
        trace_id: context.trace_id.to_bytes().to_vec(),
        span_id: context.span_id.to_bytes().to_vec(),
        attributes: attributes(&link.tags),
        // W3C flags, plus "is remote is known" (0x100) and "is remote" (0x200).
        flags: u32::from(context.flags.bits()) | 0x100 | if context.remote { 0x200 } else { 0 },
        ..SpanLink::default()
    }
}

fn attributes(tags: &[Tag]) -> Vec<KeyValue> {
    tags.iter()
        .map(|(key, value)| KeyValue {
            key: key.to_string(),
            value: Some(AnyValue {
                value: Some(match value {
                    Value::Str(s) => any_value::Value::StringValue(s.to_string()),
                    Value::I64(v) => any_value::Value::IntValue(*v),
                    Value::F64(v) => any_value::Value::DoubleValue(*v),
                    Value::Bool(v) => any_value::Value::BoolValue(*v),
                }),
            }),
            ..KeyValue::default()
        })
        .collect()
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) }),
        ..KeyValue::default()
    }
}
