//! Where finished spans go.

mod assemble;
mod batch;
mod chrome;
mod config;
mod console;
mod env;
mod exporter;
mod http;
mod jsonl;
mod memory;
mod otlp;
mod pem;
mod processor;
mod span_batch;
mod tree_text;
mod zipkin;

#[cfg(all(test, any(feature = "tls", feature = "grpc-tls")))]
mod test_pki;
#[cfg(test)]
mod test_support;
#[cfg(all(test, feature = "tls"))]
mod tls_test;

pub use batch::{BatchSpanProcessor, BatchStats};
pub use chrome::{ChromeTraceExporter, encode_chrome_trace};
pub use config::{BatchConfig, RetryPolicy};
pub use console::ConsoleExporter;
pub use env::{service_name_from_env, service_name_from_lookup};
pub use exporter::{ExportError, SpanExporter};
pub use http::{Compression, ConfigError, TlsFiles};
pub use jsonl::{JsonLinesExporter, write_jsonl_line};
pub use memory::InMemoryCollector;
#[cfg(feature = "grpc")]
pub use otlp::OtlpGrpcExporter;
#[cfg(feature = "protobuf")]
pub use otlp::encode_otlp_protobuf;
pub(crate) use otlp::exporter_from_lookup as otlp_exporter_from_lookup;
pub use otlp::{OtlpConfig, OtlpHttpExporter, OtlpProtocol, encode_otlp_json};
pub use processor::{SimpleSpanProcessor, SpanProcessor};
pub use span_batch::SpanBatch;
pub use zipkin::{ZipkinBuilder, ZipkinExporter, encode_zipkin_json};

/// How the exporters' messages on stderr start: `trace-runtime [service]`,
/// or `trace-runtime` before any span told the service, so that a process
/// with several tracers says whose export failed.
pub(crate) struct Who<'a>(pub(crate) Option<&'a str>);

impl std::fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(service) => write!(f, "trace-runtime [{service}]"),
            None => f.write_str("trace-runtime"),
        }
    }
}
