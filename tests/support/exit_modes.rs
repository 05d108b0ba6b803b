//! A child process for the exit tests: installs a tracer exporting over
//! OTLP/HTTP to the address given, finishes three spans, and leaves in the
//! way asked: `return`, `panic`, `exit` or `shutdown`.
//!
//! The batch delay is a minute, so nothing is sent unless the tracer is
//! flushed on the way out.

use std::time::Duration;

use trace_runtime::export::{BatchConfig, BatchSpanProcessor, OtlpConfig, OtlpHttpExporter};
use trace_runtime::{Tracer, traced};

#[traced]
fn work(step: u32) -> u32 {
    step * 2
}

#[traced]
fn job() -> u32 {
    work(1) + work(2)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(mode), Some(endpoint)) = (args.next(), args.next()) else {
        eprintln!("usage: exit-modes return|panic|exit|shutdown http://host:port");
        std::process::exit(2);
    };
    let otlp =
        OtlpHttpExporter::new(OtlpConfig::with_endpoint(&endpoint)).expect("an http endpoint");
    let mut config = BatchConfig::default();
    config.scheduled_delay = Duration::from_secs(60);
    let tracer = Tracer::builder("exit-modes")
        .span_processor(BatchSpanProcessor::with_config(otlp, config))
        .build();
    tracer.install().expect("the first tracer");
    assert_eq!(job(), 6);
    match mode.as_str() {
        "return" => {}
        "panic" => panic!("main panics after its spans finished"),
        "exit" => std::process::exit(3),
        "shutdown" => tracer.shutdown(),
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    }
}
