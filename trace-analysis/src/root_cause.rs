//! Error root cause: where in a trace an error started.

use std::sync::Arc;

use trace_runtime::Status;

use super::Trace;

/// The span where a trace's error originated and the way it went up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootCause {
    /// The originating span (an index into [`Trace::spans`]).
    pub span: usize,
    /// The service that recorded it.
    pub service: Arc<str>,
    /// Its error message.
    pub message: String,
    /// The originating span, then each ancestor up to its root: the calls
    /// the error propagated through (those that failed too have an error
    /// status themselves).
    pub chain: Vec<usize>,
    /// Other spans that failed while none of their children did, by end time:
    /// independent failures, or failures that did not reach the root.
    pub other_origins: Vec<usize>,
}

impl RootCause {
    /// How many spans of the chain above the origin failed too.
    pub fn propagated_through(&self, trace: &Trace) -> usize {
        self.chain[1..].iter().filter(|&&i| trace.spans()[i].status.is_error()).count()
    }
}

/// Finds where a trace's error started, or `None` if no span failed.
///
/// An *origin* is an error span none of whose children failed: the error
/// began there rather than being passed up from below. Of several origins
/// the root cause is the earliest by end time (the first failure to
/// happen; then the deepest, then trace order), and the rest are listed in
/// [`RootCause::other_origins`]. An error span is one whose status is
/// [`Status::Error`].
///
/// ```
/// use trace_analysis::{assemble, read_jsonl, root_cause};
/// let lines = r#"
/// {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000001","parent_id":null,"service":"gateway","name":"GET /","start_unix_nanos":0,"duration_nanos":100,"status":{"code":"error","message":"502"}}
/// {"trace_id":"0000000000000000000000000000000a","span_id":"0000000000000002","parent_id":"0000000000000001","service":"payments","name":"charge","start_unix_nanos":10,"duration_nanos":20,"status":{"code":"error","message":"card declined"}}
/// "#;
/// let trace = &assemble(read_jsonl(lines.as_bytes()).unwrap().spans)[0];
/// let cause = root_cause(trace).unwrap();
/// assert_eq!((&*cause.service, cause.message.as_str()), ("payments", "card declined"));
/// assert_eq!(cause.chain, [1, 0]);
/// ```
pub fn root_cause(trace: &Trace) -> Option<RootCause> {
    let spans = trace.spans();
    let failed = |i: usize| spans[i].status.is_error();
    let mut origins: Vec<usize> = (0..spans.len())
        .filter(|&i| failed(i) && !trace.children(i).iter().any(|&c| failed(c)))
        .collect();
    origins.sort_by_key(|&i| (spans[i].end_unix_nanos(), std::cmp::Reverse(trace.depth(i)), i));
    let (&span, others) = origins.split_first()?;

    let mut chain = vec![span];
    let mut at = span;
    while let Some(parent) = trace.parent(at) {
        chain.push(parent);
        at = parent;
    }
    let message = match &spans[span].status {
        Status::Error(message) => message.to_string(),
        _ => String::new(),
    };
    Some(RootCause {
        span,
        service: spans[span].service.clone(),
        message,
        chain,
        other_origins: others.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assemble;
    use crate::testing::{failed, span};

    fn name(trace: &Trace, i: usize) -> &str {
        &trace.spans()[i].name
    }

    #[test]
    fn an_error_deep_down_is_traced_up_to_the_root() {
        let trace = &assemble(vec![
            failed(span(1, 1, None, "gateway", "GET /checkout", 0, 100), "502 from orders"),
            failed(span(1, 2, Some(1), "orders", "POST /orders", 10, 80), "payment failed"),
            span(1, 3, Some(2), "orders", "load", 12, 5),
            failed(span(1, 4, Some(2), "payments", "charge", 20, 30), "card declined"),
            span(1, 5, Some(4), "payments", "db", 22, 5),
        ])[0];
        let cause = root_cause(trace).unwrap();
        assert_eq!(name(trace, cause.span), "charge");
        assert_eq!(&*cause.service, "payments");
        assert_eq!(cause.message, "card declined");
        let chain: Vec<_> = cause.chain.iter().map(|&i| name(trace, i)).collect();
        assert_eq!(chain, ["charge", "POST /orders", "GET /checkout"]);
        assert_eq!(cause.propagated_through(trace), 2);
        assert!(cause.other_origins.is_empty());
    }

    #[test]
    fn of_two_independent_errors_the_first_to_end_is_the_cause() {
        let trace = &assemble(vec![
            failed(span(1, 1, None, "gateway", "root", 0, 100), "failed"),
            failed(span(1, 2, Some(1), "inventory", "reserve", 10, 50), "out of stock"),
            span(1, 3, Some(1), "orders", "save", 5, 60),
            failed(span(1, 4, Some(3), "db", "insert", 6, 10), "timeout"),
        ])[0];
        let cause = root_cause(trace).unwrap();
        assert_eq!(name(trace, cause.span), "insert");
        let chain: Vec<_> = cause.chain.iter().map(|&i| name(trace, i)).collect();
        assert_eq!(chain, ["insert", "save", "root"]);
        assert_eq!(cause.propagated_through(trace), 1);
        let others: Vec<_> = cause.other_origins.iter().map(|&i| name(trace, i)).collect();
        assert_eq!(others, ["reserve"]);
    }

    #[test]
    fn an_error_span_with_a_failing_child_is_not_the_origin() {
        let trace = &assemble(vec![
            failed(span(1, 1, None, "a", "root", 0, 100), "x"),
            failed(span(1, 2, Some(1), "a", "parent", 10, 20), "wrapped"),
            failed(span(1, 3, Some(2), "b", "child", 12, 30), "cause"),
        ])[0];
        // The child ends after its parent, yet the parent only passed it on.
        let cause = root_cause(trace).unwrap();
        assert_eq!(name(trace, cause.span), "child");
        assert!(cause.other_origins.is_empty());
    }

    #[test]
    fn a_trace_without_errors_has_no_root_cause() {
        let trace = &assemble(vec![span(1, 1, None, "a", "root", 0, 100)])[0];
        assert_eq!(root_cause(trace), None);
    }
}
