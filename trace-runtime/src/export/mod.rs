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

use std::sync::Arc;

use crate::span::SpanData;

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

/// The spans of each service, services in the order they first appear:
/// every OTLP encoding sends one `ResourceSpans` per service, and the
/// Chrome trace one process per service.
pub(crate) fn by_service(spans: &[SpanData]) -> Vec<(&Arc<str>, Vec<&SpanData>)> {
    let mut services: Vec<(&Arc<str>, Vec<&SpanData>)> = Vec::new();
    for span in spans {
        match services.iter_mut().find(|(name, _)| **name == span.service) {
            Some((_, list)) => list.push(span),
            None => services.push((&span.service, vec![span])),
        }
    }
    services
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::export::test_support::sample_span;

    #[test]
    fn spans_are_grouped_by_service_in_order_of_first_appearance() {
        let spans: Vec<SpanData> = [("a", "db"), ("b", "shop"), ("c", "db"), ("d", "cache")]
            .into_iter()
            .map(|(name, service)| SpanData { service: Arc::from(service), ..sample_span(name) })
            .collect();
        let groups: Vec<(&str, Vec<&str>)> = by_service(&spans)
            .into_iter()
            .map(|(service, spans)| (&**service, spans.iter().map(|span| &*span.name).collect()))
            .collect();
        assert_eq!(groups, [("db", vec!["a", "c"]), ("shop", vec!["b"]), ("cache", vec!["d"])]);
        assert!(by_service(&[]).is_empty());
    }
}
