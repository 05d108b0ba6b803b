//! Self time: the part of a span's duration not spent waiting on children.

use std::sync::Arc;

use super::Trace;

/// Self time of every span of a trace, and totals per service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfTimes {
    /// Self time of each span, indexed like [`Trace::spans`].
    pub per_span: Vec<u64>,
    /// Total self time per service, largest first (then by name).
    pub per_service: Vec<(Arc<str>, u64)>,
}

/// Self time of every span: its duration minus the union of its children's
/// intervals clipped to the span, so parallel children are not counted
/// twice and a child outliving its parent counts only while the parent ran.
///
/// ```
/// use trace_analysis::{assemble, read_jsonl, self_times};
/// let lines = r#"
/// {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000001","parent_id":null,"service":"gateway","name":"GET /","start_unix_nanos":0,"duration_nanos":100}
/// {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000002","parent_id":"0000000000000001","service":"orders","name":"a","start_unix_nanos":10,"duration_nanos":40}
/// {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000003","parent_id":"0000000000000001","service":"orders","name":"b","start_unix_nanos":30,"duration_nanos":40}
/// "#;
/// let trace = &assemble(read_jsonl(lines.as_bytes()).unwrap().spans)[0];
/// let times = self_times(trace);
/// assert_eq!(times.per_span, [40, 40, 40]);
/// assert_eq!(times.per_service, [("orders".into(), 80), ("gateway".into(), 40)]);
/// ```
pub fn self_times(trace: &Trace) -> SelfTimes {
    let spans = trace.spans();
    let per_span: Vec<u64> = (0..spans.len())
        .map(|i| {
            let (start, end) = (spans[i].start_unix_nanos, spans[i].end_unix_nanos());
            let mut intervals: Vec<(u64, u64)> = trace
                .children(i)
                .iter()
                .map(|&c| {
                    (spans[c].start_unix_nanos.max(start), spans[c].end_unix_nanos().min(end))
                })
                .filter(|&(s, e)| s < e)
                .collect();
            spans[i].duration_nanos - union_length(&mut intervals)
        })
        .collect();

    let mut per_service: Vec<(Arc<str>, u64)> = Vec::new();
    for (span, &time) in spans.iter().zip(&per_span) {
        match per_service.iter_mut().find(|(s, _)| *s == span.service) {
            Some((_, total)) => *total += time,
            None => per_service.push((span.service.clone(), time)),
        }
    }
    per_service.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    SelfTimes { per_span, per_service }
}

/// The total length covered by the intervals, overlaps counted once.
fn union_length(intervals: &mut [(u64, u64)]) -> u64 {
    intervals.sort_unstable();
    let mut total = 0;
    let mut current: Option<(u64, u64)> = None;
    for &(start, end) in intervals.iter() {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    total + current.map_or(0, |(s, e)| e - s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assemble;
    use crate::testing::span;

    #[test]
    fn overlapping_and_overflowing_children_are_counted_once_and_clipped() {
        let trace = &assemble(vec![
            span(1, 1, None, "gateway", "root", 0, 100),
            span(1, 2, Some(1), "orders", "a", 10, 30),
            span(1, 3, Some(1), "orders", "b", 20, 30),
            span(1, 4, Some(1), "orders", "late", 90, 50),
            span(1, 5, Some(2), "orders", "inner", 15, 5),
        ])[0];
        let times = self_times(trace);
        let by_name = |name: &str| {
            let i = trace.spans().iter().position(|s| s.name == name).unwrap();
            times.per_span[i]
        };
        // Children cover [10,50] and [90,100].
        assert_eq!(by_name("root"), 50);
        assert_eq!(by_name("a"), 25);
        assert_eq!(by_name("late"), 50);
        assert_eq!(times.per_service, [("orders".into(), 110), ("gateway".into(), 50)]);
    }

    #[test]
    fn union_of_touching_and_nested_intervals() {
        assert_eq!(union_length(&mut [(5, 10), (0, 5), (1, 2)]), 10);
        assert_eq!(union_length(&mut [(0, 1), (3, 4)]), 2);
        assert_eq!(union_length(&mut []), 0);
    }
}
