//! The OTLP/HTTP exporter: posts each batch to a collector's `/v1/traces`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value as Json;

use crate::export::env::process_env;
use crate::export::http::{ConfigError, HttpClient};
use crate::export::otlp::{OtlpConfig, OtlpProtocol, json};
use crate::export::{ExportError, SpanExporter, Who};
use crate::span::SpanData;

/// Posts batches to an OpenTelemetry collector (or Jaeger, Tempo, any OTLP
/// receiver) as OTLP/HTTP, JSON by default (see [`OtlpProtocol`]).
///
/// It blocks on the network, so put it behind a
/// [`BatchSpanProcessor`](crate::export::BatchSpanProcessor), which sends from a background
/// thread and retries. `https://` endpoints need the feature `tls` (on by
/// default); see [`OtlpConfig`] for gzip, certificates and proxies.
///
/// ```
/// use trace_runtime::Tracer;
/// use trace_runtime::export::{BatchSpanProcessor, OtlpHttpExporter};
///
/// // OTEL_EXPORTER_OTLP_ENDPOINT etc., defaulting to http://localhost:4318.
/// let otlp = BatchSpanProcessor::from_env(OtlpHttpExporter::from_env()?);
/// let tracer = Tracer::builder("checkout").span_processor(otlp).build();
/// // ... at the end of main:
/// tracer.shutdown();
/// # Ok::<(), trace_runtime::export::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct OtlpHttpExporter {
    /// One connection pool for every batch (keep-alive).
    client: HttpClient,
    config: OtlpConfig,
    /// Spans the receiver rejected since the batch processor last asked.
    rejected: AtomicU64,
}

impl OtlpHttpExporter {
    /// An exporter for this configuration.
    ///
    /// # Errors
    /// [`ConfigError`] for an endpoint that is not an `http://` or
    /// `https://` URL (`https` needs the feature `tls`, on by default), a
    /// header that is not a valid HTTP header, a certificate or key file
    /// that cannot be read or parsed, a proxy URL that cannot be used, or
    /// the protocol [`OtlpProtocol::Grpc`] (an
    /// [`OtlpGrpcExporter`](crate::export::OtlpGrpcExporter) sends that,
    /// with the `grpc` feature).
    pub fn new(config: OtlpConfig) -> Result<Self, ConfigError> {
        if config.protocol == OtlpProtocol::Grpc {
            return Err(ConfigError::new(grpc_refusal()));
        }
        let client = HttpClient::new(&config.traces_endpoint, &config.http_settings())?;
        Ok(Self { client, config, rejected: AtomicU64::new(0) })
    }

    /// An exporter configured by the standard environment variables
    /// ([`OtlpConfig::from_env`]).
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable whose setting cannot be honoured.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(process_env)
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::new(OtlpConfig::from_lookup(lookup)?)
    }

    /// The configuration in use.
    pub fn config(&self) -> &OtlpConfig {
        &self.config
    }
}

impl SpanExporter for OtlpHttpExporter {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        let resource = &self.config.resource_attributes;
        let (content_type, body) = match self.config.protocol {
            OtlpProtocol::HttpJson => {
                ("application/json", json::encode(batch, resource).into_bytes())
            }
            #[cfg(feature = "protobuf")]
            OtlpProtocol::HttpProtobuf => {
                ("application/x-protobuf", super::proto::encode(batch, resource))
            }
            // `new` refuses it.
            OtlpProtocol::Grpc => return Err(ExportError::permanent(grpc_refusal())),
        };
        let response = self.client.send(content_type, &body)?;
        let partial = match self.config.protocol {
            #[cfg(feature = "protobuf")]
            OtlpProtocol::HttpProtobuf => super::proto::partial_success(&response.body),
            _ => partial_success(&response.body),
        };
        if let Some((rejected, message)) = partial {
            report_rejected(&self.rejected, rejected, &message, batch);
        }
        Ok(())
    }

    fn take_rejected(&self) -> u64 {
        self.rejected.swap(0, Ordering::Relaxed)
    }
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
/// (the batch processor reads them as dropped) and said on stderr, with
/// the service's name.
pub(super) fn report_rejected(
    counter: &AtomicU64,
    rejected: u64,
    message: &str,
    batch: &[SpanData],
) {
    counter.fetch_add(rejected, Ordering::Relaxed);
    let who = Who(batch.first().map(|span| &*span.service));
    eprintln!("{who}: the OTLP receiver rejected {rejected} spans: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::test_support::{Reply, TestServer, closed_port, sample_trace};
    use crate::export::{
        BatchConfig, BatchSpanProcessor, RetryPolicy, SpanProcessor, encode_otlp_json,
    };
    use std::time::Duration;

    #[test]
    fn new_refuses_unusable_urls_and_bad_headers() {
        assert!(OtlpHttpExporter::new(OtlpConfig::with_endpoint("grpc://collector:4317")).is_err());
        let mut config = OtlpConfig::default();
        config.headers.push(("bad header".into(), "1".into()));
        assert!(OtlpHttpExporter::new(config).is_err());
        let missing = OtlpConfig::default().with_ca_certificate_pem("/no/such/ca.pem");
        let error = OtlpHttpExporter::new(missing).unwrap_err().to_string();
        // Without TLS, any certificate file is refused naming the feature.
        let expected = if cfg!(feature = "tls") { "/no/such/ca.pem" } else { "`tls` feature" };
        assert!(error.contains(expected), "{error}");
    }

    #[test]
    fn posts_json_to_v1_traces() {
        let server = TestServer::start(vec![]);
        let mut config = OtlpConfig::with_endpoint(&server.url());
        config.headers.push(("x-api-key".into(), "secret".into()));
        let exporter = OtlpHttpExporter::new(config).unwrap();
        exporter.export(&sample_trace()).unwrap();
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
    fn rejected_spans_of_a_partial_success_are_counted_as_dropped() {
        let server = TestServer::start(vec![Reply::Json(
            r#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"too old"}}"#,
        )]);
        let otlp = OtlpHttpExporter::new(OtlpConfig::with_endpoint(&server.url())).unwrap();
        let exporter = BatchSpanProcessor::with_config(otlp, fast_batches());
        exporter.on_end(sample_trace().into());
        assert!(exporter.flush_with_timeout(Duration::from_secs(10)));
        let stats = exporter.stats();
        assert_eq!((stats.exported, stats.dropped, stats.failed_spans), (1, 2, 0));
    }

    #[test]
    fn batch_exporter_retries_503_and_429_then_delivers() {
        let server = TestServer::start(vec![
            Reply::Status(503, vec![]),
            Reply::Status(429, vec![("Retry-After", "0")]),
        ]);
        let otlp = OtlpHttpExporter::new(OtlpConfig::with_endpoint(&server.url())).unwrap();
        let exporter = BatchSpanProcessor::with_config(otlp, fast_batches());
        exporter.on_end(sample_trace().into());
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
        let exporter = BatchSpanProcessor::with_config(otlp, config);
        let started = std::time::Instant::now();
        for _ in 0..1000 {
            exporter.on_end(sample_trace().into());
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
