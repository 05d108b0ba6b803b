//! A process that installs a tracer loses none of the spans it finished,
//! however it exits (apart from being killed or aborting).

use std::process::Command;

use trace_integration::TestReceiver;
use trace_runtime::analysis::read_otlp_json;

fn spans_received(mode: &str) -> (Option<i32>, Vec<String>) {
    let receiver = TestReceiver::start();
    let status = Command::new(env!("CARGO_BIN_EXE_exit-modes"))
        .args([mode, &receiver.url()])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .status()
        .expect("run the child");
    let mut names = Vec::new();
    for body in receiver.bodies() {
        let outcome = read_otlp_json(body.as_bytes()).expect("readable OTLP JSON");
        assert_eq!(outcome.malformed_lines, 0);
        names.extend(outcome.spans.into_iter().map(|s| s.name.into_owned()));
    }
    names.sort();
    (status.code(), names)
}

const EXPECTED: [&str; 3] = ["job", "work", "work"];

#[test]
fn returning_from_main_exports_every_finished_span() {
    assert_eq!(spans_received("return"), (Some(0), EXPECTED.map(String::from).to_vec()));
}

#[test]
fn a_panic_in_main_exports_every_finished_span() {
    assert_eq!(spans_received("panic"), (Some(101), EXPECTED.map(String::from).to_vec()));
}

#[test]
fn process_exit_exports_every_finished_span() {
    assert_eq!(spans_received("exit"), (Some(3), EXPECTED.map(String::from).to_vec()));
}

#[test]
fn an_explicit_shutdown_exports_every_finished_span_once() {
    assert_eq!(spans_received("shutdown"), (Some(0), EXPECTED.map(String::from).to_vec()));
}
