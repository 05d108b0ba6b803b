//! A process that installs a tracer loses none of the spans it finished,
//! however it exits (apart from being killed or aborting).

use std::process::Command;

use trace_analysis::read_otlp_json;
use trace_integration::TestReceiver;

/// What the child reported: its exit code, the names of the spans the
/// receiver got (sorted), and its stderr, which is captured (with
/// `RUST_BACKTRACE=0`) so a passing run prints nothing and a failing one
/// shows it in the assertion message.
struct Child {
    code: Option<i32>,
    names: Vec<String>,
    stderr: String,
}

fn run_child(mode: &str) -> Child {
    let receiver = TestReceiver::start();
    let output = Command::new(env!("CARGO_BIN_EXE_exit-modes"))
        .args([mode, &receiver.url()])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let mut names = Vec::new();
    for body in receiver.bodies() {
        let outcome = read_otlp_json(body.as_bytes()).expect("readable OTLP JSON");
        assert_eq!(outcome.malformed_lines, 0, "child stderr:\n{stderr}");
        names.extend(outcome.spans.into_iter().map(|s| s.name.into_owned()));
    }
    names.sort();
    Child { code: output.status.code(), names, stderr }
}

/// Runs the child in `mode` and checks its exit code and that every span
/// it finished reached the receiver.
fn assert_exports_every_span(mode: &str, code: i32) -> Child {
    let child = run_child(mode);
    assert_eq!(
        (child.code, child.names.iter().map(String::as_str).collect::<Vec<_>>()),
        (Some(code), EXPECTED.to_vec()),
        "mode {mode}; child stderr:\n{}",
        child.stderr
    );
    child
}

const EXPECTED: [&str; 3] = ["job", "work", "work"];

#[test]
fn returning_from_main_exports_every_finished_span() {
    assert_exports_every_span("return", 0);
}

#[test]
fn a_panic_in_main_exports_every_finished_span() {
    let child = assert_exports_every_span("panic", 101);
    assert!(
        child.stderr.contains("main panics after its spans finished"),
        "the panic message is missing from the child's stderr:\n{}",
        child.stderr
    );
}

#[test]
fn process_exit_exports_every_finished_span() {
    assert_exports_every_span("exit", 3);
}

#[test]
fn an_explicit_shutdown_exports_every_finished_span_once() {
    assert_exports_every_span("shutdown", 0);
}

/// The export warning says which service wrote it and where the spans were
/// going, so one process of several can be told apart in a shared log.
#[test]
fn the_export_warning_names_the_service_and_the_destination() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let output = Command::new(env!("CARGO_BIN_EXE_exit-modes"))
        .args(["shutdown", &endpoint])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!("OTLP export to {endpoint}/v1/traces failed");
    assert!(
        stderr.lines().any(
            |line| line.starts_with("trace-runtime [exit-modes]: ") && line.contains(&expected)
        ),
        "no warning naming the service and {expected}:\n{stderr}"
    );
}

/// A collector that accepts connections and never answers: the exit
/// handler waits at most its exit timeout (5 s by default), then counts
/// and reports the spans it could not deliver, naming the service.
#[test]
fn a_hung_collector_delays_exit_by_the_exit_timeout_and_the_loss_is_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in listener.incoming() {
            held.push(connection);
        }
    });
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_exit-modes"))
        .args(["return", &url])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the child");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("trace-runtime [exit-modes]: the exporter did not finish within 5 s; 3 spans not exported were dropped"),
        "{stderr}"
    );
    // The 10 s request timeout and the retries would take far longer; a
    // wide margin keeps a loaded machine from failing the test.
    assert!(elapsed < std::time::Duration::from_secs(15), "exit took {elapsed:?}");
}
