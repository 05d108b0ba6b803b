//! The HTTP client of the OTLP/HTTP and Zipkin exporters, on `ureq`: one
//! `ureq::Agent` per exporter (connections kept alive across batches), a
//! deadline per request, gzip request bodies, TLS with custom CAs and client
//! certificates (feature `tls`), proxies, and the rules that turn a response
//! into an [`ExportError`] the batch exporter can retry or drop.

mod retry_after;
mod tls;

use std::fmt;
use std::io::{Read, Write};
use std::time::{Duration, SystemTime};

use crate::export::ExportError;

use retry_after::parse_retry_after;
pub use tls::TlsFiles;
use tls::{refused_by_tls, tls_config};

/// Most bytes of a response body kept (for error messages and partial success).
const BODY_LIMIT: u64 = 64 * 1024;

/// An exporter setting that cannot work: an endpoint URL the HTTP client
/// cannot reach, a header that would break the request, a certificate file
/// that cannot be read, or a feature this build lacks.
///
/// ```
/// use trace_runtime::export::{OtlpConfig, OtlpHttpExporter};
///
/// let error = OtlpHttpExporter::new(OtlpConfig::with_endpoint("ftp://example.com")).unwrap_err();
/// assert!(error.to_string().contains("http:// or https://"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// How request bodies are compressed (`OTEL_EXPORTER_OTLP_COMPRESSION`).
///
/// ```
/// use trace_runtime::export::{Compression, OtlpConfig};
///
/// let config = OtlpConfig::with_endpoint("http://collector:4318").with_compression(Compression::Gzip);
/// assert_eq!(config.compression, Compression::Gzip);
/// assert_eq!("gzip".parse(), Ok(Compression::Gzip));
/// assert!("br".parse::<Compression>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// Bodies as they are (the default).
    #[default]
    None,
    /// gzip, sent with `Content-Encoding: gzip`.
    Gzip,
}

impl std::str::FromStr for Compression {
    type Err = ConfigError;

    /// `none` or `gzip`, the values the OpenTelemetry specification names.
    fn from_str(value: &str) -> Result<Self, ConfigError> {
        match value.trim() {
            "none" => Ok(Self::None),
            "gzip" => Ok(Self::Gzip),
            other => {
                Err(ConfigError(format!("unknown compression {other:?} (expected gzip or none)")))
            }
        }
    }
}

/// What an HTTP exporter needs besides its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HttpSettings<'a> {
    /// What is exported, for error messages: `OTLP`, `Zipkin`.
    pub(crate) what: &'static str,
    pub(crate) headers: &'a [(String, String)],
    pub(crate) timeout: Duration,
    pub(crate) compression: Compression,
    pub(crate) tls: &'a TlsFiles,
    /// A proxy URL (`http://proxy:3128`), or `None` to connect directly.
    pub(crate) proxy: Option<&'a str>,
}

/// A validated `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) url: String,
    pub(crate) https: bool,
    pub(crate) host: String,
    port: u16,
    path: String,
}

impl Endpoint {
    pub(crate) fn parse(url: &str) -> Result<Self, ConfigError> {
        let fail = |reason: &str| Err(ConfigError(format!("cannot export to {url:?}: {reason}")));
        let Some((scheme, rest)) = url.split_once("://") else {
            return fail("not a URL (expected http://host:port/path)");
        };
        let https = scheme.eq_ignore_ascii_case("https");
        if !https && !scheme.eq_ignore_ascii_case("http") {
            return fail("only http:// or https:// URLs are supported");
        }
        if https && !cfg!(feature = "tls") {
            return fail(
                "https needs TLS, which this build lacks: enable the `tls` feature of trace-runtime",
            );
        }
        let rest = rest.split('#').next().unwrap_or_default();
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_owned()),
            None => (rest, "/".to_owned()),
        };
        if authority.contains('@') {
            return fail("credentials in the URL are not supported; send them as a header");
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let Some((host, after)) = bracketed.split_once(']') else {
                return fail("unclosed [ in the host");
            };
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        let port = match port {
            None if https => 443,
            None => 80,
            Some(port) => match port.parse::<u16>() {
                Ok(port) => port,
                Err(_) => return fail("the port is not a number from 0 to 65535"),
            },
        };
        if host.is_empty() {
            return fail("no host");
        }
        if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return fail("the path contains spaces or control characters");
        }
        if ureq::http::Uri::try_from(url).is_err() {
            return fail("not a valid URL");
        }
        Ok(Self { url: url.to_owned(), https, host: host.to_owned(), port, path })
    }
}

/// Checks that headers can be written into a request as they are.
pub(crate) fn check_headers(headers: &[(String, String)]) -> Result<(), ConfigError> {
    for (name, value) in headers {
        let name_ok = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
        let value_ok = !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
        if !name_ok || !value_ok {
            return Err(ConfigError(format!(
                "the header {name:?} is not a valid HTTP header name and value"
            )));
        }
    }
    Ok(())
}

/// The proxy for `endpoint` from the usual variables read through `get`:
/// `HTTPS_PROXY` for an `https://` endpoint, `HTTP_PROXY` for `http://`,
/// else `ALL_PROXY` (each also lower case), unless `NO_PROXY` names the
/// host. Returns the variable's name with its value.
pub(crate) fn proxy_from_lookup(
    get: impl Fn(&str) -> Option<String>,
    endpoint: &Endpoint,
) -> Option<(&'static str, String)> {
    let no_proxy = get("NO_PROXY").or_else(|| get("no_proxy")).unwrap_or_default();
    if no_proxy_matches(&no_proxy, &endpoint.host) {
        return None;
    }
    let names: [&'static str; 4] = if endpoint.https {
        ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    names.into_iter().find_map(|name| Some((name, get(name)?)))
}

/// Whether a `NO_PROXY` list (`localhost,.internal,10.0.0.1`, or `*`)
/// covers `host`: an entry matches the host itself and its subdomains.
fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    list.split(',').map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry.trim_start_matches("*.").trim_start_matches('.').to_ascii_lowercase();
        let entry = entry.trim_start_matches('[').trim_end_matches(']');
        host == entry || host.strip_suffix(entry).is_some_and(|rest| rest.ends_with('.'))
    })
}

/// A response: status, headers and the start of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Posts to one URL through one `ureq::Agent`, so connections are reused
/// from batch to batch.
pub(crate) struct HttpClient {
    what: &'static str,
    endpoint: Endpoint,
    agent: ureq::Agent,
    headers: Vec<(String, String)>,
    compression: Compression,
    timeout: Duration,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("url", &self.endpoint.url)
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client for `url`; certificate files are read here.
    ///
    /// # Errors
    /// [`ConfigError`] for a URL that is not `http://` or `https://` (the
    /// latter needs the feature `tls`), a bad header, a bad proxy URL, or a
    /// certificate or key file that cannot be read or parsed.
    pub(crate) fn new(url: &str, settings: &HttpSettings<'_>) -> Result<Self, ConfigError> {
        let endpoint = Endpoint::parse(url)?;
        check_headers(settings.headers)?;
        let proxy = match settings.proxy {
            None => None,
            Some(proxy) => Some(ureq::Proxy::new(proxy).map_err(|error| {
                ConfigError(format!("cannot use the proxy {proxy:?}: {error}"))
            })?),
        };
        let builder = ureq::Agent::config_builder()
            // Statuses are classified here; redirects would send spans to a
            // destination nobody configured.
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("trace-runtime/", env!("CARGO_PKG_VERSION")))
            .proxy(proxy);
        let builder = tls_config(builder, settings.tls)?;
        Ok(Self {
            what: settings.what,
            endpoint,
            agent: builder.build().new_agent(),
            headers: settings.headers.to_vec(),
            compression: settings.compression,
            timeout: settings.timeout,
        })
    }

    /// Sets the longest one request may take, connecting included.
    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// POSTs `body` and turns the outcome into an [`ExportError`] when it
    /// failed: transport errors, 429, 502, 503 and 504 are retryable (with
    /// `Retry-After`), other non-2xx statuses are permanent. The message
    /// reads `OTLP export to https://… failed: …`.
    pub(crate) fn send(&self, content_type: &str, body: &[u8]) -> Result<Response, ExportError> {
        let failed = format!("{} export to {} failed", self.what, self.endpoint.url);
        let response = self.post(content_type, body).map_err(|e| {
            let message = format!("{failed}: {}", describe(&e));
            // Sending again will not make a refused certificate acceptable.
            if refused_by_tls(&e) {
                ExportError::permanent(message)
            } else {
                ExportError::retryable(message)
            }
        })?;
        classify(&failed, &response)?;
        Ok(response)
    }

    fn post(&self, content_type: &str, body: &[u8]) -> Result<Response, ureq::Error> {
        let mut request = (self.agent.post(&self.endpoint.url).config())
            .timeout_global(Some(self.timeout))
            .build()
            .content_type(content_type);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let mut response = match self.compression {
            Compression::None => request.send(body)?,
            Compression::Gzip => {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                encoder.write_all(body)?;
                request.header("content-encoding", "gzip").send(&encoder.finish()?[..])?
            }
        };
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let mut body = Vec::new();
        // The status is what matters; a body cut short is not an error. Read
        // to the end (within the limit) so the connection can be reused.
        let _ = response.body_mut().as_reader().take(BODY_LIMIT).read_to_end(&mut body);
        Ok(Response { status, headers, body })
    }
}

/// A transport error in words: ureq's own text (which carries rustls's reason
/// for a refused certificate), a timeout said as one.
fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Timeout(_) => format!("timed out ({error})"),
        _ => error.to_string(),
    }
}

fn classify(failed: &str, response: &Response) -> Result<(), ExportError> {
    let status = response.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let mut snippet: String = String::from_utf8_lossy(&response.body).chars().take(200).collect();
    if !snippet.is_empty() {
        snippet.insert_str(0, ": ");
    }
    let message = format!("{failed}: HTTP {status}{snippet}");
    if matches!(status, 429 | 502 | 503 | 504) {
        let mut error = ExportError::retryable(message);
        let wait =
            response.header("retry-after").and_then(|v| parse_retry_after(v, SystemTime::now()));
        if let Some(wait) = wait {
            error = error.with_retry_after(wait);
        }
        Err(error)
    } else {
        Err(ExportError::permanent(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::test_support::{Reply, TestServer, closed_port};
    use std::net::TcpListener;

    fn endpoint(url: &str) -> Endpoint {
        Endpoint::parse(url).unwrap()
    }

    const NO_HEADERS: &[(String, String)] = &[];

    fn client(url: &str, headers: &[(String, String)], timeout: Duration) -> HttpClient {
        let tls = TlsFiles::default();
        let settings = HttpSettings {
            what: "OTLP",
            headers,
            timeout,
            compression: Compression::None,
            tls: &tls,
            proxy: None,
        };
        HttpClient::new(url, &settings).unwrap()
    }

    #[test]
    fn parses_http_and_https_urls() {
        let e = endpoint("http://localhost:4318/v1/traces");
        assert_eq!((e.host.as_str(), e.port, e.path.as_str()), ("localhost", 4318, "/v1/traces"));
        assert!(!e.https);
        let e = endpoint("HTTP://collector");
        assert_eq!((e.host.as_str(), e.port, e.path.as_str()), ("collector", 80, "/"));
        let e = endpoint("http://[::1]:9411/api/v2/spans?x=1#frag");
        assert_eq!((e.host.as_str(), e.port, e.path.as_str()), ("::1", 9411, "/api/v2/spans?x=1"));
        let e = endpoint("http://h:1?q");
        assert_eq!(e.path, "/?q");
        #[cfg(feature = "tls")]
        {
            let e = endpoint("https://api.example.com/v1/traces");
            assert_eq!((e.host.as_str(), e.port, e.https), ("api.example.com", 443, true));
        }
    }

    #[test]
    fn refuses_urls_it_cannot_serve() {
        for url in [
            "grpc://localhost:4317",
            "localhost:4318",
            "http://:4318/",
            "http://host:99999/",
            "http://user:pw@host/",
            "http://[::1/",
            "http://host/a b",
        ] {
            assert!(Endpoint::parse(url).is_err(), "{url}");
        }
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn https_without_the_tls_feature_names_the_feature() {
        let https = Endpoint::parse("https://x").unwrap_err().to_string();
        assert!(https.contains("`tls` feature"), "{https}");
    }

    #[test]
    fn rejects_headers_that_would_break_the_request() {
        let ok = [("x-api-key".to_owned(), "a b=c".to_owned())];
        assert!(check_headers(&ok).is_ok());
        let injected = [("x".to_owned(), "a\r\nEvil: 1".to_owned())];
        assert!(check_headers(&injected).is_err());
        let bad_name = [("x y".to_owned(), "1".to_owned())];
        assert!(check_headers(&bad_name).is_err());
    }

    #[test]
    fn compression_takes_the_specification_values() {
        assert_eq!("gzip".parse(), Ok(Compression::Gzip));
        assert_eq!(" none ".parse(), Ok(Compression::None));
        let error = "deflate".parse::<Compression>().unwrap_err().to_string();
        assert!(error.contains("\"deflate\"") && error.contains("gzip or none"), "{error}");
    }

    #[test]
    fn proxies_come_from_the_variable_of_the_scheme_unless_no_proxy_names_the_host() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        let http = endpoint("http://collector.internal:4318/v1/traces");
        let both = vars(&[("HTTP_PROXY", "http://p1:3128"), ("HTTPS_PROXY", "http://p2:3128")]);
        assert_eq!(proxy_from_lookup(both, &http), Some(("HTTP_PROXY", "http://p1:3128".into())));
        let all = vars(&[("all_proxy", "http://p3:3128")]);
        assert_eq!(proxy_from_lookup(all, &http), Some(("all_proxy", "http://p3:3128".into())));
        let skip = vars(&[("HTTP_PROXY", "http://p1:3128"), ("NO_PROXY", "localhost, .internal")]);
        assert_eq!(proxy_from_lookup(skip, &http), None);
        assert!(no_proxy_matches("*", "anything"));
        assert!(no_proxy_matches("example.com", "api.example.com"));
        assert!(!no_proxy_matches("example.com", "badexample.com"));
        assert!(no_proxy_matches("127.0.0.1,[::1]", "::1"));
        #[cfg(feature = "tls")]
        {
            let https = endpoint("https://api.example.com/v1/traces");
            assert_eq!(
                proxy_from_lookup(both, &https),
                Some(("HTTPS_PROXY", "http://p2:3128".into()))
            );
        }
    }

    #[test]
    fn posts_the_body_with_headers() {
        let server = TestServer::start(vec![]);
        let url = format!("{}/v1/traces", server.url());
        let headers = [("x-api-key".to_owned(), "secret".to_owned())];
        let client = client(&url, &headers, Duration::from_secs(5));
        let response = client.send("application/json", b"{\"a\":1}").unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"{}");
        let request = server.requests.recv().unwrap();
        assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/v1/traces"));
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("x-api-key"), Some("secret"));
        assert_eq!(request.header("host"), Some(server.addr.to_string().as_str()));
        assert_eq!(request.header("content-encoding"), None);
        assert_eq!(request.body, b"{\"a\":1}");
    }

    #[test]
    fn gzip_bodies_are_compressed_and_labelled() {
        let server = TestServer::start(vec![]);
        let tls = TlsFiles::default();
        let settings = HttpSettings {
            what: "Zipkin",
            headers: NO_HEADERS,
            timeout: Duration::from_secs(5),
            compression: Compression::Gzip,
            tls: &tls,
            proxy: None,
        };
        let client = HttpClient::new(&server.url(), &settings).unwrap();
        let body = "{\"spans\":[]}".repeat(100);
        client.send("application/json", body.as_bytes()).unwrap();
        let request = server.requests.recv().unwrap();
        assert_eq!(request.header("content-encoding"), Some("gzip"));
        assert!(request.body.len() < body.len() / 4, "{} bytes", request.body.len());
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&request.body[..]).read_to_string(&mut plain).unwrap();
        assert_eq!(plain, body);
    }

    #[test]
    fn statuses_are_classified_for_retries() {
        let server = TestServer::start(vec![
            Reply::Status(429, vec![("Retry-After", "2")]),
            Reply::Status(503, vec![]),
            Reply::Status(400, vec![]),
            Reply::Status(307, vec![("Location", "http://elsewhere.invalid/")]),
            Reply::Status(202, vec![]),
        ]);
        let client = client(&server.url(), NO_HEADERS, Duration::from_secs(5));
        let post = || client.send("application/json", b"{}");
        let busy = post().unwrap_err();
        assert!(busy.is_retryable());
        assert_eq!(busy.retry_after(), Some(Duration::from_secs(2)));
        let unavailable = post().unwrap_err();
        assert!(unavailable.is_retryable() && unavailable.retry_after().is_none());
        let bad = post().unwrap_err();
        assert!(!bad.is_retryable());
        assert!(bad.message().contains("HTTP 400: {}"), "{bad}");
        // A redirect is not followed: spans go only where they were sent.
        let moved = post().unwrap_err();
        assert!(!moved.is_retryable() && moved.message().contains("HTTP 307"), "{moved}");
        assert!(post().is_ok());
        assert_eq!(server.requests.try_iter().count(), 5);
    }

    #[test]
    fn a_refused_connection_is_retryable() {
        let url = format!("http://127.0.0.1:{}/", closed_port());
        let error = client(&url, NO_HEADERS, Duration::from_secs(5)).send("text/plain", b"x");
        let error = error.unwrap_err();
        assert!(error.is_retryable(), "{error}");
        assert!(error.message().starts_with("OTLP export to http://127.0.0.1:"), "{error}");
    }

    #[test]
    fn a_silent_server_times_out() {
        let server = TestServer::start(vec![Reply::Hang]);
        let client = client(&server.url(), NO_HEADERS, Duration::from_millis(200));
        let error = client.send("text/plain", b"x").unwrap_err();
        assert!(error.is_retryable());
        assert!(error.message().contains("timed out"), "{error}");
    }

    #[test]
    fn reads_chunked_bodies_after_100_continue() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0; 4096];
            let _ = stream.read(&mut buf);
            let reply = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n";
            stream.write_all(reply.as_bytes()).unwrap();
        });
        let client = client(&format!("http://{addr}/"), NO_HEADERS, Duration::from_secs(5));
        let error = client.send("text/plain", b"x").unwrap_err();
        assert!(!error.is_retryable());
        assert!(error.message().ends_with("HTTP 400: hello world"), "{error}");
    }
}
