//! Distributed tracing for Rust services.
//!
//! Put `#[traced]` on a function and every call becomes a span: a timed,
//! tagged record linked to the span that called it, forming one trace per
//! request.
//!
//! ```
//! use trace_runtime::{InMemoryCollector, Tracer, traced};
//!
//! #[traced(args)]
//! fn lookup(user: u64) -> &'static str {
//!     "ada"
//! }
//!
//! #[traced(tags(route = "/profile"))]
//! fn handle() -> String {
//!     format!("hello {}", lookup(7))
//! }
//!
//! let collector = InMemoryCollector::new();
//! let tracer = Tracer::builder("profile-service").span_processor(collector.clone()).build();
//! tracer.in_scope(handle);
//! assert_eq!(collector.render(), "handle route=\"/profile\"\n  lookup user=7\n");
//! ```
//!
//! Without an installed tracer every span operation is a cheap no-op, so
//! libraries can be instrumented unconditionally.
#![deny(missing_docs)]

pub mod analysis;
mod clock;
pub mod compat;
mod context;
mod current;
#[cfg(feature = "tracing")]
mod detached;
pub mod export;
mod flags;
mod future;
mod guard;
#[cfg(feature = "http")]
pub mod http;
mod id;
mod limits;
mod local;
mod panic;
pub mod propagation;
mod record;
mod sampling;
mod scope;
mod span;

mod tracer;
mod value;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

#[cfg(feature = "tokio")]
pub use context::spawn;
pub use context::{Context, ContextGuard, FutureExt, WithContext};
pub use current::{add_event, add_link, add_tag, current_span_id, current_trace_id, set_status};
pub use export::{InMemoryCollector, SpanExporter, SpanProcessor};
pub use flags::TraceFlags;
pub use future::Instrumented;
pub use guard::{SpanBuilder, SpanGuard, span};
pub use id::{ParseIdError, SpanId, TraceId};
pub use limits::Limits;
pub use sampling::Sampler;
pub use scope::DefaultGuard;
pub use span::{Event, Link, SpanContext, SpanData, SpanKind, Status};
pub use tracer::{AlreadyInstalled, Tracer, TracerBuilder, TracerStats};
pub use value::{Tag, Value};

/// Instruments a function: see the crate documentation.
pub use trace_macros::traced;
