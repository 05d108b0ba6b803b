//! Grouping finished spans into traces and building each trace's tree.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

use trace_runtime::{SpanData, SpanId, TraceId};

/// Collects spans in any order, from any number of processes, and builds
/// one [`Trace`] per trace ID when finished.
///
/// ```
/// use trace_analysis::{TraceAssembler, read_jsonl};
/// // The child's process wrote its file first.
/// let orders = br#"{"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000002","parent_id":"0000000000000001","service":"orders","name":"POST /orders","start_unix_nanos":5,"duration_nanos":10}"#;
/// let gateway = br#"{"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000001","parent_id":null,"service":"gateway","name":"GET /","start_unix_nanos":0,"duration_nanos":20}"#;
/// let mut assembler = TraceAssembler::new();
/// for file in [&orders[..], &gateway[..]] {
///     assembler.extend(read_jsonl(file).unwrap().spans);
/// }
/// let traces = assembler.finish();
/// let trace = &traces[0];
/// assert_eq!(trace.spans()[trace.root()].name, "GET /");
/// assert_eq!(trace.children(trace.root()), &[1]);
/// assert_eq!(trace.services(), ["gateway", "orders"]);
/// ```
#[derive(Debug, Default)]
pub struct TraceAssembler {
    by_trace: HashMap<TraceId, Vec<SpanData>>,
}

impl TraceAssembler {
    /// An assembler holding no spans.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one span.
    pub fn push(&mut self, span: SpanData) {
        self.by_trace.entry(span.trace_id).or_default().push(span);
    }

    /// Builds the traces, ordered by start time (then trace ID).
    pub fn finish(self) -> Vec<Trace> {
        let mut traces: Vec<Trace> = self.by_trace.into_values().map(Trace::build).collect();
        traces.sort_by_key(|t| (t.start_unix_nanos(), t.trace_id));
        traces
    }
}

impl Extend<SpanData> for TraceAssembler {
    fn extend<I: IntoIterator<Item = SpanData>>(&mut self, spans: I) {
        spans.into_iter().for_each(|span| self.push(span));
    }
}

/// Groups spans by trace ID and builds each trace's tree: the same as
/// pushing every span into a [`TraceAssembler`].
///
/// ```
/// use trace_analysis::{assemble, read_jsonl};
/// // The parent (span 1) never arrived: span 2 is kept as an orphan.
/// let file = br#"{"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000002","parent_id":"0000000000000001","service":"orders","name":"POST /orders","start_unix_nanos":5,"duration_nanos":10}"#;
/// let traces = assemble(read_jsonl(&file[..]).unwrap().spans);
/// assert_eq!(traces[0].orphans().collect::<Vec<_>>(), [0]);
/// ```
pub fn assemble(spans: impl IntoIterator<Item = SpanData>) -> Vec<Trace> {
    let mut assembler = TraceAssembler::new();
    assembler.extend(spans);
    assembler.finish()
}

/// The spans of one trace, arranged as a forest.
///
/// Spans are held sorted by start time (a parent before a child that starts
/// at the same instant) and referred to by their index in [`spans`](Self::spans).
///
/// **Several roots.** A span whose `parent_id` is not among the trace's
/// spans (its parent was lost, or is still in a file not read) is kept as an
/// *orphan*: it becomes an extra root of the forest, with its own subtree,
/// and [`orphans`](Self::orphans) lists it. Parent links that form a cycle
/// (malformed input) are cut the same way, at the cycle's earliest span.
/// Analyses that need a single tree ([`critical_path`](super::critical_path))
/// start from the [primary root](Self::root); the others (self time, root
/// cause, summaries, renderings) cover every root.
///
/// A span ID that appears twice in a trace is kept once (the first arrival);
/// [`duplicate_spans`](Self::duplicate_spans) counts the copies dropped.
#[derive(Debug, Clone)]
pub struct Trace {
    trace_id: TraceId,
    spans: Vec<SpanData>,
    parents: Vec<Option<usize>>,
    children: Vec<Vec<usize>>,
    roots: Vec<usize>,
    depths: Vec<usize>,
    duplicates: usize,
}

impl Trace {
    /// Builds one trace from spans that all share a trace ID; `spans` is not empty.
    fn build(mut spans: Vec<SpanData>) -> Self {
        let trace_id = spans[0].trace_id;
        let before = spans.len();
        let mut seen = HashSet::new();
        spans.retain(|span| seen.insert(span.span_id));
        let duplicates = before - spans.len();
        spans.sort_by_key(|s| (s.start_unix_nanos, Reverse(s.duration_nanos), s.span_id));

        let index: HashMap<SpanId, usize> =
            spans.iter().enumerate().map(|(i, s)| (s.span_id, i)).collect();
        let mut parents: Vec<Option<usize>> =
            spans.iter().map(|s| s.parent_id.and_then(|p| index.get(&p).copied())).collect();
        cut_cycles(&mut parents);

        let mut children = vec![Vec::new(); spans.len()];
        let mut roots = Vec::new();
        for (i, parent) in parents.iter().enumerate() {
            match parent {
                Some(p) => children[*p].push(i),
                None => roots.push(i),
            }
        }
        let mut trace =
            Self { trace_id, spans, parents, children, roots, depths: Vec::new(), duplicates };
        trace.depths = vec![0; trace.spans.len()];
        for (i, depth) in trace.preorder() {
            trace.depths[i] = depth;
        }
        trace
    }

    /// The trace's ID.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// Every span, sorted by start time; never empty.
    pub fn spans(&self) -> &[SpanData] {
        &self.spans
    }

    /// The index of the span with this ID.
    pub fn find(&self, span_id: SpanId) -> Option<usize> {
        self.spans.iter().position(|s| s.span_id == span_id)
    }

    /// The parent of span `index`, or `None` for a root (true root or orphan).
    pub fn parent(&self, index: usize) -> Option<usize> {
        self.parents[index]
    }

    /// The children of span `index`, by start time.
    pub fn children(&self, index: usize) -> &[usize] {
        &self.children[index]
    }

    /// The depth of span `index`: 0 for a root.
    pub fn depth(&self, index: usize) -> usize {
        self.depths[index]
    }

    /// Every root, by start time: spans without a parent and orphans.
    pub fn roots(&self) -> &[usize] {
        &self.roots
    }

    /// The primary root: the earliest span that has no parent ID (the
    /// longest if several start together), or the earliest orphan when the
    /// true root never arrived.
    pub fn root(&self) -> usize {
        let key = |&i: &usize| (self.spans[i].parent_id.is_some(), i);
        self.roots.iter().copied().min_by_key(key).unwrap_or(0)
    }

    /// The orphans: roots that name a parent which is not in the trace.
    pub fn orphans(&self) -> impl Iterator<Item = usize> + '_ {
        self.roots.iter().copied().filter(|&i| self.is_orphan(i))
    }

    /// Whether span `index` names a parent that is not in the trace.
    pub fn is_orphan(&self, index: usize) -> bool {
        self.parents[index].is_none() && self.spans[index].parent_id.is_some()
    }

    /// How many copies of an already seen span ID were dropped.
    pub fn duplicate_spans(&self) -> usize {
        self.duplicates
    }

    /// The spans in display order, each with its depth: roots by start
    /// time, each followed by its subtree, children by start time.
    pub fn preorder(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::with_capacity(self.spans.len());
        let mut todo: Vec<(usize, usize)> = self.roots.iter().rev().map(|&r| (r, 0)).collect();
        while let Some((i, depth)) = todo.pop() {
            out.push((i, depth));
            todo.extend(self.children[i].iter().rev().map(|&c| (c, depth + 1)));
        }
        out
    }

    /// The earliest start of any span, in nanoseconds since the Unix epoch.
    pub fn start_unix_nanos(&self) -> u64 {
        self.spans.iter().map(|s| s.start_unix_nanos).min().unwrap_or(0)
    }

    /// The latest end of any span, in nanoseconds since the Unix epoch.
    pub fn end_unix_nanos(&self) -> u64 {
        self.spans.iter().map(SpanData::end_unix_nanos).max().unwrap_or(0)
    }

    /// From the earliest start to the latest end of any span.
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nanos() - self.start_unix_nanos()
    }

    /// Whether any span has an error status.
    pub fn has_error(&self) -> bool {
        self.spans.iter().any(|s| s.status.is_error())
    }

    /// The services that recorded spans, in the order they first started.
    pub fn services(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for span in &self.spans {
            if !out.contains(&&*span.service) {
                out.push(&span.service);
            }
        }
        out
    }
}

/// Makes every span reachable from a root: while some span is not, the
/// earliest such span loses its parent link (it is on, or below, a cycle).
fn cut_cycles(parents: &mut [Option<usize>]) {
    let n = parents.len();
    let mut children = vec![Vec::new(); n];
    for (i, parent) in parents.iter().enumerate() {
        if let Some(p) = parent {
            children[*p].push(i);
        }
    }
    let mut reached = vec![false; n];
    let mark = |start: usize, reached: &mut Vec<bool>| {
        let mut todo = vec![start];
        while let Some(i) = todo.pop() {
            if !reached[i] {
                reached[i] = true;
                todo.extend(&children[i]);
            }
        }
    };
    let roots: Vec<usize> = (0..n).filter(|&i| parents[i].is_none()).collect();
    for root in roots {
        mark(root, &mut reached);
    }
    for i in 0..n {
        if !reached[i] {
            parents[i] = None;
            mark(i, &mut reached);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::span;

    #[test]
    fn out_of_order_spans_from_two_services_form_one_tree() {
        let spans = vec![
            span(1, 3, Some(2), "inventory", "reserve", 20, 10),
            span(1, 1, None, "gateway", "GET /", 0, 100),
            span(2, 9, None, "gateway", "other trace", 50, 5),
            span(1, 2, Some(1), "orders", "POST /orders", 10, 50),
        ];
        let traces = assemble(spans);
        assert_eq!(traces.len(), 2);
        let trace = &traces[0];
        assert_eq!(trace.spans().len(), 3);
        assert_eq!(trace.roots(), &[0]);
        assert_eq!(trace.children(0), &[1]);
        assert_eq!(trace.children(1), &[2]);
        assert_eq!(trace.depth(2), 2);
        assert_eq!(trace.services(), ["gateway", "orders", "inventory"]);
        assert_eq!(trace.orphans().count(), 0);
        assert_eq!(trace.duration_nanos(), 100);
    }

    #[test]
    fn orphans_become_extra_roots_and_the_true_root_stays_primary() {
        let spans = vec![
            span(1, 5, Some(4), "payments", "charge", 5, 10),
            span(1, 1, None, "gateway", "GET /", 10, 100),
            span(1, 6, Some(5), "payments", "db", 6, 2),
        ];
        let trace = &assemble(spans)[0];
        assert_eq!(trace.roots().len(), 2);
        let orphans: Vec<_> = trace.orphans().map(|i| trace.spans()[i].name.clone()).collect();
        assert_eq!(orphans, ["charge"]);
        assert_eq!(trace.spans()[trace.root()].name, "GET /");
        let order: Vec<_> =
            trace.preorder().iter().map(|&(i, d)| (&*trace.spans()[i].name, d)).collect();
        assert_eq!(order, [("charge", 0), ("db", 1), ("GET /", 0)]);
    }

    #[test]
    fn without_a_true_root_the_earliest_orphan_is_primary() {
        let spans =
            vec![span(1, 2, Some(9), "a", "late", 50, 5), span(1, 3, Some(9), "a", "early", 10, 5)];
        let trace = &assemble(spans)[0];
        assert_eq!(trace.spans()[trace.root()].name, "early");
    }

    #[test]
    fn cycles_and_self_parents_are_cut_not_looped() {
        let spans = vec![
            span(1, 1, Some(2), "a", "x", 0, 10),
            span(1, 2, Some(1), "a", "y", 1, 5),
            span(1, 3, Some(3), "a", "z", 2, 1),
        ];
        let trace = &assemble(spans)[0];
        assert_eq!(trace.preorder().len(), 3);
        assert_eq!(trace.orphans().count(), 2);
    }

    #[test]
    fn duplicate_span_ids_are_kept_once_and_counted() {
        let spans = vec![span(1, 1, None, "a", "x", 0, 10), span(1, 1, None, "a", "x", 0, 10)];
        let trace = &assemble(spans)[0];
        assert_eq!(trace.spans().len(), 1);
        assert_eq!(trace.duplicate_spans(), 1);
    }
}
