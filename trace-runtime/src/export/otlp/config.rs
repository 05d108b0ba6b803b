//! Where and how the OTLP exporter sends: [`OtlpConfig`], from code or from
//! the `OTEL_EXPORTER_OTLP_*` environment variables.

use std::time::Duration;

use crate::export::env::{EnvReader, process_env, resource_attributes};
use crate::export::http::{self, Compression, ConfigError, Endpoint, HttpSettings, TlsFiles};
use crate::export::pem;

const DEFAULT_BASE: &str = "http://localhost:4318";
/// Where OTLP/gRPC goes by default.
const DEFAULT_GRPC: &str = "http://localhost:4317";

/// Where and how an [`OtlpHttpExporter`](super::OtlpHttpExporter) or
/// [`OtlpGrpcExporter`](crate::export::OtlpGrpcExporter) sends.
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
    /// Request body compression (default none; `OTEL_EXPORTER_OTLP_COMPRESSION`).
    pub compression: Compression,
    /// A custom CA and a client certificate for `https://` endpoints
    /// (`OTEL_EXPORTER_OTLP_CERTIFICATE`, `_CLIENT_CERTIFICATE`, `_CLIENT_KEY`).
    pub tls: TlsFiles,
    /// The proxy requests go through, such as `http://proxy:3128`; `None`
    /// connects directly. [`from_env`](Self::from_env) takes it from
    /// `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` unless `NO_PROXY` names the host.
    pub proxy: Option<String>,
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
    /// `grpc`: the `TraceService/Export` call, sent by an
    /// [`OtlpGrpcExporter`](crate::export::OtlpGrpcExporter) (feature
    /// `grpc`). Without the feature, a configuration asking for it is refused.
    Grpc,
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
            compression: Compression::None,
            tls: TlsFiles::default(),
            proxy: None,
        }
    }

    /// OTLP/gRPC to a receiver such as `http://localhost:4317`, the URL
    /// used as it is (gRPC has a fixed path).
    ///
    /// ```
    /// use trace_runtime::export::{OtlpConfig, OtlpProtocol};
    ///
    /// let config = OtlpConfig::grpc("http://collector:4317");
    /// assert_eq!(config.traces_endpoint, "http://collector:4317");
    /// assert_eq!(config.protocol, OtlpProtocol::Grpc);
    /// ```
    pub fn grpc(url: &str) -> Self {
        Self {
            traces_endpoint: url.to_owned(),
            protocol: OtlpProtocol::Grpc,
            ..Self::with_endpoint(DEFAULT_BASE)
        }
    }

    /// Compresses request bodies (gzip, with `Content-Encoding: gzip`).
    #[must_use]
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Trusts the CA certificates of this PEM file (instead of the built-in
    /// roots) for an `https://` endpoint; read when the exporter is built.
    #[must_use]
    pub fn with_ca_certificate_pem(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls.ca_certificate = Some(path.into());
        self
    }

    /// Presents this client certificate chain and private key (PEM files)
    /// when the server asks for one (mTLS).
    #[must_use]
    pub fn with_client_certificate(
        mut self,
        certificate: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.tls.client_certificate = Some(certificate.into());
        self.tls.client_key = Some(key.into());
        self
    }

    /// Sends through this proxy (`http://host:port`; CONNECT for `https://`).
    #[must_use]
    pub fn with_proxy(mut self, proxy: impl Into<String>) -> Self {
        self.proxy = Some(proxy.into());
        self
    }

    /// The defaults, overridden by the standard environment variables.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable, for an endpoint or protocol
    /// that cannot be used; see [`from_lookup`](Self::from_lookup).
    pub fn from_env() -> Result<Self, ConfigError> {
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
    ///   `http/json` (the default here), `http/protobuf` with the
    ///   `protobuf` feature, or `grpc` with the `grpc` feature (then the
    ///   endpoint defaults to `http://localhost:4317` and
    ///   `OTEL_EXPORTER_OTLP_ENDPOINT` is used as it is);
    /// - `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION`, else
    ///   `OTEL_EXPORTER_OTLP_COMPRESSION`: `gzip` or `none`;
    /// - `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`, else
    ///   `OTEL_EXPORTER_OTLP_CERTIFICATE`: a PEM file of the CA to trust;
    /// - `OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE` /
    ///   `OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY`, else the same without
    ///   `TRACES_`: the client certificate and key (PEM) for mTLS;
    /// - `HTTPS_PROXY` (for an `https://` endpoint) or `HTTP_PROXY`, else
    ///   `ALL_PROXY` (or the lower-case names), unless `NO_PROXY` covers the host.
    ///
    /// A malformed timeout or header entry is ignored with a message on
    /// stderr, the rest kept.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable for an endpoint this exporter
    /// cannot send to, a protocol this build does not speak (`grpc` or
    /// `http/protobuf` without its feature), a compression other than
    /// `gzip`/`none`, a certificate or key file that cannot be read or
    /// parsed (or a client certificate without its key, or with a key that
    /// is not its own), or a proxy URL that cannot be used: spans never go
    /// to a destination, or in a form, that was not asked for.
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
    /// })
    /// .unwrap();
    /// assert_eq!(config.traces_endpoint, "http://otel:4318/v1/traces");
    /// assert_eq!(config.headers, [("api-key".to_owned(), "s=cret".to_owned())]);
    /// assert_eq!(config.timeout, Duration::from_millis(2500));
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        EnvReader::read_or_refuse(&lookup, Self::read)
    }

    fn read(env: &mut EnvReader<'_>) -> Self {
        let mut config = Self::default();
        let protocol =
            env.first(&["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]);
        match protocol.as_ref().map(|(name, p)| (name.as_str(), p.as_str())) {
            None | Some((_, "http/json")) => {}
            #[cfg(feature = "protobuf")]
            Some((_, "http/protobuf")) => config.protocol = OtlpProtocol::HttpProtobuf,
            Some((_name, "grpc")) => {
                config = Self::grpc(DEFAULT_GRPC);
                #[cfg(not(feature = "grpc"))]
                env.refusals.push(format!(
                    "{_name}=\"grpc\": OTLP/gRPC needs the `grpc` feature of trace-runtime, which this build lacks"
                ));
            }
            Some((name, other)) => env.refusals.push(format!(
                "{name}={other:?}: this build speaks http/json{}{}",
                if cfg!(feature = "protobuf") {
                    ", http/protobuf"
                } else {
                    " (http/protobuf needs the `protobuf` feature)"
                },
                if cfg!(feature = "grpc") {
                    " and grpc"
                } else {
                    " (grpc needs the `grpc` feature)"
                }
            )),
        }
        let grpc = config.protocol == OtlpProtocol::Grpc;
        let endpoint = env
            .string("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .map(|url| ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url))
            .or_else(|| {
                let base = env.string("OTEL_EXPORTER_OTLP_ENDPOINT")?;
                // gRPC's path is fixed: the base is the whole URL.
                let url = if grpc { base } else { Self::with_endpoint(&base).traces_endpoint };
                Some(("OTEL_EXPORTER_OTLP_ENDPOINT", url))
            });
        if let Some((name, url)) = endpoint {
            // gRPC URLs are checked by the gRPC exporter (which may speak
            // TLS); an https:// one is kept, never swapped for the default.
            let checked = if grpc { Ok(()) } else { Endpoint::parse(&url).map(drop) };
            match checked {
                Ok(_) => config.traces_endpoint = url,
                Err(error) => env.refusals.push(format!("{name}={url:?}: {error}")),
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
        config.resource_attributes = resource_attributes(env);
        if let Some((name, value)) =
            env.first(&["OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"])
        {
            match value.parse() {
                Ok(compression) => config.compression = compression,
                Err(error) => config.refuse(env, &name, &error),
            }
        }
        let files = [
            ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE", false),
            (
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                false,
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY", true),
        ];
        let mut unreadable = false;
        for (traces, general, key) in files {
            let Some((name, path)) = env.first(&[traces, general]) else {
                continue;
            };
            let path = std::path::PathBuf::from(path);
            if let Err(error) = pem::check_file(&path, key) {
                config.refuse(env, &name, &error);
                unreadable = true;
            }
            let slot = match general {
                "OTEL_EXPORTER_OTLP_CERTIFICATE" => &mut config.tls.ca_certificate,
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE" => &mut config.tls.client_certificate,
                _ => &mut config.tls.client_key,
            };
            *slot = Some(path);
        }
        match (&config.tls.client_certificate, &config.tls.client_key) {
            (Some(_), None) => config.refuse(
                env,
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                &ConfigError::new("set, but OTEL_EXPORTER_OTLP_CLIENT_KEY is not"),
            ),
            (None, Some(_)) => config.refuse(
                env,
                "OTEL_EXPORTER_OTLP_CLIENT_KEY",
                &ConfigError::new("set, but OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE is not"),
            ),
            // Two readable files: the key must be the certificate's.
            (Some(_), Some(_)) if !unreadable => {
                if let Err(error) = pem::check_client_pair(&config.tls) {
                    config.refuse(env, "OTEL_EXPORTER_OTLP_CLIENT_KEY", &error);
                }
            }
            _ => {}
        }
        // tonic connects directly: the proxy variables are for OTLP/HTTP.
        if let Some(endpoint) = Endpoint::parse(&config.traces_endpoint).ok().filter(|_| !grpc) {
            if let Some((name, proxy)) = http::proxy_from_lookup(|name| env.string(name), &endpoint)
            {
                if let Err(error) = ureq::Proxy::new(&proxy) {
                    let error =
                        ConfigError::new(format!("cannot use the proxy {proxy:?}: {error}"));
                    config.refuse(env, name, &error);
                }
                config.proxy = Some(proxy);
            }
        }
        config
    }

    /// What the HTTP client needs of this configuration.
    pub(super) fn http_settings(&self) -> HttpSettings<'_> {
        HttpSettings {
            what: "OTLP",
            headers: &self.headers,
            timeout: self.timeout,
            compression: self.compression,
            tls: &self.tls,
            proxy: self.proxy.as_deref(),
        }
    }

    /// Refuses the reading: the variable's setting cannot be honoured.
    fn refuse(&mut self, env: &mut EnvReader<'_>, name: &str, error: &ConfigError) {
        env.refusals.push(format!("{name}: {error}"));
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
        )]))
        .unwrap();
        assert_eq!(base.traces_endpoint, "http://otel:4318/base/v1/traces");
        let exact = OtlpConfig::from_lookup(vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://tempo:4318/custom"),
        ]))
        .unwrap();
        assert_eq!(exact.traces_endpoint, "http://tempo:4318/custom");
        assert_eq!(OtlpConfig::from_lookup(vars(&[])), Ok(OtlpConfig::default()));
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
        ]))
        .unwrap();
        assert_eq!(
            config.headers,
            [("x-team".to_owned(), "a,b".to_owned()), ("API-KEY".to_owned(), "two".to_owned())]
        );
        assert_eq!(config.timeout, Duration::from_millis(700));
        assert_eq!(config.resource_attributes, [("host.name".to_owned(), "h1".to_owned())]);
    }

    #[test]
    fn malformed_tuning_variables_are_ignored_with_warnings() {
        let lookup = vars(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "x=%0D%0AEvil: 1,ok=1"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
        ]);
        let mut env = EnvReader::new(&lookup);
        let config = OtlpConfig::read(&mut env);
        assert_eq!(config.headers, [("ok".to_owned(), "1".to_owned())]);
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert_eq!(env.warnings.len(), 2, "{:#?}", env.warnings);
        assert!(env.refusals.is_empty());
        assert!(OtlpHttpExporter::new(config).is_ok());
    }

    #[test]
    fn grpc_defaults_to_port_4317_and_takes_the_endpoint_as_it_is() {
        let lookup = vars(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
        let config = OtlpConfig::read(&mut EnvReader::new(&lookup));
        assert_eq!(config.protocol, OtlpProtocol::Grpc);
        assert_eq!(config.traces_endpoint, "http://localhost:4317");
        let lookup = vars(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4317"),
        ]);
        let config = OtlpConfig::read(&mut EnvReader::new(&lookup));
        assert_eq!(config, OtlpConfig::grpc("http://otel:4317"));
        // The HTTP exporter never sends a gRPC configuration as JSON.
        let error = OtlpHttpExporter::new(config).unwrap_err();
        assert!(error.to_string().contains("gRPC"), "{error}");
    }

    #[cfg(not(feature = "grpc"))]
    #[test]
    fn grpc_without_the_feature_is_refused_naming_the_variable_and_the_feature() {
        let lookup = vars(&[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")]);
        let error = OtlpConfig::from_lookup(&lookup).unwrap_err().to_string();
        assert!(error.contains("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), "{error}");
        assert!(error.contains("`grpc` feature"), "{error}");
        // No exporter at all: never HTTP JSON to the gRPC port.
        let error = super::super::exporter_from_lookup(&lookup).err().unwrap().to_string();
        assert!(error.contains("`grpc` feature"), "{error}");
        let error = OtlpHttpExporter::new(OtlpConfig::grpc("http://localhost:4317")).unwrap_err();
        assert!(error.to_string().contains("`grpc` feature"), "{error}");
    }

    #[test]
    fn settings_it_cannot_honour_are_refused_naming_the_variable() {
        for (name, value) in [
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "br"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/no/such/ca.pem"),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/no/such/key.pem"),
            ("HTTP_PROXY", "http://[broken"),
        ] {
            let error = OtlpConfig::from_lookup(vars(&[(name, value)])).unwrap_err().to_string();
            assert!(error.contains(name), "{name}: {error}");
            let exporter = OtlpHttpExporter::from_lookup(vars(&[(name, value)]));
            assert!(exporter.unwrap_err().to_string().contains(name));
        }
    }

    #[cfg(any(feature = "tls", feature = "grpc-tls"))]
    #[test]
    fn a_client_certificate_without_its_key_is_refused() {
        let pki = crate::export::test_pki::TestPki::get();
        let cert = pki.client.cert_path.to_str().unwrap().to_owned();
        let lookup = move |name: &str| {
            (name == "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE").then(|| cert.clone())
        };
        let error = OtlpConfig::from_lookup(lookup).unwrap_err().to_string();
        assert!(error.contains("OTEL_EXPORTER_OTLP_CLIENT_KEY is not"), "{error}");
    }

    /// Certificate files are checked by the one PEM reader that either TLS
    /// feature builds: a build with `grpc-tls` alone refused every file.
    /// (OTLP/gRPC where the build has it, else OTLP/HTTP.)
    #[cfg(any(feature = "tls", feature = "grpc-tls"))]
    #[test]
    fn certificate_variables_are_checked_with_either_tls_feature() {
        let pki = crate::export::test_pki::TestPki::get();
        let not_pem = crate::export::test_support::temp_path("not-a-cert.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
        let read = |files: &[(&str, String)]| {
            let files = files.to_vec();
            OtlpConfig::from_lookup(move |name| match name {
                "OTEL_EXPORTER_OTLP_PROTOCOL" if cfg!(feature = "grpc") => Some("grpc".into()),
                "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("https://127.0.0.1:4317".into()),
                _ => files.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()),
            })
        };
        let config = read(&[
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", path(&pki.ca_path)),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", path(&pki.client.cert_path)),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", path(&pki.client.key_path)),
        ])
        .unwrap();
        assert_eq!(config.tls.ca_certificate.as_deref(), Some(pki.ca_path.as_path()));
        assert_eq!(config.tls.client_key.as_deref(), Some(pki.client.key_path.as_path()));
        #[cfg(feature = "grpc-tls")]
        assert!(crate::export::OtlpGrpcExporter::new(config).is_ok());
        let error = read(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", path(&not_pem))]).unwrap_err();
        let error = error.to_string();
        assert!(error.contains("OTEL_EXPORTER_OTLP_CERTIFICATE"), "{error}");
        assert!(error.contains(&path(&not_pem)), "{error}");
        assert!(error.contains("no PEM certificate"), "{error}");
        // Someone else's key: refused now, not at the first handshake.
        let error = read(&[
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", path(&pki.client.cert_path)),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", path(&pki.server.key_path)),
        ])
        .unwrap_err()
        .to_string();
        assert!(error.contains("OTEL_EXPORTER_OTLP_CLIENT_KEY"), "{error}");
        assert!(error.contains("does not go with"), "{error}");
        let _ = std::fs::remove_file(not_pem);
    }

    #[cfg(feature = "tls")]
    #[test]
    fn compression_certificates_and_proxy_variables_are_read() {
        let ca = crate::export::test_support::temp_path("ca.pem");
        std::fs::write(&ca, crate::export::test_pki::TestPki::get().ca_pem.as_bytes()).unwrap();
        let ca_text = ca.to_str().unwrap().to_owned();
        let lookup = move |name: &str| match name {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("https://otel.example.com".into()),
            "OTEL_EXPORTER_OTLP_COMPRESSION" => Some("none".into()),
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION" => Some("gzip".into()),
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE" => Some(ca_text.clone()),
            "HTTP_PROXY" => Some("http://plain-proxy:3128".into()),
            "HTTPS_PROXY" => Some("http://tls-proxy:3128".into()),
            _ => None,
        };
        let config = OtlpConfig::from_lookup(lookup).unwrap();
        assert_eq!(config.compression, Compression::Gzip);
        assert_eq!(config.tls.ca_certificate.as_deref(), Some(ca.as_path()));
        assert_eq!(config.proxy.as_deref(), Some("http://tls-proxy:3128"));
        assert!(OtlpHttpExporter::new(config).is_ok());
        let _ = std::fs::remove_file(ca);
    }

    #[test]
    fn an_endpoint_or_protocol_that_cannot_be_used_refuses_and_names_the_variable() {
        let bad_endpoint = OtlpConfig::from_lookup(vars(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "ftp://collector:4318",
        )]))
        .unwrap_err();
        assert!(bad_endpoint.to_string().contains("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"));
        let unknown = OtlpConfig::from_lookup(vars(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift")]))
            .unwrap_err();
        assert!(
            unknown.to_string().contains("OTEL_EXPORTER_OTLP_PROTOCOL=\"thrift\""),
            "{unknown}"
        );
    }
}
