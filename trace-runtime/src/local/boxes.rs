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

    /// An empty box to fill, reused if one is spare.
    #[inline]
    pub(crate) fn empty(&mut self) -> Box<MaybeUninit<Carried>> {
        self.0.pop().unwrap_or_else(|| Box::new(MaybeUninit::uninit()))
    }

    /// Keeps an emptied box for reuse.
    #[inline]
    pub(crate) fn keep(&mut self, empty: Box<MaybeUninit<Carried>>) {
        if self.0.len() < MAX_SPARE {
            self.0.push(empty);
        }
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
    use crate::record::Record;
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
        let mut boxes = Boxes::new();
        let mut boxed = boxes.empty();
        let raw = boxed.as_mut_ptr();
        // SAFETY: the record field of the uninitialised box, written by `move_out`.
        let record = unsafe { &mut *(&raw mut (*raw).record).cast::<MaybeUninit<Record>>() };
        let owner = buffer.move_out(index, record);
        assert!(owner.is_some_and(|owner| owner.same_as(&tracer)));
        // SAFETY: initialised by `move_out`.
        let record = unsafe { record.assume_init_read() };
        assert_eq!(record.span_id.to_u64(), 7);
        let address = std::ptr::from_ref(&*boxed) as usize;
        boxes.keep(boxed);
        assert_eq!(boxes.0.len(), 1);
        let again = boxes.empty();
        assert_eq!(std::ptr::from_ref(&*again) as usize, address, "the same allocation");
    }
}
