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
