//! Settings of the batch exporter and its retries.

use std::time::Duration;

use crate::export::env::{EnvReader, process_env};

/// How a [`BatchSpanProcessor`](super::BatchSpanProcessor) queues, batches and retries.
///
/// The defaults are those of the OpenTelemetry batch span processor. Change
/// fields on a default value:
///
/// ```
/// use std::time::Duration;
/// use trace_runtime::export::BatchConfig;
///
/// let mut config = BatchConfig::default();
/// config.scheduled_delay = Duration::from_millis(500);
/// assert_eq!(config.max_queue_size, 2048);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchConfig {
    /// Spans waiting for the background thread; more are dropped and
    /// counted (default 2048, `OTEL_BSP_MAX_QUEUE_SIZE`).
    pub max_queue_size: usize,
    /// Most spans handed to the sink at once; a full batch is sent at once
    /// (default 512, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`).
    pub max_export_batch_size: usize,
    /// Longest a span waits in a partial batch (default 5 s,
    /// `OTEL_BSP_SCHEDULE_DELAY`).
    pub scheduled_delay: Duration,
    /// Longest one batch is tried, retries included (default 30 s,
    /// `OTEL_BSP_EXPORT_TIMEOUT`).
    pub export_timeout: Duration,
    /// Longest [`flush`](crate::SpanProcessor::flush) and
    /// [`shutdown`](crate::SpanProcessor::shutdown) block the caller (default 30 s).
    pub flush_timeout: Duration,
    /// How failed batches are retried.
    pub retry: RetryPolicy,
    /// Counters go to stderr at most this often, and only after something
    /// was dropped or failed; `None` never logs (default 10 s).
    pub report_interval: Option<Duration>,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_queue_size: 2048,
            max_export_batch_size: 512,
            scheduled_delay: Duration::from_millis(5000),
            export_timeout: Duration::from_millis(30_000),
            flush_timeout: Duration::from_millis(30_000),
            retry: RetryPolicy::default(),
            report_interval: Some(Duration::from_secs(10)),
        }
    }
}

impl BatchConfig {
    /// The defaults, overridden by the `OTEL_BSP_*` environment variables.
    pub fn from_env() -> Self {
        Self::from_lookup(process_env)
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// Malformed values are ignored with a message on stderr. A batch size
    /// above the queue size is lowered to it, as the specification asks.
    ///
    /// ```
    /// use std::time::Duration;
    /// use trace_runtime::export::BatchConfig;
    ///
    /// let config = BatchConfig::from_lookup(|name| match name {
    ///     "OTEL_BSP_SCHEDULE_DELAY" => Some("200".into()),
    ///     "OTEL_BSP_MAX_QUEUE_SIZE" => Some("100".into()),
    ///     _ => None,
    /// });
    /// assert_eq!(config.scheduled_delay, Duration::from_millis(200));
    /// assert_eq!(config.max_export_batch_size, 100);
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        EnvReader::read_with(&lookup, Self::read)
    }

    fn read(env: &mut EnvReader<'_>) -> Self {
        let mut config = Self::default();
        if let Some(delay) = env.millis("OTEL_BSP_SCHEDULE_DELAY") {
            config.scheduled_delay = delay;
        }
        if let Some(timeout) = env.millis("OTEL_BSP_EXPORT_TIMEOUT") {
            config.export_timeout = timeout;
        }
        if let Some(size) = env.positive("OTEL_BSP_MAX_QUEUE_SIZE") {
            config.max_queue_size = size;
        }
        if let Some(size) = env.positive("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") {
            config.max_export_batch_size = size;
        }
        config.max_export_batch_size = config.max_export_batch_size.min(config.max_queue_size);
        config
    }
}

/// Retries with exponential backoff and jitter for retryable failures.
///
/// The wait before retry `n` (from 0) is drawn uniformly from the upper half
/// of `min(initial_backoff × 2ⁿ, max_backoff)`, or is the server's
/// `Retry-After` if that is longer. A batch is dropped and counted when its
/// retries run out or the next wait would pass the export timeout.
///
/// ```
/// use std::time::Duration;
/// use trace_runtime::export::{BatchConfig, RetryPolicy};
///
/// let mut config = BatchConfig::default();
/// config.retry.max_retries = 2;
/// config.retry.initial_backoff = Duration::from_millis(200);
/// assert_eq!(RetryPolicy::none().max_retries, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt (default 5; 0 never retries).
    pub max_retries: u32,
    /// The wait before the first retry (default 1 s).
    pub initial_backoff: Duration,
    /// The longest computed wait (default 5 s; `Retry-After` may be longer).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self { max_retries: 0, ..Self::default() }
    }

    /// The jittered wait before retry number `retry` (counting from 0).
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        let ceiling = self.initial_backoff.saturating_mul(factor).min(self.max_backoff);
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rand::random_range(0..=spread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::env::tests::vars;

    #[test]
    fn defaults_follow_the_batch_span_processor() {
        let config = BatchConfig::default();
        assert_eq!(config.max_queue_size, 2048);
        assert_eq!(config.max_export_batch_size, 512);
        assert_eq!(config.scheduled_delay, Duration::from_millis(5000));
        assert_eq!(config.export_timeout, Duration::from_millis(30_000));
    }

    #[test]
    fn bsp_variables_override_defaults() {
        let config = BatchConfig::from_lookup(vars(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "2000"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "64"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "16"),
        ]));
        assert_eq!(config.scheduled_delay, Duration::from_millis(100));
        assert_eq!(config.export_timeout, Duration::from_millis(2000));
        assert_eq!(config.max_queue_size, 64);
        assert_eq!(config.max_export_batch_size, 16);
    }

    #[test]
    fn malformed_bsp_variables_keep_defaults() {
        let lookup = vars(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "-1"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0"),
        ]);
        let mut env = EnvReader::new(&lookup);
        assert_eq!(BatchConfig::read(&mut env), BatchConfig::default());
        assert_eq!(env.warnings.len(), 3, "{:?}", env.warnings);
    }

    #[test]
    fn batch_size_is_capped_by_queue_size() {
        let config = BatchConfig::from_lookup(vars(&[("OTEL_BSP_MAX_QUEUE_SIZE", "10")]));
        assert_eq!(config.max_export_batch_size, 10);
    }

    #[test]
    fn backoff_doubles_within_bounds_and_jitters() {
        let policy = RetryPolicy {
            max_retries: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        };
        for _ in 0..100 {
            let first = policy.backoff(0);
            assert!((Duration::from_millis(50)..=Duration::from_millis(100)).contains(&first));
            let third = policy.backoff(2);
            assert!((Duration::from_millis(200)..=Duration::from_millis(400)).contains(&third));
            let capped = policy.backoff(40);
            assert!((Duration::from_millis(500)..=Duration::from_millis(1000)).contains(&capped));
        }
        let draws: std::collections::HashSet<Duration> =
            (0..20).map(|_| policy.backoff(3)).collect();
        assert!(draws.len() > 1, "no jitter: {draws:?}");
    }
}
