//! OTLP, OpenTelemetry's own protocol: [`OtlpConfig`] (`config`), the JSON
//! (`json`) and protobuf (`proto`, feature `protobuf`) encodings of a batch,
//! the exporter that posts them over HTTP (`http`), and the one that sends
//! the official messages over gRPC (`grpc`, feature `grpc`).

mod config;
#[cfg(feature = "grpc")]
mod grpc;
mod http;
mod json;
#[cfg(feature = "protobuf")]
mod proto;
#[cfg(test)]
mod schema_test;

pub use config::{OtlpConfig, OtlpProtocol};
#[cfg(feature = "grpc")]
pub use grpc::OtlpGrpcExporter;
pub use http::OtlpHttpExporter;
pub use json::encode_otlp_json;
#[cfg(feature = "protobuf")]
pub use proto::encode_otlp_protobuf;

use crate::export::{ConfigError, SpanExporter};
use crate::span::SpanData;

/// The instrumentation scope named in every payload.
const SCOPE_NAME: &str = "trace-runtime";

/// The spans of each service, services in the order they first appear:
/// every OTLP encoding sends one `ResourceSpans` per service.
fn by_service(spans: &[SpanData]) -> Vec<(&str, Vec<&SpanData>)> {
    let mut services: Vec<(&str, Vec<&SpanData>)> = Vec::new();
    for span in spans {
        match services.iter_mut().find(|(name, _)| *name == &*span.service) {
            Some((_, list)) => list.push(span),
            None => services.push((&span.service, vec![span])),
        }
    }
    services
}

/// The OTLP exporter the environment asks for (`OTEL_EXPORTER_OTLP_*`):
/// HTTP, or gRPC with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`.
///
/// # Errors
/// [`ConfigError`] naming the variable when the configuration cannot be
/// honoured (for example `grpc` without the `grpc` feature): then nothing
/// is exported, rather than sent somewhere the user did not name.
pub(crate) fn exporter_from_lookup(
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Box<dyn SpanExporter>, ConfigError> {
    let config = OtlpConfig::from_lookup(lookup)?;
    #[cfg(feature = "grpc")]
    if config.protocol == OtlpProtocol::Grpc {
        return Ok(Box::new(OtlpGrpcExporter::new(config)?));
    }
    Ok(Box::new(OtlpHttpExporter::new(config)?))
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
            .map(|(service, spans)| (service, spans.iter().map(|span| &*span.name).collect()))
            .collect();
        assert_eq!(groups, [("db", vec!["a", "c"]), ("shop", vec!["b"]), ("cache", vec!["d"])]);
        assert!(by_service(&[]).is_empty());
    }
}
