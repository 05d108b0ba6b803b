//! The thread's ID generator.
//!
//! Span IDs are a random per-thread base plus a counter: one addition per
//! span instead of a random draw. Two threads' sequences overlap only if
//! their bases lie closer than the number of spans either makes, which for
//! 64-bit random bases is as unlikely as a collision of random IDs. A trace
//! ID's low half is a fresh random draw, its high half a second counter
//! from a random base: W3C Trace Context Level 2 asks for (at least) the
//! rightmost 7 bytes to be random, samplers decide from the low bits, and
//! one draw per trace instead of two halves what a root pays for its ID.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::id::{SpanId, TraceId};

/// A thread's generator, seeded from the OS on first use.
pub(crate) struct IdSource {
    rng: Option<SmallRng>,
    /// The next span ID's value; zero before seeding, and whenever the
    /// counter wraps to it: the one value that sends [`span_id`] off its
    /// common path, so that path tests nothing else.
    ///
    /// [`span_id`]: IdSource::span_id
    next_span: u64,
    /// The high half of the next trace ID.
    next_trace: u64,
}

impl IdSource {
    pub(crate) const fn new() -> Self {
        Self { rng: None, next_span: 0, next_trace: 0 }
    }

    #[cold]
    fn seed(&mut self) -> &mut SmallRng {
        let mut rng = SmallRng::from_rng(&mut rand::rng());
        self.next_span = rng.next_u64();
        self.next_trace = rng.next_u64();
        self.rng.insert(rng)
    }

    fn rng(&mut self) -> &mut SmallRng {
        if self.rng.is_none() {
            return self.seed();
        }
        self.rng.as_mut().expect("seeded above")
    }

    /// A new span ID, unique on this thread for 2^64 spans.
    #[inline(always)]
    pub(crate) fn span_id(&mut self) -> SpanId {
        let value = self.next_span;
        match SpanId::from_u64(value) {
            Some(id) => {
                self.next_span = value.wrapping_add(1);
                id
            }
            None => self.span_id_at_zero(),
        }
    }

    /// [`span_id`](Self::span_id) when the counter is at zero: not seeded
    /// yet, or wrapped (zero is not a valid span ID and is skipped).
    #[cold]
    #[inline(never)]
    fn span_id_at_zero(&mut self) -> SpanId {
        if self.rng.is_none() {
            self.seed();
        }
        if self.next_span == 0 {
            self.next_span = 1;
        }
        self.span_id()
    }

    /// A new trace ID: random low half, unique high half (see the module).
    pub(crate) fn trace_id(&mut self) -> TraceId {
        loop {
            let random = self.rng().next_u64();
            let high = self.next_trace;
            self.next_trace = high.wrapping_add(1);
            if let Some(id) = TraceId::from_u128((u128::from(high) << 64) | u128::from(random)) {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_ids_on_a_thread_never_repeat_and_skip_zero() {
        let mut ids = IdSource::new();
        ids.span_id();
        ids.next_span = u64::MAX - 1;
        let seen: Vec<u64> = (0..4).map(|_| ids.span_id().to_u64()).collect();
        assert_eq!(seen, [u64::MAX - 1, u64::MAX, 1, 2]);
    }

    #[test]
    fn threads_start_from_different_bases() {
        let here = IdSource::new().span_id();
        let there = std::thread::spawn(|| IdSource::new().span_id()).join().unwrap();
        assert_ne!(here, there);
    }

    #[test]
    fn trace_ids_are_random_in_their_low_half_and_unique() {
        let mut ids = IdSource::new();
        let drawn: Vec<u128> = (0..64).map(|_| ids.trace_id().to_u128()).collect();
        let low: std::collections::HashSet<u64> = drawn.iter().map(|&id| id as u64).collect();
        assert_eq!(low.len(), drawn.len(), "a fresh random low half per trace");
        let high: Vec<u64> = drawn.iter().map(|&id| (id >> 64) as u64).collect();
        assert!(high.windows(2).all(|pair| pair[1] == pair[0].wrapping_add(1)));
        let there = std::thread::spawn(|| IdSource::new().trace_id().to_u128()).join().unwrap();
        assert_ne!((there >> 64) as u64, high[0], "threads start from different bases");
    }
}
