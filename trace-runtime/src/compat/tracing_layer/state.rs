//! What the layer keeps per `tracing` span, and per thread.
//!
//! A `tracing` span may be entered and exited many times, on several
//! threads (one poll of an instrumented future per worker), even on two
//! threads at once (clones of one span), and is closed when its last handle
//! drops, after its last exit. So the span's record does not live on any
//! thread's stack: it is held in the span's [`SpanState`] (in the layer's
//! table), and entering the span makes only its IDs (an [`Anchor`])
//! current on the entering thread, so that spans opened there become its
//! children. Closing the span hands the record over, wherever that happens.
//!
//! Entering does not even push those IDs on the thread's stack at once:
//! the entry in the thread's list of entered spans is enough until
//! something on the thread reads the stack, when `local` has the layer push
//! them ([`push_deferred`]). A leaf span, entered and exited with nothing
//! asking what is current, costs neither the push nor the pop. Closing a
//! span that only the table still refers to (entered and exited on its
//! thread, or never entered) takes no lock: nothing else can reach it.
//!
//! Tags, events and status set through `trace_runtime::add_tag` and its
//! siblings, and the bridges' events, reach an entered `tracing` span that
//! is the innermost span of the thread through [`entered_top`].

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::fields::{Special, Specials, StatusCode};
use crate::detached::{self, Anchor, DetachedSpan, EnteredAnchor};
use crate::record::OpenSpan;
use crate::span::{Link, SpanContext, Status};
use crate::value::Tag;

/// What the layer keeps of a `tracing` span, in its table.
#[derive(Clone)]
pub(crate) enum Kept {
    /// A span of an unsampled trace that has not been entered away from
    /// its parent: what entering it would make current. A span opened
    /// under an unsampled span shares its parent's IDs, so where the parent
    /// is the current span (nearly always: `#[instrument]` calls), entering
    /// it pushes nothing, and it costs neither a state nor an entry.
    Unsampled(Anchor),
    /// Any other span.
    State(Arc<SpanState>),
}

impl Kept {
    /// What entering the span makes current.
    pub(super) fn anchor(&self) -> &Anchor {
        match self {
            Self::Unsampled(anchor) => anchor,
            Self::State(state) => &state.anchor,
        }
    }

    /// The state to enter the span with, where the current span of the
    /// thread is the unsampled span `top` (if any); `None` when entering
    /// changes nothing. An unsampled span entered elsewhere gets a state
    /// from then on (it may be exited elsewhere, closed while entered).
    pub(super) fn state_to_enter(
        &mut self,
        top: Option<crate::id::SpanId>,
    ) -> Option<Arc<SpanState>> {
        match self {
            Self::Unsampled(anchor) if Some(anchor.span_context().span_id) == top => None,
            Self::Unsampled(anchor) => {
                let state = SpanState::new(anchor.clone(), None, None);
                // Entered at once, never this thread's last opened.
                state.noted.store(false, Ordering::Relaxed);
                *self = Self::State(Arc::clone(&state));
                Some(state)
            }
            Self::State(state) => Some(Arc::clone(state)),
        }
    }
}

/// One `tracing` span, as the layer keeps it in its table.
pub(crate) struct SpanState {
    /// What entering the span makes current: the span's IDs (its own, or,
    /// for a span nested in an unsampled one, its parent's) and tracer.
    pub(super) anchor: Anchor,
    closed: AtomicBool,
    /// Whether the thread that opened the span may still note it as the
    /// span it opened last (not entered since): only then does closing
    /// look at that note.
    noted: AtomicBool,
    inner: Mutex<Inner>,
}

struct Inner {
    /// `None` when nothing is recorded (unsampled), or once closed.
    span: Option<DetachedSpan>,
    special: Specials,
}

impl Inner {
    /// The span's record with the status its fields give it, to hand over.
    #[inline]
    fn finish(&mut self, errors_from_fields: bool) -> Option<DetachedSpan> {
        let Self { span, special } = self;
        if let Some(span) = span.as_mut()
            && let Some(special) = special
            && let Some(status) = status(special, errors_from_fields)
        {
            span.record(|record| record.set_status(status));
        }
        span.take()
    }
}

impl SpanState {
    fn new(anchor: Anchor, span: Option<DetachedSpan>, special: Specials) -> Arc<Self> {
        Arc::new(Self {
            anchor,
            closed: AtomicBool::new(false),
            noted: AtomicBool::new(true),
            inner: Mutex::new(Inner { span, special }),
        })
    }

    /// Fills the allocation of a closed span's state (kept by `close`) with
    /// the state of a span just opened: field by field rather than a whole
    /// new value, so what `close` emptied is not dropped again, nor the
    /// state copied in.
    fn refill(&mut self, anchor: Anchor, span: Option<DetachedSpan>, special: Specials) {
        self.anchor = anchor;
        *self.closed.get_mut() = false;
        *self.noted.get_mut() = true;
        let inner = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        inner.span = span;
        inner.special = special;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing under the lock runs user code, so it is never poisoned
        // half-way; if it were, the data is still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the span records anything.
    pub(super) fn is_recording(&self) -> bool {
        self.anchor.span_context().sampled() && !self.closed.load(Ordering::Relaxed)
    }

    /// Runs `f` on the span's record, if it records.
    pub(crate) fn record<R>(&self, f: impl FnOnce(&mut OpenSpan<'_>) -> R) -> Option<R> {
        self.lock().span.as_mut()?.record(f)
    }

    /// Adds tags and what [`Special`] fields say, recorded after creation.
    pub(super) fn update(&self, tags: Vec<Tag>, special: Specials) {
        let mut inner = self.lock();
        let Inner { span: Some(span), special: own } = &mut *inner else { return };
        if let Some(special) = &special {
            if let Some(name) = &special.name {
                span.rename(Cow::Owned(name.clone()));
            }
            if let Some(kind) = special.kind {
                span.set_kind(kind);
            }
        }
        Special::merge(own, special);
        span.record(|record| {
            for (key, value) in tags {
                record.add_tag(key, value);
            }
        });
    }

    /// Adds an event; `error` (a message) marks the span as failed.
    pub(crate) fn add_event(
        &self,
        name: Cow<'static, str>,
        tags: Vec<Tag>,
        error: Option<Cow<'static, str>>,
    ) {
        let mut inner = self.lock();
        let Inner { span: Some(span), special } = &mut *inner else { return };
        span.record(|record| record.add_event(name, tags));
        if let Some(message) = error {
            special.get_or_insert_with(Box::default).error = Some(message.into_owned());
        }
    }

    /// Links the span to the span `span_context` (`follows_from`).
    pub(super) fn add_link(&self, span_context: SpanContext) {
        self.record(|record| record.add_link(Link { span_context, tags: Vec::new() }));
    }

    /// Closes the span: sets its status from its fields, and hands it over.
    /// Later calls do nothing.
    fn close(self: &Arc<Self>, errors_from_fields: bool) {
        // The span's one close (its state leaves the table once): a load
        // and a store, not a read-modify-write on every span.
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        self.closed.store(true, Ordering::Release);
        // The caller holds one reference; any other may be an entry in a
        // thread's list of entered spans (or, more rarely, a callback's
        // passing copy, or another thread's note of the span it opened
        // last): then every thread looks at its list. Counting the entries
        // instead cost two atomic operations on every enter and exit.
        if Arc::strong_count(self) > 1 {
            STALE.fetch_add(1, Ordering::AcqRel);
        }
        let span = self.lock().finish(errors_from_fields);
        // Outside the lock: handing the record over may run exporters.
        if let Some(span) = span {
            span.finish();
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

/// The status the span's fields give it: `otel.status_code` (with
/// `otel.status_message`) first, as `tracing-opentelemetry` does; else an
/// error field or event, if the user opted in.
fn status(special: &mut Special, errors_from_fields: bool) -> Option<Status> {
    match special.status_code {
        Some(StatusCode::Ok) => Some(Status::Ok),
        Some(StatusCode::Error) => {
            let message = special.status_message.take().or_else(|| special.error.take());
            Some(Status::Error(message.unwrap_or_default().into()))
        }
        Some(StatusCode::Unset) => None,
        None if errors_from_fields => special.error.take().map(|m| Status::Error(m.into())),
        None => None,
    }
}

/// Which `tracing` span an entry is for: the layer's address (one per
/// subscriber) and the span's ID in that subscriber, so that exiting needs
/// no look-up in the registry.
pub(super) type Key = (usize, u64);

/// A `tracing` span entered on this thread and not yet exited here.
struct Entered {
    key: Key,
    state: Arc<SpanState>,
    /// Makes the span current until dropped. Its frame is deferred where
    /// it can be (see `local::compat`): pushed by [`push_deferred`] when
    /// something on this thread reads the stack while the span is entered,
    /// which for a leaf span never happens.
    guard: EnteredAnchor,
}

/// The layer's spans as one thread sees them.
///
/// Nothing that holds it calls into `local` (which may call
/// [`push_deferred`], which takes it too).
struct ThreadSpans {
    /// The `tracing` spans entered on this thread, innermost last.
    list: Vec<Entered>,
    /// How many entries of `list` have their frames deferred; `local` is
    /// told whether any are (`note_deferred`).
    deferred: usize,
    /// The value of [`STALE`] when the list was last rid of closed spans.
    seen: u64,
    /// The span this thread opened last, which is nearly always the next
    /// one entered here (`#[instrument]`, `in_scope`): entering it needs
    /// no look-up in the layer's table.
    created: Option<(Key, Arc<SpanState>)>,
    /// Allocations of closed spans' states, for spans opened next.
    spare: Vec<Arc<SpanState>>,
}

/// Counts the spans closed while some thread may have listed them as
/// entered: a thread whose last look at its list was at another count
/// looks again.
static STALE: AtomicU64 = AtomicU64::new(0);

/// At most this many allocations of closed spans wait on a thread.
const MAX_SPARE: usize = 16;

thread_local! {
    /// The layer's spans as this thread sees them: one thread-local, so
    /// that each callback reaches what it needs in one access.
    static SPANS: RefCell<ThreadSpans> = const {
        RefCell::new(ThreadSpans {
            list: Vec::new(),
            deferred: 0,
            seen: 0,
            created: None,
            spare: Vec::new(),
        })
    };
}

/// Runs `f` on this thread's view of the spans; `None` during thread
/// teardown or if it is in use (never, as nothing below runs user code).
fn with_thread<R>(f: impl FnOnce(&mut ThreadSpans) -> R) -> Option<R> {
    SPANS.try_with(|spans| spans.try_borrow_mut().ok().map(|mut s| f(&mut s))).ok().flatten()
}

/// The state of the span `key` just opened on this thread, noted as the
/// span this thread opened last; in the allocation of a closed span's state
/// if the thread kept one.
// Inlined into its one caller, as `close` is: the anchor and the record
// are not moved through memory once more (measured -14 and -11
// instructions per span; `enter_created` and `exit` inlined measured +59
// and +140, and stay calls).
#[inline(always)]
pub(super) fn opened(
    key: Key,
    anchor: Anchor,
    span: Option<DetachedSpan>,
    special: Specials,
) -> Arc<SpanState> {
    let mut parts = Some((anchor, span, special));
    let made = with_thread(|thread| {
        let (anchor, span, special) = parts.take()?;
        let state = match thread.spare.pop() {
            Some(mut state) => match Arc::get_mut(&mut state) {
                Some(slot) => {
                    slot.refill(anchor, span, special);
                    state
                }
                // Never: a spare state has no other reference.
                None => SpanState::new(anchor, span, special),
            },
            None => SpanState::new(anchor, span, special),
        };
        let previous = thread.created.replace((key, Arc::clone(&state)));
        Some((state, previous))
    })
    .flatten();
    match made {
        Some((state, previous)) => {
            // Outside the thread's spans: the last reference to a state
            // may hold the last reference to a tracer.
            drop(previous);
            state
        }
        // Thread teardown: a state of its own, not noted.
        None => {
            let (anchor, span, special) =
                parts.take().expect("not taken without the thread's spans");
            SpanState::new(anchor, span, special)
        }
    }
}

/// Makes `state`'s span current on this thread until [`exit`].
#[inline]
pub(super) fn enter(key: Key, state: Arc<SpanState>) {
    // Pushed now (outside the thread's spans: see `ThreadSpans`) where the
    // frame cannot be deferred.
    let guard = state.anchor.defer().unwrap_or_else(|| state.anchor.enter());
    let stale = with_thread(|thread| {
        let stale = take_closed(thread);
        listed(thread, Entered { key, state, guard });
        stale
    });
    // Outside the thread's spans: dropping a guard may hand spans over.
    drop(stale);
}

/// Adds `entered` to the thread's list.
#[inline(always)]
fn listed(thread: &mut ThreadSpans, entered: Entered) {
    if entered.guard.is_deferred() {
        thread.deferred += 1;
        if thread.deferred == 1 {
            detached::note_deferred(true);
        }
    }
    thread.list.push(entered);
}

/// [`enter`] for the span `key` if it is the one this thread opened last
/// and it is still open; `false` (and nothing done) otherwise.
pub(super) fn enter_created(key: Key) -> bool {
    /// What entering the span this thread opened last came to.
    enum Created {
        /// It is not that span.
        Other,
        /// Entered, its frame deferred.
        Listed,
        /// To enter the general way: its frame must be pushed now (out of
        /// the thread's spans), or entries of closed spans are to go first.
        Enter(Arc<SpanState>),
    }
    let created = with_thread(|thread| {
        let state = match thread.created.take() {
            Some((created, state)) if created == key && !state.is_closed() => state,
            other => {
                thread.created = other;
                return Created::Other;
            }
        };
        state.noted.store(false, Ordering::Relaxed);
        if !no_closed(thread) {
            return Created::Enter(state);
        }
        let Some(guard) = state.anchor.defer() else { return Created::Enter(state) };
        listed(thread, Entered { key, state, guard });
        Created::Listed
    });
    match created {
        Some(Created::Listed) => true,
        Some(Created::Enter(state)) => {
            enter(key, state);
            true
        }
        Some(Created::Other) | None => false,
    }
}

/// Undoes the innermost [`enter`] of `state` on this thread; does nothing
/// if it was not entered here (it was exited on another thread than the
/// one it was entered on: that thread drops its entry once the span closes).
pub(super) fn exit(key: Key) {
    let own = with_thread(|thread| no_closed(thread).then(|| unlist(thread, key)));
    match own {
        // Outside the thread's spans: a pushed frame comes off the stack.
        Some(Some(own)) => drop(own),
        Some(None) => exit_after_closes(key),
        None => {}
    }
}

/// [`exit`] where entries of spans closed since go first: their keys may
/// have been reused.
#[cold]
#[inline(never)]
fn exit_after_closes(key: Key) {
    let taken = with_thread(|thread| (take_closed(thread), unlist(thread, key)));
    drop(taken);
}

/// Takes the innermost entry of `key` off the thread's list.
#[inline(always)]
fn unlist(thread: &mut ThreadSpans, key: Key) -> Option<Entered> {
    let list = &mut thread.list;
    // Nearly always the innermost: guards drop in the reverse order.
    let own = if list.last().is_some_and(|e| e.key == key) {
        list.pop()
    } else {
        list.iter().rposition(|e| e.key == key).map(|index| list.remove(index))
    };
    if own.as_ref().is_some_and(|own| own.guard.is_deferred()) {
        thread.deferred -= 1;
        if thread.deferred == 0 {
            detached::note_deferred(false);
        }
    }
    own
}

/// Pushes the deferred frames of this thread's entered spans, innermost
/// last: `local` calls this (registered in `TracingLayer::new`) before it
/// reads or grows the stack while any are deferred.
pub(super) fn push_deferred() {
    // The entries and their states, taken out of the list's borrow: pushing
    // goes through `local` (see `ThreadSpans`). Nothing else runs on this
    // thread meanwhile, so the entries are where they were after.
    let deferred = with_thread(|thread| {
        // Cleared here, once the list is reached (if it is not, `local`
        // asks again next time): pushing goes through `with_local`, which
        // must not ask again meanwhile.
        detached::note_deferred(false);
        let list = thread.list.iter().enumerate();
        list.filter(|(_, entered)| entered.guard.is_deferred())
            .map(|(index, entered)| (index, Arc::clone(&entered.state)))
            .collect::<Vec<_>>()
    });
    let Some(deferred) = deferred else { return };
    let pushed: Vec<_> =
        deferred.into_iter().map(|(index, state)| (index, state.anchor.enter())).collect();
    let unlisted = with_thread(|thread| {
        let mut unlisted = Vec::new();
        for (index, guard) in pushed {
            match thread.list.get_mut(index) {
                Some(entered) if entered.guard.is_deferred() => {
                    // The deferred guard it replaces holds nothing.
                    entered.guard = guard;
                }
                // Never (see above); popped again rather than left.
                _ => unlisted.push(guard),
            }
        }
        // Counted, not assumed: whatever was not pushed stays deferred.
        recount_deferred(thread);
        unlisted
    });
    drop(unlisted);
}

/// Closes the span `key` (taken out of the layer's table): sets its status
/// from its fields and hands it over. Then drops this thread's entries of
/// spans closed since (entered here, then exited elsewhere or never): their
/// contexts stop being current; and keeps the state's allocation for the
/// next span opened here, unless a thread still lists the span as entered.
#[inline(always)]
pub(super) fn close(key: Key, mut state: Arc<SpanState>, errors_from_fields: bool) {
    // A span closed without being entered is still this thread's last
    // opened, nearly always: that note goes first, so that closing sees the
    // references that matter. A span entered since has no note.
    if state.noted.load(Ordering::Relaxed) {
        let note = with_thread(|thread| {
            // Taken out, and dropped outside the thread's spans: a note of
            // another state under a reused key could hold its last reference.
            thread.created.take_if(|(created, _)| *created == key)
        });
        drop(note);
    }
    // Nearly always the table held the last reference (the span was entered
    // and exited here, or never entered): no thread can reach the state any
    // more, so it closes without its lock, and nobody need look for it.
    let Some(owned) = Arc::get_mut(&mut state) else {
        state.close(errors_from_fields);
        drop_closed();
        return;
    };
    let inner = owned.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
    let span = inner.finish(errors_from_fields);
    inner.special = None;
    // What the state shares (baggage, a tracer) is released now, not when
    // the allocation is next used.
    let shared = owned.anchor.take_shared();
    // Handing the record over may run exporters: not inside the thread's
    // spans.
    if let Some(span) = span {
        span.finish();
    }
    let mut state = Some(state);
    let no_closed = with_thread(|thread| {
        if thread.spare.len() < MAX_SPARE {
            thread.spare.extend(state.take());
        }
        no_closed(thread)
    });
    if no_closed == Some(false) {
        drop_closed();
    }
    drop(shared);
    drop(state);
}

/// Drops this thread's entries of spans closed since its last look.
#[cold]
#[inline(never)]
fn drop_closed() {
    let stale = with_thread(take_closed);
    // Outside the thread's spans: dropping a guard may pop a frame.
    drop(stale);
}

/// Whether no span closed while some thread listed it since this thread
/// last looked: nearly always, and then [`take_closed`] finds nothing.
#[inline(always)]
fn no_closed(thread: &ThreadSpans) -> bool {
    STALE.load(Ordering::Acquire) == thread.seen
}

/// This thread's entries of spans closed since its last look (entered here,
/// then exited elsewhere or never), taken off its list.
#[inline(always)]
fn take_closed(thread: &mut ThreadSpans) -> Vec<Entered> {
    if no_closed(thread) {
        return Vec::new();
    }
    take_closed_since(thread)
}

#[cold]
#[inline(never)]
fn take_closed_since(thread: &mut ThreadSpans) -> Vec<Entered> {
    thread.seen = STALE.load(Ordering::Acquire);
    if !thread.list.iter().any(|e| e.state.is_closed()) {
        return Vec::new();
    }
    let (closed, open): (Vec<Entered>, _) =
        std::mem::take(&mut thread.list).into_iter().partition(|e| e.state.is_closed());
    thread.list = open;
    recount_deferred(thread);
    closed
}

/// Counts the list's deferred entries again after entries left it or were
/// pushed, and tells `local` whether any are left.
fn recount_deferred(thread: &mut ThreadSpans) {
    thread.deferred = thread.list.iter().filter(|e| e.guard.is_deferred()).count();
    detached::note_deferred(thread.deferred != 0);
}

/// The `tracing` span whose context is current on this thread, if the
/// innermost span open here is one.
pub(crate) fn entered_top() -> Option<Arc<SpanState>> {
    // The thread's list first: empty unless `tracing` spans are entered.
    let last = with_thread(|thread| {
        let last = thread.list.last().filter(|e| e.state.is_recording())?;
        Some(Arc::clone(&last.state))
    })
    .flatten()?;
    let top = crate::current_span_id()?;
    (last.anchor.span_context().span_id == top).then_some(last)
}

/// How many closed spans' states this thread keeps for reuse.
#[cfg(test)]
pub(super) fn spare_len() -> usize {
    with_thread(|thread| thread.spare.len()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::SPANS;
    use crate::compat::TracingLayer;
    use crate::{InMemoryCollector, Tracer, current_span_id};

    /// A call into `local` that finds this thread's list in use (which the
    /// layer never makes: see `ThreadSpans`) cannot push the deferred
    /// frames; they stay deferred, and the next access pushes them.
    #[test]
    fn deferred_frames_the_list_could_not_give_are_pushed_on_the_next_access() {
        let collector = InMemoryCollector::new();
        let tracer = Tracer::builder("layer").span_processor(collector.clone()).build();
        let _scope = tracer.set_default();
        let dispatch =
            tracing::Dispatch::new(tracing_subscriber::registry().with(TracingLayer::new()));
        let _dispatch = tracing::dispatcher::set_default(&dispatch);
        let outer = tracing::info_span!("outer");
        let outer_entered = outer.enter();
        SPANS.with(|spans| {
            let _held = spans.borrow_mut();
            let _ = current_span_id();
        });
        let inner = tracing::info_span!("inner");
        let inner_entered = inner.enter();
        drop(crate::span("ours").start());
        drop((inner_entered, outer_entered));
        drop((inner, outer));
        let spans = collector.spans();
        let id = |name: &str| spans.iter().find(|s| s.name == name).map(|s| s.span_id);
        let parent = |name: &str| spans.iter().find(|s| s.name == name).and_then(|s| s.parent_id);
        assert_eq!(parent("inner"), id("outer"), "{}", collector.render());
        assert_eq!(parent("ours"), id("inner"), "{}", collector.render());
    }
}
