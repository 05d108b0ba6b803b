//! Typed tag values.

use std::borrow::Cow;
use std::fmt;

/// The value of a tag: a string, an integer, a float or a bool.
///
/// Conversions exist from the primitive types and from strings, so tag APIs
/// take `impl Into<Value>`:
///
/// ```
/// use trace_runtime::Value;
/// assert_eq!(Value::from(42u8), Value::I64(42));
/// assert_eq!(Value::from("GET"), Value::Str("GET".into()));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A UTF-8 string; static strings are kept without copying.
    Str(Cow<'static, str>),
    /// A signed integer. Unsigned values above `i64::MAX` are kept as strings.
    I64(i64),
    /// A floating-point number.
    F64(f64),
    /// A boolean.
    Bool(bool),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => write!(f, "{s:?}"),
            Self::I64(v) => write!(f, "{v}"),
            Self::F64(v) => write!(f, "{v}"),
            Self::Bool(v) => write!(f, "{v}"),
        }
    }
}

macro_rules! from_signed {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            #[inline]
            fn from(v: $t) -> Self {
                Self::I64(i64::from(v))
            }
        }
    )*};
}
from_signed!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! from_wide {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            #[inline]
            fn from(v: $t) -> Self {
                i64::try_from(v).map_or_else(|_| Self::Str(v.to_string().into()), Self::I64)
            }
        }
    )*};
}
from_wide!(u64, u128, i128, usize, isize);

impl From<f32> for Value {
    #[inline]
    fn from(v: f32) -> Self {
        Self::F64(f64::from(v))
    }
}

impl From<f64> for Value {
    #[inline]
    fn from(v: f64) -> Self {
        Self::F64(v)
    }
}

impl From<bool> for Value {
    #[inline]
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

impl From<&'static str> for Value {
    #[inline]
    fn from(v: &'static str) -> Self {
        Self::Str(Cow::Borrowed(v))
    }
}

impl From<String> for Value {
    #[inline]
    fn from(v: String) -> Self {
        Self::Str(Cow::Owned(v))
    }
}

impl From<Cow<'static, str>> for Value {
    #[inline]
    fn from(v: Cow<'static, str>) -> Self {
        Self::Str(v)
    }
}

impl Value {
    /// The value as JSON for formats that show tags to people (Zipkin,
    /// Chrome traces): numbers stay numbers, and the non-finite floats JSON
    /// cannot hold become their text.
    pub(crate) fn to_display_json(&self) -> serde_json::Value {
        match self {
            Self::Str(s) => serde_json::Value::from(&**s),
            Self::I64(v) => serde_json::Value::from(*v),
            Self::F64(v) if v.is_finite() => serde_json::Value::from(*v),
            Self::F64(v) => serde_json::Value::from(v.to_string()),
            Self::Bool(v) => serde_json::Value::from(*v),
        }
    }
}

/// A tag: a key and a typed value.
pub type Tag = (Cow<'static, str>, Value);

/// Keeps one tag per key, OpenTelemetry's rule for attributes: the last
/// value set wins, in the place where the key first appeared. So
/// `#[traced(args(user))]` followed by `add_tag("user", …)` exports the
/// later value once, which OTLP requires.
#[inline]
pub(crate) fn keep_last_per_key(tags: &mut Vec<Tag>) {
    // Most spans have fewer than two tags: no call at all for them.
    if tags.len() > 1 {
        keep_last_of_several(tags);
    }
}

fn keep_last_of_several(tags: &mut Vec<Tag>) {
    // Spans have a handful of tags: comparing each pair costs less than
    // hashing, and nothing at all is moved unless a key repeats.
    let mut first = 0;
    while first < tags.len() {
        let mut later = first + 1;
        while later < tags.len() {
            if tags[later].0 == tags[first].0 {
                let (_, value) = tags.remove(later);
                tags[first].1 = value;
            } else {
                later += 1;
            }
        }
        first += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_keeps_its_last_value_in_its_first_place() {
        let mut tags: Vec<Tag> = vec![
            ("scenario".into(), Value::from("normal")),
            ("user".into(), Value::from(7)),
            ("scenario".into(), Value::from("slow")),
            ("user".into(), Value::from(8)),
            ("scenario".into(), Value::from("fail")),
        ];
        keep_last_per_key(&mut tags);
        assert_eq!(
            tags,
            [("scenario".into(), Value::from("fail")), ("user".into(), Value::from(8))]
        );
        let mut distinct: Vec<Tag> =
            vec![("a".into(), Value::from(1)), ("b".into(), Value::from(2))];
        keep_last_per_key(&mut distinct);
        assert_eq!(distinct.len(), 2);
    }
}
