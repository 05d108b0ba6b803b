//! The layer's own table of its spans, by `tracing` span ID.
//!
//! The registry's extensions would hold them too, but each insert there
//! boxes the value into a map behind the span's lock, each look-up takes a
//! reference to the span's slot and that lock, and the registry frees the
//! box when the span closes: most of what a span cost the layer. Here a
//! span costs one insert, a look-up per enter (none when a thread enters
//! the span it created last) and one removal, each under
//! the lock of one of a few shards, with nothing allocated once the shards'
//! maps have grown.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tracing_core::span::Id;

/// Shards of the table: a power of two, so that a shard is picked by a
/// shift; enough that threads rarely wait on each other.
const SHARDS: usize = 16;

/// The spans of one layer (so of one subscriber: IDs are per subscriber).
pub(super) struct Table<V> {
    shards: [Mutex<Shard<V>>; SHARDS],
}

type Shard<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

impl<V: Clone> Table<V> {
    pub(super) fn new() -> Self {
        Self { shards: std::array::from_fn(|_| Mutex::new(Shard::default())) }
    }

    #[inline]
    fn shard(&self, id: u64) -> MutexGuard<'_, Shard<V>> {
        // Registry IDs differ mostly in their low bits: spread them first.
        // The shard takes bits below the top seven, which the map's hash
        // table uses as its tags (the same bits would leave a shard's keys
        // only three bits of tag to tell them apart).
        let spread = id.wrapping_mul(FIBONACCI);
        let index = ((spread >> 32) as usize) % SHARDS;
        // Nothing runs user code under the lock, so it is never poisoned
        // half-way; if it were, the map is still consistent.
        self.shards[index].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `state` as the span `id`'s.
    #[inline]
    pub(super) fn insert(&self, id: &Id, state: V) {
        let id = id.into_u64();
        let replaced = self.shard(id).insert(id, state);
        // Outside the lock (a span whose close never came, if ever).
        drop(replaced);
    }

    /// Runs `f` on the state of the span `id`, if the layer keeps one.
    /// `f` runs under the shard's lock: it must not run user code.
    #[inline]
    pub(super) fn with<R>(&self, id: &Id, f: impl FnOnce(&V) -> R) -> Option<R> {
        let id = id.into_u64();
        self.shard(id).get(&id).map(f)
    }

    /// Runs `f` on the state of the span `id` to change it, if the layer
    /// keeps one. `f` runs under the shard's lock: it must not run user code.
    #[inline]
    pub(super) fn update<R>(&self, id: &Id, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        let id = id.into_u64();
        self.shard(id).get_mut(&id).map(f)
    }

    /// The state of the span `id`, if the layer keeps one.
    #[inline]
    pub(super) fn get(&self, id: &Id) -> Option<V> {
        self.with(id, V::clone)
    }

    /// Takes the state of the span `id` out of the table (it closed).
    #[inline]
    pub(super) fn remove(&self, id: &Id) -> Option<V> {
        let id = id.into_u64();
        self.shard(id).remove(&id)
    }
}

/// 2^64 divided by the golden ratio: multiplying by it spreads consecutive
/// keys over the high bits.
const FIBONACCI: u64 = 0x9e37_79b9_7f4a_7c15;

/// Hashes a span ID (a `u64`) by one multiplication: the map needs no
/// protection against chosen keys, as the subscriber picks them.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed; this is for completeness.
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(FIBONACCI);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(FIBONACCI);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_one_shard_or_many_are_kept_apart() {
        let table = Table::new();
        let ids: Vec<u64> = (1..200).chain([1 << 40, (1 << 40) + 1, u64::MAX]).collect();
        for &id in &ids {
            table.insert(&Id::from_u64(id), id.wrapping_mul(3));
        }
        for &id in &ids {
            assert_eq!(table.with(&Id::from_u64(id), |&value| value), Some(id.wrapping_mul(3)));
        }
        assert_eq!(table.remove(&Id::from_u64(7)), Some(21));
        assert!(table.get(&Id::from_u64(7)).is_none(), "removed");
        assert!(table.remove(&Id::from_u64(7)).is_none(), "once");
        assert!(table.get(&Id::from_u64(8)).is_some(), "its neighbour stays");
        assert_eq!(table.update(&Id::from_u64(8), |value| std::mem::replace(value, 1)), Some(24));
        assert_eq!(table.get(&Id::from_u64(8)), Some(1));
    }
}
