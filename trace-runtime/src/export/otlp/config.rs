//! Where and how the OTLP exporter sends: [`OtlpConfig`], from code or from
//! the `OTEL_EXPORTER_OTLP_*` environment variables.

use std::time::Duration;

use crate::export::env::{EnvReader, process_env, resource_attributes};
use crate::export::http::{self, Endpoint};

const DEFAULT_BASE: &str = "http://localhost:4318";

/// Where and how an [`OtlpHttpExporter`] sends.
///
/// ```
/// use trace_runtime::export::OtlpConfig;
///
/// let config = OtlpConfig::with_endpoint("http://collector:4318/");
/// assert_eq!(config.traces_endpoint, "http://collector:4318/v1/traces");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtlpConfig {
    /// The full URL posted to (default `http://localhost:4318/v1/traces`).
    pub traces_endpoint: String,
    /// Extra request headers, such as an API key.
    pub headers: Vec<(String, String)>,
    /// Longest one request may take, connecting included (default 10 s).
    pub timeout: Duration,
    /// Resource attributes added beside `service.name` (from
    /// `OTEL_RESOURCE_ATTRIBUTES`).
    pub resource_attributes: Vec<(String, String)>,
    /// The encoding (default JSON; `OTEL_EXPORTER_OTLP_PROTOCOL`).
    pub protocol: OtlpProtocol,
}

/// How OTLP requests are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// `http/json`: readable, accepted by every OTLP/HTTP receiver.
    #[default]
    HttpJson,
    /// `http/protobuf` (feature `protobuf`): smaller and cheaper to decode.
    #[cfg(feature = "protobuf")]
    HttpProtobuf,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self::with_endpoint(DEFAULT_BASE)
    }
}

impl OtlpConfig {
    /// Sends to `/v1/traces` under a base URL such as `http://localhost:4318`.
    pub fn with_endpoint(base: &str) -> Self {
        Self {
            traces_endpoint: format!("{}/v1/traces", base.trim_end_matches('/')),
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            resource_attributes: Vec::new(),
            protocol: OtlpProtocol::HttpJson,
        }
    }

    /// The defaults, overridden by the standard environment variables.
    pub fn from_env() -> Self {
        Self::from_lookup(process_env)
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`:
    ///
    /// - `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, used as it is, else
    ///   `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/traces` appended;
    /// - `OTEL_EXPORTER_OTLP_HEADERS`, then `OTEL_EXPORTER_OTLP_TRACES_HEADERS`
    ///   (`key=value,…`, percent-encoded; the second wins for a repeated key);
    /// - `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT`
    ///   (milliseconds);
    /// - `OTEL_RESOURCE_ATTRIBUTES` (`service.name` there is left to the tracer).
    ///
    /// - `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`:
    ///   `http/json` (the default here), or `http/protobuf` with the
    ///   `protobuf` feature.
    ///
    /// Malformed values are ignored with a message on stderr, as is a
    /// protocol this build does not speak (`grpc`, or `http/protobuf`
    /// without the feature).
    ///
    /// ```
    /// use std::time::Duration;
    /// use trace_runtime::export::OtlpConfig;
    ///
    /// let config = OtlpConfig::from_lookup(|name| match name {
    ///     "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://otel:4318".into()),
    ///     "OTEL_EXPORTER_OTLP_HEADERS" => Some("api-key=s%3Dcret".into()),
    ///     "OTEL_EXPORTER_OTLP_TIMEOUT" => Some("2500".into()),
    ///     _ => None,
    /// });
    /// assert_eq!(config.traces_endpoint, "http://otel:4318/v1/traces");
    /// assert_eq!(config.headers, [("api-key".to_owned(), "s=cret".to_owned())]);
    /// assert_eq!(config.timeout, Duration::from_millis(2500));
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        EnvReader::read_with(&lookup, Self::read)
    }

    fn read(env: &mut EnvReader<'_>) -> Self {
        let mut config = Self::default();
        let endpoint = env
            .string("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .map(|url| ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url))
            .or_else(|| {
                let base = env.string("OTEL_EXPORTER_OTLP_ENDPOINT")?;
                let url = Self::with_endpoint(&base).traces_endpoint;
                Some(("OTEL_EXPORTER_OTLP_ENDPOINT", url))
            });
        if let Some((name, url)) = endpoint {
            match Endpoint::parse(&url) {
                Ok(_) => config.traces_endpoint = url,
                Err(error) => env.warnings.push(format!(
                    "trace-runtime: ignoring {name}: {error}; sending to {}",
                    config.traces_endpoint
                )),
            }
        }
        for name in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"] {
            for (key, value) in env.key_values(name) {
                let pair = [(key, value)];
                if let Err(error) = http::check_headers(&pair) {
                    env.warnings
                        .push(format!("trace-runtime: ignoring a header in {name}: {error}"));
                    continue;
                }
                let [(key, value)] = pair;
                config.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
                config.headers.push((key, value));
            }
        }
        let timeout = env
            .millis("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
            .or_else(|| env.millis("OTEL_EXPORTER_OTLP_TIMEOUT"));
        if let Some(timeout) = timeout {
            config.timeout = timeout;
        }
        let protocol =
            env.first(&["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]);
        match protocol.as_ref().map(|(name, p)| (name.as_str(), p.as_str())) {
            None | Some((_, "http/json")) => {}
            #[cfg(feature = "protobuf")]
            Some((_, "http/protobuf")) => config.protocol = OtlpProtocol::HttpProtobuf,
            Some((name, other)) => env.warnings.push(format!(
                "trace-runtime: {name}={other:?} is not supported; sending OTLP http/json"
            )),
        }
        config.resource_attributes = resource_attributes(env);
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::OtlpHttpExporter;
    use crate::export::env::tests::vars;

    #[test]
    fn endpoint_variables_follow_the_specification() {
        let base = OtlpConfig::from_lookup(vars(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://otel:4318/base/",
        )]));
        assert_eq!(base.traces_endpoint, "http://otel:4318/base/v1/traces");
        let exact = OtlpConfig::from_lookup(vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://tempo:4318/custom"),
        ]));
        assert_eq!(exact.traces_endpoint, "http://tempo:4318/custom");
        assert_eq!(OtlpConfig::from_lookup(vars(&[])), OtlpConfig::default());
        assert_eq!(OtlpConfig::default().traces_endpoint, "http://localhost:4318/v1/traces");
    }

    #[test]
    fn header_timeout_and_resource_variables_are_read() {
        let config = OtlpConfig::from_lookup(vars(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=one,x-team=a%2Cb"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "API-KEY=two"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1500"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=x,host.name=h1"),
        ]));
        assert_eq!(
            config.headers,
            [("x-team".to_owned(), "a,b".to_owned()), ("API-KEY".to_owned(), "two".to_owned())]
        );
        assert_eq!(config.timeout, Duration::from_millis(700));
        assert_eq!(config.resource_attributes, [("host.name".to_owned(), "h1".to_owned())]);
    }

    #[test]
    fn malformed_variables_are_ignored_with_warnings() {
        let lookup = vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://secure:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x=%0D%0AEvil: 1,ok=1"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]);
        let mut env = EnvReader::new(&lookup);
        let config = OtlpConfig::read(&mut env);
        assert_eq!(config.traces_endpoint, OtlpConfig::default().traces_endpoint);
        assert_eq!(config.headers, [("ok".to_owned(), "1".to_owned())]);
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert_eq!(env.warnings.len(), 4, "{:#?}", env.warnings);
        assert!(OtlpHttpExporter::new(config).is_ok());
    }
}
