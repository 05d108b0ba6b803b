//! Starts the services as child processes, drives a fixed batch of
//! requests through the gateway, stops the services, and reports.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use trace_runtime::analysis::{self, Trace};
use trace_runtime::export::{BatchSpanProcessor, JsonLinesExporter, encode_chrome_trace};
use trace_runtime::{SpanData, Tracer, Value};

/// The tracer of one service process: every span to a JSON Lines file in
/// `span_dir` (one file per service, read back by the launcher), and also to
/// an OpenTelemetry collector when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
pub fn tracer_for(service: &'static str, span_dir: &Path) -> Tracer {
    let path = span_dir.join(format!("{service}.jsonl"));
    let file = JsonLinesExporter::create(&path)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    let builder = if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
        Tracer::builder_from_env(service)
    } else {
        Tracer::builder(service)
    };
    builder.span_processor(BatchSpanProcessor::new(file)).build()
}

/// One request of the batch: which path it takes through the system.
const SCENARIOS: [&str; 12] = [
    "normal", "normal", "slow", "normal", "fail", "normal", "normal", "slow", "normal", "fail",
    "normal", "normal",
];

/// A running service; killed if the launcher fails before stopping it.
struct Running {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    url: String,
}

impl Running {
    fn start(name: &'static str, span_dir: &Path, downstream: &[&str]) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .arg("serve")
            .arg(name)
            .arg(span_dir)
            .args(downstream)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
        let port = line
            .strip_prefix("READY ")
            .and_then(|port| port.trim().parse::<u16>().ok())
            .ok_or_else(|| format!("{name} did not start (said {line:?})"))?;
        let stdin = child.stdin.take();
        Ok(Self { name, child, stdin, url: format!("http://127.0.0.1:{port}") })
    }

    /// Closes the service's standard input, its signal to drain, flush its
    /// spans and exit, and waits for it.
    fn stop(mut self) -> Result<(), String> {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.child.try_wait().map_err(|e| e.to_string())? {
                Some(status) if status.success() => return Ok(()),
                Some(status) => return Err(format!("{} exited with {status}", self.name)),
                None if Instant::now() > deadline => {
                    return Err(format!("{} did not stop", self.name));
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn run(args: &[String]) -> i32 {
    if let Some(position) = args.iter().position(|a| a == "--otlp") {
        let Some(endpoint) = args.get(position + 1) else {
            eprintln!("usage: demo [--otlp http://collector:4318]");
            return 2;
        };
        // Inherited by the services, whose tracers then export there too.
        // SAFETY: set before any thread is started.
        unsafe { std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint) };
    }
    match launch() {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("demo failed: {error}");
            1
        }
    }
}

fn launch() -> Result<(), String> {
    let span_dir = PathBuf::from("target/demo/spans");
    let _ = std::fs::remove_dir_all(&span_dir);
    std::fs::create_dir_all(&span_dir).map_err(|e| e.to_string())?;

    let inventory = Running::start("inventory", &span_dir, &[])?;
    let payments = Running::start("payments", &span_dir, &[])?;
    let orders = Running::start("orders", &span_dir, &[&inventory.url, &payments.url])?;
    let gateway = Running::start("gateway", &span_dir, &[&orders.url])?;
    println!(
        "services: gateway {} → orders {} → inventory {} and payments {}",
        gateway.url, orders.url, inventory.url, payments.url
    );

    let outcomes = drive(&gateway.url)?;
    for running in [gateway, orders, inventory, payments] {
        running.stop()?;
    }
    println!("{} requests sent: {}", outcomes.len(), outcomes.join(", "));
    report(&span_dir)
}

/// Sends the batch, one request at a time, and returns the status of each.
fn drive(gateway: &str) -> Result<Vec<String>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut outcomes = Vec::new();
        for (order, scenario) in SCENARIOS.iter().enumerate() {
            let url = format!("{gateway}/checkout?order={order}&scenario={scenario}");
            let response = client.post(url).send().await.map_err(|e| e.to_string())?;
            outcomes.push(format!("{scenario}={}", response.status().as_u16()));
        }
        Ok(outcomes)
    })
}

/// Reads every service's spans back, and prints and writes the analysis.
fn report(span_dir: &Path) -> Result<(), String> {
    let mut spans: Vec<SpanData> = Vec::new();
    for service in ["gateway", "orders", "inventory", "payments"] {
        let path = span_dir.join(format!("{service}.jsonl"));
        let outcome = analysis::read_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if outcome.malformed_lines > 0 {
            return Err(format!("{}: {} malformed lines", path.display(), outcome.malformed_lines));
        }
        println!("{service:>9}: {} spans in {}", outcome.spans.len(), path.display());
        spans.extend(outcome.spans);
    }
    let traces = analysis::assemble(spans.clone());
    println!("{} traces assembled from {} spans\n", traces.len(), spans.len());
    if traces.len() != SCENARIOS.len() {
        return Err(format!("expected {} traces, got {}", SCENARIOS.len(), traces.len()));
    }
    // Every span of every process arrived: no trace misses a parent.
    if let Some(broken) = traces.iter().find(|t| t.orphans().next().is_some()) {
        return Err(format!("trace {} lost spans: it has orphans", broken.trace_id()));
    }

    for scenario in ["normal", "slow", "fail"] {
        let trace = traces
            .iter()
            .find(|t| scenario_of(t) == Some(scenario))
            .ok_or_else(|| format!("no {scenario} trace"))?;
        explain(scenario, trace)?;
    }

    println!("== latency by service and operation ==");
    print!("{}", analysis::render_summary(&analysis::summarize(&traces)));

    let out = span_dir.parent().unwrap_or(span_dir);
    let html = out.join("report.html");
    let perfetto = out.join("traces.perfetto.json");
    std::fs::write(&html, analysis::html_report(&traces)).map_err(|e| e.to_string())?;
    std::fs::write(&perfetto, encode_chrome_trace(&spans)).map_err(|e| e.to_string())?;
    println!();
    println!("HTML report (open in a browser):  {}", absolute(&html));
    println!("Perfetto trace (ui.perfetto.dev): {}", absolute(&perfetto));
    println!("Span files (JSON Lines):          {}", absolute(span_dir));
    Ok(())
}

fn scenario_of(trace: &Trace) -> Option<&str> {
    trace.spans().iter().find_map(|span| match span.tag("scenario") {
        Some(Value::Str(s)) => Some(&**s),
        _ => None,
    })
}

/// Prints one trace's waterfall and critical path, and for a failing one
/// its root cause; checks that the analysis finds what was injected.
fn explain(scenario: &str, trace: &Trace) -> Result<(), String> {
    println!("== a {scenario} request: trace {} ==", trace.trace_id());
    print!("{}", analysis::render_waterfall(trace));
    let path = analysis::critical_path(trace);
    println!("-- critical path --");
    print!("{}", analysis::render_critical_path(trace, &path));
    let on_path = |name: &str| path.spans.iter().any(|p| trace.spans()[p.span].name == name);
    match scenario {
        "slow" if !on_path("query_warehouse") => {
            return Err("the slow warehouse query is not on the critical path".into());
        }
        "fail" => {
            let cause = analysis::root_cause(trace).ok_or("the failing trace has no root cause")?;
            println!("-- root cause --");
            print!("{}", analysis::render_root_cause(trace, &cause));
            let origin = &trace.spans()[cause.span];
            if origin.name != "call_card_issuer" || &*cause.service != "payments" {
                return Err(format!(
                    "root cause found in {} / {}, not payments / call_card_issuer",
                    cause.service, origin.name
                ));
            }
        }
        _ => {}
    }
    println!();
    Ok(())
}

fn absolute(path: &Path) -> String {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned()).display().to_string()
}
