//! OTLP, OpenTelemetry's own protocol: [`OtlpConfig`] (`config`), the JSON
//! (`json`) and protobuf (`proto`, feature `protobuf`) encodings of a batch,
//! and the exporter that posts them over HTTP (`http`).

mod config;
mod http;
mod json;
#[cfg(feature = "protobuf")]
mod proto;
#[cfg(test)]
mod schema_test;

pub use config::{OtlpConfig, OtlpProtocol};
pub use http::OtlpHttpExporter;
pub use json::encode_otlp_json;
#[cfg(feature = "protobuf")]
pub use proto::encode_otlp_protobuf;

/// The instrumentation scope named in every payload.
const SCOPE_NAME: &str = "trace-runtime";
