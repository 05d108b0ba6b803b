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
mod processor;
mod span_batch;
mod tree_text;
mod zipkin;

#[cfg(test)]
mod test_support;

pub use batch::{BatchSpanProcessor, BatchStats};
pub use chrome::{ChromeTraceExporter, encode_chrome_trace};
pub use config::{BatchConfig, RetryPolicy};
pub use console::ConsoleExporter;
pub use env::{service_name_from_env, service_name_from_lookup};
pub use exporter::{ExportError, SpanExporter};
pub use http::ConfigError;
pub use jsonl::JsonLinesExporter;
pub use memory::InMemoryCollector;
#[cfg(feature = "protobuf")]
pub use otlp::encode_otlp_protobuf;
pub use otlp::{OtlpConfig, OtlpHttpExporter, OtlpProtocol, encode_otlp_json};
pub use processor::{SimpleSpanProcessor, SpanProcessor};
pub use span_batch::SpanBatch;
pub use zipkin::{ZipkinExporter, encode_zipkin_json};
