//! The `trace-report` tool as users run it: exit status, stdout and stderr
//! for good files, bad files and a reader that stops early.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use trace_runtime::export::write_jsonl_line;
use trace_runtime::{SpanData, SpanId, SpanKind, Status, TraceId};

const BIN: &str = env!("CARGO_BIN_EXE_trace-report");

/// A fresh directory for this test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("trace_report").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn run(args: &[&Path]) -> Output {
    let output = Command::new(BIN).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    output
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

/// `traces` traces of a server span with a client child, as JSON Lines.
fn jsonl(traces: u64) -> String {
    let mut text = String::new();
    for t in 1..=traces {
        let root = SpanData {
            trace_id: TraceId::from_u128(u128::from(t)).unwrap(),
            span_id: SpanId::from_u64(t * 2).unwrap(),
            parent_id: None,
            name: "GET /checkout".into(),
            kind: SpanKind::Server,
            start_unix_nanos: 1_700_000_000_000_000_000 + t * 1_000_000_000,
            duration_nanos: 20_000_000,
            tags: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
            status: Status::Unset,
            service: "frontend".into(),
        };
        let child = SpanData {
            span_id: SpanId::from_u64(t * 2 + 1).unwrap(),
            parent_id: Some(root.span_id),
            name: "POST /orders".into(),
            kind: SpanKind::Client,
            start_unix_nanos: root.start_unix_nanos + 2_000_000,
            duration_nanos: 15_000_000,
            status: Status::Error("declined".into()),
            ..root.clone()
        };
        write_jsonl_line(&child, &mut text);
        write_jsonl_line(&root, &mut text);
    }
    text
}

#[test]
fn a_reader_that_stops_early_ends_the_report_quietly() {
    let dir = scratch("broken_pipe");
    let file = dir.join("spans.jsonl");
    // Far more output than a pipe holds, so the tool is still writing when
    // the reader goes.
    std::fs::write(&file, jsonl(2_000)).unwrap();
    let mut child = Command::new(BIN)
        .args(["--max", "2000"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    for _ in 0..3 {
        stdout.read_line(&mut first).unwrap();
    }
    assert!(first.starts_with("trace 00000000000000000000000000000001"), "{first}");
    drop(stdout);
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim(), "read 4000 spans in 2000 traces from 1 file(s)");
}

#[test]
fn a_whole_file_reports_every_trace() {
    let dir = scratch("whole");
    let file = dir.join("spans.jsonl");
    std::fs::write(&file, jsonl(3)).unwrap();
    let output = run(&[&file]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert_eq!(
        stdout.matches("\ntrace 0000").count() + usize::from(stdout.starts_with("trace ")),
        3
    );
    assert!(stdout.contains("latency by service and operation (3 traces):"), "{stdout}");
    assert!(stdout.contains("POST /orders"), "{stdout}");
}

#[test]
fn a_truncated_json_lines_file_exits_1_without_a_report() {
    let dir = scratch("truncated_jsonl");
    let file = dir.join("spans.jsonl");
    let mut spans = jsonl(3);
    spans.truncate(spans.len() - 40);
    std::fs::write(&file, spans).unwrap();
    let output = run(&[&file]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(text(&output.stdout), "");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("spans.jsonl: line 6 column "), "{stderr}");
    assert!(stderr.contains("EOF while parsing"), "{stderr}");
    assert!(
        stderr.contains("1 malformed record(s), no report (--lenient reports on the 5 spans read)"),
        "{stderr}"
    );
}

#[test]
fn lenient_reports_on_what_a_truncated_file_holds() {
    let dir = scratch("lenient");
    let file = dir.join("spans.jsonl");
    let mut spans = jsonl(3);
    spans.truncate(spans.len() - 40);
    std::fs::write(&file, spans).unwrap();
    let output = run(&[Path::new("--lenient"), &file]);
    assert_eq!(output.status.code(), Some(0));
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("warning: "), "{stderr}");
    assert!(stderr.contains("spans.jsonl: line 6 column "), "{stderr}");
    assert!(stderr.contains("read 5 spans in 3 traces"), "{stderr}");
    // The third trace lost its root: its client span is an orphan.
    assert!(stderr.contains("warning: 1 orphan span(s)"), "{stderr}");
    assert!(text(&output.stdout).contains("latency by service and operation (3 traces):"));
}

#[test]
fn lenient_still_exits_1_when_nothing_was_read() {
    let dir = scratch("lenient_nothing");
    let file = dir.join("spans.jsonl");
    std::fs::write(&file, "not json\n{\"trace_id\":\"zz\"}\n").unwrap();
    let output = run(&[Path::new("--lenient"), &file]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("spans.jsonl: 2 malformed records; first: line 1 column 2"),
        "{stderr}"
    );
    assert!(stderr.contains("trace-report: no spans read"), "{stderr}");
}

#[test]
fn an_empty_file_exits_1_with_or_without_html() {
    let dir = scratch("empty");
    let file = dir.join("spans.jsonl");
    std::fs::write(&file, "\n").unwrap();
    let output = run(&[&file]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        format!("trace-report: {}: no spans\ntrace-report: no spans read\n", file.display())
    );
    let html = dir.join("report.html");
    let output = run(&[Path::new("--html"), &html, &file]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("no spans read"));
    assert!(!html.exists());
}

#[test]
fn a_truncated_pretty_printed_otlp_file_is_one_error_with_its_position() {
    let dir = scratch("truncated_otlp");
    let file = dir.join("otlp.json");
    let full = std::fs::read_to_string(data("otlp-pretty.json")).unwrap();
    let cut = &full[..full.find("\"payment declined\"").unwrap()];
    std::fs::write(&file, cut).unwrap();
    let output = run(&[&file]);
    assert_eq!(output.status.code(), Some(1));
    let line = cut.lines().count();
    let stderr = text(&output.stderr);
    let first = stderr.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("trace-report: {}: line {line} column ", file.display())),
        "{stderr}"
    );
    assert!(first.ends_with("not JSON: EOF while parsing a value"), "{stderr}");
    assert!(!stderr.contains("malformed records"), "{stderr}");
    assert!(stderr.contains("trace-report: no spans read"), "{stderr}");
}

#[test]
fn jaeger_and_zipkin_files_are_reported_with_others() {
    let dir = scratch("formats");
    let html = dir.join("report.html");
    let files = [data("jaeger-download.json"), data("zipkin-trace.json"), data("otlp-pretty.json")];
    let mut args: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let output = run(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stderr).starts_with("read 15 spans in 4 traces from 3 file(s)"));
    let stdout = text(&output.stdout);
    for expected in [
        "trace 4bf92f3577b34da6a3ce929d0e0e4736",
        "trace 4e441824ec2b6a44ffdc9bb9a6453df3",
        "consume order",
        "billing",
        "upstream failed",
        "card declined",
    ] {
        assert!(stdout.contains(expected), "{expected} missing:\n{stdout}");
    }
    args.splice(0..0, [Path::new("--html"), html.as_path()]);
    let output = run(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(std::fs::read_to_string(&html).unwrap().contains("consume order"));
}

#[test]
fn usage_errors_exit_2() {
    let output = run(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("no span files given"));
    let output = run(&[Path::new("--bogus"), Path::new("x")]);
    assert_eq!(output.status.code(), Some(2));
    let missing = run(&[Path::new("/nonexistent/spans.jsonl")]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).starts_with("trace-report: /nonexistent/spans.jsonl: "));
}
