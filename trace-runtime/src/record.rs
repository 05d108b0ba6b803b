//! The record of a sampled span, from the moment it opens until an exporter
//! takes it: plain data, below the thread's state that holds it.
//!
//! A record is written once, into the buffer of the thread that opens the
//! span (see `local`), and stays there while the span is open and after it
//! closes, until the buffer is handed to the exporters as a
//! [`SpanBatch`](crate::export::SpanBatch). It holds what the application
//! thread must write and nothing it can leave for later: raw clock readings,
//! up to two tags inline, no service name. The conversion into
//! [`SpanData`] (wall-clock times, the service, redaction, tags in a `Vec`)
//! runs where the exporter runs, off the application's hot path.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use smallvec::SmallVec;

use crate::clock::{SpanClock, Timestamp};
use crate::flags::TraceFlags;
use crate::id::{SpanId, TraceId};
use crate::limits::{self, LimitCounters, Limits};
use crate::span::{Event, Link, SpanData, SpanKind, Status};
use crate::value::{Tag, Value, keep_last_per_key};

/// A redaction hook: sees every tag before any exporter; `None` drops it.
pub(crate) type RedactFn = dyn Fn(&str, Value) -> Option<Value> + Send + Sync;

/// Tags of a record: the first two need no allocation.
pub(crate) type Tags = SmallVec<[Tag; 2]>;

/// Where a record is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Open,
    Closed,
    /// Moved out of its buffer (its span follows a future to other
    /// threads); the slot left behind is skipped.
    Moved,
}

/// What a span records. Which tracer it belongs to is kept by whoever
/// holds it (the thread's buffer, a future), not by each record.
#[derive(Clone)]
pub(crate) struct Record {
    pub(crate) state: State,
    pub(crate) kind: SpanKind,
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) parent_id: Option<SpanId>,
    /// The trace's W3C flags other than `sampled` (a record is sampled).
    pub(crate) flags: TraceFlags,
    pub(crate) name: Cow<'static, str>,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    pub(crate) tags: Tags,
    /// Events, links and a status other than unset: allocated only for
    /// spans that have any, so the record every span writes stays small.
    rare: Option<Box<Rare>>,
}

#[derive(Default, Clone)]
struct Rare {
    events: Vec<Event>,
    links: Vec<Link>,
    status: Status,
}

impl Record {
    /// Writes the record of a span that opened at `start` into `slot`, one
    /// field at a time: a record built first and then moved is copied whole
    /// (a `memcpy` call), on every span. The clock is read by the caller:
    /// read before the IDs are loaded, it leaves them in registers from
    /// load to store (a reading clobbers two).
    ///
    /// # Safety
    ///
    /// `slot` must be valid for writes and aligned; what it held is
    /// overwritten without being dropped.
    #[inline(always)]
    pub(crate) unsafe fn write_open(
        slot: *mut Self,
        ids: (TraceId, SpanId, Option<SpanId>, TraceFlags),
        name: Cow<'static, str>,
        kind: SpanKind,
        start: Timestamp,
    ) {
        let (trace_id, span_id, parent_id, flags) = ids;
        // SAFETY: the caller's promise; every field is written once.
        unsafe {
            (&raw mut (*slot).state).write(State::Open);
            (&raw mut (*slot).kind).write(kind);
            (&raw mut (*slot).trace_id).write(trace_id);
            (&raw mut (*slot).span_id).write(span_id);
            (&raw mut (*slot).parent_id).write(parent_id);
            (&raw mut (*slot).flags).write(flags);
            (&raw mut (*slot).name).write(name);
            (&raw mut (*slot).start).write(start);
            (&raw mut (*slot).end).write(start);
            (&raw mut (*slot).tags).write(Tags::new());
            (&raw mut (*slot).rare).write(None);
        }
    }

    /// What stays in a buffer's slot when its record moves out.
    pub(crate) fn moved(&self) -> Self {
        Self {
            state: State::Moved,
            name: Cow::Borrowed(""),
            tags: Tags::new(),
            rare: None,
            ..*self
        }
    }

    /// Access for adding to the span, within `limits`.
    #[inline]
    pub(crate) fn open_span<'a>(
        &'a mut self,
        limits: &'a Limits,
        counters: &'a LimitCounters,
    ) -> OpenSpan<'a> {
        OpenSpan { record: self, limits, counters }
    }

    /// Reads the clock: the span ends now.
    #[inline]
    pub(crate) fn close(&mut self) {
        self.end = Timestamp::now();
        self.state = State::Closed;
    }
}

/// A sampled span that is open, as code adding to it sees it.
pub(crate) struct OpenSpan<'a> {
    record: &'a mut Record,
    limits: &'a Limits,
    counters: &'a LimitCounters,
}

impl OpenSpan<'_> {
    /// Adds the tags `#[traced]` evaluated for the span: all in one go
    /// when they are within the limits, as they nearly always are.
    #[inline]
    pub(crate) fn add_static_tags<const N: usize>(&mut self, tags: [(&'static str, Value); N]) {
        let limits = self.limits;
        let long = |value: &Value| match value {
            Value::Str(text) => text.len() > limits.max_tag_value_bytes,
            _ => false,
        };
        if self.record.tags.len() + N > limits.max_tags_per_span
            || tags.iter().any(|(_, v)| long(v))
        {
            for (key, value) in tags {
                self.add_tag(Cow::Borrowed(key), value);
            }
            return;
        }
        // One push per tag: `extend` with the array's iterator costs a
        // reservation and the iterator's drop on every span (the safe loop
        // `for (key, value) in tags` measured 37 instructions more for one
        // tag, 50 for two).
        let tags = std::mem::ManuallyDrop::new(tags);
        for tag in tags.iter() {
            // SAFETY: each element is read out exactly once and the array
            // is never dropped (`ManuallyDrop`), so every tag has one owner.
            let (key, value) = unsafe { std::ptr::read(tag) };
            self.record.tags.push((Cow::Borrowed(key), value));
        }
    }

    /// Adds a tag within the tracer's limits. Always inlined: the compat
    /// layer's field visitors call it once per field, and inlined there the
    /// checks on a value whose type the visitor knows fold away.
    #[inline(always)]
    pub(crate) fn add_tag(&mut self, key: Cow<'static, str>, mut value: Value) {
        if self.record.tags.len() >= self.limits.max_tags_per_span {
            limits::count(&self.counters.tags_dropped);
            return;
        }
        // Neither rebuilt nor lent out on the common path: a value whose
        // address a call takes lives on the stack and is copied there and
        // back.
        if matches!(&value, Value::Str(text) if text.len() > self.limits.max_tag_value_bytes) {
            value = self.cut(value);
        }
        self.record.tags.push((key, value));
    }

    /// A value over the length limit, cut and counted.
    #[cold]
    #[inline(never)]
    fn cut(&self, mut value: Value) -> Value {
        if self.limits.cut_value(&mut value) {
            limits::count(&self.counters.values_truncated);
        }
        value
    }

    fn rare(&mut self) -> &mut Rare {
        self.record.rare.get_or_insert_with(Box::default)
    }

    /// Sets the status.
    pub(crate) fn set_status(&mut self, status: Status) {
        if status != Status::Unset || self.record.rare.is_some() {
            self.rare().status = status;
        }
    }

    /// Adds an event within the tracer's limits.
    pub(crate) fn add_event(&mut self, name: Cow<'static, str>, tags: Vec<Tag>) {
        if self.record.rare.as_ref().map_or(0, |r| r.events.len())
            >= self.limits.max_events_per_span
        {
            limits::count(&self.counters.events_dropped);
            return;
        }
        let mut event = Event::now(name, tags);
        if limits::truncate(&mut event.name, self.limits.max_name_bytes) {
            limits::count(&self.counters.names_truncated);
        }
        bound_tags(self.limits, self.counters, &mut event.tags);
        self.rare().events.push(event);
    }

    /// Adds a link within the tracer's limits.
    pub(crate) fn add_link(&mut self, mut link: Link) {
        if self.record.rare.as_ref().map_or(0, |r| r.links.len()) >= self.limits.max_links_per_span
        {
            limits::count(&self.counters.links_dropped);
            return;
        }
        bound_tags(self.limits, self.counters, &mut link.tags);
        self.rare().links.push(link);
    }
}

/// What a function's result adds to its span (`#[traced(err, ret)]`, HTTP
/// helpers): computed from the result first, outside the thread's span
/// state, since computing it runs user code (`Display`, `Debug`) that may
/// trace too; then applied to the span.
#[derive(Debug, Default)]
pub struct Outcome {
    status: Option<Status>,
    tags: Vec<Tag>,
}

impl Outcome {
    /// Sets the status the span ends with.
    pub(crate) fn set_status(&mut self, status: Status) {
        self.status = Some(status);
    }

    /// Adds a tag.
    pub(crate) fn add_tag(&mut self, key: Cow<'static, str>, value: Value) {
        self.tags.push((key, value));
    }

    /// Adds what was computed to the span.
    pub(crate) fn apply(self, span: &mut OpenSpan<'_>) {
        for (key, value) in self.tags {
            span.add_tag(key, value);
        }
        if let Some(status) = self.status {
            span.set_status(status);
        }
    }
}

/// Holds the tags of an event or link to the tracer's limits.
fn bound_tags(limits: &Limits, counters: &LimitCounters, tags: &mut Vec<Tag>) {
    if tags.len() > limits.max_tags_per_span {
        let dropped = tags.len() - limits.max_tags_per_span;
        tags.truncate(limits.max_tags_per_span);
        counters.tags_dropped.fetch_add(dropped as u64, Ordering::Relaxed);
    }
    for (_, value) in tags.iter_mut() {
        if limits.cut_value(value) {
            limits::count(&counters.values_truncated);
        }
    }
}

/// What converting a tracer's records needs: shared by its batches instead
/// of the tracer itself, so that queued batches never keep a tracer (and
/// the exporters it owns, queues included) alive.
pub(crate) struct Source {
    pub(crate) service: Arc<str>,
    pub(crate) redact: Option<Box<RedactFn>>,
}

/// Where the `Vec` of a span's tags comes from, when a record is
/// converted into a slot (see [`Record::move_span_data`]).
pub(crate) enum TagsVec {
    /// The slot's own, a valid `Vec` left by the span there before: it is
    /// taken over, its old tags dropped.
    InSlot,
    /// A new one.
    New,
}

impl Record {
    /// Moves the exported form into `slot`: what the record owns (name,
    /// tags, events, links) moves bitwise, and the record is left as a
    /// husk that must never be used or dropped again. It is read where it
    /// lies instead of being moved out whole (208 bytes) first, and
    /// nothing is written back into it (leaving empty values behind
    /// measured 10 instructions a span more). Each field is written
    /// straight into `slot` as soon as it is known: a `SpanData` built
    /// first and then moved measured 40 instructions a span more, most of
    /// them copies through the stack.
    ///
    /// `redacting` says whether `source` has a redaction hook (looked up
    /// once per batch); `tags_vec` says which `Vec` the tags are moved
    /// into (a slot's own needs no allocation); `service` is the span's
    /// service, as the caller counts its references; `clock` converts its
    /// times.
    ///
    /// # Safety
    ///
    /// `slot` must be valid for writes and aligned; what it held is
    /// overwritten without being dropped, but for its `tags` with
    /// [`TagsVec::InSlot`]: then they must be a valid `Vec`. The
    /// record must be neither used nor dropped afterwards, even if this
    /// panics (the redaction hook may): the span written so far is then
    /// leaked, never dropped twice.
    ///
    /// Returns whether the span may own memory other than its service and
    /// its tags (a heap name, events, links or a status message).
    #[inline(always)]
    pub(crate) unsafe fn move_span_data(
        &mut self,
        slot: *mut SpanData,
        source: &Source,
        redacting: bool,
        tags_vec: TagsVec,
        service: Arc<str>,
        clock: SpanClock,
    ) -> bool {
        // SAFETY (here and below): the caller's promises that the record
        // is not used again (each owned field is moved out exactly once)
        // and that `slot` is writable (its tags valid if `InSlot`).
        unsafe { self.move_tags(&raw mut (*slot).tags, tags_vec) };
        let (start_unix_nanos, duration_nanos) = clock.span_times(self.start, self.end);
        let rare = unsafe { std::ptr::read(&self.rare) };
        let finish = rare.is_some() || redacting;
        let owns = rare.is_some() || matches!(self.name, Cow::Owned(_));
        // Every other field is written once.
        unsafe {
            (&raw mut (*slot).trace_id).write(self.trace_id);
            (&raw mut (*slot).span_id).write(self.span_id);
            (&raw mut (*slot).parent_id).write(self.parent_id);
            (&raw mut (*slot).name).write(std::ptr::read(&self.name));
            (&raw mut (*slot).kind).write(self.kind);
            (&raw mut (*slot).start_unix_nanos).write(start_unix_nanos);
            (&raw mut (*slot).duration_nanos).write(duration_nanos);
            (&raw mut (*slot).service).write(service);
            match rare {
                None => {
                    (&raw mut (*slot).events).write(Vec::new());
                    (&raw mut (*slot).links).write(Vec::new());
                    (&raw mut (*slot).status).write(Status::Unset);
                }
                Some(rare) => {
                    let Rare { events, links, status } = *rare;
                    (&raw mut (*slot).events).write(events);
                    (&raw mut (*slot).links).write(links);
                    (&raw mut (*slot).status).write(status);
                }
            }
        }
        if finish {
            // SAFETY: every field was written above.
            finish_rare(unsafe { &mut *slot }, source);
        }
        owns
    }

    /// Writes the record's tags into `to` as a `Vec`, one per key, moved
    /// out bitwise, into the `Vec` `from` says. Each branch writes its own
    /// `Vec`: one value returned from all three went through the stack
    /// (six instructions a span).
    ///
    /// # Safety
    ///
    /// `to` must be valid for writes; what it held is overwritten without
    /// being dropped, unless `from` is [`TagsVec::InSlot`]: then it must
    /// be a valid `Vec`. The record's tags must be neither used nor
    /// dropped afterwards.
    #[inline(always)]
    unsafe fn move_tags(&mut self, to: *mut Vec<Tag>, from: TagsVec) {
        let len = self.tags.len();
        if self.tags.spilled() {
            // Moves the heap buffer, no copy of the tags.
            // SAFETY: the caller's promise; the tags move once.
            let mut tags = unsafe { std::ptr::read(&self.tags) }.into_vec();
            keep_last_per_key(&mut tags);
            // SAFETY: the caller's promise (a `Vec` there is dropped once).
            unsafe {
                if let TagsVec::InSlot = from {
                    std::ptr::drop_in_place(to);
                }
                to.write(tags);
            }
        } else if len == 0 {
            // SAFETY: the caller's promise.
            unsafe {
                match from {
                    TagsVec::InSlot => (*to).clear(),
                    TagsVec::New => to.write(Vec::new()),
                }
            }
        } else {
            type Inline = std::mem::MaybeUninit<[Tag; 2]>;
            // Filled where it lies in the span: a `Vec` filled first and
            // then written went through the stack.
            // SAFETY: the caller's promise; `to` holds a valid `Vec` from
            // here on.
            let tags = unsafe {
                match from {
                    TagsVec::InSlot => (*to).clear(),
                    TagsVec::New => to.write(Vec::new()),
                }
                &mut *to
            };
            debug_assert!(tags.is_empty());
            tags.reserve(2);
            // Both inline slots are copied as one block of bytes, a fixed
            // size the compiler copies in registers: popping the tags one
            // by one measured ten instructions a span more.
            // SAFETY: the tags move (the caller's promise) to `tags`,
            // empty with room for two, which counts the `len` copied. The
            // bytes past `len` are uninitialised, copied as such
            // (`MaybeUninit`) and never read.
            unsafe {
                let inline = self.tags.as_ptr().cast::<Inline>().read();
                tags.as_mut_ptr().cast::<Inline>().write(inline);
                tags.set_len(len);
            }
            // One comparison for the pair a record holds inline:
            // `keep_last_per_key`'s general loop measured 50 instructions.
            if len == 2 && tags[0].0 == tags[1].0 {
                let (_, value) = tags.pop().expect("two tags");
                tags[0].1 = value;
            }
        }
    }

    /// Whether the record owns nothing (no heap name, tags, events or
    /// links): forgetting it then leaks nothing.
    pub(crate) fn owns_nothing(&self) -> bool {
        matches!(self.name, Cow::Borrowed(_))
            && !self.tags.spilled()
            && self.tags.is_empty()
            && self.rare.is_none()
    }
}

/// Record buffers emptied where batches are converted, reused by the
/// application threads: a hand-over then allocates nothing, and memory
/// stays with the thread pair that uses it instead of being freed on one
/// thread and allocated again on another (which glibc's allocator makes
/// slow).
///
/// The pool is a cache, so it never waits: a thread that finds it in use
/// allocates (or frees) a buffer instead. Its lock is one compare-exchange
/// and one store, where a `Mutex` also checks and sets its poison flag on
/// every hand-over: `Mutex::try_lock` measured 39 instructions more per
/// lone root span (`scripts/instructions.sh ours/root`, 784 against 745).
pub(crate) mod spare {
    use std::cell::UnsafeCell;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::Record;

    /// The pool holds buffers with room for at most this many records in
    /// all (about 850 KiB): as many as a default export queue holds, so a
    /// thread that hands over one small batch per request (a lone root
    /// span) finds a buffer waiting instead of allocating one.
    const MAX_RECORDS: usize = 4096;
    /// A larger buffer is freed rather than kept.
    const MAX_CAPACITY: usize = 512;

    struct Pool {
        busy: AtomicBool,
        buffers: UnsafeCell<Vec<Vec<Record>>>,
        records: UnsafeCell<usize>,
    }

    // SAFETY: `buffers` and `records` are only reached through `Pool::with`,
    // by the one thread that set `busy`.
    unsafe impl Sync for Pool {}

    static POOL: Pool = Pool::new();

    impl Pool {
        const fn new() -> Self {
            Self {
                busy: AtomicBool::new(false),
                buffers: UnsafeCell::new(Vec::new()),
                records: UnsafeCell::new(0),
            }
        }

        /// Runs `f` on the pool if no other thread is using it.
        #[inline]
        fn with<R>(&self, f: impl FnOnce(&mut Vec<Vec<Record>>, &mut usize) -> R) -> Option<R> {
            self.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).ok()?;
            // Released however `f` ends (only a failed allocation can
            // unwind out of it).
            struct Release<'a>(&'a AtomicBool);
            impl Drop for Release<'_> {
                fn drop(&mut self) {
                    self.0.store(false, Ordering::Release);
                }
            }
            let _release = Release(&self.busy);
            // SAFETY: `busy` was false and is now ours: no other reference
            // to the pool's contents exists until it is released.
            Some(unsafe { f(&mut *self.buffers.get(), &mut *self.records.get()) })
        }

        fn take(&self, capacity: usize) -> Vec<Record> {
            let spare = self.with(|buffers, records| {
                let spare = buffers.pop();
                if let Some(buffer) = &spare {
                    *records -= buffer.capacity();
                }
                spare
            });
            spare.flatten().unwrap_or_else(|| Vec::with_capacity(capacity))
        }

        fn give(&self, mut buffer: Vec<Record>) {
            buffer.clear();
            let capacity = buffer.capacity();
            if capacity == 0 || capacity > MAX_CAPACITY {
                return;
            }
            self.with(|buffers, records| {
                if *records + capacity <= MAX_RECORDS {
                    *records += capacity;
                    buffers.push(buffer);
                }
            });
        }
    }

    /// An empty buffer, with room for `capacity` records if a new one is made.
    pub(crate) fn take(capacity: usize) -> Vec<Record> {
        POOL.take(capacity)
    }

    /// Keeps `buffer` for reuse.
    pub(crate) fn give(buffer: Vec<Record>) {
        POOL.give(buffer);
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_buffer_given_back_is_taken_again_and_a_busy_pool_is_passed_by() {
            let pool = Pool::new();
            let buffer: Vec<Record> = Vec::with_capacity(7);
            let address = buffer.as_ptr() as usize;
            pool.give(buffer);
            let again = pool.take(1);
            assert_eq!((again.as_ptr() as usize, again.capacity()), (address, 7));
            // While the pool is in use, a thread neither waits nor fails:
            // it gets a new buffer, and one it gives back is freed.
            let inside = pool.with(|_, _| {
                let fresh = pool.take(3);
                pool.give(Vec::with_capacity(5));
                fresh.capacity()
            });
            assert_eq!(inside, Some(3));
            assert_eq!(pool.take(2).capacity(), 2, "the buffer given while busy was not kept");
        }

        #[test]
        fn the_pool_keeps_at_most_its_record_bound() {
            let pool = Pool::new();
            for _ in 0..(MAX_RECORDS / MAX_CAPACITY + 3) {
                pool.give(Vec::with_capacity(MAX_CAPACITY));
            }
            pool.give(Vec::with_capacity(MAX_CAPACITY + 1));
            let kept = pool.with(|buffers, records| (buffers.len(), *records));
            assert_eq!(kept, Some((MAX_RECORDS / MAX_CAPACITY, MAX_RECORDS)));
        }
    }
}

/// What few spans need on export: one tag per key in their events, and
/// the redaction hook run over every tag. Out of line, so that the common
/// span's conversion stays small.
#[inline(never)]
fn finish_rare(span: &mut SpanData, source: &Source) {
    for event in &mut span.events {
        keep_last_per_key(&mut event.tags);
    }
    if let Some(redact) = &source.redact {
        redact_tags(redact.as_ref(), &mut span.tags);
        for event in &mut span.events {
            redact_tags(redact.as_ref(), &mut event.tags);
        }
        for link in &mut span.links {
            redact_tags(redact.as_ref(), &mut link.tags);
        }
    }
}

fn redact_tags(redact: &RedactFn, tags: &mut Vec<Tag>) {
    *tags = std::mem::take(tags)
        .into_iter()
        .filter_map(|(key, value)| redact(&key, value).map(|value| (key, value)))
        .collect();
}

#[cfg(test)]
impl Record {
    /// A closed record of a span named `name`, read `start` and `end` on
    /// the non-TSC clock, with `tags`.
    pub(crate) fn closed_for_test(name: String, start: u64, end: u64, tags: Vec<Tag>) -> Self {
        Self {
            state: State::Closed,
            kind: SpanKind::Internal,
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            parent_id: None,
            flags: TraceFlags::default(),
            name: Cow::Owned(name),
            start: Timestamp::Other(start),
            end: Timestamp::Other(end),
            tags: tags.into_iter().collect(),
            rare: None,
        }
    }
}
