//! `trace-report`: reads span files and reports on their traces: for each
//! trace the waterfall, critical path, self time per service and error root
//! cause, then a latency summary per service and operation; or writes the
//! HTML waterfall report.
//!
//! ```sh
//! cargo install --path trace-analysis        # or: cargo run -p trace-analysis --bin trace-report --
//! trace-report spans/*.jsonl
//! trace-report --html report.html spans/*.jsonl otlp.json jaeger-download.json
//! trace-report --json spans/*.jsonl > critical-paths.json
//! ```
//!
//! Files are JSON Lines (one span per line), OTLP JSON, Jaeger JSON or
//! Zipkin v2 JSON, told apart by their content. Spans from several files
//! (several processes) are assembled into traces together.
//!
//! Exit status: 0 when the report was written (also when its reader closed
//! the pipe early, as `head` does); 1 when no span was read, when a file
//! could not be read, when records were skipped as malformed (unless
//! `--lenient`), or when no trace matches `--trace`; 2 on a usage error.

use std::io::{self, BufWriter, ErrorKind, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use trace_analysis::{self as analysis, ReadOutcome, Trace};

const USAGE: &str = "\
usage: trace-report [--html PATH | --json] [--trace ID] [--max N] [--summary] [--lenient] FILE...

  FILE        span files: JSON Lines, OTLP JSON, Jaeger JSON (UI download or
              /api/traces) or Zipkin v2 JSON, told apart by their content;
              several files are assembled together
  --html PATH write the self-contained HTML waterfall report to PATH instead
              of printing the traces
  --json      print every critical path of each trace as JSON: per span its
              segments on the path (start and end, nanoseconds since the
              epoch) and its self time on the path; the primary root's path
              first, then other roots' and asynchronous children's
  --trace ID  print only the trace whose ID starts with ID
  --max N     print at most N traces (default 20); the summary covers all
  --summary   print only the latency summary
  --lenient   report on the spans read even when some records were
              malformed (a warning, exit status 0); without it, malformed
              input exits with status 1 and no report

exit status: 0 report written; 1 no spans, an unreadable file, malformed
input (without --lenient) or no trace matching --trace; 2 usage error";

struct Options {
    files: Vec<PathBuf>,
    html: Option<PathBuf>,
    json: bool,
    trace: Option<String>,
    max: usize,
    summary_only: bool,
    lenient: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        files: Vec::new(),
        html: None,
        json: false,
        trace: None,
        max: 20,
        summary_only: false,
        lenient: false,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--html" => options.html = Some(value("--html")?.into()),
            "--trace" => options.trace = Some(value("--trace")?.to_ascii_lowercase()),
            "--max" => options.max = value("--max")?.parse().map_err(|_| "--max needs a number")?,
            "--summary" => options.summary_only = true,
            "--json" => options.json = true,
            "--lenient" => options.lenient = true,
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
            if why.is_empty() {
                let _ = writeln!(io::stdout(), "{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("trace-report: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let Some(traces) = read(&options) else {
        return ExitCode::FAILURE;
    };
    let mut out = BufWriter::new(io::stdout().lock());
    match report(&options, &traces, &mut out).and_then(|code| out.flush().map(|()| code)) {
        Ok(code) => code,
        // The reader of our output has gone (`trace-report … | head`): it
        // read what it wanted, which is a normal end.
        Err(e) if e.kind() == ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trace-report: writing the report: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads and assembles every file, saying on stderr what was skipped;
/// `None` (exit status 1) when nothing usable was read, a file could not be
/// read, or records were malformed without `--lenient`.
fn read(options: &Options) -> Option<Vec<Trace>> {
    let mut all = ReadOutcome::default();
    let label = if options.lenient { "warning" } else { "trace-report" };
    for file in &options.files {
        let outcome = match analysis::read_file(file) {
            Ok(outcome) => outcome,
            Err(e) => {
                eprintln!("trace-report: {}: {e}", file.display());
                return None;
            }
        };
        let first = outcome.first_error.as_deref().unwrap_or("?");
        match (outcome.malformed_lines, outcome.spans.len()) {
            (0, 0) => eprintln!("{label}: {}: no spans", file.display()),
            (0, _) => {}
            (1, _) => eprintln!("{label}: {}: {first}", file.display()),
            (n, _) => {
                eprintln!("{label}: {}: {n} malformed records; first: {first}", file.display())
            }
        }
        all.merge(outcome);
    }
    if all.spans.is_empty() {
        eprintln!("trace-report: no spans read");
        return None;
    }
    if all.malformed_lines > 0 && !options.lenient {
        eprintln!(
            "trace-report: {} malformed record(s), no report (--lenient reports on the {} spans read)",
            all.malformed_lines,
            all.spans.len()
        );
        return None;
    }
    let span_count = all.spans.len();
    let traces = analysis::assemble(all.spans);
    eprintln!(
        "read {span_count} spans in {} traces from {} file(s)",
        traces.len(),
        options.files.len()
    );
    let orphans: usize = traces.iter().map(|t| t.orphans().count()).sum();
    if orphans > 0 {
        eprintln!("warning: {orphans} orphan span(s): their parent was not in the files read");
    }
    let duplicates: usize = traces.iter().map(Trace::duplicate_spans).sum();
    if duplicates > 0 {
        eprintln!("warning: {duplicates} span(s) with the ID of another span were left out");
    }
    Some(traces)
}

/// Writes the HTML file or prints the text report.
fn report(options: &Options, traces: &[Trace], out: &mut impl Write) -> io::Result<ExitCode> {
    if let Some(path) = &options.html {
        if let Err(e) = std::fs::write(path, analysis::html_report(traces)) {
            eprintln!("trace-report: {}: {e}", path.display());
            return Ok(ExitCode::FAILURE);
        }
        writeln!(out, "wrote {} ({} traces)", path.display(), traces.len())?;
        return Ok(ExitCode::SUCCESS);
    }
    if !options.summary_only || options.json {
        let chosen: Vec<&Trace> = traces
            .iter()
            .filter(|t| {
                options.trace.as_ref().is_none_or(|id| t.trace_id().to_string().starts_with(id))
            })
            .collect();
        if chosen.is_empty() {
            eprintln!("trace-report: no trace matches");
            return Ok(ExitCode::FAILURE);
        }
        if options.json {
            // Every chosen trace: --max limits what is printed for people.
            write!(out, "{}", analysis::render_critical_paths_json(chosen))?;
            return Ok(ExitCode::SUCCESS);
        }
        for trace in chosen.iter().take(options.max) {
            print_trace(trace, out)?;
        }
        if chosen.len() > options.max {
            writeln!(out, "… {} more traces (use --max or --trace)\n", chosen.len() - options.max)?;
        }
    }
    writeln!(out, "latency by service and operation ({} traces):", traces.len())?;
    write!(out, "{}", analysis::render_summary(&analysis::summarize(traces)))?;
    Ok(ExitCode::SUCCESS)
}

fn print_trace(trace: &Trace, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{}", analysis::render_waterfall(trace))?;
    writeln!(out, "{}", analysis::render_critical_path(trace, &analysis::critical_path(trace)))?;
    writeln!(out, "{}", analysis::render_self_times(&analysis::self_times(trace)))?;
    if let Some(cause) = analysis::root_cause(trace) {
        writeln!(out, "{}", analysis::render_root_cause(trace, &cause))?;
    }
    Ok(())
}
