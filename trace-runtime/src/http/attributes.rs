//! The tags of the HTTP helpers' spans, after OpenTelemetry's HTTP semantic
//! conventions: span names, the method as the conventions know it, the URL
//! without credentials or secret-looking query values, the server's address
//! and port, and what makes a status an error.

use http::uri::Authority;
use http::{HeaderMap, Method, StatusCode, Uri, header};

use crate::guard::SpanGuard;

/// The methods the conventions know: RFC 9110's and PATCH (RFC 5789).
const KNOWN_METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::CONNECT,
    Method::OPTIONS,
    Method::TRACE,
    Method::PATCH,
];

fn is_known(method: &Method) -> bool {
    KNOWN_METHODS.contains(method)
}

/// The span name: `{method} {target}` with a low-cardinality target (a route
/// or URL template), else `{method}` alone, never the request's path. A
/// method the conventions do not know is named `HTTP`.
pub(super) fn span_name(method: &Method, target: Option<&str>) -> String {
    let method = if is_known(method) { method.as_str() } else { "HTTP" };
    match target {
        Some(target) => format!("{method} {target}"),
        None => method.to_owned(),
    }
}

/// `http.request.method`, and `http.request.method_original` when the
/// method is not one the conventions know (then recorded as `_OTHER`).
pub(super) fn tag_method(span: &SpanGuard, method: &Method) {
    if is_known(method) {
        span.tag("http.request.method", method.as_str().to_owned());
    } else {
        span.tag("http.request.method", "_OTHER");
        span.tag("http.request.method_original", method.as_str().to_owned());
    }
}

/// `server.address` and `server.port` of an outgoing request: the URL's
/// host (an IPv6 address without its brackets) and its port, or the
/// scheme's default port (80 for `http`, 443 for `https`).
pub(super) fn tag_server_of_url(span: &SpanGuard, uri: &Uri) {
    if let Some(host) = uri.host() {
        span.tag("server.address", unbracketed(host).to_owned());
    }
    let default_port = match uri.scheme_str() {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    };
    if let Some(port) = uri.port_u16().or(default_port) {
        span.tag("server.port", port);
    }
}

/// `server.address` and `server.port` of an incoming request: from the
/// request target when it carries an authority (absolute form, HTTP/2's
/// `:authority`), else from the `Host` header. Forwarding headers are not
/// read: any client can set them.
pub(super) fn tag_server_of_request(span: &SpanGuard, uri: &Uri, headers: &HeaderMap) {
    let host_header = || {
        let value = headers.get(header::HOST)?.to_str().ok()?;
        value.parse::<Authority>().ok()
    };
    let Some(authority) = uri.authority().cloned().or_else(host_header) else {
        return;
    };
    span.tag("server.address", unbracketed(authority.host()).to_owned());
    if let Some(port) = authority.port_u16() {
        span.tag("server.port", port);
    }
}

fn unbracketed(host: &str) -> &str {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

/// Whether a response status makes the span an error: 5xx for a server
/// (a 4xx is the client's mistake); 4xx, 5xx and codes past 599 (which a
/// client cannot interpret) for a client.
pub(super) fn is_error(status: StatusCode, client: bool) -> bool {
    let code = status.as_u16();
    if client { code >= 400 } else { code >= 500 }
}

/// `url.full`: user name and password replaced by `REDACTED` (the
/// conventions' form `https://REDACTED:REDACTED@host/`), secret-looking
/// query values by `REDACTED` (see [`redact_query`]).
pub(super) fn full_url(uri: &Uri) -> String {
    let mut url = String::new();
    if let Some(scheme) = uri.scheme_str() {
        url.push_str(scheme);
        url.push_str("://");
    }
    if let Some(authority) = uri.authority() {
        if let Some((user_info, _)) = authority.as_str().rsplit_once('@') {
            url.push_str(if user_info.contains(':') { "REDACTED:REDACTED@" } else { "REDACTED@" });
        }
        url.push_str(authority.host());
        if let Some(port) = authority.port() {
            url.push(':');
            url.push_str(port.as_str());
        }
    }
    url.push_str(uri.path());
    if let Some(query) = uri.query() {
        url.push('?');
        url.push_str(&redact_query(query));
    }
    url
}

/// A query string with the values of secret-looking keys replaced by
/// `REDACTED`, the keys kept (`color=blue&sig=REDACTED`).
///
/// A key is secret-looking if, lower-cased and without punctuation, it is
/// one of the conventions' list (`AWSAccessKeyId`, `Signature`, `sig`,
/// `X-Goog-Signature`), one of `key`, `code`, `pwd`, `pass`, `pin`, `otp`,
/// `sid`, `jwt`, or contains `token`, `secret`, `passw`, `signature`,
/// `credential`, `session`, `auth`, `apikey`, `accesskey` or `privatekey`
/// (`access_token`, `X-Amz-Credential`, `api-key`, `client_secret`...).
pub(super) fn redact_query(query: &str) -> String {
    let pairs = query.split('&').map(|pair| match pair.split_once('=') {
        Some((key, _)) if is_secret_key(key) => format!("{key}=REDACTED"),
        _ => pair.to_owned(),
    });
    pairs.collect::<Vec<_>>().join("&")
}

const SECRET_KEYS: [&str; 9] = ["sig", "key", "code", "pwd", "pass", "pin", "otp", "sid", "jwt"];
const SECRET_PARTS: [&str; 10] = [
    "token",
    "secret",
    "passw",
    "signature",
    "credential",
    "session",
    "auth",
    "apikey",
    "accesskey",
    "privatekey",
];

fn is_secret_key(key: &str) -> bool {
    let key: String =
        key.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
    SECRET_KEYS.contains(&key.as_str()) || SECRET_PARTS.iter().any(|part| key.contains(part))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> String {
        full_url(&text.parse().unwrap())
    }

    #[test]
    fn credentials_in_urls_are_redacted_as_the_conventions_show() {
        assert_eq!(
            url("https://alice:secret@shop.example:8443/cart?page=2"),
            "https://REDACTED:REDACTED@shop.example:8443/cart?page=2"
        );
        assert_eq!(url("http://alice@shop.example/cart"), "http://REDACTED@shop.example/cart");
        assert_eq!(url("http://[::1]:8080/a"), "http://[::1]:8080/a");
    }

    #[test]
    fn secret_looking_query_values_are_redacted_and_their_keys_kept() {
        assert_eq!(
            redact_query(
                "AWSAccessKeyId=A&Signature=B&sig=C&X-Goog-Signature=D&access_token=E\
                 &api-key=F&client_secret=G&X-Amz-Credential=H&password=I&color=blue&page=2&flag"
            ),
            "AWSAccessKeyId=REDACTED&Signature=REDACTED&sig=REDACTED&X-Goog-Signature=REDACTED\
             &access_token=REDACTED&api-key=REDACTED&client_secret=REDACTED\
             &X-Amz-Credential=REDACTED&password=REDACTED&color=blue&page=2&flag"
        );
    }

    #[test]
    fn only_known_methods_name_a_span() {
        assert_eq!(span_name(&Method::GET, Some("/stock/{sku}")), "GET /stock/{sku}");
        assert_eq!(span_name(&Method::PATCH, None), "PATCH");
        let custom = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(span_name(&custom, Some("/cache/{key}")), "HTTP /cache/{key}");
    }

    #[test]
    fn a_client_sees_4xx_as_an_error_and_a_server_only_5xx() {
        assert!(is_error(StatusCode::NOT_FOUND, true));
        assert!(!is_error(StatusCode::NOT_FOUND, false));
        assert!(is_error(StatusCode::BAD_GATEWAY, false));
        assert!(is_error(StatusCode::from_u16(600).unwrap(), true));
        assert!(!is_error(StatusCode::FOUND, true));
    }
}
