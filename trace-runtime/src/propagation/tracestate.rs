//! The W3C `tracestate` header: vendor-specific data that travels with a
//! `traceparent`.

use std::fmt;
use std::str::FromStr;

use super::{HeaderError, trim_ows};

/// The value of a `tracestate` header: an ordered list of `key=value`
/// members, most recently updated first, as the W3C Trace Context
/// Recommendation defines it.
///
/// Members from other vendors are kept in the order received. Our own entry
/// goes to the front with [`TraceState::insert`], which also removes its
/// previous position. The list never holds more than
/// [`TraceState::MAX_MEMBERS`] members.
///
/// ```
/// use trace_runtime::propagation::TraceState;
///
/// let mut state = TraceState::parse("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE")?;
/// assert_eq!(state.get("congo"), Some("t61rcWkgMzE"));
///
/// state.insert("congo", "ucfJifl5GOE")?;
/// assert_eq!(state.to_string(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
/// # Ok::<(), trace_runtime::propagation::HeaderError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TraceState {
    /// `(key, value)` pairs, left-most (most recent) first; keys are unique.
    members: Vec<(String, String)>,
}

impl TraceState {
    /// The header name, lower-case as the Recommendation advises sending it.
    pub const HEADER: &'static str = "tracestate";

    /// The most list members a `tracestate` may hold.
    pub const MAX_MEMBERS: usize = 32;

    /// The longest combined value [`TraceState::parse_all`] reads, in bytes.
    ///
    /// 32 members of a 256-character key and a 256-character value take
    /// 16,447 bytes with their commas; the bound is twice that, rounded, to
    /// leave room for optional whitespace and empty members.
    pub const MAX_LEN: usize = 32 * 1024;

    /// An empty `tracestate`.
    pub const fn new() -> Self {
        Self { members: Vec::new() }
    }

    /// Parses one `tracestate` header value.
    ///
    /// Spaces and tabs around members, and empty members, are ignored. Any
    /// error means the whole `tracestate` must be dropped; the `traceparent`
    /// stays valid.
    ///
    /// ```
    /// use trace_runtime::propagation::{HeaderError, TraceState};
    /// assert_eq!(TraceState::parse("a=1,,b=2")?.len(), 2);
    /// assert_eq!(TraceState::parse("a=1,a=2"), Err(HeaderError::DuplicateKey));
    /// assert_eq!(TraceState::parse("A=1"), Err(HeaderError::Key));
    /// # Ok::<(), HeaderError>(())
    /// ```
    pub fn parse(value: &str) -> Result<Self, HeaderError> {
        Self::parse_all([value])
    }

    /// Parses a `tracestate` sent as several header fields, in the order
    /// received: the same as parsing the values joined with `,`.
    ///
    /// ```
    /// use trace_runtime::propagation::TraceState;
    /// let state = TraceState::parse_all(["rojo=00f067aa0ba902b7", "congo=t61rcWkgMzE"])?;
    /// assert_eq!(state.to_string(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    /// # Ok::<(), trace_runtime::propagation::HeaderError>(())
    /// ```
    pub fn parse_all<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Self, HeaderError> {
        let mut state = Self::new();
        // The joining commas count towards the length, as if joined.
        let mut len = 0usize;
        for (i, value) in values.into_iter().enumerate() {
            len += value.len() + usize::from(i > 0);
            if len > Self::MAX_LEN {
                return Err(HeaderError::TooLong { limit: Self::MAX_LEN });
            }
            for member in value.split(',') {
                let member = trim_ows(member);
                if member.is_empty() {
                    continue;
                }
                let (key, value) = member.split_once('=').ok_or(HeaderError::Member)?;
                check_key(key)?;
                check_value(value)?;
                if state.get(key).is_some() {
                    return Err(HeaderError::DuplicateKey);
                }
                if state.members.len() == Self::MAX_MEMBERS {
                    return Err(HeaderError::TooManyMembers { limit: Self::MAX_MEMBERS });
                }
                state.members.push((key.to_owned(), value.to_owned()));
            }
        }
        Ok(state)
    }

    /// The value for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Puts `key=value` at the front, removing any previous entry for `key`,
    /// as a vendor does when a trace re-enters its system. When that makes
    /// the list longer than [`TraceState::MAX_MEMBERS`], the last member is
    /// dropped.
    ///
    /// Fails, changing nothing, when the key or value breaks the grammar.
    ///
    /// ```
    /// use trace_runtime::propagation::{HeaderError, TraceState};
    /// let mut state = TraceState::parse("a=1,b=2,c=3")?;
    /// state.insert("b", "9")?;
    /// assert_eq!(state.to_string(), "b=9,a=1,c=3");
    /// assert_eq!(state.insert("b", "no,commas"), Err(HeaderError::Value));
    /// # Ok::<(), HeaderError>(())
    /// ```
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), HeaderError> {
        check_key(key)?;
        check_value(value)?;
        self.remove(key);
        self.members.insert(0, (key.to_owned(), value.to_owned()));
        self.members.truncate(Self::MAX_MEMBERS);
        Ok(())
    }

    /// Removes the entry for `key`, returning its value.
    ///
    /// ```
    /// use trace_runtime::propagation::TraceState;
    /// let mut state = TraceState::parse("a=1,b=2")?;
    /// assert_eq!(state.remove("a").as_deref(), Some("1"));
    /// assert_eq!(state.to_string(), "b=2");
    /// # Ok::<(), trace_runtime::propagation::HeaderError>(())
    /// ```
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.members.iter().position(|(k, _)| k == key)?;
        Some(self.members.remove(index).1)
    }

    /// The `(key, value)` members, left-most first.
    ///
    /// ```
    /// use trace_runtime::propagation::TraceState;
    /// let state = TraceState::parse("a=1,b=2")?;
    /// let keys: Vec<&str> = state.iter().map(|(key, _)| key).collect();
    /// assert_eq!(keys, ["a", "b"]);
    /// # Ok::<(), trace_runtime::propagation::HeaderError>(())
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + DoubleEndedIterator {
        self.members.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are no members. An empty `tracestate` should not be sent.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

impl FromStr for TraceState {
    type Err = HeaderError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Writes the members joined by `,`, with no whitespace.
impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, value)) in self.members.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{key}={value}")?;
        }
        Ok(())
    }
}

/// Checks the key grammar:
///
/// ```abnf
/// key = simple-key / multi-tenant-key
/// simple-key = lcalpha 0*255( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
/// multi-tenant-key = tenant-id "@" system-id
/// tenant-id = ( lcalpha / DIGIT ) 0*240( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
/// system-id = lcalpha 0*13( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
/// ```
fn check_key(key: &str) -> Result<(), HeaderError> {
    let valid = match key.split_once('@') {
        None => is_key_part(key, 256, false),
        Some((tenant, system)) => is_key_part(tenant, 241, true) && is_key_part(system, 14, false),
    };
    if valid { Ok(()) } else { Err(HeaderError::Key) }
}

/// A non-empty run of at most `max` key characters, starting with a
/// lower-case letter (or a digit, when `digit_first`).
fn is_key_part(part: &str, max: usize, digit_first: bool) -> bool {
    let bytes = part.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return false;
    };
    bytes.len() <= max
        && (first.is_ascii_lowercase() || (digit_first && first.is_ascii_digit()))
        && rest.iter().all(|&b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/')
        })
}

/// Checks the value grammar:
///
/// ```abnf
/// value    = 0*255(chr) nblk-chr
/// nblk-chr = %x21-2B / %x2D-3C / %x3E-7E
/// chr      = %x20 / nblk-chr
/// ```
fn check_value(value: &str) -> Result<(), HeaderError> {
    let bytes = value.as_bytes();
    let valid = matches!(bytes.last(), Some(&last) if last != b' ')
        && bytes.len() <= 256
        && bytes.iter().all(|&b| matches!(b, 0x20..=0x7e) && b != b',' && b != b'=');
    if valid { Ok(()) } else { Err(HeaderError::Value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What parsing one header must give: the re-formatted header, or an error.
    type Want = Result<String, HeaderError>;

    fn ok(s: impl Into<String>) -> Want {
        Ok(s.into())
    }

    fn members(n: usize) -> String {
        (1..=n).map(|i| format!("k{i}=v{i}")).collect::<Vec<_>>().join(",")
    }

    /// One row per rule of the W3C Trace Context Recommendation (2021-11-23,
    /// §3.3 "Tracestate Header"), the rule quoted word for word.
    fn rules() -> Vec<(&'static str, String, Want)> {
        let key256 = format!("a{}", "b".repeat(255));
        let tenant241 = format!("1{}", "t".repeat(240));
        let value256 = format!(" {}", "v".repeat(255));
        vec![
            (
                "§3.3.2 Multiple tracing systems (with different formatting): \
                 `tracestate: rojo=00f067aa0ba902b7,congo=t61rcWkgMzE`",
                "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".into(),
                ok("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
            ),
            (
                "§3.3.1.1 A `list-member` is a key/value pair separated by an equals sign (`=`).",
                "rojo=1,congo".into(),
                Err(HeaderError::Member),
            ),
            (
                "§3.3.1.1 Spaces and horizontal tabs surrounding `list-member`s are ignored.",
                " \trojo=1 \t, \t congo=2\t ".into(),
                ok("rojo=1,congo=2"),
            ),
            (
                "§3.3.1.1 There can be a maximum of 32 `list-member`s in a `list`. (32 members)",
                members(32),
                ok(members(32)),
            ),
            (
                "§3.3.1.1 There can be a maximum of 32 `list-member`s in a `list`. (33 members)",
                members(33),
                Err(HeaderError::TooManyMembers { limit: 32 }),
            ),
            (
                "§3.3.1.1 Empty and whitespace-only list members are allowed.",
                "rojo=1,, \t ,congo=2,".into(),
                ok("rojo=1,congo=2"),
            ),
            (
                "§3.3.1.1 Vendors MUST accept empty `tracestate` headers but SHOULD avoid \
                 sending them.",
                String::new(),
                ok(""),
            ),
            (
                "§3.3.1.2 `list-member = (key \"=\" value) / OWS` (no whitespace between the \
                 key and `=`)",
                "rojo =1".into(),
                Err(HeaderError::Key),
            ),
            (
                "§3.3.1.3.1 `simple-key = lcalpha 0*255( lcalpha / DIGIT / \"_\" / \"-\"/ \"*\" \
                 / \"/\" )` (all characters, 256 long)",
                format!("a0_-*/=1,{key256}=2"),
                ok(format!("a0_-*/=1,{key256}=2")),
            ),
            (
                "§3.3.1.3.1 `simple-key = lcalpha 0*255( lcalpha / DIGIT / \"_\" / \"-\"/ \"*\" \
                 / \"/\" )` (257 long)",
                format!("{key256}b=1"),
                Err(HeaderError::Key),
            ),
            (
                "§3.3.1.3.1 `simple-key = lcalpha 0*255( ... )` (a simple key may not start \
                 with a digit)",
                "1rojo=1".into(),
                Err(HeaderError::Key),
            ),
            (
                "§3.3.1.3.1 Note: Identifiers MUST begin with a lowercase letter or a digit, \
                 and can only contain lowercase letters (`a`-`z`), digits (`0`-`9`), \
                 underscores (`_`), dashes (`-`), asterisks (`*`), and forward slashes (`/`).",
                "ro.jo=1".into(),
                Err(HeaderError::Key),
            ),
            ("§3.3.1.3.1 `lcalpha = %x61-7A ; a-z`", "Rojo=1".into(), Err(HeaderError::Key)),
            (
                "§3.3.1.3.1 `multi-tenant-key = tenant-id \"@\" system-id`",
                "fw529a3039@dt=1,t@s@x=2".into(),
                Err(HeaderError::Key),
            ),
            (
                "§3.3.1.3.1 `tenant-id = ( lcalpha / DIGIT ) 0*240( lcalpha / DIGIT / \"_\" / \
                 \"-\"/ \"*\" / \"/\" )` (241 long, digit first)",
                format!("{tenant241}@dt=1"),
                ok(format!("{tenant241}@dt=1")),
            ),
            (
                "§3.3.1.3.1 `tenant-id = ( lcalpha / DIGIT ) 0*240( ... )` (242 long)",
                format!("{tenant241}t@dt=1"),
                Err(HeaderError::Key),
            ),
            (
                "§3.3.1.3.1 `tenant-id = ( lcalpha / DIGIT ) 0*240( ... )` (empty)",
                "@dt=1".into(),
                Err(HeaderError::Key),
            ),
            (
                "§3.3.1.3.1 `system-id = lcalpha 0*13( lcalpha / DIGIT / \"_\" / \"-\"/ \"*\" \
                 / \"/\" )` (14 long)",
                "t@abcdefghijklmn=1".into(),
                ok("t@abcdefghijklmn=1"),
            ),
            (
                "§3.3.1.3.1 `system-id = lcalpha 0*13( ... )` (15 long)",
                "t@abcdefghijklmno=1".into(),
                Err(HeaderError::Key),
            ),
            (
                "§3.3.1.3.1 `system-id = lcalpha 0*13( ... )` (digit first)",
                "t@1dt=1".into(),
                Err(HeaderError::Key),
            ),
            (
                "§3.3.1.3.2 The value is an opaque string containing up to 256 printable \
                 ASCII [RFC0020] characters (i.e., the range 0x20 to 0x7E) except comma \
                 (`,`) and (`=`). (256 long, leading space kept)",
                format!("rojo={value256}"),
                ok(format!("rojo={value256}")),
            ),
            (
                "§3.3.1.3.2 The value is an opaque string containing up to 256 printable \
                 ASCII [RFC0020] characters ... (257 long)",
                format!("rojo={value256}v"),
                Err(HeaderError::Value),
            ),
            (
                "§3.3.1.3.2 ... except comma (`,`) and (`=`).",
                "rojo=a=b".into(),
                Err(HeaderError::Value),
            ),
            (
                "§3.3.1.3.2 Note that this also excludes tabs, newlines, carriage returns, etc.",
                "rojo=a\tb".into(),
                Err(HeaderError::Value),
            ),
            (
                "§3.3.1.3.2 ... printable ASCII [RFC0020] characters (i.e., the range 0x20 to \
                 0x7E) (non-ASCII)",
                "rojo=caf\u{e9}".into(),
                Err(HeaderError::Value),
            ),
            (
                "§3.3.1.3.2 `value = 0*255(chr) nblk-chr` (a value needs one non-blank \
                 character)",
                "rojo=,congo=1".into(),
                Err(HeaderError::Value),
            ),
            (
                "§3.3.1.3.2 `nblk-chr = %x21-2B / %x2D-3C / %x3E-7E` `chr = %x20 / nblk-chr` \
                 (every printable character but `,` and `=`)",
                "rojo=!\"#$%&'()*+-./0:;<>?@AZ[\\]^_`az{|}~".into(),
                ok("rojo=!\"#$%&'()*+-./0:;<>?@AZ[\\]^_`az{|}~"),
            ),
            (
                "§3.3.1.4 Only one entry per key is allowed because the entry represents that \
                 last position in the trace.",
                "congo=1,rojo=2,congo=3".into(),
                Err(HeaderError::DuplicateKey),
            ),
            (
                "§3.3.1.5 Vendors SHOULD propagate at least 512 characters of a combined header.",
                format!("a={0},b={0},c={0}", "x".repeat(200)),
                ok(format!("a={0},b={0},c={0}", "x".repeat(200))),
            ),
            (
                "§3.3.1.5 (this crate drops a combined header longer than TraceState::MAX_LEN \
                 unread)",
                format!("a=1{}", " ".repeat(TraceState::MAX_LEN)),
                Err(HeaderError::TooLong { limit: TraceState::MAX_LEN }),
            ),
        ]
    }

    #[test]
    fn tracestate_validity_rules() {
        for (rule, input, want) in rules() {
            let got = TraceState::parse(&input).map(|s| s.to_string());
            assert_eq!(got, want, "\nrule: {rule}\ninput: {input:?}");
        }
    }

    #[test]
    fn multiple_header_fields_combine_as_if_joined_with_commas() {
        let rule = "§3.3.1.1 When receiving multiple `tracestate` header fields, they MUST be \
                    combined into a single header according to [RFC7230].";
        let fields = ["rojo=1", "", " congo=2 ,", "a=3"];
        let joined = TraceState::parse(&fields.join(","));
        assert_eq!(TraceState::parse_all(fields), joined, "{rule}");
        assert_eq!(joined.unwrap().to_string(), "rojo=1,congo=2,a=3", "{rule}");
        // The limits apply to the combination.
        let halves = [members(16), members(17).replace('k', "j")];
        assert_eq!(
            TraceState::parse_all(halves.iter().map(String::as_str)),
            Err(HeaderError::TooManyMembers { limit: 32 }),
            "{rule}"
        );
        let duplicated = ["rojo=1", "rojo=2"];
        assert_eq!(TraceState::parse_all(duplicated), Err(HeaderError::DuplicateKey), "{rule}");
    }

    #[test]
    fn insert_follows_the_mutation_rules() {
        let mut state = TraceState::parse("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,x@y=1").unwrap();

        // §3.5 "Modified keys SHOULD be moved to the beginning (left) of the list."
        // and "the order of unmodified key/value pairs MUST be preserved."
        state.insert("congo", "ucfJifl5GOE").unwrap();
        assert_eq!(state.to_string(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7,x@y=1");

        // §3.5 "The new key/value pair SHOULD be added to the beginning of the list."
        state.insert("new", "v").unwrap();
        assert_eq!(state.iter().next(), Some(("new", "v")));
        assert_eq!(state.len(), 4);

        // Invalid input changes nothing.
        assert_eq!(state.insert("Bad", "v"), Err(HeaderError::Key));
        assert_eq!(state.insert("ok", "trailing "), Err(HeaderError::Value));
        assert_eq!(state.len(), 4);

        // §3.5 "Delete a key/value pair. Any key/value pair MAY be deleted."
        assert_eq!(state.remove("rojo").as_deref(), Some("00f067aa0ba902b7"));
        assert_eq!(state.remove("rojo"), None);
        assert_eq!(state.to_string(), "new=v,congo=ucfJifl5GOE,x@y=1");
    }

    #[test]
    fn insert_into_a_full_list_drops_the_last_member() {
        // §3.3.1.5 "the vendor MUST truncate whole entries. ... Then entries
        // SHOULD be removed starting from the end of `tracestate`."
        let mut state = TraceState::parse(&members(32)).unwrap();
        state.insert("ours", "1").unwrap();
        assert_eq!(state.len(), TraceState::MAX_MEMBERS);
        assert_eq!(state.iter().next(), Some(("ours", "1")));
        assert_eq!(state.iter().next_back(), Some(("k31", "v31")));
        assert_eq!(state.get("k32"), None);

        // Updating an entry already present drops nothing.
        let mut state = TraceState::parse(&members(32)).unwrap();
        state.insert("k32", "new").unwrap();
        assert_eq!(state.len(), 32);
        assert_eq!(state.iter().next_back(), Some(("k31", "v31")));
    }

    #[test]
    fn format_then_parse_gives_the_same_value() {
        let mut state = TraceState::new();
        for (key, value) in [("a", " x"), ("t@s", "!~"), ("k/_*-", "1")] {
            state.insert(key, value).unwrap();
        }
        assert_eq!(TraceState::parse(&state.to_string()), Ok(state.clone()));
        assert_eq!(state.to_string().parse(), Ok(state));
        assert_eq!(TraceState::default().to_string(), "");
    }
}
