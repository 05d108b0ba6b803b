//! Where propagated headers are read from and written to.

use std::collections::HashMap;
use std::ops::ControlFlow;

/// Writes propagation fields into a request's headers (or any map).
pub trait Injector {
    /// Sets `key` (a lower-case header name) to `value`, replacing any value.
    fn set(&mut self, key: &str, value: String);
}

/// Reads propagation fields from a request's headers (or any map).
///
/// Header names are case-insensitive: implementations match `key` (given in
/// lower case) regardless of case.
pub trait Extractor {
    /// The value of `key`; the first one if the header appears more than once.
    fn get(&self, key: &str) -> Option<&str>;

    /// Every value of `key`, in order (headers such as `tracestate` and
    /// `baggage` may be split over several lines).
    fn get_all(&self, key: &str) -> Vec<&str> {
        self.get(key).into_iter().collect()
    }

    /// Calls `visit` with every value of `key`, in order, until it returns
    /// [`ControlFlow::Break`]: the propagators read headers this way, so a
    /// header repeated many times is read only as far as its limits. A
    /// value that is not text comes as `None`: it is still a line of the
    /// header (two `traceparent` lines are two even when one is unreadable).
    /// `http::HeaderMap` gives a value with bytes outside visible ASCII so.
    ///
    /// The default visits the values of [`get_all`](Self::get_all).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use std::ops::ControlFlow;
    /// use trace_runtime::propagation::Extractor;
    ///
    /// let headers = HashMap::from([("tracestate".to_owned(), "a=1".to_owned())]);
    /// let mut seen = Vec::new();
    /// headers.for_each_value("tracestate", &mut |value| {
    ///     seen.push(value.map(str::to_owned));
    ///     ControlFlow::Break(())
    /// });
    /// assert_eq!(seen, [Some("a=1".to_owned())]);
    /// ```
    fn for_each_value(&self, key: &str, visit: &mut dyn FnMut(Option<&str>) -> ControlFlow<()>) {
        for value in self.get_all(key) {
            if visit(Some(value)).is_break() {
                return;
            }
        }
    }
}

/// Keys are stored as given; lookups ignore case.
///
/// ```
/// use std::collections::HashMap;
/// use trace_runtime::propagation::Extractor;
///
/// let headers = HashMap::from([("TraceParent".to_owned(), "00-…".to_owned())]);
/// assert_eq!(Extractor::get(&headers, "traceparent"), Some("00-…"));
/// ```
impl Extractor for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        match HashMap::get(self, key) {
            Some(value) => Some(value),
            None => self.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str()),
        }
    }
}

impl Injector for HashMap<String, String> {
    fn set(&mut self, key: &str, value: String) {
        self.retain(|k, _| !k.eq_ignore_ascii_case(key));
        self.insert(key.to_owned(), value);
    }
}

#[cfg(feature = "http")]
mod http_headers {
    use std::ops::ControlFlow;

    use super::{Extractor, Injector};
    use http::header::{HeaderMap, HeaderName, HeaderValue};

    /// `http::HeaderMap`, the header type of hyper, axum, reqwest and tonic.
    impl Extractor for HeaderMap {
        fn get(&self, key: &str) -> Option<&str> {
            // A value with bytes outside visible ASCII is not a valid
            // propagation header: treated as absent.
            HeaderMap::get(self, key).and_then(|value| value.to_str().ok())
        }

        fn get_all(&self, key: &str) -> Vec<&str> {
            HeaderMap::get_all(self, key).iter().filter_map(|value| value.to_str().ok()).collect()
        }

        /// Reads the lines of `key` one at a time; a line that is not
        /// visible ASCII comes as `None`.
        fn for_each_value(
            &self,
            key: &str,
            visit: &mut dyn FnMut(Option<&str>) -> ControlFlow<()>,
        ) {
            for value in HeaderMap::get_all(self, key) {
                if visit(value.to_str().ok()).is_break() {
                    return;
                }
            }
        }
    }

    impl Injector for HeaderMap {
        fn set(&mut self, key: &str, value: String) {
            // Our propagators only write valid names and values; anything
            // else is counted rather than sent half-formed.
            match (HeaderName::from_bytes(key.as_bytes()), HeaderValue::try_from(value)) {
                (Ok(name), Ok(value)) => {
                    self.insert(name, value);
                }
                _ => super::super::propagator::count_unsendable(),
            }
        }
    }
}
