//! The OTLP/HTTP exporter: posts each batch to a collector's `/v1/traces`.

use serde_json::Value as Json;

use crate::export::env::process_env;
use crate::export::http::{self, ConfigError, Endpoint};
use crate::export::otlp::{OtlpConfig, OtlpProtocol, json};
use crate::export::{ExportError, SpanExporter};
use crate::span::SpanData;

/// Posts batches to an OpenTelemetry collector (or Jaeger, Tempo, any OTLP
/// receiver) as OTLP/HTTP, JSON by default (see [`OtlpProtocol`]).
///
/// It blocks on the network, so put it behind a
/// [`BatchSpanProcessor`](super::BatchSpanProcessor), which sends from a background
/// thread and retries. Only `http://` endpoints are supported (no TLS).
///
/// ```
/// use trace_runtime::Tracer;
/// use trace_runtime::export::{BatchSpanProcessor, OtlpHttpExporter};
///
/// // OTEL_EXPORTER_OTLP_ENDPOINT etc., defaulting to http://localhost:4318.
/// let otlp = BatchSpanProcessor::from_env(OtlpHttpExporter::from_env());
/// let tracer = Tracer::builder("checkout").span_processor(otlp).build();
/// // ... at the end of main:
/// tracer.shutdown();
/// ```
#[derive(Debug)]
pub struct OtlpHttpExporter {
    endpoint: Endpoint,
    config: OtlpConfig,
}

impl OtlpHttpExporter {
    /// An exporter for this configuration.
    ///
    /// # Errors
    /// [`ConfigError`] for an endpoint that is not an `http://` URL, or a
    /// header that is not a valid HTTP header.
    pub fn new(config: OtlpConfig) -> Result<Self, ConfigError> {
        let endpoint = Endpoint::parse(&config.traces_endpoint)?;
        http::check_headers(&config.headers)?;
        Ok(Self { endpoint, config })
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
        };
        let response = http::send(
            &self.endpoint,
            content_type,
            &self.config.headers,
            &body,
            self.config.timeout,
        )?;
        if self.config.protocol == OtlpProtocol::HttpJson {
            report_partial_success(&response.body);
        }
        Ok(())
    }
}

/// A receiver may accept a request yet reject some spans; say so on stderr.
fn report_partial_success(body: &[u8]) {
    let Ok(reply) = serde_json::from_slice::<Json>(body) else {
        return;
    };
    let partial = &reply["partialSuccess"];
    let rejected = match &partial["rejectedSpans"] {
        Json::String(s) => s.parse().unwrap_or(0),
        other => other.as_u64().unwrap_or(0),
    };
    if rejected > 0 {
        let message = partial["errorMessage"].as_str().unwrap_or_default();
        eprintln!("trace-runtime: the OTLP receiver rejected {rejected} spans: {message}");
    }
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
