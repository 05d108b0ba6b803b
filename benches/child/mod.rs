//! What both bench binaries need to run their rows in child processes of
//! their own and to describe the run: starting a child and reading the
//! figures it prints, `/proc` readings, and waiting for a pipeline to
//! deliver.
#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Starts this binary again with `--child` and `args`, and reads the line
/// `FIGURES {json}` it prints; on failure, says why on stderr.
pub fn spawn(args: &[&str]) -> Option<Value> {
    let exe = std::env::current_exe().expect("this binary's path");
    let output = match Command::new(exe).arg("--child").args(args).output() {
        Ok(output) => output,
        Err(error) => {
            eprintln!("cannot start a child {args:?}: {error}");
            return None;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let figures = stdout
        .lines()
        .find_map(|line| line.strip_prefix("FIGURES "))
        .and_then(|json| serde_json::from_str(json).ok());
    if figures.is_none() {
        eprintln!(
            "child {args:?} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    figures
}

/// A `/proc/self/status` field in KiB (`VmHWM`, `VmRSS`); 0 if unknown.
pub fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A numeric field of `/proc/self/stat`, numbered as `proc(5)` does (state
/// is 3, minor faults 10, user and system time 14 and 15, in clock ticks);
/// 0 if unknown.
pub fn stat_fields<const N: usize>(numbers: [usize; N]) -> [u64; N] {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses and may
    // hold spaces.
    let rest = stat.rfind(')').map_or("", |at| &stat[at + 1..]);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    numbers.map(|n| fields.get(n.wrapping_sub(3)).and_then(|f| f.parse().ok()).unwrap_or(0))
}

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` writes them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The time of day in UTC, as `date -u` writes it (or seconds since 1970).
pub fn utc_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M:%S UTC"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|| {
            let since = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            format!("{} s since 1970", since.as_secs())
        })
}

/// Waits until `counts` (delivered, dropped) accounts for `expected` spans.
/// Gives up when the counts have not moved for `stall`; returns the last
/// counts either way.
pub fn settle(expected: u64, stall: Duration, counts: impl Fn() -> (u64, u64)) -> (u64, u64) {
    let mut last = counts();
    let mut moved = Instant::now();
    while last.0 + last.1 < expected {
        std::thread::sleep(Duration::from_micros(50));
        let now = counts();
        if now == last {
            if moved.elapsed() > stall {
                break;
            }
        } else {
            (last, moved) = (now, Instant::now());
        }
    }
    last
}

/// `name` from the environment as a number, or `default`; a value that is
/// not a number is an error that stops the run.
pub fn number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value.trim().parse().unwrap_or_else(|_| {
            eprintln!("{name}={value}: expected a whole number");
            std::process::exit(2);
        }),
        Err(_) => default,
    }
}

/// When a run started and ended, and the machine's load at both ends,
/// with `more` (an object) merged in: the record every bench keeps of a run.
pub fn run_record(started: &str, clock: Instant, load_start: &str, more: Value) -> Value {
    let mut run = serde_json::json!({
        "started": started,
        "finished": utc_now(),
        "minutes": clock.elapsed().as_secs_f64() / 60.0,
        "load_average_start": load_start,
        "load_average_end": load_average(),
    });
    if let (Some(run), Value::Object(more)) = (run.as_object_mut(), more) {
        run.extend(more);
    }
    run
}
