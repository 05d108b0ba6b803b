//! Boxes for the records of spans that follow futures, reused.
//!
//! An `async fn`'s span leaves the thread's buffer in a box when its future
//! is made, and comes back to a buffer when the future completes, usually
//! on the same thread. Keeping the emptied box saves an allocation and a
//! free per span.

use std::mem::MaybeUninit;

use super::frame::Carried;

/// At most this many empty boxes wait on a thread.
const MAX_SPARE: usize = 16;

// The boxes are the point: they are the allocations kept for reuse.
#[allow(clippy::vec_box)]
pub(crate) struct Boxes(Vec<Box<MaybeUninit<Carried>>>);

impl Boxes {
    pub(crate) const fn new() -> Self {
        Self(Vec::new())
    }

    /// `carried` in a box, reused if one is spare.
    #[inline]
    pub(crate) fn make(&mut self, carried: Carried) -> Box<Carried> {
        match self.0.pop() {
            Some(spare) => {
                let raw = Box::into_raw(spare).cast::<Carried>();
                // SAFETY: `raw` is a live allocation with `Carried`'s
                // layout; writing the value makes it a valid `Box<Carried>`.
                unsafe {
                    raw.write(carried);
                    Box::from_raw(raw)
                }
            }
            None => Box::new(carried),
        }
    }

    /// What `boxed` holds; the box is kept for reuse.
    #[inline]
    pub(crate) fn take(&mut self, boxed: Box<Carried>) -> Carried {
        let raw = Box::into_raw(boxed);
        // SAFETY: `raw` comes from a live `Box<Carried>`: reading the value
        // out leaves the allocation uninitialised, which is what a
        // `Box<MaybeUninit<Carried>>` of the same layout may hold.
        let (carried, empty) =
            unsafe { (raw.read(), Box::from_raw(raw.cast::<MaybeUninit<Carried>>())) };
        if self.0.len() < MAX_SPARE {
            self.0.push(empty);
        }
        carried
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::export::InMemoryCollector;
    use crate::flags::TraceFlags;
    use crate::id::{SpanId, TraceId};
    use crate::local::buffer::Buffer;
    use crate::span::SpanKind;
    use crate::tracer::Tracer;

    #[test]
    fn a_box_comes_back_with_its_value_and_is_reused() {
        let tracer = Tracer::builder("svc").span_processor(InMemoryCollector::new()).build();
        let mut buffer = Buffer::new();
        buffer.adopt(&tracer);
        let ids = (
            TraceId::from_u128(1).unwrap(),
            SpanId::from_u64(7).unwrap(),
            None,
            TraceFlags::RANDOM,
        );
        let index = buffer.open_record(ids, Cow::Borrowed("span"), SpanKind::Internal, None);
        let (record, owner) = buffer.take_out(index);
        let mut boxes = Boxes::new();
        let boxed = boxes.make(Carried { tracer: owner.unwrap(), record });
        let address = std::ptr::from_ref(&*boxed) as usize;
        let carried = boxes.take(boxed);
        assert_eq!(carried.record.span_id.to_u64(), 7);
        assert_eq!(boxes.0.len(), 1);
        let again = boxes.make(carried);
        assert_eq!(std::ptr::from_ref(&*again) as usize, address, "the same allocation");
    }
}
