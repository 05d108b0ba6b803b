//! Reading the standard `OTEL_*` environment variables.
//!
//! Every reader takes a lookup function (`|name| std::env::var(name).ok()`
//! in production, a map in tests). A malformed value that only tunes the
//! exporter (a timeout, one header) is ignored: the default stays, and one
//! line saying so goes to stderr. A setting that decides where spans go or
//! how they are sent (an endpoint, a protocol) and cannot be honoured is a
//! refusal: the reader returns a [`ConfigError`] naming the variable, and
//! nothing is exported, rather than sending spans somewhere the user did
//! not configure.

use crate::export::ConfigError;

/// Reads variables through a lookup function and collects complaints about
/// malformed values, printed to stderr by [`finish`](Self::finish).
pub(crate) struct EnvReader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    pub(crate) warnings: Vec<String>,
    /// Settings that cannot be honoured, each naming its variable.
    pub(crate) refusals: Vec<String>,
}

impl<'a> EnvReader<'a> {
    pub(crate) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup, warnings: Vec::new(), refusals: Vec::new() }
    }

    /// The trimmed value of `name`; unset and blank are both `None`.
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        let value = (self.lookup)(name)?;
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// The first of `names` that is set.
    pub(crate) fn first(&self, names: &[&str]) -> Option<(String, String)> {
        names.iter().find_map(|name| Some(((*name).to_owned(), self.string(name)?)))
    }

    fn warn(&mut self, name: &str, value: &str, expected: &str) {
        self.warnings
            .push(format!("trace-runtime: ignoring {name}={value:?}: expected {expected}"));
    }

    /// A count; zero and garbage are ignored with a warning.
    pub(crate) fn positive(&mut self, name: &str) -> Option<usize> {
        let value = self.string(name)?;
        match value.parse::<usize>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                self.warn(name, &value, "a positive integer");
                None
            }
        }
    }

    /// A duration given in whole milliseconds.
    pub(crate) fn millis(&mut self, name: &str) -> Option<std::time::Duration> {
        let value = self.string(name)?;
        match value.parse::<u64>() {
            Ok(ms) => Some(std::time::Duration::from_millis(ms)),
            Err(_) => {
                self.warn(name, &value, "a whole number of milliseconds");
                None
            }
        }
    }

    /// A `key=value,key2=value2` list with percent-encoded keys and values,
    /// as `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES` use.
    /// Malformed entries are skipped with a warning; the rest are kept.
    pub(crate) fn key_values(&mut self, name: &str) -> Vec<(String, String)> {
        let Some(value) = self.string(name) else {
            return Vec::new();
        };
        let mut pairs = Vec::new();
        for entry in value.split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let parsed = entry.split_once('=').and_then(|(key, value)| {
                let key = percent_decode(key.trim())?;
                let value = percent_decode(value.trim())?;
                (!key.is_empty()).then_some((key, value))
            });
            match parsed {
                Some(pair) => pairs.push(pair),
                None => self.warn(name, entry, "key=value with percent-encoding"),
            }
        }
        pairs
    }

    /// Prints the warnings collected so far to stderr.
    /// Runs `read` over the variables `lookup` gives, then prints the
    /// warnings it collected: the body of every `from_lookup`.
    pub(crate) fn read_with<T>(
        lookup: &dyn Fn(&str) -> Option<String>,
        read: impl FnOnce(&mut EnvReader<'_>) -> T,
    ) -> T {
        let mut env = EnvReader::new(lookup);
        let value = read(&mut env);
        env.finish();
        value
    }

    /// Like [`read_with`](Self::read_with), for a reader whose settings
    /// decide where spans go: any refusal makes the whole reading an error.
    pub(crate) fn read_or_refuse<T>(
        lookup: &dyn Fn(&str) -> Option<String>,
        read: impl FnOnce(&mut EnvReader<'_>) -> T,
    ) -> Result<T, ConfigError> {
        let mut env = EnvReader::new(lookup);
        let value = read(&mut env);
        let refusals = std::mem::take(&mut env.refusals);
        env.finish();
        if refusals.is_empty() { Ok(value) } else { Err(ConfigError::new(refusals.join("; "))) }
    }

    pub(crate) fn finish(self) {
        for warning in self.warnings {
            eprintln!("{warning}");
        }
    }
}

/// Decodes `%XX` escapes; `None` for a broken escape or invalid UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Looks variables up in the process environment.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The service name the standard variables ask for: `OTEL_SERVICE_NAME`,
/// else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`.
///
/// Give the result to [`Tracer::builder`](crate::Tracer::builder), so a
/// deployment can rename a service without a code change:
///
/// ```
/// use trace_runtime::export::service_name_from_lookup;
///
/// let env = |name: &str| (name == "OTEL_RESOURCE_ATTRIBUTES").then(|| "service.name=cart".to_owned());
/// assert_eq!(service_name_from_lookup(env).as_deref(), Some("cart"));
/// let service = trace_runtime::export::service_name_from_env().unwrap_or_else(|| "shop".into());
/// # let _ = service;
/// ```
pub fn service_name_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    let mut env = EnvReader::new(&lookup);
    let name = env.string("OTEL_SERVICE_NAME").or_else(|| {
        env.key_values("OTEL_RESOURCE_ATTRIBUTES")
            .into_iter()
            .find_map(|(key, value)| (key == "service.name").then_some(value))
    });
    env.finish();
    name
}

/// [`service_name_from_lookup`] on the process environment.
pub fn service_name_from_env() -> Option<String> {
    service_name_from_lookup(process_env)
}

/// The extra resource attributes of `OTEL_RESOURCE_ATTRIBUTES`, without
/// `service.name` (the span's service is the service name).
pub(crate) fn resource_attributes(env: &mut EnvReader<'_>) -> Vec<(String, String)> {
    let mut pairs = env.key_values("OTEL_RESOURCE_ATTRIBUTES");
    pairs.retain(|(key, _)| key != "service.name");
    pairs
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A lookup over fixed pairs.
    pub(crate) fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs: Vec<(String, String)> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn headers_are_split_and_percent_decoded() {
        let lookup = vars(&[("H", "api-key=secret%3D1 , x-team = a%20b,broken,=novalue,bad=%zz")]);
        let mut env = EnvReader::new(&lookup);
        assert_eq!(
            env.key_values("H"),
            [
                ("api-key".to_owned(), "secret=1".to_owned()),
                ("x-team".to_owned(), "a b".to_owned()),
            ]
        );
        assert_eq!(env.warnings.len(), 3, "{:?}", env.warnings);
    }

    #[test]
    fn malformed_numbers_are_ignored_with_a_warning() {
        let lookup = vars(&[("A", "12x"), ("B", "0"), ("C", " 250 "), ("D", "")]);
        let mut env = EnvReader::new(&lookup);
        assert_eq!(env.millis("A"), None);
        assert_eq!(env.positive("B"), None);
        assert_eq!(env.millis("C"), Some(std::time::Duration::from_millis(250)));
        assert_eq!(env.positive("D"), None);
        assert_eq!(env.millis("unset"), None);
        assert_eq!(env.warnings.len(), 2, "{:?}", env.warnings);
        assert!(env.warnings[0].contains("A=\"12x\""));
    }

    #[test]
    fn service_name_prefers_otel_service_name() {
        let both = vars(&[
            ("OTEL_SERVICE_NAME", "billing"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=cart,team=x"),
        ]);
        assert_eq!(service_name_from_lookup(both).as_deref(), Some("billing"));
        assert_eq!(service_name_from_lookup(vars(&[])), None);
    }

    #[test]
    fn percent_decoding_rejects_broken_escapes() {
        assert_eq!(percent_decode("a%2Cb").as_deref(), Some("a,b"));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
