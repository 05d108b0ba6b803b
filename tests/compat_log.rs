//! `compat::LogBridge` around a real `env_logger`, and `compat::log_ids` in
//! its format: log lines keep printing, carry the trace and span IDs, and
//! become events of the current span.

use std::io::Write;
use std::sync::{Arc, Mutex, Once, PoisonError};

use trace_runtime::compat::{LogBridge, TracingLayer, log_ids};
use trace_runtime::{InMemoryCollector, Tracer, Value, traced};
use tracing_subscriber::layer::SubscriberExt;

/// What env_logger printed, shared by every test of this binary (each
/// looks for its own lines).
fn printed() -> &'static Mutex<Vec<u8>> {
    static PRINTED: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    &PRINTED
}

struct Printed;

impl Write for Printed {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        printed().lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn lines_with(text: &str) -> Vec<String> {
    let printed = printed().lock().unwrap_or_else(PoisonError::into_inner);
    String::from_utf8_lossy(&printed)
        .lines()
        .filter(|l| l.contains(text))
        .map(String::from)
        .collect()
}

/// env_logger prints `LEVEL trace_id=… span_id=… message` (warn and above
/// only, as its own filter says), wrapped by the bridge (info and above
/// become events).
fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let logger = env_logger::Builder::new()
            .filter_level(log::LevelFilter::Warn)
            .format(|out, record| {
                writeln!(out, "{} {} {}", record.level(), log_ids(), record.args())
            })
            .target(env_logger::Target::Pipe(Box::new(Printed)))
            .build();
        LogBridge::install(logger, log::LevelFilter::Info).expect("the only logger of this test");
    });
}

fn collector() -> (InMemoryCollector, Tracer) {
    let collector = InMemoryCollector::new();
    let tracer = Tracer::builder("compat").span_processor(collector.clone()).build();
    (collector, tracer)
}

#[traced]
fn charge(cents: u64) {
    log::info!(cents, card = "visa", retry = false; "charging card");
    log::warn!("card charged twice");
    log::debug!("too verbose for the bridge");
}

#[test]
fn records_in_a_span_become_its_events_and_keep_printing_with_the_ids() {
    install();
    let (collector, tracer) = collector();
    let ids = tracer.in_scope(|| {
        let span = trace_runtime::span("checkout").start();
        charge(250);
        (span.trace_id().unwrap(), span.span_id().unwrap())
    });
    let spans = collector.spans();
    let charge = spans.iter().find(|s| s.name == "charge").unwrap();
    assert_eq!(
        collector.render_trace(ids.0),
        "checkout\n  charge\n    \
         @ charging card level=\"INFO\" target=\"compat_log\" cents=250 card=\"visa\" retry=false\n    \
         @ card charged twice level=\"WARN\" target=\"compat_log\"\n"
    );
    // The inner logger's own filter still decides what is printed.
    assert!(lines_with("charging card").is_empty());
    assert_eq!(
        lines_with("card charged twice"),
        [format!("WARN trace_id={} span_id={} card charged twice", ids.0, charge.span_id)]
    );
    assert!(lines_with("too verbose").is_empty());
}

#[test]
fn records_outside_any_span_only_print() {
    install();
    let (collector, tracer) = collector();
    tracer.in_scope(|| log::warn!("no span here"));
    assert!(collector.spans().is_empty());
    assert_eq!(lines_with("no span here"), ["WARN  no span here"]);
}

#[tracing::instrument]
fn lookup(user: u64) {
    log::warn!(user; "user is slow");
}

#[test]
fn records_in_an_entered_tracing_span_go_to_that_span() {
    install();
    let (collector, tracer) = collector();
    let subscriber = tracing_subscriber::registry().with(TracingLayer::new());
    tracing::subscriber::with_default(subscriber, || tracer.in_scope(|| lookup(7)));
    let spans = collector.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].events.len(), 1);
    assert_eq!(spans[0].events[0].name, "user is slow");
    assert!(spans[0].events[0].tags.contains(&("user".into(), Value::I64(7))));
    assert_eq!(
        lines_with("user is slow"),
        [format!("WARN trace_id={} span_id={} user is slow", spans[0].trace_id, spans[0].span_id)]
    );
}

#[test]
fn a_bridge_is_a_logger_around_any_other() {
    // Without installing: `LogBridge::new` wraps, `max_level` narrows.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let bridge = LogBridge::new(Recorder(seen.clone())).max_level(log::LevelFilter::Warn);
    let (collector, tracer) = collector();
    tracer.in_scope(|| {
        let _span = trace_runtime::span("job").start();
        for (level, text) in [(log::Level::Info, "info line"), (log::Level::Error, "error line")] {
            log::Log::log(
                &bridge,
                &log::Record::builder()
                    .level(level)
                    .target("jobs")
                    .args(format_args!("{text}"))
                    .build(),
            );
        }
    });
    assert_eq!(collector.render(), "job\n  @ error line level=\"ERROR\" target=\"jobs\"\n");
    assert_eq!(*seen.lock().unwrap(), ["info line", "error line"], "the inner logger sees both");
}

struct Recorder(Arc<Mutex<Vec<String>>>);

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        self.0.lock().unwrap().push(record.args().to_string());
    }

    fn flush(&self) {}
}
