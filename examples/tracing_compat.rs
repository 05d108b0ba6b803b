//! One trace with the crates a service already runs: a `#[traced]` handler,
//! a library instrumented with `tracing`, and `log` lines, plus the trace
//! and span IDs in `tracing-subscriber`'s fmt output and in `env_logger`'s
//! format.
//!
//! Run with `cargo run --example tracing_compat`.

use std::io::Write;

use trace_runtime::compat::{LogBridge, TracingLayer, log_ids};
use trace_runtime::{InMemoryCollector, Tracer, traced};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// A library that only knows `tracing` and `log`.
mod inventory {
    #[tracing::instrument(fields(warehouse = "north"))]
    pub fn reserve(sku: &str, quantity: u32) -> bool {
        tracing::info!(quantity, "reserving");
        log::warn!(sku; "stock low");
        true
    }
}

#[traced(kind = server, tags(http.route = "/orders"))]
fn place_order() -> bool {
    let ok = inventory::reserve("lamp-7", 2);
    log::info!(ok; "order placed");
    ok
}

/// `tracing-subscriber`'s fmt output, each line starting with the IDs.
struct WithTraceIds<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "{} ", log_ids())?;
        self.0.format_event(ctx, writer, event)
    }
}

fn main() {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("shop").span_processor(collector.clone()).build();
    tracer.install().expect("first tracer of this process");

    // The setup (the README's three lines), with the IDs in both formats.
    let fmt = tracing_subscriber::fmt::layer()
        .without_time()
        .with_ansi(false)
        .event_format(WithTraceIds(format::Format::default().without_time().with_ansi(false)));
    tracing_subscriber::registry().with(TracingLayer::new()).with(fmt).init();
    let env_logger = env_logger::Builder::new()
        .filter_level(log::LevelFilter::Info)
        .format(|out, record| {
            writeln!(out, "[env_logger] {} {} {}", record.level(), log_ids(), record.args())
        })
        .build();
    LogBridge::install(env_logger, log::LevelFilter::Info).expect("first logger of this process");

    assert!(place_order());

    println!("\nThe trace:");
    print!("{}", collector.render());
    let spans = collector.spans();
    let (order, reserve) = (&spans[1], &spans[0]);
    assert_eq!((order.name.as_ref(), reserve.name.as_ref()), ("place_order", "reserve"));
    assert_eq!(reserve.parent_id, Some(order.span_id), "one tree across the APIs");
    assert_eq!(reserve.events.len(), 2, "the tracing event and the log line");
    assert_eq!(order.events.len(), 1, "the log line");
}
