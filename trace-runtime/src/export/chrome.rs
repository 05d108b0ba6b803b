//! Chrome Trace Event JSON, which Perfetto (ui.perfetto.dev) and
//! `chrome://tracing` open; the mapping is documented on
//! [`encode_chrome_trace`].

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Map, Value as Json, json};

use crate::export::assemble::{DEFAULT_ROOT_WAIT, TraceAssembler};
use crate::export::{ExportError, SpanExporter};
use crate::span::{SpanData, Status};
use crate::value::Tag;

/// Encodes spans as a Chrome Trace Event JSON array, which Perfetto
/// (ui.perfetto.dev) and `chrome://tracing` open.
///
/// Each span is a complete (`"ph": "X"`) event, each span event an instant
/// (`"ph": "i"`) event on the same track; tags, IDs, links (as
/// `trace_id/span_id`) and the status are the event's `args`. Each service
/// is a process (`pid`, named by a `process_name` metadata event).
///
/// Spans carry no thread ID, so tracks (`tid`, named "lane N") are derived:
/// within a trace, a span shares the lane of the span it nests in, and spans
/// that overlap without nesting (concurrent work, a task that outlives its
/// parent) get separate lanes, so every lane is a well-nested stack as the
/// format requires. A lane is reused by a later trace once everything on it
/// has ended, so sequential requests share lanes and concurrent ones sit
/// side by side. Times are whole microseconds; both ends are rounded down,
/// which keeps nesting exact (spans under 1 µs show as zero-length).
///
/// ```
/// # use trace_runtime::{InMemoryCollector, Tracer};
/// use trace_runtime::export::encode_chrome_trace;
///
/// # let collector = InMemoryCollector::new();
/// # let tracer = Tracer::builder("shop").span_processor(collector.clone()).build();
/// # tracer.in_scope(|| drop(trace_runtime::span("checkout").start()));
/// let events: serde_json::Value = serde_json::from_str(&encode_chrome_trace(&collector.spans())).unwrap();
/// assert_eq!(events[0]["name"], "process_name");
/// assert_eq!(events[0]["args"]["name"], "shop");
/// ```
pub fn encode_chrome_trace(spans: &[SpanData]) -> String {
    let mut by_trace: Vec<(crate::TraceId, Vec<SpanData>)> = Vec::new();
    for span in spans {
        match by_trace.iter_mut().find(|(id, _)| *id == span.trace_id) {
            Some((_, list)) => list.push(span.clone()),
            None => by_trace.push((span.trace_id, vec![span.clone()])),
        }
    }
    let mut layout = Layout::default();
    let mut events = Vec::new();
    for (_, trace) in &by_trace {
        layout.place(trace, &mut events);
    }
    Json::Array(events).to_string()
}

/// Tracks handed out so far: per service, its pid and when each lane is free.
#[derive(Default)]
struct Layout {
    services: Vec<Service>,
}

struct Service {
    name: Arc<str>,
    /// Per lane (tid = index + 1), the end of the last span on it, in µs.
    busy_until: Vec<u64>,
}

impl Layout {
    /// Appends the events of one trace, and metadata for new processes and lanes.
    fn place(&mut self, trace: &[SpanData], out: &mut Vec<Json>) {
        for (name, spans) in super::by_service(trace) {
            let pid = match self.services.iter().position(|s| s.name == *name) {
                Some(index) => index + 1,
                None => {
                    self.services.push(Service { name: name.clone(), busy_until: Vec::new() });
                    let pid = self.services.len();
                    out.push(json!({ "name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": { "name": &**name } }));
                    pid
                }
            };
            let service = &mut self.services[pid - 1];
            for lane in local_lanes(&spans) {
                let start = lane.iter().map(|s| micros(s.start_unix_nanos)).min().unwrap_or(0);
                let end = lane.iter().map(|s| micros(s.end_unix_nanos())).max().unwrap_or(0);
                let tid = match service.busy_until.iter().position(|&busy| busy <= start) {
                    Some(index) => index + 1,
                    None => {
                        service.busy_until.push(0);
                        let tid = service.busy_until.len();
                        out.push(json!({ "name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": { "name": format!("lane {tid}") } }));
                        tid
                    }
                };
                service.busy_until[tid - 1] = end;
                for span in lane {
                    push_span(out, span, pid, tid);
                }
            }
        }
    }
}

fn micros(nanos: u64) -> u64 {
    nanos / 1000
}

/// Splits one service's spans of a trace into lanes in which every two spans
/// are either disjoint or nested (compared in whole microseconds, as
/// written). A span goes to its parent's lane if it fits there, else to the
/// first lane it fits in, else to a new lane.
fn local_lanes<'a>(spans: &[&'a SpanData]) -> Vec<Vec<&'a SpanData>> {
    let mut sorted = spans.to_vec();
    // Parents before their children: earlier start first, then longer first.
    sorted.sort_by_key(|s| {
        (micros(s.start_unix_nanos), std::cmp::Reverse(micros(s.end_unix_nanos())))
    });
    let mut lanes: Vec<Lane<'a>> = Vec::new();
    let mut lane_of: HashMap<crate::SpanId, usize> = HashMap::new();
    for span in sorted {
        let (start, end) = (micros(span.start_unix_nanos), micros(span.end_unix_nanos()));
        let parent_lane = span.parent_id.and_then(|p| lane_of.get(&p).copied());
        let chosen =
            parent_lane.into_iter().chain(0..lanes.len()).find(|&i| lanes[i].fits(start, end));
        let index = chosen.unwrap_or_else(|| {
            lanes.push(Lane::default());
            lanes.len() - 1
        });
        lanes[index].members.push(span);
        lanes[index].open.push(end);
        lane_of.insert(span.span_id, index);
    }
    lanes.into_iter().map(|lane| lane.members).collect()
}

#[derive(Default)]
struct Lane<'a> {
    members: Vec<&'a SpanData>,
    /// Ends of the spans still open at the latest start placed, innermost last.
    open: Vec<u64>,
}

impl Lane<'_> {
    /// Whether a span from `start` to `end` nests in what is open here.
    /// Spans arrive by start time, so spans that ended are closed for good.
    fn fits(&mut self, start: u64, end: u64) -> bool {
        while self.open.last().is_some_and(|&top| top <= start) {
            self.open.pop();
        }
        self.open.last().is_none_or(|&top| end <= top)
    }
}

fn push_span(out: &mut Vec<Json>, span: &SpanData, pid: usize, tid: usize) {
    let start = micros(span.start_unix_nanos);
    let mut args = tag_args(&span.tags);
    args.insert("trace_id".into(), span.trace_id.to_string().into());
    args.insert("span_id".into(), span.span_id.to_string().into());
    if let Some(parent) = span.parent_id {
        args.insert("parent_id".into(), parent.to_string().into());
    }
    if !span.links.is_empty() {
        let links: Vec<String> = span
            .links
            .iter()
            .map(|l| format!("{}/{}", l.span_context.trace_id, l.span_context.span_id))
            .collect();
        args.insert("links".into(), links.into());
    }
    match &span.status {
        Status::Unset => {}
        Status::Ok => {
            args.insert("status".into(), "ok".into());
        }
        Status::Error(message) => {
            args.insert("status".into(), "error".into());
            args.insert("error".into(), json!(message));
        }
    }
    out.push(json!({
        "name": span.name,
        "cat": span.kind.as_str(),
        "ph": "X",
        "ts": start,
        "dur": micros(span.end_unix_nanos()) - start,
        "pid": pid,
        "tid": tid,
        "args": args,
    }));
    for event in &span.events {
        out.push(json!({
            "name": event.name,
            "ph": "i",
            "s": "t",
            "ts": micros(event.time_unix_nanos),
            "pid": pid,
            "tid": tid,
            "args": tag_args(&event.tags),
        }));
    }
}

fn tag_args(tags: &[Tag]) -> Map<String, Json> {
    tags.iter().map(|(key, value)| (key.to_string(), value.to_display_json())).collect()
}

/// Writes a Chrome Trace Event / Perfetto JSON file as traces finish, laid
/// out as [`encode_chrome_trace`] describes.
///
/// A trace is written when its root span arrives (spans finish children
/// first), so its lanes can be laid out whole; one whose root never arrives
/// is written 30 seconds after its last span, or at shutdown. After every
/// write the file is a complete JSON array, so it can be opened while the
/// program runs. Put it behind a [`BatchSpanProcessor`](super::BatchSpanProcessor).
///
/// ```no_run
/// use trace_runtime::Tracer;
/// use trace_runtime::export::{BatchSpanProcessor, ChromeTraceExporter};
///
/// let file = ChromeTraceExporter::create("trace.json").unwrap();
/// let tracer = Tracer::builder("shop").span_processor(BatchSpanProcessor::new(file)).build();
/// // ... then open trace.json in https://ui.perfetto.dev
/// tracer.shutdown();
/// ```
pub struct ChromeTraceExporter {
    state: Mutex<State>,
}

struct State {
    file: File,
    /// Where the next event goes: just before the closing `\n]\n`.
    body_end: u64,
    empty: bool,
    layout: Layout,
    traces: TraceAssembler,
}

impl ChromeTraceExporter {
    /// Creates (or truncates) the file at `path`.
    ///
    /// # Errors
    /// The error of creating the file.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        let mut file = File::create(path)?;
        file.write_all(b"[\n]\n")?;
        Ok(Self {
            state: Mutex::new(State {
                file,
                body_end: 1,
                empty: true,
                layout: Layout::default(),
                traces: TraceAssembler::new(DEFAULT_ROOT_WAIT),
            }),
        })
    }

    /// Sets how long a trace waits for its root before it is written
    /// without it (default 30 s).
    #[must_use]
    pub fn with_root_wait(self, wait: Duration) -> Self {
        let mut state = self.state.into_inner().unwrap_or_else(PoisonError::into_inner);
        state.traces = TraceAssembler::new(wait);
        Self { state: Mutex::new(state) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn write(&mut self, traces: Vec<crate::export::assemble::Assembled>) -> io::Result<()> {
        let mut events = Vec::new();
        for trace in &traces {
            self.layout.place(&trace.spans, &mut events);
        }
        if events.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for event in events {
            text.push_str(if self.empty { "\n" } else { ",\n" });
            self.empty = false;
            text.push_str(&event.to_string());
        }
        let body = text.len() as u64;
        text.push_str("\n]\n");
        self.file.seek(SeekFrom::Start(self.body_end))?;
        self.file.write_all(text.as_bytes())?;
        self.file.flush()?;
        self.body_end += body;
        Ok(())
    }
}

impl SpanExporter for ChromeTraceExporter {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        let mut state = self.lock();
        let done = state.traces.add(batch);
        state
            .write(done)
            .map_err(|e| ExportError::permanent(format!("writing the Chrome trace: {e}")))
    }

    fn shutdown(&self) {
        let mut state = self.lock();
        let rest = state.traces.drain();
        if let Err(error) = state.write(rest) {
            eprintln!("trace-runtime: writing the Chrome trace: {error}");
        }
    }
}

impl std::fmt::Debug for ChromeTraceExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChromeTraceExporter").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::test_support::{T0, sample_span, sample_trace, temp_path};
    use crate::id::SpanId;

    fn events(spans: &[SpanData]) -> Vec<Json> {
        serde_json::from_str::<Json>(&encode_chrome_trace(spans))
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// The (pid, tid) of the complete event named `name`.
    fn track(events: &[Json], name: &str) -> (u64, u64) {
        let event = events.iter().find(|e| e["ph"] == "X" && e["name"] == name).unwrap();
        (event["pid"].as_u64().unwrap(), event["tid"].as_u64().unwrap())
    }

    fn span_at(name: &str, start_us: u64, dur_us: u64, parent: Option<&SpanData>) -> SpanData {
        let mut span = sample_span(name);
        span.start_unix_nanos = T0 + start_us * 1000;
        span.duration_nanos = dur_us * 1000;
        span.parent_id = parent.map(|p| p.span_id);
        span
    }

    #[test]
    fn spans_become_complete_events_with_args() {
        let events = events(&sample_trace());
        assert_eq!(
            events[0],
            json!({ "name": "process_name", "ph": "M", "pid": 1, "tid": 0, "args": { "name": "shop" } })
        );
        assert_eq!(
            events[1],
            json!({ "name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": { "name": "lane 1" } })
        );
        let child = events.iter().find(|e| e["name"] == "load cart").unwrap();
        assert_eq!(child["ph"], "X");
        assert_eq!(child["cat"], "client");
        assert_eq!(child["ts"], T0 / 1000 + 1000);
        assert_eq!(child["dur"], 3000);
        assert_eq!(child["args"]["db.rows"], -3);
        assert_eq!(child["args"]["cached"], false);
        assert_eq!(child["args"]["error"], "timeout \"db\"");
        assert_eq!(child["args"]["parent_id"], "00f067aa0ba902b7");
        assert_eq!(
            child["args"]["links"],
            json!(["0af7651916cd43dd8448eb211c80319c/b7ad6b7169203331"])
        );
        let instant = events.iter().find(|e| e["ph"] == "i").unwrap();
        assert_eq!(
            (instant["name"].clone(), instant["ts"].clone()),
            (json!("retry"), json!(T0 / 1000 + 1500))
        );
        // Nested spans share one lane.
        assert_eq!(track(&events, "GET /cart"), track(&events, "decode"));
    }

    #[test]
    fn overlapping_siblings_get_separate_lanes() {
        let root = span_at("root", 0, 100, None);
        let a = span_at("a", 10, 50, Some(&root));
        let b = span_at("b", 30, 50, Some(&root)); // overlaps a, not nested
        let c = span_at("c", 70, 20, Some(&root)); // after a: back on a's lane
        let inner = span_at("inner", 35, 5, Some(&b));
        let events = events(&[a, inner, b, c, root]);
        let lane = |name| track(&events, name).1;
        assert_eq!(lane("root"), lane("a"));
        assert_ne!(lane("a"), lane("b"));
        assert_eq!(lane("b"), lane("inner"));
        assert_eq!(lane("c"), lane("root"));
    }

    #[test]
    fn services_are_processes_and_sequential_traces_reuse_lanes() {
        let first = span_at("first", 0, 10, None);
        let mut second = span_at("second", 20, 10, None);
        second.trace_id = crate::TraceId::from_u128(2).unwrap();
        let mut overlapping = span_at("overlapping", 25, 10, None);
        overlapping.trace_id = crate::TraceId::from_u128(3).unwrap();
        let mut other = span_at("other service", 0, 10, None);
        other.service = Arc::from("billing");
        other.span_id = SpanId::random();
        let events = events(&[first, second, overlapping, other]);
        assert_eq!(track(&events, "first"), (1, 1));
        assert_eq!(track(&events, "second"), (1, 1));
        assert_eq!(track(&events, "overlapping"), (1, 2));
        assert_eq!(track(&events, "other service"), (2, 1));
        let names: Vec<&Json> = events
            .iter()
            .filter(|e| e["name"] == "process_name")
            .map(|e| &e["args"]["name"])
            .collect();
        assert_eq!(names, [&json!("shop"), &json!("billing")]);
    }

    #[test]
    fn every_lane_is_well_nested() {
        // Random intervals: any two events on one track must nest or be disjoint.
        let root = span_at("root", 0, 10_000, None);
        let mut spans = vec![root.clone()];
        for i in 0..200u64 {
            let start = rand::random_range(0..9_000);
            let dur = rand::random_range(0..1_000);
            spans.push(span_at(&format!("s{i}"), start, dur, Some(&root)));
        }
        let events = events(&spans);
        let complete: Vec<&Json> = events.iter().filter(|e| e["ph"] == "X").collect();
        assert_eq!(complete.len(), spans.len());
        for a in &complete {
            for b in &complete {
                if a["tid"] != b["tid"] {
                    continue;
                }
                let (a0, a1) = (
                    a["ts"].as_u64().unwrap(),
                    a["ts"].as_u64().unwrap() + a["dur"].as_u64().unwrap(),
                );
                let (b0, b1) = (
                    b["ts"].as_u64().unwrap(),
                    b["ts"].as_u64().unwrap() + b["dur"].as_u64().unwrap(),
                );
                let ok = a1 <= b0 || b1 <= a0 || (a0 <= b0 && b1 <= a1) || (b0 <= a0 && a1 <= b1);
                assert!(ok, "{a} and {b} overlap on one lane");
            }
        }
    }

    #[test]
    fn the_file_is_valid_json_after_every_batch() {
        let path = temp_path("trace.json");
        let exporter = ChromeTraceExporter::create(&path).unwrap();
        let read =
            || serde_json::from_str::<Json>(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(read(), json!([]));
        let trace = sample_trace();
        exporter.export(&trace[..2]).unwrap();
        assert_eq!(read(), json!([]), "waits for the root");
        exporter.export(&trace[2..]).unwrap();
        let after_first = read().as_array().unwrap().len();
        assert_eq!(after_first, 2 + 3 + 1); // metadata, spans, one instant event
        let mut second = sample_trace();
        for span in &mut second {
            span.trace_id = crate::TraceId::from_u128(7).unwrap();
        }
        exporter.export(&second[..1]).unwrap();
        exporter.shutdown(); // writes the trace whose root never came
        let all = read();
        std::fs::remove_file(&path).unwrap();
        // It overlaps the first trace in time, so it gets a new lane (and its metadata).
        assert_eq!(all.as_array().unwrap().len(), after_first + 2);
    }
}
