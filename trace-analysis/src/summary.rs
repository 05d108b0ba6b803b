//! Latency and errors per service and operation, over many traces.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Trace;

/// Latency and error figures for one operation of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationSummary {
    /// The service that recorded the spans.
    pub service: Arc<str>,
    /// The span name.
    pub operation: String,
    /// How many spans.
    pub count: usize,
    /// How many of them have an error status.
    pub errors: usize,
    /// Median duration (nearest rank), in nanoseconds.
    pub p50_nanos: u64,
    /// 90th percentile duration (nearest rank), in nanoseconds.
    pub p90_nanos: u64,
    /// 99th percentile duration (nearest rank), in nanoseconds.
    pub p99_nanos: u64,
    /// The longest duration, in nanoseconds.
    pub max_nanos: u64,
}

impl OperationSummary {
    /// The share of spans that failed, from 0.0 to 1.0.
    pub fn error_rate(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.errors as f64 / self.count as f64 }
    }
}

/// One row per (service, operation) over every span of every trace, sorted
/// by service then operation.
///
/// ```
/// use trace_analysis::{assemble, read_jsonl, summarize};
/// let lines: String = (1..=10u32)
///     .map(|i| format!(
///         "{{\"trace_id\":\"{i:032x}\",\"span_id\":\"{i:016x}\",\"service\":\"api\",\"name\":\"GET /\",\
///          \"start_unix_nanos\":0,\"duration_nanos\":{},\"status\":{{\"code\":\"{}\"}}}}\n",
///         i * 1000,
///         if i == 10 { "error" } else { "ok" },
///     ))
///     .collect();
/// let traces = assemble(read_jsonl(lines.as_bytes()).unwrap().spans);
/// let rows = summarize(&traces);
/// assert_eq!((rows[0].count, rows[0].p50_nanos, rows[0].p90_nanos, rows[0].p99_nanos), (10, 5000, 9000, 10000));
/// assert_eq!(rows[0].error_rate(), 0.1);
/// ```
pub fn summarize(traces: &[Trace]) -> Vec<OperationSummary> {
    // Per (service, operation): the durations, and how many failed.
    type Group = (Vec<u64>, usize);
    let mut groups: BTreeMap<(Arc<str>, &str), Group> = BTreeMap::new();
    for span in traces.iter().flat_map(Trace::spans) {
        let (durations, errors) = groups.entry((span.service.clone(), &span.name)).or_default();
        durations.push(span.duration_nanos);
        *errors += usize::from(span.status.is_error());
    }
    groups
        .into_iter()
        .map(|((service, operation), (mut durations, errors))| {
            durations.sort_unstable();
            let at = |p| percentile(&durations, p).unwrap_or(0);
            OperationSummary {
                service,
                operation: operation.to_owned(),
                count: durations.len(),
                errors,
                p50_nanos: at(50.0),
                p90_nanos: at(90.0),
                p99_nanos: at(99.0),
                max_nanos: durations.last().copied().unwrap_or(0),
            }
        })
        .collect()
}

/// The nearest-rank percentile of ascending `sorted` values: the smallest
/// value such that at least `p` percent of the values are less than or equal
/// to it, i.e. the value at 1-based rank `ceil(p / 100 × n)` (rank 1 for
/// `p` = 0). Always one of the values, never interpolated; `None` if empty.
///
/// ```
/// use trace_analysis::percentile;
/// let values = [15, 20, 35, 40, 50];
/// assert_eq!(percentile(&values, 30.0), Some(20));
/// assert_eq!(percentile(&values, 40.0), Some(20));
/// assert_eq!(percentile(&values, 50.0), Some(35));
/// assert_eq!(percentile(&values, 100.0), Some(50));
/// ```
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    // `p × n` first keeps whole ranks exact (90 × 10 / 100 is 9, where
    // 0.9 × 10 is not); the tiny shrink absorbs rounding above a whole rank.
    let exact = p * n as f64 / 100.0;
    let rank = ((exact * (1.0 - 1e-12)).ceil() as usize).clamp(1, n);
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assemble;
    use crate::testing::{failed, span};

    #[test]
    fn nearest_rank_on_known_data() {
        let hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&hundred, 50.0), Some(50));
        assert_eq!(percentile(&hundred, 90.0), Some(90));
        assert_eq!(percentile(&hundred, 99.0), Some(99));
        assert_eq!(percentile(&hundred, 99.5), Some(100));
        assert_eq!(percentile(&hundred, 0.0), Some(1));
        let ten: Vec<u64> = (1..=10).map(|v| v * 10).collect();
        assert_eq!(percentile(&ten, 90.0), Some(90));
        assert_eq!(percentile(&ten, 99.0), Some(100));
        assert_eq!(percentile(&[7], 50.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn rows_per_service_and_operation_with_error_rate() {
        let mut spans = Vec::new();
        for t in 1..=4u64 {
            spans.push(span(t, 1, None, "gateway", "GET /", 0, t * 100));
            let charge = span(t, 2, Some(1), "payments", "charge", 10, t * 10);
            spans.push(if t == 4 { failed(charge, "declined") } else { charge });
        }
        spans.push(span(9, 1, None, "gateway", "GET /health", 0, 1));
        let rows = summarize(&assemble(spans));
        let keys: Vec<_> =
            rows.iter().map(|r| (&*r.service, r.operation.as_str(), r.count)).collect();
        assert_eq!(
            keys,
            [("gateway", "GET /", 4), ("gateway", "GET /health", 1), ("payments", "charge", 4)]
        );
        let charge = &rows[2];
        assert_eq!(
            (charge.p50_nanos, charge.p90_nanos, charge.p99_nanos, charge.max_nanos),
            (20, 40, 40, 40)
        );
        assert_eq!(charge.error_rate(), 0.25);
        assert_eq!(rows[0].error_rate(), 0.0);
    }
}
