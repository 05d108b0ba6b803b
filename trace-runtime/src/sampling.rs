//! Head-based sampling: which traces are recorded.
//!
//! The decision is taken once, where a trace starts in this process (a root
//! span, or the first span under a context propagated from another service);
//! every span below it follows. An unsampled trace keeps its IDs, so it is
//! still propagated downstream, but records nothing.

use crate::id::TraceId;

/// Decides whether a new trace is recorded.
///
/// ```
/// use trace_runtime::{Sampler, Tracer};
/// // Record 10% of new traces, and follow the caller's decision for
/// // requests that arrive with a propagated context.
/// let tracer = Tracer::builder("checkout")
///     .sampler(Sampler::parent_based(Sampler::ratio(0.1)))
///     .build();
/// # let _ = tracer;
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Sampler {
    /// Record every trace (the default).
    #[default]
    AlwaysOn,
    /// Record no trace.
    AlwaysOff,
    /// Record this fraction of traces, chosen from the trace ID so that every
    /// service taking the same ratio decides the same for the same trace. The
    /// rule is OpenTelemetry's `TraceIdRatioBased`: the low 64 bits of the
    /// trace ID, shifted right by one, compared with `ratio × 2⁶³`.
    Ratio(f64),
    /// Follow the sampled flag of a propagated parent; for traces that start
    /// here, ask the inner sampler.
    ParentBased(Box<Sampler>),
}

impl Sampler {
    /// A [`Sampler::Ratio`] with the ratio clamped to `0.0..=1.0`.
    pub fn ratio(ratio: f64) -> Self {
        let ratio = if ratio.is_nan() { 0.0 } else { ratio.clamp(0.0, 1.0) };
        Self::Ratio(ratio)
    }

    /// A [`Sampler::ParentBased`] around `root`.
    pub fn parent_based(root: Self) -> Self {
        Self::ParentBased(Box::new(root))
    }

    /// The decision for a trace that starts here, or continues one whose
    /// sampled flag is `parent_sampled` (`None` when there is no parent).
    pub fn should_sample(&self, trace_id: TraceId, parent_sampled: Option<bool>) -> bool {
        match self {
            Self::AlwaysOn => true,
            Self::AlwaysOff => false,
            Self::Ratio(ratio) => trace_id_below_ratio(trace_id, *ratio),
            Self::ParentBased(root) => match parent_sampled {
                Some(sampled) => sampled,
                None => root.should_sample(trace_id, None),
            },
        }
    }
}

impl Sampler {
    /// The sampler `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` name,
    /// read through `lookup`: `always_on`, `always_off`, `traceidratio`,
    /// `parentbased_always_on` (the default), `parentbased_always_off`,
    /// `parentbased_traceidratio`; the ratio defaults to 1. Unknown or
    /// malformed values are reported on stderr and the default is used.
    ///
    /// ```
    /// use trace_runtime::Sampler;
    /// let sampler = Sampler::from_lookup(|name| match name {
    ///     "OTEL_TRACES_SAMPLER" => Some("parentbased_traceidratio".into()),
    ///     "OTEL_TRACES_SAMPLER_ARG" => Some("0.25".into()),
    ///     _ => None,
    /// });
    /// assert_eq!(sampler, Sampler::parent_based(Sampler::ratio(0.25)));
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let default = Self::parent_based(Self::AlwaysOn);
        let Some(name) = lookup("OTEL_TRACES_SAMPLER") else { return default };
        let ratio = || match lookup("OTEL_TRACES_SAMPLER_ARG") {
            None => 1.0,
            Some(arg) => arg.trim().parse::<f64>().unwrap_or_else(|_| {
                eprintln!(
                    "trace-runtime: OTEL_TRACES_SAMPLER_ARG={arg:?} is not a number; using 1.0"
                );
                1.0
            }),
        };
        match name.trim() {
            "always_on" => Self::AlwaysOn,
            "always_off" => Self::AlwaysOff,
            "traceidratio" => Self::ratio(ratio()),
            "parentbased_always_on" => default,
            "parentbased_always_off" => Self::parent_based(Self::AlwaysOff),
            "parentbased_traceidratio" => Self::parent_based(Self::ratio(ratio())),
            other => {
                eprintln!(
                    "trace-runtime: OTEL_TRACES_SAMPLER={other:?} is not supported; using parentbased_always_on"
                );
                default
            }
        }
    }
}

fn trace_id_below_ratio(trace_id: TraceId, ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    // Same arithmetic as OpenTelemetry's TraceIdRatioBased, so a trace
    // sampled at 10% by an OpenTelemetry service is sampled here too.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let bound = (ratio.max(0.0) * (1u64 << 63) as f64) as u64;
    let low = trace_id.to_u128() as u64;
    (low >> 1) < bound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_follows_the_low_bits_of_the_trace_id() {
        let low = TraceId::from_u128(1 << 64 | 2).unwrap();
        let high = TraceId::from_u128(u128::from(u64::MAX)).unwrap();
        let half = Sampler::ratio(0.5);
        assert!(half.should_sample(low, None));
        assert!(!half.should_sample(high, None));
        assert!(Sampler::ratio(1.0).should_sample(high, None));
        assert!(!Sampler::ratio(0.0).should_sample(low, None));
        assert_eq!(Sampler::ratio(f64::NAN), Sampler::Ratio(0.0));
    }

    #[test]
    fn parent_based_follows_the_parent_flag() {
        let sampler = Sampler::parent_based(Sampler::AlwaysOff);
        let id = TraceId::random();
        assert!(sampler.should_sample(id, Some(true)));
        assert!(!sampler.should_sample(id, Some(false)));
        assert!(!sampler.should_sample(id, None));
    }
}
