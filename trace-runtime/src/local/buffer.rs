//! The buffer a thread writes its span records into.
//!
//! Records are appended as spans open, so a record's index never changes
//! while it stays in the buffer; its frame on the stack keeps that index.
//! Closing a span stamps its end in place. The buffer goes to the
//! exporters whole, as a [`Batch`], when nothing is open any more, or, under
//! a long-lived span, once enough closed records have piled up: then the
//! few open records move to a fresh buffer and their frames are renumbered
//! ([`Buffer::split_closed`]).
//!
//! A buffer belongs to one tracer (the thread's, nearly always). A span of
//! another tracer opened while the buffer's own spans are open is written
//! into it too, and listed in `foreign` with its tracer, so that a record
//! costs no reference count of its own.

use std::borrow::Cow;
use std::mem::MaybeUninit;

use super::frame::Entry;
use crate::clock::Timestamp;
use crate::flags::TraceFlags;
use crate::id::{SpanId, TraceId};
use crate::limits;
use crate::record::{OpenSpan, Record, State, spare};
use crate::span::SpanKind;
use crate::tracer::Tracer;

/// Records of one buffer handed over together: all belong to `tracer`
/// except those `foreign` lists (by index into `records`).
pub(crate) struct Batch {
    pub(crate) tracer: Tracer,
    pub(crate) records: Vec<Record>,
    pub(crate) foreign: Vec<(u32, Tracer)>,
    /// How many of `records` are closed records of `tracer`, when the
    /// buffer knew it (a whole buffer with no foreign record): the batch
    /// then needs no pass over the records to count them.
    pub(crate) closed: Option<usize>,
}

impl Batch {
    /// A batch of one closed record.
    pub(crate) fn single(tracer: Tracer, record: Record) -> Self {
        Self { tracer, records: vec![record], foreign: Vec::new(), closed: Some(1) }
    }

    /// Sends the records to their tracers.
    #[inline]
    pub(crate) fn export(self) {
        // Nearly always no foreign record: no grouping (and no vector of
        // groups to build and drop) per hand-over, and none of its code in
        // this frame.
        if self.foreign.is_empty() {
            let Self { tracer, records, closed, .. } = self;
            tracer.export_records(records, closed);
        } else {
            self.export_with_foreign();
        }
    }

    #[cold]
    #[inline(never)]
    fn export_with_foreign(self) {
        let Self { tracer, mut records, foreign, .. } = self;
        for (group, owner) in group_foreign(&mut records, foreign) {
            owner.export_records(group, None);
        }
        tracer.export_records(records, None);
    }
}

/// Takes the foreign records out of `records` (leaving moved-out slots),
/// grouped by tracer.
fn group_foreign(
    records: &mut [Record],
    foreign: Vec<(u32, Tracer)>,
) -> Vec<(Vec<Record>, Tracer)> {
    let mut groups: Vec<(Vec<Record>, Tracer)> = Vec::new();
    for (index, owner) in foreign {
        let slot = &mut records[index as usize];
        let moved = slot.moved();
        let record = std::mem::replace(slot, moved);
        match groups.iter_mut().find(|(_, tracer)| tracer.same_as(&owner)) {
            Some((group, _)) => group.push(record),
            None => groups.push((vec![record], owner)),
        }
    }
    groups
}

/// A thread's records, open and closed, in the order they were written.
pub(crate) struct Buffer {
    /// The tracer the records belong to, except the `foreign` ones.
    pub(crate) tracer: Option<Tracer>,
    pub(crate) records: Vec<Record>,
    /// Records of other tracers, by index, in increasing order.
    foreign: Vec<(u32, Tracer)>,
    /// Records still open: their frames are on this thread's stack.
    pub(crate) open: usize,
    /// Slots whose record moved out.
    moved: usize,
    /// `tracer`'s limits on names and on closed records kept, read on
    /// every span and so kept here, next to the records.
    max_name_bytes: usize,
    max_buffered: usize,
}

impl Buffer {
    pub(crate) const fn new() -> Self {
        Self {
            tracer: None,
            records: Vec::new(),
            foreign: Vec::new(),
            open: 0,
            moved: 0,
            max_name_bytes: 0,
            max_buffered: 0,
        }
    }

    /// Whether records for `tracer` go in unlisted.
    #[inline(always)]
    pub(crate) fn owned_by(&self, tracer: &Tracer) -> bool {
        self.tracer.as_ref().is_some_and(|own| own.same_as(tracer))
    }

    /// Makes room for a record of `tracer`: a buffer with nothing open
    /// switches to `tracer`, returning what it held for the previous one.
    /// Returns whether the record is foreign, and that batch.
    #[cold]
    pub(crate) fn adopt(&mut self, tracer: &Tracer) -> (bool, Option<Batch>) {
        if self.owned_by(tracer) {
            return (false, None);
        }
        if self.open == 0 {
            let previous = self.take();
            self.max_name_bytes = tracer.inner.limits.max_name_bytes;
            self.max_buffered = tracer.inner.limits.max_spans_buffered_per_thread;
            self.tracer = Some(tracer.clone());
            return (false, previous);
        }
        (true, None)
    }

    /// Holds a span name to the buffer's tracer's limit.
    #[inline(always)]
    pub(crate) fn bound_name(&self, name: &mut Cow<'static, str>) {
        if name.len() > self.max_name_bytes {
            self.cut_name(name);
        }
    }

    #[cold]
    fn cut_name(&self, name: &mut Cow<'static, str>) {
        if let Some(tracer) = &self.tracer
            && limits::truncate(name, self.max_name_bytes)
        {
            limits::count(&tracer.inner.limit_counters.names_truncated);
        }
    }

    /// Adds the record of a span opening now (of `foreign`, if given, else
    /// of the buffer's tracer), written in place; returns its index.
    #[inline(always)]
    pub(crate) fn open_record(
        &mut self,
        ids: (TraceId, SpanId, Option<SpanId>, TraceFlags),
        name: Cow<'static, str>,
        kind: SpanKind,
        foreign: Option<Tracer>,
    ) -> u32 {
        self.open_with(|_| ids, name, kind, foreign)
    }

    /// [`open_record`](Self::open_record) of a child of the record at
    /// `parent`, of the buffer's tracer: the parent's IDs are read after
    /// any growth, straight into the new record, instead of being held
    /// (and spilled) across it.
    #[inline(always)]
    pub(crate) fn open_child_of(
        &mut self,
        parent: u32,
        span_id: SpanId,
        name: Cow<'static, str>,
        kind: SpanKind,
    ) -> u32 {
        let ids = |records: &[Record]| {
            let parent = &records[parent as usize];
            (parent.trace_id, span_id, Some(parent.span_id), parent.flags)
        };
        self.open_with(ids, name, kind, None)
    }

    /// Both of the above: `ids` reads the records once there is room for
    /// one more.
    #[inline(always)]
    fn open_with(
        &mut self,
        ids: impl FnOnce(&[Record]) -> (TraceId, SpanId, Option<SpanId>, TraceFlags),
        name: Cow<'static, str>,
        kind: SpanKind,
        foreign: Option<Tracer>,
    ) -> u32 {
        let start = Timestamp::now();
        let len = self.records.len();
        if len == self.records.capacity() {
            self.grow();
        }
        let ids = ids(&self.records);
        // SAFETY: there is room for one more record (above), and the slot
        // is written whole before the length covers it.
        unsafe {
            Record::write_open(self.records.as_mut_ptr().add(len), ids, name, kind, start);
            self.records.set_len(len + 1);
        }
        self.opened(len, foreign)
    }

    #[cold]
    fn grow(&mut self) {
        self.records.reserve(1);
    }

    /// Adds a record opened elsewhere and still open; returns its index.
    fn push_open(&mut self, record: Record, foreign: Option<Tracer>) -> u32 {
        let len = self.records.len();
        self.records.push(record);
        self.opened(len, foreign)
    }

    #[inline(always)]
    fn opened(&mut self, len: usize, foreign: Option<Tracer>) -> u32 {
        let index = u32::try_from(len).expect("fewer than 2^32 records per thread");
        self.open += 1;
        if let Some(tracer) = foreign {
            self.foreign.push((index, tracer));
        }
        index
    }

    /// Closes the open record at `index`.
    #[inline(always)]
    pub(crate) fn close(&mut self, index: u32) {
        self.records[index as usize].close();
        self.open -= 1;
    }

    /// [`move_out`](Self::move_out) into a value, for the tests.
    #[cfg(test)]
    pub(crate) fn take_out(&mut self, index: u32) -> (Record, Option<Tracer>) {
        let mut record = MaybeUninit::uninit();
        let tracer = self.move_out(index, &mut record);
        // SAFETY: `move_out` initialised it.
        (unsafe { record.assume_init() }, tracer)
    }

    /// [`take_out`](Self::take_out) straight into `to` (a future's box):
    /// the record is copied once, where moving it through locals would copy
    /// its two hundred bytes several times per span.
    #[inline]
    pub(crate) fn move_out(&mut self, index: u32, to: &mut MaybeUninit<Record>) -> Option<Tracer> {
        let at = index as usize;
        assert!(at < self.records.len(), "the record at `index`");
        let tracer = match self.foreign.iter().position(|(i, _)| *i == index) {
            Some(position) => Some(self.foreign.remove(position).1),
            None => self.tracer.clone(),
        };
        // SAFETY: `at` is in bounds (checked above). The record is copied
        // bitwise into `to` and its slot then forgotten (the vector
        // shortened past it) or overwritten without a drop (a moved-out
        // marker), so it has exactly one owner, `to`, afterwards.
        unsafe {
            let slot = self.records.as_mut_ptr().add(at);
            if at + 1 == self.records.len() {
                to.as_mut_ptr().copy_from_nonoverlapping(slot, 1);
                self.records.set_len(at);
            } else {
                let moved = (*slot).moved();
                to.as_mut_ptr().copy_from_nonoverlapping(slot, 1);
                slot.write(moved);
                self.moved += 1;
            }
        }
        self.open -= 1;
        tracer
    }

    /// Adds a closed record of `tracer` brought from elsewhere (a future's
    /// span), copied once from `from` into its place; may return a batch of
    /// the buffer's previous tracer.
    ///
    /// # Safety
    /// `from` points to a valid record the caller gives up: it must not be
    /// used or dropped afterwards.
    #[inline]
    pub(crate) unsafe fn push_closed_from(
        &mut self,
        from: *const Record,
        tracer: &Tracer,
    ) -> Option<Batch> {
        let (foreign, previous) =
            if self.owned_by(tracer) { (false, None) } else { self.adopt(tracer) };
        let len = self.records.len();
        let index = u32::try_from(len).expect("fewer than 2^32 records per thread");
        self.records.reserve(1);
        // SAFETY: room for one more was reserved; the caller hands the
        // record over, so it is owned once, by the vector.
        unsafe {
            self.records.as_mut_ptr().add(len).copy_from_nonoverlapping(from, 1);
            self.records.set_len(len + 1);
        }
        if foreign {
            self.foreign.push((index, tracer.clone()));
        }
        previous
    }

    /// [`take`](Self::take) in the common case, nothing open and no
    /// foreign record, as the parts of a batch: the records, their tracer
    /// and how many are closed. `None` in every other case.
    #[inline(always)]
    pub(crate) fn take_plain(&mut self) -> Option<(Tracer, Vec<Record>, usize)> {
        if self.open != 0 || !self.foreign.is_empty() || self.records.len() == self.moved {
            return None;
        }
        let tracer = self.tracer.clone()?;
        let closed = self.records.len() - self.moved;
        self.moved = 0;
        let capacity = self.records.capacity();
        Some((tracer, std::mem::replace(&mut self.records, spare::take(capacity)), closed))
    }

    /// Everything, when nothing is open (moved-out slots included: the
    /// batch skips them where it is converted).
    #[inline]
    pub(crate) fn take(&mut self) -> Option<Batch> {
        debug_assert_eq!(self.open, 0, "open records stay with their frames");
        if let Some((tracer, records, closed)) = self.take_plain() {
            return Some(Batch { tracer, records, foreign: Vec::new(), closed: Some(closed) });
        }
        if self.records.len() == self.moved {
            self.records.clear();
            self.foreign.clear();
            self.moved = 0;
            return None;
        }
        // With foreign records: they are grouped where the batch is
        // exported, and the closed ones counted there.
        self.moved = 0;
        let tracer = self.tracer.clone()?;
        let capacity = self.records.capacity();
        Some(Batch {
            tracer,
            records: std::mem::replace(&mut self.records, spare::take(capacity)),
            foreign: std::mem::take(&mut self.foreign),
            closed: None,
        })
    }

    /// A batch to hand over after a span closed, if one is due: everything
    /// when nothing is open and either no span of this thread is (a
    /// request finished) or the buffer is full; the closed records when
    /// enough piled up under open ones.
    #[inline]
    pub(crate) fn due(&mut self, spans_open: bool, stack: &mut [Entry]) -> Option<Batch> {
        if !self.is_due(spans_open) {
            None
        } else if self.open == 0 {
            self.take()
        } else {
            self.split_closed(stack)
        }
    }

    /// Whether [`due`](Self::due) has a batch to hand over.
    #[inline(always)]
    pub(crate) fn is_due(&self, spans_open: bool) -> bool {
        if self.open == 0 {
            !spans_open || self.records.len() >= self.max_buffered
        } else {
            self.records.len() - self.open >= self.max_buffered
        }
    }

    /// The closed records, leaving the open ones (and renumbering their
    /// frames in `stack`): a long-lived span does not hold back its
    /// children. The few open records move to a new buffer; the rest
    /// stays where it is.
    pub(crate) fn split_closed(&mut self, stack: &mut [Entry]) -> Option<Batch> {
        let tracer = self.tracer.clone()?;
        let capacity = self.records.capacity();
        let mut closed = std::mem::replace(&mut self.records, spare::take(capacity));
        let mut foreign = std::mem::take(&mut self.foreign);
        // Buffered entries are in the order of their records: both are
        // added as spans open, and removal keeps the order.
        for entry in stack {
            if let Entry::Buffered(index) = entry {
                let old = *index;
                let slot = &mut closed[old as usize];
                let moved = slot.moved();
                self.open -= 1;
                *index = self.push_open(std::mem::replace(slot, moved), None);
                if let Some(position) = foreign.iter().position(|(i, _)| *i == old) {
                    let (_, owner) = foreign.remove(position);
                    self.foreign.push((*index, owner));
                }
            }
        }
        debug_assert_eq!(self.open, self.records.len());
        self.moved = 0;
        Some(Batch { tracer, records: closed, foreign, closed: None })
    }

    /// Access for adding to the open record at `index`.
    #[inline]
    pub(crate) fn open_span(&mut self, index: u32) -> Option<OpenSpan<'_>> {
        let tracer = match self.foreign.last() {
            Some(_) => self.foreign.iter().find(|(i, _)| *i == index).map(|(_, t)| t),
            None => None,
        };
        let tracer = tracer.or(self.tracer.as_ref())?;
        let record = self.records.get_mut(index as usize)?;
        Some(record.open_span(&tracer.inner.limits, &tracer.inner.limit_counters))
    }

    /// Closes every record still open (their guards were leaked; the
    /// thread is ending) and hands everything over.
    pub(crate) fn close_all(&mut self) -> Option<Batch> {
        for record in &mut self.records {
            if record.state == State::Open {
                record.close();
            }
        }
        self.open = 0;
        self.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::InMemoryCollector;

    fn tracer(service: &str, collector: &InMemoryCollector) -> Tracer {
        Tracer::builder(service).span_processor(collector.clone()).build()
    }

    /// Opens the record of span `span` (named `s{span}`) in `buffer`.
    fn open(buffer: &mut Buffer, span: u64, foreign: Option<Tracer>) -> u32 {
        let trace = TraceId::from_u128(1).unwrap();
        let ids = (trace, SpanId::from_u64(span).unwrap(), None, TraceFlags::RANDOM);
        buffer.open_record(ids, Cow::Owned(format!("s{span}")), SpanKind::Internal, foreign)
    }

    fn names(batch: &Batch) -> Vec<String> {
        let mut names: Vec<String> = batch
            .records
            .iter()
            .filter(|r| r.state == State::Closed)
            .map(|r| r.name.to_string())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn out_of_order_close_keeps_every_record_in_place() {
        let collector = InMemoryCollector::new();
        let mut buffer = Buffer::new();
        buffer.adopt(&tracer("svc", &collector));
        let outer = open(&mut buffer, 1, None);
        let inner = open(&mut buffer, 2, None);
        buffer.close(outer);
        assert_eq!(buffer.records[outer as usize].state, State::Closed);
        assert_eq!(buffer.records[inner as usize].state, State::Open);
        assert!(buffer.due(true, &mut []).is_none(), "one record is still open");
        buffer.close(inner);
        let batch = buffer.due(false, &mut []).expect("nothing open: handed over");
        assert_eq!(names(&batch), ["s1", "s2"]);
        assert!(buffer.records.is_empty());
    }

    #[test]
    fn splitting_moves_open_records_and_renumbers_their_frames() {
        let collector = InMemoryCollector::new();
        let mut buffer = Buffer::new();
        buffer.adopt(&tracer("svc", &collector));
        buffer.max_buffered = 2;
        let root = open(&mut buffer, 1, None);
        let mut stack = vec![Entry::Buffered(root)];
        for span in 2..4 {
            let index = open(&mut buffer, span, None);
            buffer.close(index);
        }
        let batch = buffer.due(true, &mut stack).expect("two closed records under an open one");
        assert_eq!(names(&batch), ["s2", "s3"]);
        assert_eq!(batch.records[root as usize].state, State::Moved);
        let Entry::Buffered(index) = stack[0] else { panic!("still buffered") };
        assert_eq!(index, 0);
        assert_eq!(buffer.records[0].name, "s1");
        assert_eq!(buffer.records[0].state, State::Open);
        assert_eq!(buffer.open, 1);
    }

    #[test]
    fn a_record_taken_out_leaves_a_moved_slot_unless_it_is_last() {
        let collector = InMemoryCollector::new();
        let owner = tracer("svc", &collector);
        let mut buffer = Buffer::new();
        buffer.adopt(&owner);
        let first = open(&mut buffer, 1, None);
        let second = open(&mut buffer, 2, None);
        let (taken, tracer) = buffer.take_out(second);
        assert_eq!(taken.name, "s2");
        assert!(tracer.is_some_and(|t| t.same_as(&owner)));
        assert_eq!(buffer.records.len(), 1, "the last record is popped");
        let third = open(&mut buffer, 3, None);
        let (taken, _) = buffer.take_out(first);
        assert_eq!(taken.name, "s1");
        assert_eq!(buffer.records[first as usize].state, State::Moved);
        buffer.close(third);
        let batch = buffer.take().expect("one closed record");
        assert_eq!(names(&batch), ["s3"]);
    }

    #[test]
    fn records_of_two_tracers_reach_each_tracer() {
        let (ours, theirs) = (InMemoryCollector::new(), InMemoryCollector::new());
        let (own, other) = (tracer("ours", &ours), tracer("theirs", &theirs));
        let mut buffer = Buffer::new();
        buffer.adopt(&own);
        let outer = open(&mut buffer, 1, None);
        let (foreign, previous) = buffer.adopt(&other);
        assert!(foreign && previous.is_none(), "a buffer with open records keeps its tracer");
        let inner = open(&mut buffer, 2, Some(other.clone()));
        // A span of the other tracer is reached with that tracer's limits.
        assert!(buffer.open_span(inner).is_some());
        buffer.close(inner);
        buffer.close(outer);
        buffer.take().expect("two records").export();
        let names = |c: &InMemoryCollector| {
            c.spans()
                .iter()
                .map(|s| (s.name.to_string(), s.service.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&ours), [("s1".to_owned(), "ours".to_owned())]);
        assert_eq!(names(&theirs), [("s2".to_owned(), "theirs".to_owned())]);
    }

    #[test]
    fn a_split_keeps_foreign_open_records_foreign() {
        let (ours, theirs) = (InMemoryCollector::new(), InMemoryCollector::new());
        let (own, other) = (tracer("ours", &ours), tracer("theirs", &theirs));
        let mut buffer = Buffer::new();
        buffer.adopt(&own);
        buffer.max_buffered = 1;
        let outer = open(&mut buffer, 1, None);
        let inner = open(&mut buffer, 2, Some(other.clone()));
        let closed = open(&mut buffer, 3, None);
        buffer.close(closed);
        let mut stack = vec![Entry::Buffered(outer), Entry::Buffered(inner)];
        buffer.due(true, &mut stack).expect("one closed record").export();
        let Entry::Buffered(inner) = stack[1] else { panic!("still buffered") };
        buffer.close(inner);
        let Entry::Buffered(outer) = stack[0] else { panic!("still buffered") };
        buffer.close(outer);
        buffer.take().expect("the two split records").export();
        let mut got: Vec<String> = ours.spans().iter().map(|s| s.name.to_string()).collect();
        got.sort();
        assert_eq!(got, ["s1", "s3"]);
        assert_eq!(theirs.spans()[0].name, "s2");
    }

    #[test]
    fn a_buffer_with_nothing_open_switches_tracer_and_hands_over_the_old_one() {
        let (ours, theirs) = (InMemoryCollector::new(), InMemoryCollector::new());
        let (own, other) = (tracer("ours", &ours), tracer("theirs", &theirs));
        let mut buffer = Buffer::new();
        buffer.adopt(&own);
        let index = open(&mut buffer, 1, None);
        buffer.close(index);
        let (foreign, previous) = buffer.adopt(&other);
        assert!(!foreign);
        previous.expect("the closed record of the first tracer").export();
        assert_eq!(ours.spans().len(), 1);
        assert!(buffer.owned_by(&other));
    }
}
