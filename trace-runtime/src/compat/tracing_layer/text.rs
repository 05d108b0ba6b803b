//! `&str` field values as tag values, without a `String` per span where
//! the same short text comes from the same place again.
//!
//! A tag's text is a `Cow<'static, str>`, and `tracing` lends a `&str`
//! field only for the call, so each such value would be copied into a new
//! `String`: an allocation on the application thread and a free wherever
//! the span is exported, on every span (the two cost more than the rest of
//! the field's handling). Yet most of these values are literals
//! (`#[instrument(fields(db = "orders"))]`) or text kept in a long-lived
//! place, passed again and again from the same address. A text seen twice
//! at the same address with the same content (a buffer reused for other
//! text does not count) is copied once for the process and borrowed from
//! there on; its content is compared on every use, so text that changed at
//! that address is never mistaken for the copy. What the process keeps is
//! bounded ([`BUDGET`]), after which values are copied per span as before.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Longer values are copied per span: seldom repeated, and the copy is a
/// smaller part of their cost.
const MAX_LEN: usize = 64;

/// At most this many bytes are kept for the process: texts, their
/// allocations and their entries in the set ([`ENTRY_OVERHEAD`] each).
const BUDGET: usize = 64 * 1024;

/// Bytes a kept text costs beyond its own: an allocation's header and
/// rounding (16) and its share of the set's table (2 words, at most half
/// full: 32), so that many short texts stay within [`BUDGET`] too.
const ENTRY_OVERHEAD: usize = 48;

/// Slots of a thread's cache: a power of two.
const SLOTS: usize = 64;

/// A thread's note of a text seen at `address`.
#[derive(Clone, Copy)]
struct Slot {
    address: usize,
    len: usize,
    /// A hash of the text last seen there, not kept.
    content: u64,
    /// The process's copy (`len` bytes), once the text was seen there
    /// twice; empty until then (no empty text is kept), which spares the
    /// look-up a test: only an empty text is the same as an empty copy, and
    /// an empty text is borrowed as "" anyway.
    kept: &'static str,
}

impl Slot {
    const EMPTY: Self = Self { address: 0, len: 0, content: 0, kept: "" };
}

thread_local! {
    /// Texts this thread saw, by address: one slot per address hash. Cells,
    /// not a `RefCell`: nothing here runs user code or holds a slot across
    /// a call, and a borrow flag set and cleared costs the hit path more
    /// than its look-up.
    static SEEN: [Cell<Slot>; SLOTS] = const { [const { Cell::new(Slot::EMPTY) }; SLOTS] };
}

/// The texts kept for the process: one copy each, whichever threads ask.
static KEPT: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);

/// Bytes of [`KEPT`].
static KEPT_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The process's copy of `text` if this thread saw it at this address
/// before and kept it: the path of every span but a text's first two, and
/// inlined into the field's visitor for that. Where it finds none, [`note`]
/// gives the tag value.
#[inline]
pub(super) fn kept(text: &str) -> Option<&'static str> {
    // No check of the length: no slot keeps an empty text or one over
    // `MAX_LEN`, so such a text never matches a kept one.
    let address = text.as_ptr() as usize;
    SEEN.try_with(|seen| {
        let slot = seen[slot_of(address)].get();
        (slot.address == address && same(slot.kept.as_bytes(), text.as_bytes()))
            .then_some(slot.kept)
    })
    .ok()
    .flatten()
}

/// `text` as a tag value where [`kept`] found no copy: noted in this
/// thread's slot for its address, kept once seen there twice, else copied.
#[inline(never)]
pub(super) fn note(text: &str) -> Cow<'static, str> {
    if text.is_empty() {
        return Cow::Borrowed("");
    }
    if text.len() > MAX_LEN {
        return Cow::Owned(text.to_owned());
    }
    let address = text.as_ptr() as usize;
    let kept = SEEN.try_with(|seen| {
        let cell = &seen[slot_of(address)];
        let mut slot = cell.get();
        let content = content_hash(text);
        if slot.address != address || slot.len != text.len() || !slot.kept.is_empty() {
            // New here, or other text where a kept one was (as if new).
            slot = Slot { address, len: text.len(), content, kept: "" };
        } else if content != slot.content {
            slot.content = content;
        } else {
            slot.kept = keep(text, &KEPT_BYTES, BUDGET).unwrap_or_default();
        }
        cell.set(slot);
        Some(slot.kept).filter(|kept| !kept.is_empty())
    });
    match kept {
        Ok(Some(kept)) => Cow::Borrowed(kept),
        _ => Cow::Owned(text.to_owned()),
    }
}

/// Whether two texts are the same, compared inline: `==` calls `bcmp`,
/// which costs more than the compare itself for texts of a few bytes. The
/// last word is read overlapping the one before, so no length needs a
/// byte-by-byte tail.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let len = a.len();
    // Two compares reach each class of lengths.
    if len < 4 {
        if len < 2 {
            a.first() == b.first()
        } else {
            let word = |s: &[u8], at: usize| u16::from_ne_bytes(s[at..at + 2].try_into().unwrap());
            word(a, 0) == word(b, 0) && word(a, len - 2) == word(b, len - 2)
        }
    } else if len < 8 {
        let word = |s: &[u8], at: usize| u32::from_ne_bytes(s[at..at + 4].try_into().unwrap());
        word(a, 0) == word(b, 0) && word(a, len - 4) == word(b, len - 4)
    } else {
        let word = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().unwrap());
        let mut at = 0;
        while at + 8 < len {
            if word(a, at) != word(b, at) {
                return false;
            }
            at += 8;
        }
        word(a, len - 8) == word(b, len - 8)
    }
}

#[inline]
fn slot_of(address: usize) -> usize {
    // Literals sit close together: the multiplication spreads them. The
    // length is left out (texts of several lengths at one address take
    // turns in its slot, which checks the length), as it costs every
    // look-up and tells literals apart no better.
    ((address as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SLOTS.trailing_zeros())) as usize
}

/// A hash of a short text, to tell whether the text at an address is the
/// one seen there before (a rare collision only keeps a text seen once).
fn content_hash(text: &str) -> u64 {
    let mut hash = text.len() as u64;
    for chunk in text.as_bytes().chunks(8) {
        let mut word = [0; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        hash =
            (hash ^ u64::from_le_bytes(word)).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
    hash
}

/// The process's copy of `text`, made if `bytes` stays within `budget`.
#[cold]
fn keep(text: &str, bytes: &AtomicUsize, budget: usize) -> Option<&'static str> {
    // What a kept text costs the process: its bytes, the allocation's
    // header, and its entry in the set (two words, at most half full).
    let cost = text.len() + ENTRY_OVERHEAD;
    // Past the budget, no lock is taken for nothing.
    if bytes.load(Ordering::Relaxed) + cost > budget {
        return None;
    }
    let mut kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
    let kept = kept.get_or_insert_with(HashSet::new);
    if let Some(copy) = kept.get(text) {
        return Some(copy);
    }
    bytes
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
            (used + cost <= budget).then_some(used + cost)
        })
        .ok()?;
    // Kept for the life of the process, within the budget: tags of spans
    // in any exporter's hands may borrow it.
    let copy: &'static str = Box::leak(text.into());
    kept.insert(copy);
    Some(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the field visitor makes of `text`.
    fn value(text: &str) -> Cow<'static, str> {
        kept(text).map_or_else(|| note(text), Cow::Borrowed)
    }

    #[test]
    fn a_text_seen_twice_at_one_address_is_borrowed_from_then_on() {
        let text = String::from("orders-db");
        let first = value(&text);
        assert!(matches!(first, Cow::Owned(_)), "seen once: copied");
        let second = value(&text);
        let third = value(&text);
        assert_eq!((&*first, &*second, &*third), ("orders-db", "orders-db", "orders-db"));
        assert!(matches!((&second, &third), (Cow::Borrowed(_), Cow::Borrowed(_))));
        // Another thread, the same text: the same copy.
        let again = std::thread::scope(|scope| {
            scope.spawn(|| (value(&text), value(&text)).1).join().expect("no panic")
        });
        match (second, again) {
            (Cow::Borrowed(a), Cow::Borrowed(b)) => assert!(std::ptr::eq(a, b), "one copy"),
            other => panic!("not borrowed: {other:?}"),
        }
    }

    #[test]
    fn text_that_changed_at_its_address_is_never_taken_for_the_copy() {
        let mut buffer = *b"region=eu";
        for _ in 0..2 {
            value(std::str::from_utf8(&buffer).unwrap());
        }
        buffer.copy_from_slice(b"region=us");
        let changed = value(std::str::from_utf8(&buffer).unwrap());
        assert_eq!(changed, "region=us");
        buffer.copy_from_slice(b"region=eu");
        assert_eq!(value(std::str::from_utf8(&buffer).unwrap()), "region=eu");
    }

    #[test]
    fn a_buffer_reused_for_other_text_keeps_nothing_until_a_text_repeats() {
        let mut buffer = *b"job-0001";
        for job in 2..6 {
            let text = std::str::from_utf8(&buffer).unwrap();
            assert!(matches!(value(text), Cow::Owned(_)), "each text seen once: {text}");
            buffer.copy_from_slice(format!("job-{job:04}").as_bytes());
        }
        let text = std::str::from_utf8(&buffer).unwrap();
        assert!(matches!(value(text), Cow::Owned(_)));
        assert!(matches!(value(text), Cow::Borrowed("job-0005")), "seen twice");
    }

    #[test]
    fn texts_differing_in_any_byte_or_length_are_not_the_same() {
        let text: Vec<u8> = (0..MAX_LEN as u8).map(|i| b'a' + i % 26).collect();
        assert!(same(b"", b""));
        for len in 1..=MAX_LEN {
            let a = &text[..len];
            // Another copy: equal content at another address.
            let copy = a.to_vec();
            assert!(same(a, &copy), "{len} bytes");
            assert!(!same(a, &text[..len - 1]), "{len} bytes against one fewer");
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] ^= 1;
                assert!(!same(a, &b), "{len} bytes, differing at {at}");
            }
        }
    }

    #[test]
    fn long_and_empty_texts_are_never_kept() {
        let long = "x".repeat(MAX_LEN + 1);
        for _ in 0..3 {
            assert!(matches!(value(&long), Cow::Owned(_)));
            assert_eq!(value(&long), long);
        }
        assert_eq!(value(""), "");
    }

    #[test]
    fn nothing_is_kept_past_the_budget() {
        // Each text costs its 13 bytes and the entry's overhead.
        let each = 13 + ENTRY_OVERHEAD;
        let budget = 2 * each + 10;
        let bytes = AtomicUsize::new(0);
        assert_eq!(keep("budget-test-a", &bytes, budget), Some("budget-test-a"));
        assert_eq!(keep("budget-test-a", &bytes, budget), Some("budget-test-a"), "one copy");
        assert_eq!(bytes.load(Ordering::Relaxed), each);
        assert_eq!(keep("budget-test-b", &bytes, budget), Some("budget-test-b"));
        assert_eq!(keep("budget-test-c", &bytes, budget), None, "a third is past the budget");
        assert_eq!(bytes.load(Ordering::Relaxed), 2 * each);
    }
}
