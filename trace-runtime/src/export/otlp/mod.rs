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

/// The instrumentation scope named in every payload.
const SCOPE_NAME: &str = "trace-runtime";

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
