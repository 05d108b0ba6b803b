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

use crate::export::{BatchConfig, BatchSpanProcessor};

/// The instrumentation scope named in every payload.
const SCOPE_NAME: &str = "trace-runtime";

/// The OTLP exporter the environment asks for (`OTEL_EXPORTER_OTLP_*`),
/// behind a batch processor; `None`, after a message on stderr, when the
/// protocol asked for cannot be sent by this build: spans then go nowhere
/// rather than to a receiver the user did not name.
pub(crate) fn batch_processor_from_lookup(
    lookup: &dyn Fn(&str) -> Option<String>,
    batch: BatchConfig,
) -> Option<BatchSpanProcessor> {
    let config = OtlpConfig::from_lookup(lookup);
    if config.protocol != OtlpProtocol::Grpc {
        // `from_lookup` keeps only values that `new` accepts.
        let exporter = OtlpHttpExporter::new(config)
            .or_else(|_| OtlpHttpExporter::new(OtlpConfig::default()))
            .expect("the default OTLP configuration is valid");
        return Some(BatchSpanProcessor::with_config(exporter, batch));
    }
    #[cfg(feature = "grpc")]
    match OtlpGrpcExporter::new(config) {
        Ok(exporter) => Some(BatchSpanProcessor::with_config(exporter, batch)),
        Err(error) => {
            eprintln!("trace-runtime: no OTLP export: {error}");
            None
        }
    }
    // `OtlpConfig::from_lookup` said why, naming the variable and the feature.
    #[cfg(not(feature = "grpc"))]
    None
}
