//! Puts spans, which finish children first, back together into traces.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::id::{SpanId, TraceId};
use crate::span::SpanData;

/// Most traces kept waiting for their root; past it the oldest is let go.
const MAX_PENDING: usize = 10_000;

/// How long a trace waits for its root by default.
pub(crate) const DEFAULT_ROOT_WAIT: Duration = Duration::from_secs(30);

/// A trace handed out by [`TraceAssembler`].
#[derive(Debug, PartialEq)]
pub(crate) struct Assembled {
    pub(crate) spans: Vec<SpanData>,
    /// Whether the root (a span with no parent) arrived: `false` for a trace
    /// whose root is in another process or had not finished.
    pub(crate) complete: bool,
}

struct Pending {
    spans: Vec<SpanData>,
    first_seen: Instant,
    last_seen: Instant,
}

/// Buffers spans per trace until the trace's root arrives.
///
/// A trace still waiting `root_wait` after its last span arrived (its root
/// is remote, or still open) is handed out incomplete on the next call, as
/// is everything left at [`drain`](Self::drain).
pub(crate) struct TraceAssembler {
    pending: HashMap<TraceId, Pending>,
    root_wait: Duration,
}

impl TraceAssembler {
    pub(crate) fn new(root_wait: Duration) -> Self {
        Self { pending: HashMap::new(), root_wait }
    }

    /// Adds spans; returns the traces that waited too long, then those the
    /// new spans completed, each group in arrival order.
    pub(crate) fn add(&mut self, spans: &[SpanData]) -> Vec<Assembled> {
        let now = Instant::now();
        let root_wait = self.root_wait;
        let mut done = self.take(|p| now.duration_since(p.last_seen) >= root_wait);
        for span in spans {
            let pending = self.pending.entry(span.trace_id).or_insert_with(|| Pending {
                spans: Vec::new(),
                first_seen: now,
                last_seen: now,
            });
            pending.spans.push(span.clone());
            pending.last_seen = now;
            if span.parent_id.is_none() {
                let pending = self.pending.remove(&span.trace_id).expect("just inserted");
                done.push(Assembled { spans: pending.spans, complete: true });
            }
        }
        if self.pending.len() > MAX_PENDING {
            let mut ages: Vec<Instant> = self.pending.values().map(|p| p.first_seen).collect();
            ages.sort_unstable();
            let cutoff = ages[self.pending.len() - MAX_PENDING];
            done.extend(self.take(|p| p.first_seen < cutoff));
        }
        done
    }

    /// Hands out every waiting trace, incomplete.
    pub(crate) fn drain(&mut self) -> Vec<Assembled> {
        self.take(|_| true)
    }

    fn take(&mut self, pick: impl Fn(&Pending) -> bool) -> Vec<Assembled> {
        let ids: Vec<TraceId> =
            self.pending.iter().filter(|(_, p)| pick(p)).map(|(id, _)| *id).collect();
        let mut taken: Vec<Pending> = ids.iter().filter_map(|id| self.pending.remove(id)).collect();
        taken.sort_by_key(|p| p.first_seen);
        taken.into_iter().map(|p| Assembled { spans: p.spans, complete: false }).collect()
    }
}

/// The spans of one trace in tree order: each span followed by its
/// children, siblings by start time, with their depth. Spans whose parent
/// is not among `spans` are top-level.
pub(crate) fn tree_order(spans: &[SpanData]) -> Vec<(usize, &SpanData)> {
    let ids: std::collections::HashSet<SpanId> = spans.iter().map(|s| s.span_id).collect();
    let mut children: HashMap<Option<SpanId>, Vec<&SpanData>> = HashMap::new();
    for span in spans {
        let parent = span.parent_id.filter(|p| ids.contains(p) && *p != span.span_id);
        children.entry(parent).or_default().push(span);
    }
    for list in children.values_mut() {
        list.sort_by_key(|s| s.start_unix_nanos);
    }
    let mut out = Vec::with_capacity(spans.len());
    let mut todo: Vec<(usize, &SpanData)> =
        children.get(&None).into_iter().flatten().rev().map(|s| (0, *s)).collect();
    let mut seen = std::collections::HashSet::new();
    while let Some((depth, span)) = todo.pop() {
        if !seen.insert(span.span_id) {
            continue;
        }
        out.push((depth, span));
        if let Some(kids) = children.get(&Some(span.span_id)) {
            todo.extend(kids.iter().rev().map(|s| (depth + 1, *s)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::test_support::{sample_span, sample_trace};

    #[test]
    fn a_trace_is_handed_out_when_its_root_arrives() {
        let mut assembler = TraceAssembler::new(Duration::from_secs(3600));
        let trace = sample_trace();
        assert!(assembler.add(&trace[..2]).is_empty());
        let done = assembler.add(&trace[2..]);
        assert_eq!(done, [Assembled { spans: trace, complete: true }]);
        assert!(assembler.drain().is_empty());
    }

    #[test]
    fn traces_without_a_root_are_handed_out_late_or_at_drain() {
        let mut assembler = TraceAssembler::new(Duration::ZERO);
        let orphan = sample_trace().remove(0);
        assert!(assembler.add(std::slice::from_ref(&orphan)).is_empty());
        let done = assembler.add(&[]);
        assert_eq!(done, [Assembled { spans: vec![orphan.clone()], complete: false }]);
        let mut assembler = TraceAssembler::new(Duration::from_secs(3600));
        assembler.add(std::slice::from_ref(&orphan));
        assert_eq!(assembler.drain().len(), 1);
    }

    #[test]
    fn tree_order_nests_children_under_parents() {
        let mut spans = sample_trace();
        spans.push(sample_span("unrelated root"));
        let order: Vec<(usize, &str)> =
            tree_order(&spans).into_iter().map(|(d, s)| (d, &*s.name)).collect();
        assert_eq!(
            order,
            [(0, "GET /cart"), (1, "load cart"), (2, "decode"), (0, "unrelated root")]
        );
        // A span whose parent is missing is top-level.
        let order = tree_order(&spans[..2]);
        assert_eq!(order.iter().map(|(d, _)| *d).collect::<Vec<_>>(), [0, 1]);
    }
}
