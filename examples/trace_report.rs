//! Reads span files and reports on their traces: for each trace the
//! waterfall, critical path, self time per service and error root cause,
//! then a latency summary per service and operation; or writes the HTML
//! waterfall report.
//!
//! ```sh
//! cargo run --example trace_report -- spans/*.jsonl
//! cargo run --example trace_report -- --html report.html spans/*.jsonl otlp.json
//! cargo run --example trace_report -- --json spans/*.jsonl > critical-paths.json
//! ```
//!
//! Files are JSON Lines (one span per line) or OTLP JSON
//! (`ExportTraceServiceRequest`), told apart by their content. Spans from
//! several files (several processes) are assembled into traces together.

use std::path::PathBuf;
use std::process::ExitCode;

use trace_runtime::analysis::{self, ReadOutcome, Trace};

const USAGE: &str = "\
usage: trace_report [--html PATH | --json] [--trace ID] [--max N] [--summary] FILE...

  FILE        JSON Lines (one span per line) or OTLP JSON; several files are
              assembled together
  --html PATH write the self-contained HTML waterfall report to PATH instead
              of printing the traces
  --json      print every critical path of each trace as JSON: per span its
              segments on the path (start and end, nanoseconds since the
              epoch) and its self time on the path; the primary root's path
              first, then other roots' and asynchronous children's
  --trace ID  print only the trace whose ID starts with ID
  --max N     print at most N traces (default 20); the summary covers all
  --summary   print only the latency summary";

struct Options {
    files: Vec<PathBuf>,
    html: Option<PathBuf>,
    json: bool,
    trace: Option<String>,
    max: usize,
    summary_only: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        files: Vec::new(),
        html: None,
        json: false,
        trace: None,
        max: 20,
        summary_only: false,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--html" => options.html = Some(value("--html")?.into()),
            "--trace" => options.trace = Some(value("--trace")?.to_ascii_lowercase()),
            "--max" => options.max = value("--max")?.parse().map_err(|_| "--max needs a number")?,
            "--json" => options.json = true,
            "--summary" => options.summary_only = true,
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            file => options.files.push(file.into()),
        }
    }
    if options.json && options.html.is_some() {
        return Err("--json and --html exclude each other".to_owned());
    }
    if options.files.is_empty() {
        return Err("no span files given".to_owned());
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("trace_report: {why}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };

    let mut all = ReadOutcome::default();
    for file in &options.files {
        match analysis::read_file(file) {
            Ok(outcome) => {
                if outcome.malformed_lines > 0 {
                    eprintln!(
                        "warning: {}: skipped {} malformed record(s); first: {}",
                        file.display(),
                        outcome.malformed_lines,
                        outcome.first_error.as_deref().unwrap_or("?")
                    );
                }
                all.merge(outcome);
            }
            Err(e) => {
                eprintln!("trace_report: {}: {e}", file.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let span_count = all.spans.len();
    let traces = analysis::assemble(all.spans);
    let orphans: usize = traces.iter().map(|t| t.orphans().count()).sum();
    eprintln!(
        "read {span_count} spans in {} traces from {} file(s)",
        traces.len(),
        options.files.len()
    );
    if orphans > 0 {
        eprintln!("warning: {orphans} orphan span(s): their parent was not in the files read");
    }

    if let Some(path) = &options.html {
        if let Err(e) = std::fs::write(path, analysis::html_report(&traces)) {
            eprintln!("trace_report: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {} ({} traces)", path.display(), traces.len());
        return ExitCode::SUCCESS;
    }

    if !options.summary_only || options.json {
        let chosen: Vec<&Trace> = traces
            .iter()
            .filter(|t| {
                options.trace.as_ref().is_none_or(|id| t.trace_id().to_string().starts_with(id))
            })
            .collect();
        if chosen.is_empty() {
            eprintln!("trace_report: no trace matches");
            return ExitCode::FAILURE;
        }
        if options.json {
            // Every chosen trace: --max limits what is printed for people.
            print!("{}", analysis::render_critical_paths_json(chosen));
            return ExitCode::SUCCESS;
        }
        for trace in chosen.iter().take(options.max) {
            print_trace(trace);
        }
        if chosen.len() > options.max {
            println!("… {} more traces (use --max or --trace)\n", chosen.len() - options.max);
        }
    }
    println!("latency by service and operation ({} traces):", traces.len());
    print!("{}", analysis::render_summary(&analysis::summarize(&traces)));
    ExitCode::SUCCESS
}

fn print_trace(trace: &Trace) {
    println!("{}", analysis::render_waterfall(trace));
    println!("{}", analysis::render_critical_path(trace, &analysis::critical_path(trace)));
    println!("{}", analysis::render_self_times(&analysis::self_times(trace)));
    if let Some(cause) = analysis::root_cause(trace) {
        println!("{}", analysis::render_root_cause(trace, &cause));
    }
}
