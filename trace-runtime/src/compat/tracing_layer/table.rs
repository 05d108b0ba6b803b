//! The layer's own table of its spans, by `tracing` span ID.
//!
//! The registry's extensions would hold them too, but each insert there
//! boxes the value into a map behind the span's lock, each look-up takes a
//! reference to the span's slot and that lock, and the registry frees the
//! box when the span closes: most of what a span cost the layer. Here a
//! span costs one insert, a look-up per enter (none when a thread enters
//! the span it created last) and one removal, each under the lock of one of
//! a few shards, with nothing allocated once the shards have grown.
//!
//! A shard is an array of slots probed linearly from the slot the ID hashes
//! to, at most half full: with keys that are plain `u64`s, no key repeated
//! and no iteration, that is a fraction of the instructions a general hash
//! map spends per insert and removal (measured: 127 per insert with std's
//! `HashMap`).

use std::num::NonZeroU64;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tracing_core::span::Id;

/// Shards of the table: a power of two, so that a shard is picked by a
/// shift; enough that threads rarely wait on each other.
const SHARDS: usize = 16;

/// The spans of one layer (so of one subscriber: IDs are per subscriber).
pub(super) struct Table<V> {
    shards: [Mutex<Shard<V>>; SHARDS],
}

impl<V: Clone> Table<V> {
    pub(super) fn new() -> Self {
        Self { shards: std::array::from_fn(|_| Mutex::new(Shard::new())) }
    }

    #[inline]
    fn shard(&self, id: NonZeroU64) -> MutexGuard<'_, Shard<V>> {
        // Registry IDs differ mostly in their low bits: spread them first.
        // The shard takes bits in the middle, which a shard's own slot
        // index (the top bits) leaves alone until it has 2^28 slots.
        let spread = id.get().wrapping_mul(FIBONACCI);
        let index = ((spread >> 32) as usize) % SHARDS;
        // Nothing runs user code under the lock, so it is never poisoned
        // half-way; if it were, the shard is still consistent.
        self.shards[index].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `state` as the span `id`'s. Inlined, so that the state is
    /// written into its slot rather than copied there through two calls
    /// (measured -18 instructions per span).
    #[inline(always)]
    pub(super) fn insert(&self, id: &Id, state: V) {
        let id = id.into_non_zero_u64();
        let replaced = self.shard(id).insert(id, state);
        // Outside the lock (a span whose close never came, if ever).
        drop(replaced);
    }

    /// Runs `f` on the state of the span `id`, if the layer keeps one.
    /// `f` runs under the shard's lock: it must not run user code.
    #[inline]
    pub(super) fn with<R>(&self, id: &Id, f: impl FnOnce(&V) -> R) -> Option<R> {
        self.update(id, |value| f(value))
    }

    /// Runs `f` on the state of the span `id` to change it, if the layer
    /// keeps one. `f` runs under the shard's lock: it must not run user code.
    #[inline]
    pub(super) fn update<R>(&self, id: &Id, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        let id = id.into_non_zero_u64();
        self.shard(id).get_mut(id).map(f)
    }

    /// The state of the span `id`, if the layer keeps one.
    #[inline]
    pub(super) fn get(&self, id: &Id) -> Option<V> {
        self.with(id, V::clone)
    }

    /// Takes the state of the span `id` out of the table (it closed).
    #[inline]
    pub(super) fn remove(&self, id: &Id) -> Option<V> {
        let id = id.into_non_zero_u64();
        self.shard(id).remove(id)
    }
}

/// 2^64 divided by the golden ratio: multiplying by it spreads consecutive
/// keys over the high bits.
const FIBONACCI: u64 = 0x9e37_79b9_7f4a_7c15;

/// The spans of one shard: slots probed linearly, at most half full.
struct Shard<V> {
    /// A power of two in length (or empty, before the first insert).
    slots: Vec<Option<(NonZeroU64, V)>>,
    len: usize,
}

impl<V> Shard<V> {
    const fn new() -> Self {
        Self { slots: Vec::new(), len: 0 }
    }

    /// The slot where probing for `id` starts.
    #[inline]
    fn home(&self, id: NonZeroU64) -> usize {
        // The top bits of the product: they depend on every bit of the ID.
        let bits = self.slots.len().trailing_zeros();
        (id.get().wrapping_mul(FIBONACCI) >> (64 - bits)) as usize
    }

    /// The slot holding `id`, if any.
    #[inline]
    fn find(&self, id: NonZeroU64) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut index = self.home(id);
        // Never endless: at most half the slots are taken.
        while let Some((key, _)) = &self.slots[index] {
            if *key == id {
                return Some(index);
            }
            index = (index + 1) & mask;
        }
        None
    }

    fn get_mut(&mut self, id: NonZeroU64) -> Option<&mut V> {
        let index = self.find(id)?;
        self.slots[index].as_mut().map(|(_, value)| value)
    }

    /// Keeps `value` for `id`; returns the value `id` had, if any.
    #[inline(always)]
    fn insert(&mut self, id: NonZeroU64, value: V) -> Option<V> {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut index = self.home(id);
        loop {
            match &mut self.slots[index] {
                Some((key, old)) if *key == id => return Some(std::mem::replace(old, value)),
                Some(_) => index = (index + 1) & mask,
                empty @ None => {
                    *empty = Some((id, value));
                    self.len += 1;
                    return None;
                }
            }
        }
    }

    /// Takes `id`'s value out. The entries after it in its run that may
    /// sit earlier move back into the hole, so probing never needs a
    /// marker of removed entries.
    #[inline]
    fn remove(&mut self, id: NonZeroU64) -> Option<V> {
        let mut hole = self.find(id)?;
        let (_, value) = self.slots[hole].take()?;
        self.len -= 1;
        let mask = self.slots.len() - 1;
        let mut next = (hole + 1) & mask;
        while let Some((key, _)) = &self.slots[next] {
            let home = self.home(*key);
            // The entry may move back unless its home lies after the hole
            // (cyclically, up to where it is).
            if next.wrapping_sub(home) & mask >= next.wrapping_sub(hole) & mask {
                self.slots[hole] = self.slots[next].take();
                hole = next;
            }
            next = (next + 1) & mask;
        }
        Some(value)
    }

    /// Doubles the slots (16 at first) and puts every entry back.
    #[cold]
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(
            &mut self.slots,
            std::iter::repeat_with(|| None).take(size).collect(),
        );
        let mask = size - 1;
        for (id, value) in old.into_iter().flatten() {
            let mut index = self.home(id);
            while self.slots[index].is_some() {
                index = (index + 1) & mask;
            }
            self.slots[index] = Some((id, value));
        }
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
        table.insert(&Id::from_u64(8), 2);
        assert_eq!(table.get(&Id::from_u64(8)), Some(2), "a second insert replaces");
    }

    #[test]
    fn a_shard_finds_what_a_map_holds_through_inserts_and_removals_in_any_order() {
        // Removal moves later entries of a run back: checked against a map,
        // with random keys (consecutive ones hash too evenly to collide),
        // so that runs form and wrap around the end of the slots, and the
        // shard growing meanwhile.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let keys: Vec<NonZeroU64> = (0..300).filter_map(|_| NonZeroU64::new(next())).collect();
        let mut shard = Shard::new();
        let mut model = std::collections::HashMap::new();
        for step in 0..20_000_u64 {
            let id = keys[(next() % keys.len() as u64) as usize];
            if next() % 3 == 0 {
                assert_eq!(shard.remove(id), model.remove(&id), "remove {id} at {step}");
            } else {
                assert_eq!(shard.insert(id, step), model.insert(id, step), "insert {id} at {step}");
            }
            assert_eq!(shard.len, model.len());
        }
        for id in &keys {
            assert_eq!(shard.get_mut(*id).copied(), model.get(id).copied(), "{id}");
        }
    }
}
