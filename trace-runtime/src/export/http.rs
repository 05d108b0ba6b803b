//! A small blocking HTTP/1.1 client: one `POST` per connection to an
//! `http://` endpoint, every step bounded by one deadline.
//!
//! There is no TLS: `https://` endpoints are refused when an exporter is
//! configured. Send to a local collector or agent over plain HTTP instead.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::export::ExportError;

/// Most bytes of a response body kept (for error messages).
const BODY_LIMIT: u64 = 64 * 1024;
/// Longest status or header line accepted.
const LINE_LIMIT: u64 = 16 * 1024;

/// An exporter setting that cannot work: an endpoint URL the built-in HTTP
/// client cannot reach, or a header that would break the request.
///
/// ```
/// use trace_runtime::export::{OtlpConfig, OtlpHttpExporter};
///
/// let error = OtlpHttpExporter::new(OtlpConfig::with_endpoint("https://api.example.com")).unwrap_err();
/// assert!(error.to_string().contains("TLS"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// A parsed `http://host[:port][/path]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    url: String,
    host: String,
    port: u16,
    /// What the `Host` header says: the authority as written.
    authority: String,
    path: String,
}

impl Endpoint {
    pub(crate) fn parse(url: &str) -> Result<Self, ConfigError> {
        let fail = |reason: &str| Err(ConfigError(format!("cannot export to {url:?}: {reason}")));
        let Some((scheme, rest)) = url.split_once("://") else {
            return fail("not a URL (expected http://host:port/path)");
        };
        if scheme.eq_ignore_ascii_case("https") {
            return fail(
                "https needs TLS, which the built-in HTTP client lacks; use an http:// endpoint such as a local collector",
            );
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return fail("only http:// URLs are supported");
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
        Ok(Self {
            url: url.to_owned(),
            host: host.to_owned(),
            port,
            authority: authority.to_owned(),
            path,
        })
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

/// POSTs `body` and turns the outcome into an [`ExportError`] when it failed:
/// I/O errors, 429, 502, 503 and 504 are retryable (with `Retry-After`),
/// other non-2xx statuses are permanent.
pub(crate) fn send(
    endpoint: &Endpoint,
    content_type: &str,
    headers: &[(String, String)],
    body: &[u8],
    timeout: Duration,
) -> Result<Response, ExportError> {
    let response = post(endpoint, content_type, headers, body, timeout)
        .map_err(|e| ExportError::retryable(format!("POST {}: {e}", endpoint.url)))?;
    classify(endpoint, &response)?;
    Ok(response)
}

fn classify(endpoint: &Endpoint, response: &Response) -> Result<(), ExportError> {
    let status = response.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let mut snippet: String = String::from_utf8_lossy(&response.body).chars().take(200).collect();
    if !snippet.is_empty() {
        snippet.insert_str(0, ": ");
    }
    let message = format!("POST {}: HTTP {status}{snippet}", endpoint.url);
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

/// Sends one `POST` on a new connection and reads the response, all within
/// `timeout`.
pub(crate) fn post(
    endpoint: &Endpoint,
    content_type: &str,
    headers: &[(String, String)],
    body: &[u8],
    timeout: Duration,
) -> io::Result<Response> {
    let deadline = Instant::now() + timeout;
    let stream = connect(endpoint, deadline)?;
    let mut stream = DeadlineStream { stream, deadline };
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: trace-runtime/{}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        endpoint.path,
        endpoint.authority,
        env!("CARGO_PKG_VERSION"),
        body.len(),
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes)?;
    stream.flush()?;
    read_response(&mut BufReader::new(stream))
}

fn connect(endpoint: &Endpoint, deadline: Instant) -> io::Result<TcpStream> {
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for addr in (endpoint.host.as_str(), endpoint.port).to_socket_addrs()? {
        let left = remaining(deadline)?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(error) => last_error = error,
        }
    }
    Err(last_error)
}

fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
    } else {
        Ok(left)
    }
}

/// A stream whose every read and write gives up at one deadline.
struct DeadlineStream {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(remaining(self.deadline)?))?;
        self.stream.read(buf).map_err(timed_out)
    }
}

impl Write for DeadlineStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(remaining(self.deadline)?))?;
        self.stream.write(buf).map_err(timed_out)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Unix reports a socket timeout as `WouldBlock`; say what it is.
fn timed_out(error: io::Error) -> io::Error {
    if error.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(io::ErrorKind::TimedOut, "timed out")
    } else {
        error
    }
}

fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    reader.by_ref().take(LINE_LIMIT).read_line(&mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the connection closed before a full response",
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn read_response(reader: &mut impl BufRead) -> io::Result<Response> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    loop {
        let status_line = read_line(reader)?;
        let mut parts = status_line.split_whitespace();
        let version = parts.next().unwrap_or_default();
        let status: u16 = match parts.next().map(str::parse) {
            Some(Ok(status)) if version.starts_with("HTTP/1.") => status,
            _ => return Err(bad("not an HTTP/1.x response")),
        };
        let mut headers = Vec::new();
        loop {
            let line = read_line(reader)?;
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').ok_or_else(|| bad("malformed header"))?;
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        if (100..200).contains(&status) {
            continue; // 100 Continue and friends: the real response follows.
        }
        let mut response = Response { status, headers, body: Vec::new() };
        // The status is what matters; a body cut short is not an error.
        let _ = read_body(reader, &mut response);
        return Ok(response);
    }
}

fn read_body(reader: &mut impl BufRead, response: &mut Response) -> io::Result<()> {
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = response.header("content-length").and_then(|v| v.parse::<u64>().ok());
    let mut body = Vec::new();
    if chunked {
        loop {
            let size_line = read_line(reader)?;
            let size = size_line.split(';').next().unwrap_or_default().trim();
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 || body.len() as u64 + size > BODY_LIMIT {
                break;
            }
            reader.by_ref().take(size).read_to_end(&mut body)?;
            read_line(reader)?;
        }
    } else if let Some(length) = length {
        reader.take(length.min(BODY_LIMIT)).read_to_end(&mut body)?;
    } else if response.status != 204 && response.status != 304 {
        reader.take(BODY_LIMIT).read_to_end(&mut body)?;
    }
    response.body = body;
    Ok(())
}

/// The wait a `Retry-After` value asks for: delay-seconds, or an HTTP date
/// (IMF-fixdate, as RFC 9110 requires senders to use) measured from `now`.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let then = UNIX_EPOCH + Duration::from_secs(parse_imf_fixdate(value)?);
    Some(then.duration_since(now).unwrap_or_default())
}

/// Seconds since the Unix epoch of `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_imf_fixdate(value: &str) -> Option<u64> {
    let (_weekday, rest) = value.split_once(", ")?;
    let fields: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = fields.as_slice() else {
        return None;
    };
    let day: u64 = day.parse().ok()?;
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| m == month)? as u64 + 1;
    let year: u64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|part| part.parse::<u64>().ok());
    let (hour, minute, second) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=31).contains(&day) || year < 1970 || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm), for years from 1970 on.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::test_support::{Reply, TestServer, closed_port};
    use std::net::TcpListener;

    fn endpoint(url: &str) -> Endpoint {
        Endpoint::parse(url).unwrap()
    }

    #[test]
    fn parses_http_urls() {
        let e = endpoint("http://localhost:4318/v1/traces");
        assert_eq!((e.host.as_str(), e.port, e.path.as_str()), ("localhost", 4318, "/v1/traces"));
        assert_eq!(e.authority, "localhost:4318");
        let e = endpoint("HTTP://collector");
        assert_eq!((e.host.as_str(), e.port, e.path.as_str()), ("collector", 80, "/"));
        let e = endpoint("http://[::1]:9411/api/v2/spans?x=1#frag");
        assert_eq!((e.host.as_str(), e.port, e.path.as_str()), ("::1", 9411, "/api/v2/spans?x=1"));
        let e = endpoint("http://h:1?q");
        assert_eq!(e.path, "/?q");
    }

    #[test]
    fn refuses_urls_it_cannot_serve() {
        for url in [
            "https://api.example.com/v1/traces",
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
        let https = Endpoint::parse("https://x").unwrap_err().to_string();
        assert!(https.contains("TLS"), "{https}");
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
    fn posts_the_body_with_headers() {
        let server = TestServer::start(vec![]);
        let url = format!("{}/v1/traces", server.url());
        let headers = [("x-api-key".to_owned(), "secret".to_owned())];
        let response = send(
            &endpoint(&url),
            "application/json",
            &headers,
            b"{\"a\":1}",
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"{}");
        let request = server.requests.recv().unwrap();
        assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/v1/traces"));
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("x-api-key"), Some("secret"));
        assert_eq!(request.header("host"), Some(server.addr.to_string().as_str()));
        assert_eq!(request.body, b"{\"a\":1}");
    }

    #[test]
    fn statuses_are_classified_for_retries() {
        let server = TestServer::start(vec![
            Reply::Status(429, vec![("Retry-After", "2")]),
            Reply::Status(503, vec![]),
            Reply::Status(400, vec![]),
            Reply::Status(202, vec![]),
        ]);
        let e = endpoint(&server.url());
        let post = || send(&e, "application/json", &[], b"{}", Duration::from_secs(5));
        let busy = post().unwrap_err();
        assert!(busy.is_retryable());
        assert_eq!(busy.retry_after(), Some(Duration::from_secs(2)));
        let unavailable = post().unwrap_err();
        assert!(unavailable.is_retryable() && unavailable.retry_after().is_none());
        let bad = post().unwrap_err();
        assert!(!bad.is_retryable());
        assert!(bad.message().contains("HTTP 400: {}"), "{bad}");
        assert!(post().is_ok());
    }

    #[test]
    fn a_refused_connection_is_retryable() {
        let e = endpoint(&format!("http://127.0.0.1:{}/", closed_port()));
        let error = send(&e, "text/plain", &[], b"x", Duration::from_secs(5)).unwrap_err();
        assert!(error.is_retryable(), "{error}");
    }

    #[test]
    fn a_silent_server_times_out() {
        let server = TestServer::start(vec![Reply::Hang]);
        let e = endpoint(&server.url());
        let error = send(&e, "text/plain", &[], b"x", Duration::from_millis(200)).unwrap_err();
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
        let e = endpoint(&format!("http://{addr}/"));
        let response = post(&e, "text/plain", &[], b"x", Duration::from_secs(5)).unwrap();
        assert_eq!(response.status, 400);
        assert_eq!(response.body, b"hello world");
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_767); // Sun, 06 Nov 1994 08:49:27 GMT
        assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", UNIX_EPOCH),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_imf_fixdate("Tue, 29 Feb 2000 00:00:00 GMT"), Some(951_782_400));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", now), None);
    }
}
