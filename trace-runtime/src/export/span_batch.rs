//! Batches of finished spans as the tracer hands them to span processors.

use std::sync::Arc;

use crate::clock::{SpanClock, Timestamp};
use crate::record::{Record, Source, State, TagsVec, spare};
use crate::span::SpanData;

/// Finished spans handed to a [`SpanProcessor`](crate::SpanProcessor) together: a
/// thread's spans as they were recorded, converted into [`SpanData`] by
/// [`into_spans`](Self::into_spans) where the processor runs. A processor
/// that queues spans for a background thread (such as
/// [`BatchSpanProcessor`](crate::export::BatchSpanProcessor)) keeps the batch as it
/// is, so the conversion costs the application thread nothing.
///
/// ```
/// use std::sync::Mutex;
/// use trace_runtime::export::SpanBatch;
/// use trace_runtime::{SpanProcessor, Tracer};
///
/// #[derive(Default)]
/// struct Names(Mutex<Vec<String>>);
///
/// impl SpanProcessor for Names {
///     fn on_end(&self, batch: SpanBatch) {
///         // Converts the records into `SpanData`: here, all of them.
///         let names = batch.into_spans().into_iter().map(|s| s.name.to_string());
///         self.0.lock().unwrap().extend(names);
///     }
/// }
/// # let _ = Tracer::builder("svc").span_processor(Names::default()).build();
/// ```
#[derive(Clone)]
pub struct SpanBatch(Contents);

#[derive(Clone)]
enum Contents {
    /// Records of one tracer in the order they were opened: `len` closed
    /// ones, and slots whose record moved out (skipped).
    Recorded {
        source: Arc<Source>,
        records: Vec<Record>,
        len: usize,
    },
    Converted(Vec<SpanData>),
}

impl SpanBatch {
    /// A batch of the closed records among `records`, of the tracer
    /// `source` describes; the others are moved-out slots.
    pub(crate) fn recorded(source: Arc<Source>, records: Vec<Record>) -> Self {
        let len = records.iter().filter(|record| record.state == State::Closed).count();
        Self(Contents::Recorded { source, records, len })
    }

    /// [`recorded`](Self::recorded) when the caller counted the closed
    /// records already (a buffer knows how many of its slots moved out).
    pub(crate) fn recorded_counted(source: Arc<Source>, records: Vec<Record>, len: usize) -> Self {
        debug_assert_eq!(
            len,
            records.iter().filter(|record| record.state == State::Closed).count(),
            "the closed records counted by the caller"
        );
        Self(Contents::Recorded { source, records, len })
    }

    /// The number of spans.
    pub fn len(&self) -> usize {
        match &self.0 {
            Contents::Recorded { len, .. } => *len,
            Contents::Converted(spans) => spans.len(),
        }
    }

    /// The service whose spans these are (the first span's, for a batch
    /// made from [`SpanData`]).
    pub(crate) fn service(&self) -> Option<&Arc<str>> {
        match &self.0 {
            Contents::Recorded { source, .. } => Some(&source.service),
            Contents::Converted(spans) => spans.first().map(|span| &span.service),
        }
    }

    /// Whether the batch holds no span.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the first `len` spans (in the order they were opened).
    pub(crate) fn truncate(&mut self, len: usize) {
        match &mut self.0 {
            Contents::Recorded { records, len: kept, .. } => {
                records.retain(|record| record.state == State::Closed);
                records.truncate(len);
                *kept = records.len();
            }
            Contents::Converted(spans) => spans.truncate(len),
        }
    }

    /// The spans, in the order they ended.
    pub fn into_spans(self) -> Vec<SpanData> {
        let mut spans = Vec::with_capacity(self.len());
        let mut converting = self.into_conversion();
        converting.append_to(&mut spans, usize::MAX);
        spans
    }

    /// The spans, converted a chunk at a time in the order they ended.
    pub(crate) fn into_conversion(self) -> Conversion {
        self.into_conversion_with(&mut OrderBuffers::default())
    }

    /// [`into_conversion`](Self::into_conversion), ordering the spans in
    /// `buffers` (see [`Conversion::recycle`]).
    pub(crate) fn into_conversion_with(mut self, buffers: &mut OrderBuffers) -> Conversion {
        match std::mem::replace(&mut self.0, Contents::Converted(Vec::new())) {
            Contents::Recorded { source, records, .. } => {
                let (order, forgettable) = end_order(&records, buffers);
                Conversion::Recorded { source, records, order, next: 0, forgettable }
            }
            Contents::Converted(spans) => Conversion::Converted(spans),
        }
    }
}

/// The indices of the closed records among `records` (in the order the
/// spans opened), in the order the spans ended: by end reading, and in
/// open order for equal readings. Only indices are ordered; the records
/// (208 bytes each) stay where they are. Also whether the other records
/// (moved-out slots) own nothing. The order is written into
/// `buffers.order`'s allocation, taken from it.
fn end_order(records: &[Record], buffers: &mut OrderBuffers) -> (Vec<usize>, bool) {
    let mut order = std::mem::take(&mut buffers.order);
    order.clear();
    if in_end_order(records) {
        order.extend(0..records.len());
        return (order, true);
    }
    order.reserve(records.len());
    let mut order = EndOrder { order, last: None, sorted: true };
    // A thread's spans nest: each one ends before the span that was open
    // when it began does. Their end order is then one pass over the open
    // order: a span is done once a later one begins after its end. `open`
    // holds the spans not yet known to be done, innermost last.
    let open = &mut buffers.open;
    open.clear();
    let mut forgettable = true;
    for (index, record) in records.iter().enumerate() {
        if record.state != State::Closed {
            forgettable &= record.owns_nothing();
            continue;
        }
        while let Some(&last) = open.last() {
            let end = records[last].end;
            if end > record.start {
                break;
            }
            order.push(end, last);
            open.pop();
        }
        open.push(index);
    }
    for &index in open.iter().rev() {
        order.push(records[index].end, index);
    }
    let EndOrder { mut order, sorted, .. } = order;
    // Spans that do not nest (closed out of order, opened on other
    // threads) leave this order unsorted: the general sort then.
    if !sorted {
        order.sort_unstable_by_key(|&index| (records[index].end, index));
    }
    (order, forgettable)
}

/// Whether every record is closed and they are in the order their spans
/// ended (equal readings in any order: the open order is the index
/// order). Records added to a buffer as their spans close (`tracing`'s
/// spans, carried until they close) are: their order then costs this one
/// pass, about 10 instructions a record against 68 for the nesting pass
/// below. Readings are compared by their keys (one branch-free
/// comparison, where the derived one branches on the variants).
fn in_end_order(records: &[Record]) -> bool {
    let mut last = 0;
    records.iter().all(|record| {
        let end = record.end.order_key();
        let later = last <= end;
        last = end;
        record.state == State::Closed && later
    })
}

/// The two index buffers [`end_order`] fills, kept by a caller that
/// converts batch after batch (the batch processor's worker) so that
/// ordering a batch allocates nothing once they have grown.
#[derive(Default)]
pub(crate) struct OrderBuffers {
    /// The end order; lent to each [`Conversion`] until it is recycled.
    order: Vec<usize>,
    /// The spans not yet known to be done (nesting), innermost last.
    open: Vec<usize>,
}

/// Indices appended in the order [`end_order`] finds, checking as they
/// come whether that is the order of (end, index).
struct EndOrder {
    order: Vec<usize>,
    last: Option<(Timestamp, usize)>,
    sorted: bool,
}

impl EndOrder {
    #[inline]
    fn push(&mut self, end: Timestamp, index: usize) {
        let key = Some((end, index));
        self.sorted &= self.last < key;
        self.last = key;
        self.order.push(index);
    }
}

impl Drop for SpanBatch {
    fn drop(&mut self) {
        // Dropped unconverted (a full queue): the buffer is still reusable.
        if let Contents::Recorded { records, .. } = &mut self.0 {
            spare::give(std::mem::take(records));
        }
    }
}

/// A batch being converted into [`SpanData`]; see [`SpanBatch::into_conversion`].
pub(crate) enum Conversion {
    /// `order[next..]` indexes the records still to convert; the records
    /// converted so far were moved out bitwise and are never dropped. The
    /// others (moved-out slots) own nothing if `forgettable`.
    Recorded {
        source: Arc<Source>,
        records: Vec<Record>,
        order: Vec<usize>,
        next: usize,
        forgettable: bool,
    },
    Converted(Vec<SpanData>),
}

impl Conversion {
    /// Whether every span was appended.
    pub(crate) fn is_done(&self) -> bool {
        match self {
            Self::Recorded { order, next, .. } => *next == order.len(),
            Self::Converted(spans) => spans.is_empty(),
        }
    }

    /// Appends up to `count` more spans to `out`, each converted straight
    /// into its place.
    pub(crate) fn append_to(&mut self, out: &mut Vec<SpanData>, count: usize) {
        match self {
            Self::Recorded { source, records, order, next, .. } => {
                let end = next.saturating_add(count).min(order.len());
                let slots = Slots { spans: out, kept_tags: &mut 0 };
                convert(records, &order[..end], next, source, slots, || source.service.clone());
            }
            Self::Converted(spans) => {
                let count = count.min(spans.len());
                out.extend(spans.drain(..count));
            }
        }
    }

    /// [`append_to`](Self::append_to), but the spans appended hold their
    /// service without a reference count of their own: `services` gets
    /// the counts (one per batch of records, each span's own for a batch
    /// made from [`SpanData`]). A reference count is an atomic operation
    /// per span when made and again when dropped, which stalls on the
    /// stores around it.
    ///
    /// The spans are appended into `out`'s slots, taking over the tags
    /// `Vec`s kept there (see [`Slots`]).
    ///
    /// # Safety
    ///
    /// The caller must keep the entries added to `services` until the
    /// spans appended are gone, hand the spans out only by shared
    /// reference, and forget each one's `service` instead of dropping it.
    /// `out.kept_tags` must be as [`Slots`] describes.
    ///
    /// Returns whether a span appended may own memory other than its
    /// service and tags.
    pub(crate) unsafe fn append_uncounted_to(
        &mut self,
        mut out: Slots<'_>,
        count: usize,
        services: &mut Vec<Arc<str>>,
    ) -> bool {
        match self {
            Self::Recorded { source, records, order, next, .. } => {
                if !services.last().is_some_and(|last| Arc::ptr_eq(last, &source.service)) {
                    services.push(source.service.clone());
                }
                let end = next.saturating_add(count).min(order.len());
                // SAFETY: copies that own no count, as the caller promised
                // to treat them; `services` holds one. Read once into a
                // local, which the loop keeps at hand, rather than through
                // `source` per span.
                let service =
                    std::mem::ManuallyDrop::new(unsafe { std::ptr::read(&source.service) });
                convert(records, &order[..end], next, source, out, || unsafe {
                    std::ptr::read(&*service)
                })
            }
            Self::Converted(spans) => {
                let count = count.min(spans.len());
                // Written over by the spans moved in whole.
                out.drop_kept_tags();
                out.spans.extend(spans.drain(..count).inspect(|span| {
                    // SAFETY: the span's count moves to `services`; the
                    // span keeps a copy that owns none.
                    services.push(unsafe { std::ptr::read(&span.service) });
                }));
                count != 0
            }
        }
    }
}

impl Conversion {
    /// Ends a conversion whose every span was appended, giving its order's
    /// buffer back to `buffers` for the next batch; a conversion not done
    /// keeps it (and drops as before).
    pub(crate) fn recycle(mut self, buffers: &mut OrderBuffers) {
        if let Self::Recorded { order, next, .. } = &mut self {
            if *next == order.len() {
                buffers.order = std::mem::take(order);
                buffers.order.clear();
                // Still "every span appended" for `drop`: none are left.
                *next = 0;
            }
        }
    }
}

/// A buffer of spans being filled (`spans`), whose slots past its length
/// and below `kept_tags` still hold the tags `Vec` of the span cleared
/// from them (its other fields forgotten): the span converted into such
/// a slot takes that `Vec` over, its old tags dropped then. A buffer
/// reused batch after batch (the batch processor's) then neither moves
/// nor visits any span's tags when it is cleared, and a tagged span
/// needs no `Vec` of its own (both measured 40 instructions a span). A
/// slot keeps the `Vec` of the last span sent from it, whatever its room:
/// the buffer keeps at most what one batch's tags held.
pub(crate) struct Slots<'a> {
    /// The spans, and the slots past them.
    pub(crate) spans: &'a mut Vec<SpanData>,
    /// Slots `spans.len()..kept_tags` hold a valid tags `Vec` each,
    /// owned by the buffer's keeper; the others none.
    pub(crate) kept_tags: &'a mut usize,
}

impl Slots<'_> {
    /// Drops the tags kept past the buffer's length.
    pub(crate) fn drop_kept_tags(&mut self) {
        // None counts as kept from here on: a panic in a drop leaks the
        // rest, never drops one twice.
        let end = std::mem::replace(self.kept_tags, self.spans.len());
        let base = self.spans.as_mut_ptr();
        for index in self.spans.len()..end {
            // SAFETY: the slot is within capacity and holds a valid tags
            // `Vec` owned here (see the field), dropped once.
            unsafe { std::ptr::drop_in_place(&raw mut (*base.add(index)).tags) };
        }
    }
}

/// Appends the records at `order[*next..]` to `out`, in that order, each
/// converted straight into its place in `out`, with the service `service`
/// gives, and moves `next` past each record as it is moved out (so that
/// one is never dropped again, see [`Conversion`]'s drop). Returns
/// whether a span appended may own memory other than its service and
/// tags.
#[inline(always)]
fn convert(
    records: &mut [Record],
    order: &[usize],
    next: &mut usize,
    source: &Source,
    mut out: Slots<'_>,
    service: impl Fn() -> Arc<str>,
) -> bool {
    /// `spans` with its length set to `len`, and `next` to `taken`, when
    /// dropped: the spans written so far are kept, and the records moved
    /// out are never dropped again, even if the redaction hook panics; the
    /// loop keeps both counts in registers (storing `next` on every span
    /// measured 5 instructions a span).
    struct Filled<'a> {
        spans: &'a mut Vec<SpanData>,
        len: usize,
        next: &'a mut usize,
        taken: usize,
    }
    impl Drop for Filled<'_> {
        fn drop(&mut self) {
            // SAFETY: the first `len` spans are written (see below).
            unsafe { self.spans.set_len(self.len) };
            *self.next = self.taken;
        }
    }

    let room = order.len().saturating_sub(*next);
    if out.spans.capacity() - out.spans.len() < room {
        // Growing moves only the spans: the tags kept past them would be
        // lost.
        out.drop_kept_tags();
    }
    out.spans.reserve(room);
    let clock = SpanClock::get();
    let redacting = source.redact.is_some();
    let base = out.spans.as_mut_ptr();
    let kept_tags = *out.kept_tags;
    let mut filled = Filled { len: out.spans.len(), spans: out.spans, taken: *next, next };
    let mut owns = false;
    for &index in order.get(filled.taken..).unwrap_or_default() {
        let record = &mut records[index];
        // Counted as converted first: if the redaction hook panics, the
        // record is already moved out, and must not be dropped again.
        filled.taken += 1;
        // SAFETY: `reserve` made room for every span left in `order`, so
        // the slot at `len` is within capacity; it is counted once
        // written, and holds a tags `Vec` below `kept_tags` (see `Slots`;
        // the span takes it over, and the slot is below the length from
        // then on). `order` holds each record once, and the ones before
        // `next` are never used or dropped again.
        owns |= unsafe {
            let slot = base.add(filled.len);
            let tags_vec = if filled.len < kept_tags { TagsVec::InSlot } else { TagsVec::New };
            record.move_span_data(slot, source, redacting, tags_vec, service(), clock)
        };
        filled.len += 1;
    }
    owns
}

impl Drop for Conversion {
    fn drop(&mut self) {
        if let Self::Recorded { records, order, next, forgettable, .. } = self {
            // The records converted were moved out (`order[..next]`): they
            // are forgotten. The closed ones not reached are dropped, and
            // the others (moved-out slots) only if they own something.
            let len = records.len();
            let base = records.as_mut_ptr();
            // SAFETY: with the length at zero first, a panic in a drop
            // below leaks the rest, never drops a record twice; each index
            // is below `len`, and `order` holds each closed record once.
            unsafe {
                records.set_len(0);
                for &index in &order[*next..] {
                    std::ptr::drop_in_place(base.add(index));
                }
                if !*forgettable {
                    for index in 0..len {
                        let record = base.add(index);
                        if (*record).state != State::Closed {
                            std::ptr::drop_in_place(record);
                        }
                    }
                }
            }
            spare::give(std::mem::take(records));
        }
    }
}

impl From<Vec<SpanData>> for SpanBatch {
    fn from(spans: Vec<SpanData>) -> Self {
        Self(Contents::Converted(spans))
    }
}

impl std::fmt::Debug for SpanBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanBatch").field("len", &self.len()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    fn source() -> Arc<Source> {
        Arc::new(Source { service: Arc::from("svc"), redact: None })
    }

    /// Records named after their index, opened and closed at these readings.
    fn records(times: &[(u64, u64)]) -> Vec<Record> {
        let tags =
            |i: usize| (0..i % 4).map(|t| (format!("k{t}").into(), Value::from(i))).collect();
        times
            .iter()
            .enumerate()
            .map(|(i, &(start, end))| Record::closed_for_test(i.to_string(), start, end, tags(i)))
            .collect()
    }

    fn names(spans: &[SpanData]) -> Vec<String> {
        spans.iter().map(|span| span.name.to_string()).collect()
    }

    /// What the order must be: a stable sort of the open order by end.
    fn expected(times: &[(u64, u64)]) -> Vec<String> {
        let mut indices: Vec<usize> = (0..times.len()).collect();
        indices.sort_by_key(|&i| times[i].1);
        indices.iter().map(usize::to_string).collect()
    }

    fn exported(times: &[(u64, u64)]) -> Vec<String> {
        names(&SpanBatch::recorded(source(), records(times)).into_spans())
    }

    /// [`exported`], ordered in `buffers` as the batch processor does.
    fn exported_with(times: &[(u64, u64)], buffers: &mut OrderBuffers) -> Vec<String> {
        let batch = SpanBatch::recorded(source(), records(times));
        let mut converting = batch.into_conversion_with(buffers);
        let mut spans = Vec::new();
        converting.append_to(&mut spans, usize::MAX);
        converting.recycle(buffers);
        names(&spans)
    }

    #[test]
    fn nested_spans_come_out_in_the_order_they_ended() {
        // 0 ⊃ (1 ⊃ 2, 3), then 4 after 0, and 5 ⊃ 6.
        let times = [(0, 50), (1, 20), (2, 10), (21, 30), (60, 70), (71, 90), (72, 80)];
        assert_eq!(exported(&times), ["2", "1", "3", "0", "4", "6", "5"]);
    }

    #[test]
    fn records_added_as_their_spans_closed_come_out_in_that_order() {
        // `tracing`'s spans: children, then the parent that began first.
        let times = [(2, 10), (11, 20), (21, 30), (0, 40)];
        assert!(in_end_order(&records(&times)));
        assert_eq!(exported(&times), ["0", "1", "2", "3"]);
        // Equal end readings keep the open order (a coarse clock).
        let times = [(1, 5), (2, 5), (0, 5), (3, 6)];
        assert!(in_end_order(&records(&times)));
        assert_eq!(exported(&times), ["0", "1", "2", "3"]);
        // One record out of end order: the general pass sorts them all.
        let times = [(2, 10), (11, 20), (0, 40), (21, 30)];
        assert!(!in_end_order(&records(&times)));
        assert_eq!(exported(&times), ["0", "1", "3", "2"]);
        // A moved-out slot: skipped by the general pass, never exported.
        let mut moved = records(&[(2, 10), (11, 20), (21, 30)]);
        moved[1] = moved[1].moved();
        assert!(!in_end_order(&moved));
        assert_eq!(names(&SpanBatch::recorded(source(), moved).into_spans()), ["0", "2"]);
    }

    #[test]
    fn spans_that_do_not_nest_come_out_in_the_order_they_ended() {
        // 1 outlives its parent 0 (guards dropped out of order); 3 began
        // earlier than 2 (a record written late).
        let times = [(0, 50), (10, 60), (70, 90), (65, 80)];
        assert_eq!(exported(&times), expected(&times));
        assert_eq!(exported(&times), ["0", "1", "3", "2"]);
    }

    #[test]
    fn equal_end_readings_keep_the_open_order() {
        // A coarse clock: a parent and its children read the same.
        let times = [(5, 5), (5, 5), (5, 5), (5, 6), (6, 6)];
        assert_eq!(exported(&times), ["0", "1", "2", "3", "4"]);
        let times = [(0, 9), (1, 9), (2, 9), (3, 4)];
        assert_eq!(exported(&times), ["3", "0", "1", "2"]);
    }

    #[test]
    fn any_intervals_come_out_as_a_stable_sort_by_end() {
        let mut buffers = OrderBuffers::default();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % bound
        };
        for _ in 0..200 {
            let len = 1 + next(40) as usize;
            let times: Vec<(u64, u64)> = (0..len)
                .map(|_| {
                    let start = next(100);
                    (start, start + next(30))
                })
                .collect();
            assert_eq!(exported(&times), expected(&times), "{times:?}");
            // The buffers of the batches before change nothing.
            assert_eq!(exported_with(&times, &mut buffers), expected(&times), "{times:?}");
        }
    }

    #[test]
    fn batch_after_batch_is_ordered_in_the_same_buffers() {
        let mut buffers = OrderBuffers::default();
        let nested = [(0, 50), (1, 20), (2, 10), (21, 30), (60, 70), (71, 90), (72, 80)];
        assert_eq!(exported_with(&nested, &mut buffers), ["2", "1", "3", "0", "4", "6", "5"]);
        let (order, open) = (buffers.order.as_ptr(), buffers.open.as_ptr());
        assert!(buffers.order.capacity() >= nested.len() && buffers.order.is_empty());
        let unnested = [(0, 50), (10, 60), (70, 90), (65, 80)];
        assert_eq!(exported_with(&unnested, &mut buffers), ["0", "1", "3", "2"]);
        assert_eq!(exported_with(&nested[4..], &mut buffers), ["0", "2", "1"]);
        assert_eq!((buffers.order.as_ptr(), buffers.open.as_ptr()), (order, open));
        // A conversion stopped halfway keeps its buffer: the next one
        // makes another.
        let mut converting =
            SpanBatch::recorded(source(), records(&nested)).into_conversion_with(&mut buffers);
        converting.append_to(&mut Vec::new(), 2);
        converting.recycle(&mut buffers);
        assert_eq!(buffers.order.capacity(), 0);
        assert_eq!(exported_with(&unnested, &mut buffers), ["0", "1", "3", "2"]);
    }

    #[test]
    fn moved_out_slots_are_skipped_and_everything_is_converted_once() {
        let mut records = records(&[(0, 50), (1, 20), (2, 10), (21, 30)]);
        records[1] = records[1].moved();
        let batch = SpanBatch::recorded(source(), records);
        assert_eq!(batch.len(), 3);
        let spans = batch.into_spans();
        assert_eq!(names(&spans), ["2", "3", "0"]);
        assert_eq!(spans[0].tags.len(), 2);
        assert_eq!(spans[1].tags.len(), 3);
        assert_eq!(&*spans[2].service, "svc");
    }

    #[test]
    fn a_conversion_stopped_halfway_drops_the_rest() {
        let times = [(0, 50), (1, 20), (2, 10), (21, 30), (31, 40)];
        let mut converting = SpanBatch::recorded(source(), records(&times)).into_conversion();
        let mut spans = Vec::new();
        converting.append_to(&mut spans, 2);
        assert!(!converting.is_done());
        drop(converting);
        assert_eq!(names(&spans), ["2", "1"]);
        assert_eq!(spans[0].tags.len(), 2);
    }

    #[test]
    fn tags_are_moved_in_their_order() {
        // 1 has one tag, 2 two, 3 three (spilled out of the record).
        let times = [(0, 50), (1, 10), (11, 20), (21, 30)];
        let spans = SpanBatch::recorded(source(), records(&times)).into_spans();
        assert_eq!(names(&spans), ["1", "2", "3", "0"]);
        let keys =
            |span: &SpanData| span.tags.iter().map(|(k, _)| k.to_string()).collect::<Vec<_>>();
        assert_eq!(keys(&spans[0]), ["k0"]);
        assert_eq!(keys(&spans[1]), ["k0", "k1"]);
        assert_eq!(keys(&spans[2]), ["k0", "k1", "k2"]);
        assert_eq!(spans[2].tags[2].1, Value::from(3));
        assert!(spans[3].tags.is_empty());
    }

    #[test]
    fn two_inline_tags_with_one_key_are_exported_once_with_the_last_value() {
        let tag = |key: &'static str, value: i64| (key.into(), Value::from(value));
        let mut records = records(&[(0, 1), (2, 3)]);
        records[0].tags = [tag("k", 1), tag("k", 2)].into_iter().collect();
        records[1].tags = [tag("a", 1), tag("b", 2)].into_iter().collect();
        let spans = SpanBatch::recorded(source(), records).into_spans();
        assert_eq!(spans[0].tags, [tag("k", 2)]);
        assert_eq!(spans[1].tags, [tag("a", 1), tag("b", 2)]);
    }

    #[test]
    fn a_redaction_hook_that_panics_leaves_no_record_to_drop_twice() {
        let redact = |key: &str, value| if key == "k1" { panic!("hook") } else { Some(value) };
        let source = Arc::new(Source { service: Arc::from("svc"), redact: Some(Box::new(redact)) });
        // In end order: 1 (tag k0), 2 (k0, k1: the hook panics), 3, 0.
        let times = [(0, 50), (1, 10), (11, 20), (21, 30)];
        let mut converting = SpanBatch::recorded(source, records(&times)).into_conversion();
        let mut spans = Vec::new();
        let converted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            converting.append_to(&mut spans, usize::MAX);
        }));
        assert!(converted.is_err());
        assert_eq!(names(&spans), ["1"]);
        // Drops 3 and 0, which were never converted, and not 2, which was
        // moved out when the hook panicked.
        drop(converting);
        assert_eq!(spans[0].tags.len(), 1);
    }
}
