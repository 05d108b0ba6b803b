//! The work every library is measured on, in the same shape: a root span
//! whose body makes [`children`] calls to an instrumented function with an
//! empty body, so one trace is [`spans_per_trace`] spans. Each library sends
//! its finished spans off the application thread to a sink that discards
//! them, as its own pipeline does.
//!
//! Shared by the two bench binaries (`spans`, `spans_all_in`); each uses a
//! part of it.
#![allow(dead_code)]

use std::future::Future;
use std::hint::black_box;
use std::sync::OnceLock;
use std::task::{Context, Waker};

/// Child calls per trace: `BENCH_CHILDREN`, 100 by default.
pub fn children() -> u64 {
    static CHILDREN: OnceLock<u64> = OnceLock::new();
    *CHILDREN.get_or_init(|| match std::env::var("BENCH_CHILDREN") {
        Ok(value) => match value.parse() {
            Ok(children) if children > 0 => children,
            _ => {
                eprintln!("BENCH_CHILDREN={value}: expected a positive number of child spans");
                std::process::exit(2);
            }
        },
        Err(_) => 100,
    })
}

/// Spans per trace: the root and its children.
pub fn spans_per_trace() -> u64 {
    children() + 1
}

/// Polls `future` with a waker that does nothing until it is ready: the
/// executor every library's `async fn` row runs on (the futures measured
/// never wait, so one poll finishes them).
pub fn run_to_completion(future: impl Future<Output = ()>) {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    while future.as_mut().poll(&mut cx).is_pending() {}
}

pub mod fastrace;
pub mod floor;
pub mod otel;
pub mod ours;
pub mod tracing;
