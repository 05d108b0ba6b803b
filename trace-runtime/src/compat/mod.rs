//! One trace with the crates a service already runs: `tracing` spans and
//! events, `log` records, and trace IDs in log lines.
//!
//! - [`TracingLayer`] (feature `tracing`): a `tracing_subscriber` layer that
//!   makes each `tracing` span one of our spans, in the same tree as the
//!   `#[traced]` spans around and inside it.
//! - [`LogBridge`] (feature `log`): a `log::Log` wrapper that keeps the
//!   logger it wraps printing and adds each record to the current span as
//!   an event.
//! - [`log_ids`]: the current trace and span IDs, to put in log lines.
//!
//! What maps to what:
//!
//! | `tracing` / `log`                         | here                                   |
//! |-------------------------------------------|----------------------------------------|
//! | span (created, then entered)              | a span, opened when created, closed when the last handle drops |
//! | span name, or field `otel.name`           | span name                              |
//! | fields `otel.kind`, `otel.status_code`, `otel.status_message` | kind and status, as `tracing-opentelemetry` reads them |
//! | other span fields, `Span::record`         | typed tags (limits and redaction apply) |
//! | `follows_from`                            | a link                                 |
//! | event (`info!` …), `log` record           | a span event: message as name, `level`, `target`, fields as tags |
//! | span level, span target                   | filtering only                         |
//! | `Instrument`, `in_scope`, `enter`         | the span is current while entered, on any thread |
//! | filters (`EnvFilter`, `Targets`, per layer) | filtered-out spans and events cost nothing here |
//! | ERROR event, `error` field                | error status, with [`TracingLayer::errors_from_events`] |
#![cfg_attr(
    not(feature = "tracing"),
    doc = "",
    doc = "(`TracingLayer` is not built: enable the feature `tracing`.)"
)]
#![cfg_attr(
    not(feature = "log"),
    doc = "",
    doc = "(`LogBridge` is not built: enable the feature `log`.)"
)]

#[cfg(any(feature = "tracing", feature = "log"))]
mod current;
mod ids;
#[cfg(feature = "log")]
mod log_bridge;
#[cfg(feature = "tracing")]
mod tracing_layer;

#[cfg(feature = "tracing")]
pub(crate) use current::record_entered;
pub use ids::{LogIds, log_ids};
#[cfg(feature = "log")]
pub use log_bridge::LogBridge;
#[cfg(feature = "tracing")]
pub use tracing_layer::TracingLayer;
