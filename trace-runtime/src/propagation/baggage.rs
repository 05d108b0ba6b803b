//! The W3C `baggage` header: application key/value pairs that travel with a
//! request through every service it reaches.

use std::fmt::{self, Write as _};
use std::ops::ControlFlow;

use super::{HeaderError, trim_ows};

/// The value of a `baggage` header: an ordered list of members, each a key,
/// a value and optional properties, as W3C Baggage defines it.
///
/// Values are percent-decoded when parsed and percent-encoded when
/// formatted, so code only ever sees the plain text. Keys are unique: a
/// member inserted (or parsed) with a key already present replaces the
/// earlier one in its place.
///
/// ```
/// use trace_runtime::propagation::Baggage;
///
/// let mut baggage = Baggage::parse("userId=Am%C3%A9lie, serverNode = DF%2028");
/// assert_eq!(baggage.get("userId"), Some("Amélie"));
/// assert_eq!(baggage.get("serverNode"), Some("DF 28"));
///
/// baggage.insert("isProduction", "false")?;
/// assert_eq!(baggage.to_string(), "userId=Am%C3%A9lie,serverNode=DF%2028,isProduction=false");
/// # Ok::<(), trace_runtime::propagation::HeaderError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Baggage {
    members: Vec<BaggageMember>,
}

/// One `baggage` list member: `key=value`, then `;property` or
/// `;property=value` as many times as needed.
///
/// ```
/// use trace_runtime::propagation::BaggageMember;
/// let member = BaggageMember::new("userId", "alice")?
///     .with_property("pii", None)?
///     .with_property("ttl", Some("60 s"))?;
/// assert_eq!(member.to_string(), "userId=alice;pii;ttl=60%20s");
/// assert_eq!(member.properties()[1].value(), Some("60 s"));
/// # Ok::<(), trace_runtime::propagation::HeaderError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BaggageMember {
    key: String,
    value: String,
    properties: Vec<BaggageProperty>,
}

/// A property attached to a [`BaggageMember`]: a key with an optional value.
/// Baggage gives properties no meaning; they are carried as they are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BaggageProperty {
    key: String,
    value: Option<String>,
}

impl Baggage {
    /// The header name, lower-case as the specification advises sending it.
    pub const HEADER: &'static str = "baggage";

    /// The most members a formatted header holds, and the most kept when
    /// parsing: the specification's 64.
    pub const MAX_MEMBERS: usize = 64;

    /// The most bytes a formatted header holds, and the most member bytes
    /// kept when parsing: the specification's 8192.
    pub const MAX_BYTES: usize = 8192;

    /// The most bytes of a combined header read when parsing: four times
    /// [`Baggage::MAX_BYTES`], room for whitespace, empty and malformed
    /// members. The rest is dropped unread, reported once as
    /// [`HeaderError::TooLong`].
    pub const MAX_LEN: usize = 4 * Self::MAX_BYTES;

    /// An empty baggage.
    pub const fn new() -> Self {
        Self { members: Vec::new() }
    }

    /// Parses one `baggage` header value, leniently: a malformed member is
    /// dropped on its own and the others kept, and members beyond
    /// [`Baggage::MAX_MEMBERS`] or [`Baggage::MAX_BYTES`] are dropped. Use
    /// [`Baggage::parse_all`] to learn what was dropped.
    ///
    /// ```
    /// use trace_runtime::propagation::Baggage;
    /// let baggage = Baggage::parse("a=1, bad key=2, b=x=y;prop");
    /// let keys: Vec<&str> = baggage.iter().map(|m| m.key()).collect();
    /// assert_eq!(keys, ["a", "b"]);
    /// assert_eq!(baggage.get("b"), Some("x=y"));
    /// ```
    pub fn parse(value: &str) -> Self {
        Self::parse_all([value], |_| {})
    }

    /// Parses a `baggage` sent as several header fields, in the order
    /// received, calling `on_dropped` with the reason for each member left
    /// out. The limits apply to all the fields together; past
    /// [`Baggage::MAX_LEN`] bytes nothing more is read, and the unread rest
    /// is reported once.
    ///
    /// ```
    /// use trace_runtime::propagation::{Baggage, HeaderError};
    /// let mut dropped = Vec::new();
    /// let baggage = Baggage::parse_all(["a=1", "b=%zz,c=3"], |e| dropped.push(e));
    /// assert_eq!(baggage.len(), 2);
    /// assert_eq!(dropped, [HeaderError::PercentEncoding]);
    ///
    /// // A huge header is read no further than MAX_LEN bytes.
    /// let huge = "k=v,".repeat(1_000_000);
    /// let mut dropped = 0;
    /// let baggage = Baggage::parse_all([huge.as_str()], |_| dropped += 1);
    /// assert_eq!(baggage.len(), 1); // every member has the key `k`
    /// assert!(dropped < Baggage::MAX_LEN);
    /// ```
    pub fn parse_all<'a>(
        values: impl IntoIterator<Item = &'a str>,
        mut on_dropped: impl FnMut(HeaderError),
    ) -> Self {
        let mut parser = Parser::default();
        for value in values {
            if parser.field(Some(value), &mut on_dropped).is_break() {
                break;
            }
        }
        parser.baggage
    }

    /// The value for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.member(key).map(BaggageMember::value)
    }

    /// The member for `key`, with its properties, if present.
    ///
    /// ```
    /// use trace_runtime::propagation::Baggage;
    /// let baggage = Baggage::parse("k=v;p=1");
    /// assert_eq!(baggage.member("k").unwrap().properties()[0].key(), "p");
    /// ```
    pub fn member(&self, key: &str) -> Option<&BaggageMember> {
        self.members.iter().find(|m| m.key == key)
    }

    /// Sets `key` to `value`, without properties, replacing any member with
    /// that key in its place or adding one at the end. The value may be any
    /// text; the key must be an HTTP token (RFC 7230).
    ///
    /// ```
    /// use trace_runtime::propagation::{Baggage, HeaderError};
    /// let mut baggage = Baggage::new();
    /// baggage.insert("tenant", "ACME, Inc.")?;
    /// assert_eq!(baggage.to_string(), "tenant=ACME%2C%20Inc.");
    /// assert_eq!(baggage.insert("no spaces", "x"), Err(HeaderError::Key));
    /// # Ok::<(), HeaderError>(())
    /// ```
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), HeaderError> {
        self.insert_member(BaggageMember::new(key, value)?);
        Ok(())
    }

    /// Adds `member`, replacing any member with the same key in its place.
    pub fn insert_member(&mut self, member: BaggageMember) {
        match self.members.iter_mut().find(|m| m.key == member.key) {
            Some(slot) => *slot = member,
            None => self.members.push(member),
        }
    }

    /// Adds the members of `other`, each replacing any member with its key
    /// in place. They are moved, not copied.
    pub(crate) fn merge(&mut self, other: Self) {
        if self.members.is_empty() {
            *self = other;
        } else {
            for member in other.members {
                self.insert_member(member);
            }
        }
    }

    /// Removes the member for `key`, returning it.
    ///
    /// ```
    /// use trace_runtime::propagation::Baggage;
    /// let mut baggage = Baggage::parse("a=1,b=2");
    /// assert_eq!(baggage.remove("a").unwrap().value(), "1");
    /// assert_eq!(baggage.to_string(), "b=2");
    /// ```
    pub fn remove(&mut self, key: &str) -> Option<BaggageMember> {
        let index = self.members.iter().position(|m| m.key == key)?;
        Some(self.members.remove(index))
    }

    /// The members, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &BaggageMember> + DoubleEndedIterator {
        self.members.iter()
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are no members. An empty `baggage` should not be sent.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// Writes the header value: members joined by `,`, values percent-encoded.
///
/// Members that would take the header past [`Baggage::MAX_MEMBERS`] or
/// [`Baggage::MAX_BYTES`] are left out whole, and later ones that still fit
/// are kept, so the header sent never exceeds the limits even when the
/// baggage in memory does.
impl fmt::Display for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut count = 0;
        let mut bytes = 0;
        for member in &self.members {
            if count == Self::MAX_MEMBERS {
                break;
            }
            let added = member.encoded_len() + usize::from(count > 0);
            if bytes + added > Self::MAX_BYTES {
                continue;
            }
            if count > 0 {
                f.write_char(',')?;
            }
            write!(f, "{member}")?;
            count += 1;
            bytes += added;
        }
        Ok(())
    }
}

/// Reads `baggage` header fields one at a time, in the order received.
#[derive(Default)]
pub(crate) struct Parser {
    pub(crate) baggage: Baggage,
    /// Header fields read so far.
    fields: usize,
    /// Bytes read so far, with a comma between fields, as if joined.
    read: usize,
    /// Bytes of the members kept, with a comma between each: checked
    /// before a member is decoded, so the allocation stays bounded.
    kept: usize,
}

impl Parser {
    /// Adds the members of one header field (`None`: a field that is not
    /// text, dropped whole). Breaks once [`Baggage::MAX_LEN`] bytes are
    /// read: the rest is reported once and left unread.
    pub(crate) fn field(
        &mut self,
        value: Option<&str>,
        on_dropped: &mut impl FnMut(HeaderError),
    ) -> ControlFlow<()> {
        let Some(value) = value else {
            self.fields += 1;
            on_dropped(HeaderError::NotText);
            return ControlFlow::Continue(());
        };
        for (i, text) in value.split(',').enumerate() {
            // The comma before this piece: between fields, or within one.
            self.read += text.len() + usize::from(i > 0 || self.fields > 0);
            if self.read > Baggage::MAX_LEN {
                on_dropped(HeaderError::TooLong { limit: Baggage::MAX_LEN });
                return ControlFlow::Break(());
            }
            let text = trim_ows(text);
            if text.is_empty() {
                continue;
            }
            if self.baggage.members.len() == Baggage::MAX_MEMBERS {
                on_dropped(HeaderError::TooManyMembers { limit: Baggage::MAX_MEMBERS });
                continue;
            }
            let added = text.len() + usize::from(self.kept > 0);
            if self.kept + added > Baggage::MAX_BYTES {
                on_dropped(HeaderError::TooLong { limit: Baggage::MAX_BYTES });
                continue;
            }
            match BaggageMember::parse(text) {
                Ok(member) => {
                    self.kept += added;
                    self.baggage.insert_member(member);
                }
                Err(e) => on_dropped(e),
            }
        }
        self.fields += 1;
        ControlFlow::Continue(())
    }
}

impl BaggageMember {
    /// A member without properties. The key must be an HTTP token
    /// (RFC 7230 §3.2.6); the value may be any text.
    pub fn new(key: &str, value: &str) -> Result<Self, HeaderError> {
        if !is_token(key) {
            return Err(HeaderError::Key);
        }
        Ok(Self { key: key.to_owned(), value: value.to_owned(), properties: Vec::new() })
    }

    /// Adds the property `;key` (when `value` is `None`) or `;key=value`.
    /// The key must be an HTTP token; the value may be any text.
    pub fn with_property(mut self, key: &str, value: Option<&str>) -> Result<Self, HeaderError> {
        if !is_token(key) {
            return Err(HeaderError::Property);
        }
        self.properties
            .push(BaggageProperty { key: key.to_owned(), value: value.map(str::to_owned) });
        Ok(self)
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The value, percent-decoded.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The properties, in order.
    pub fn properties(&self) -> &[BaggageProperty] {
        &self.properties
    }

    /// Parses one trimmed, non-empty list member:
    ///
    /// ```abnf
    /// list-member = key OWS "=" OWS value *( OWS ";" OWS property )
    /// property    = key OWS "=" OWS value
    /// property    =/ key OWS
    /// ```
    ///
    /// The whole member is checked before anything is copied, so a rejected
    /// member allocates nothing; the property list is sized exactly.
    fn parse(text: &str) -> Result<Self, HeaderError> {
        // `;` cannot occur in a key or value, so it splits the properties off.
        let (head, properties) = match text.split_once(';') {
            Some((head, properties)) => (head, Some(properties)),
            None => (text, None),
        };
        let properties = properties.into_iter().flat_map(|p| p.split(';')).map(split_property);
        let (key, value) = head.split_once('=').ok_or(HeaderError::Member)?;
        let (key, value) = (trim_ows(key), trim_ows(value));
        if !is_token(key) {
            return Err(HeaderError::Key);
        }
        check_value(value)?;
        let mut count = 0;
        for (key, value) in properties.clone() {
            if !is_token(key) {
                return Err(HeaderError::Property);
            }
            if let Some(value) = value {
                check_value(value).map_err(|e| match e {
                    HeaderError::Value => HeaderError::Property,
                    other => other,
                })?;
            }
            count += 1;
        }
        let mut member = Self {
            key: key.to_owned(),
            value: decode(value),
            properties: Vec::with_capacity(count),
        };
        for (key, value) in properties {
            let value = value.map(decode);
            member.properties.push(BaggageProperty { key: key.to_owned(), value });
        }
        Ok(member)
    }

    /// The length of the formatted member, in bytes.
    fn encoded_len(&self) -> usize {
        struct Count(usize);
        impl fmt::Write for Count {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0 += s.len();
                Ok(())
            }
        }
        let mut count = Count(0);
        // Writing to `Count` cannot fail.
        let _ = write!(count, "{self}");
        count.0
    }
}

/// Writes `key=value;property=value`, values percent-encoded.
impl fmt::Display for BaggageMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)?;
        f.write_char('=')?;
        encode(&self.value, f)?;
        for property in &self.properties {
            f.write_char(';')?;
            f.write_str(&property.key)?;
            if let Some(value) = &property.value {
                f.write_char('=')?;
                encode(value, f)?;
            }
        }
        Ok(())
    }
}

impl BaggageProperty {
    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The value, percent-decoded, or `None` for a key-only property.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }
}

/// Whether `s` is an RFC 7230 `token`: one or more `tchar`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// `baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`: printable
/// ASCII but for `"`, `,`, `;` and `\`.
fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Splits a property into its trimmed key and, after `=`, its trimmed raw value.
fn split_property(property: &str) -> (&str, Option<&str>) {
    match property.split_once('=') {
        Some((key, value)) => (trim_ows(key), Some(trim_ows(value))),
        None => (trim_ows(property), None),
    }
}

/// Checks a raw value is `*baggage-octet`, each `%` followed by two hex digits.
fn check_value(raw: &str) -> Result<(), HeaderError> {
    let bytes = raw.as_bytes();
    if !bytes.iter().all(|&b| is_baggage_octet(b)) {
        return Err(HeaderError::Value);
    }
    let mut rest = bytes;
    while let Some(at) = rest.iter().position(|&b| b == b'%') {
        escaped_byte(&rest[at + 1..]).ok_or(HeaderError::PercentEncoding)?;
        rest = &rest[at + 3..];
    }
    Ok(())
}

/// Percent-decodes a value [`check_value`] accepted. Octets that do not form
/// UTF-8 become U+FFFD, as the specification requires.
fn decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    if !bytes.contains(&b'%') {
        return raw.to_owned();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((&b, tail)) = rest.split_first() {
        match escaped_byte(tail).filter(|_| b == b'%') {
            Some(escaped) => {
                out.push(escaped);
                rest = &tail[2..];
            }
            None => {
                out.push(b);
                rest = tail;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// The byte that `%` followed by `after` encodes, when `after` starts with
/// two hex digits.
fn escaped_byte(after: &[u8]) -> Option<u8> {
    match after {
        [hi, lo, ..] => Some((hex_value(*hi)? << 4) | hex_value(*lo)?),
        _ => None,
    }
}

/// The value of one hex digit, either case (RFC 3986 §2.1).
fn hex_value(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Percent-encodes every byte outside `baggage-octet`, and also `%` (which
/// the specification requires) and `+` (which form decoders would turn into
/// a space).
fn encode(text: &str, out: &mut impl fmt::Write) -> fmt::Result {
    for b in text.bytes() {
        if needs_encoding(b) {
            write!(out, "%{b:02X}")?;
        } else {
            out.write_char(char::from(b))?;
        }
    }
    Ok(())
}

fn needs_encoding(b: u8) -> bool {
    !is_baggage_octet(b) || b == b'%' || b == b'+'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(baggage: &Baggage) -> Vec<&str> {
        baggage.iter().map(BaggageMember::key).collect()
    }

    fn parse_reporting(value: &str) -> (Baggage, Vec<HeaderError>) {
        let mut dropped = Vec::new();
        let baggage = Baggage::parse_all([value], |e| dropped.push(e));
        (baggage, dropped)
    }

    #[test]
    fn parses_the_specification_example() {
        let baggage = Baggage::parse(
            "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
        );
        assert_eq!(keys(&baggage), ["key1", "key2", "key3"]);
        assert_eq!(baggage.get("key2"), Some("value2"));
        let key1 = baggage.member("key1").unwrap();
        assert_eq!(key1.properties().len(), 2);
        assert_eq!(key1.properties()[1].key(), "property2");
        assert_eq!(key1.properties()[1].value(), None);
        let key3 = baggage.member("key3").unwrap();
        assert_eq!(key3.properties()[0].value(), Some("propertyValue"));
        assert_eq!(
            baggage.to_string(),
            "key1=value1;property1;property2,key2=value2,key3=value3;propertyKey=propertyValue"
        );
    }

    #[test]
    fn values_are_percent_decoded_and_encoded() {
        let header = "userId=Am%C3%A9lie,serverNode=DF%2028,isProduction=false";
        let baggage = Baggage::parse(header);
        assert_eq!(baggage.get("userId"), Some("Amélie"));
        assert_eq!(baggage.get("serverNode"), Some("DF 28"));
        assert_eq!(baggage.to_string(), header);

        // Lower-case escapes decode too; `=` may appear in a value.
        assert_eq!(Baggage::parse("k=%c3%a9=x").get("k"), Some("é=x"));
        // Octets that are not UTF-8 become U+FFFD.
        assert_eq!(Baggage::parse("k=a%FFb%C3").get("k"), Some("a\u{fffd}b\u{fffd}"));
        // An empty value is allowed.
        assert_eq!(Baggage::parse("k=").get("k"), Some(""));

        // Everything outside baggage-octet is encoded, and `%` and `+` too.
        let mut baggage = Baggage::new();
        baggage.insert("k", "a b,c;d\"e\\f%g+h=i\u{e9}\t").unwrap();
        assert_eq!(baggage.to_string(), "k=a%20b%2Cc%3Bd%22e%5Cf%25g%2Bh=i%C3%A9%09");
    }

    #[test]
    fn a_malformed_member_is_dropped_alone() {
        let (baggage, dropped) = parse_reporting(
            "good=1, bad key=2, =3, quoted=\"x\", esc=%zz, trunc=%4, noequals, \
             prop=1;;, badprop=1;p q=2, ok=2;p=%41",
        );
        assert_eq!(keys(&baggage), ["good", "ok"]);
        assert_eq!(baggage.member("ok").unwrap().properties()[0].value(), Some("A"));
        assert_eq!(
            dropped,
            [
                HeaderError::Key,
                HeaderError::Key,
                HeaderError::Value,
                HeaderError::PercentEncoding,
                HeaderError::PercentEncoding,
                HeaderError::Member,
                HeaderError::Property,
                HeaderError::Property,
            ]
        );
    }

    #[test]
    fn later_duplicates_replace_earlier_ones_in_place() {
        let baggage = Baggage::parse("a=1,b=2,a=3");
        assert_eq!(keys(&baggage), ["a", "b"]);
        assert_eq!(baggage.get("a"), Some("3"));
    }

    #[test]
    fn multiple_header_fields_combine() {
        let baggage =
            Baggage::parse_all(["userId=alice", "serverNode=DF%2028,isProduction=false"], |_| {});
        assert_eq!(baggage.to_string(), "userId=alice,serverNode=DF%2028,isProduction=false");
    }

    #[test]
    fn parsing_keeps_at_most_64_members() {
        let header: Vec<String> = (0..70).map(|i| format!("k{i}=v")).collect();
        let (baggage, dropped) = parse_reporting(&header.join(","));
        assert_eq!(baggage.len(), Baggage::MAX_MEMBERS);
        assert_eq!(baggage.iter().next_back().unwrap().key(), "k63");
        assert_eq!(dropped, [HeaderError::TooManyMembers { limit: 64 }; 6]);
    }

    #[test]
    fn parsing_keeps_at_most_8192_bytes_of_members() {
        let big = format!("big={}", "x".repeat(5000));
        let header = format!("{big}1,{big}2,small=1");
        let (baggage, dropped) = parse_reporting(&header);
        assert_eq!(keys(&baggage), ["big", "small"]);
        assert_eq!(baggage.get("big").unwrap().len(), 5001);
        assert_eq!(dropped, [HeaderError::TooLong { limit: 8192 }]);
    }

    #[test]
    fn a_huge_header_is_read_only_up_to_max_len() {
        // 1.1 million members (about 10 MB): parsing stops after MAX_LEN
        // bytes, and the unread rest is reported once, not per member.
        let header = (0..1_100_000).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join(",");
        let (baggage, dropped) = parse_reporting(&header);
        assert_eq!(baggage.len(), Baggage::MAX_MEMBERS);
        assert_eq!(dropped.last(), Some(&HeaderError::TooLong { limit: Baggage::MAX_LEN }));
        let unread = dropped.iter().filter(|e| matches!(e, HeaderError::TooLong { .. })).count();
        assert_eq!(unread, 1);
        // Each member that ends within the bound (before a comma at or
        // under MAX_LEN) is read, and those past the 64th reported alone.
        let read = header.as_bytes()[..=Baggage::MAX_LEN].iter().filter(|&&b| b == b',').count();
        assert_eq!(dropped.len(), read - Baggage::MAX_MEMBERS + 1);
    }

    #[test]
    fn the_bound_counts_the_commas_between_fields() {
        // Two fields read as if joined with a comma: blank members up to
        // exactly MAX_LEN are read through; one comma more is not.
        let parse = |first: usize| {
            let blank = " ".repeat(first);
            let mut dropped = Vec::new();
            let baggage = Baggage::parse_all([blank.as_str(), "a=1"], |e| dropped.push(e));
            (baggage.len(), dropped)
        };
        assert_eq!(parse(Baggage::MAX_LEN - 4), (1, vec![]));
        assert_eq!(
            parse(Baggage::MAX_LEN - 3),
            (0, vec![HeaderError::TooLong { limit: Baggage::MAX_LEN }])
        );
    }

    #[test]
    fn formatting_drops_whole_members_beyond_64() {
        let mut baggage = Baggage::new();
        for i in 0..65 {
            baggage.insert(&format!("k{i}"), "v").unwrap();
        }
        assert_eq!(baggage.len(), 65);
        let header = baggage.to_string();
        assert_eq!(header.split(',').count(), Baggage::MAX_MEMBERS);
        assert!(header.ends_with(",k63=v"));
    }

    #[test]
    fn formatting_drops_whole_members_beyond_8192_bytes() {
        let mut baggage = Baggage::new();
        baggage.insert("a", &"x".repeat(4000)).unwrap();
        // 4000 spaces encode to 12,000 bytes: too big on its own.
        baggage.insert("b", &" ".repeat(4000)).unwrap();
        baggage.insert("c", &"y".repeat(4000)).unwrap();
        baggage.insert("d", &"z".repeat(4000)).unwrap();
        baggage.insert("e", "small").unwrap();
        let header = baggage.to_string();
        assert!(header.len() <= Baggage::MAX_BYTES);
        let kept: Vec<&str> = header.split(',').map(|m| &m[..1]).collect();
        assert_eq!(kept, ["a", "c", "e"]);
        // Exactly at the limit is kept.
        let mut exact = Baggage::new();
        exact.insert("k", &"v".repeat(Baggage::MAX_BYTES - 2)).unwrap();
        assert_eq!(exact.to_string().len(), Baggage::MAX_BYTES);
    }

    #[test]
    fn insert_remove_and_validation() {
        let mut baggage = Baggage::parse("a=1,b=2");
        baggage.insert("a", "9").unwrap();
        assert_eq!(baggage.to_string(), "a=9,b=2");
        assert_eq!(baggage.insert("", "x"), Err(HeaderError::Key));
        assert_eq!(baggage.insert("a,b", "x"), Err(HeaderError::Key));
        assert_eq!(
            BaggageMember::new("k", "v").unwrap().with_property("p;", None),
            Err(HeaderError::Property)
        );
        assert_eq!(baggage.remove("b").unwrap().key(), "b");
        assert_eq!(baggage.remove("b"), None);
        assert!(!baggage.is_empty());
        assert!(Baggage::parse(" , ,").is_empty());
        assert_eq!(Baggage::new().to_string(), "");
    }

    #[test]
    fn format_then_parse_gives_the_same_value() {
        let mut baggage = Baggage::new();
        baggage.insert("user", "Amélie O'Brien, 100% + €").unwrap();
        baggage.insert("empty", "").unwrap();
        baggage.insert_member(
            BaggageMember::new("t!#$&'*+-.^_`|~9", "=;,\"\\")
                .unwrap()
                .with_property("flag", None)
                .unwrap()
                .with_property("note", Some(" spaced ; out "))
                .unwrap(),
        );
        let header = baggage.to_string();
        assert_eq!(Baggage::parse(&header), baggage, "{header}");
    }
}
