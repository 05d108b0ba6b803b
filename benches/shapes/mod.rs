//! The work every library is measured on, in the same shape: a root span
//! whose body makes [`CHILDREN`] calls to an instrumented function with an
//! empty body, so one trace is [`SPANS_PER_TRACE`] spans. Each library sends
//! its finished spans off the application thread to a sink that discards
//! them, as its own pipeline does.
//!
//! Shared by the two bench binaries (`spans`, `spans_all_in`); each uses a
//! part of it.
#![allow(dead_code)]

use std::hint::black_box;

/// Child calls per trace.
pub const CHILDREN: u64 = 100;
/// Spans per trace: the root and its children.
pub const SPANS_PER_TRACE: u64 = CHILDREN + 1;

pub mod fastrace;
pub mod floor;
pub mod otel;
pub mod ours;
pub mod tracing;
