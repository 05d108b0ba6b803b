//! Shared by the export tests: sample spans, temp files and a scripted HTTP
//! server on 127.0.0.1.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use crate::id::{SpanId, TraceId};
use crate::span::SpanContext;
use crate::span::{Event, Link, SpanData, SpanKind, Status};
use crate::value::Value;

pub(crate) const TRACE: u128 = 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736;
pub(crate) const ROOT: u64 = 0x00f0_67aa_0ba9_02b7;
pub(crate) const CHILD: u64 = 0x53ce_929d_0e0e_4736;
pub(crate) const LEAF: u64 = 0x1111_2222_3333_4444;
pub(crate) const LINKED_TRACE: u128 = 0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c;
pub(crate) const LINKED_SPAN: u64 = 0xb7ad_6b71_6920_3331;
/// 2023-11-14T22:13:20Z, in nanoseconds.
pub(crate) const T0: u64 = 1_700_000_000_000_000_000;

pub(crate) fn span_id(value: u64) -> SpanId {
    SpanId::from_u64(value).unwrap()
}

/// An internal span with no parent and nothing recorded.
pub(crate) fn sample_span(name: &str) -> SpanData {
    SpanData {
        trace_id: TraceId::from_u128(TRACE).unwrap(),
        span_id: SpanId::random(),
        parent_id: None,
        name: name.to_owned().into(),
        kind: SpanKind::Internal,
        start_unix_nanos: T0,
        duration_nanos: 1_000,
        tags: Vec::new(),
        events: Vec::new(),
        links: Vec::new(),
        status: Status::Unset,
        service: Arc::from("shop"),
    }
}

/// A trace as it finishes, children first: a server root "GET /cart", a
/// client child "load cart" with every kind of tag, an event, a link and an
/// error, and an internal leaf under it.
pub(crate) fn sample_trace() -> Vec<SpanData> {
    let trace_id = TraceId::from_u128(TRACE).unwrap();
    let service: Arc<str> = Arc::from("shop");
    let leaf = SpanData {
        trace_id,
        span_id: span_id(LEAF),
        parent_id: Some(span_id(CHILD)),
        name: "decode".into(),
        kind: SpanKind::Internal,
        start_unix_nanos: T0 + 2_000_000,
        duration_nanos: 500_000,
        tags: Vec::new(),
        events: Vec::new(),
        links: Vec::new(),
        status: Status::Ok,
        service: service.clone(),
    };
    let child = SpanData {
        trace_id,
        span_id: span_id(CHILD),
        parent_id: Some(span_id(ROOT)),
        name: "load cart".into(),
        kind: SpanKind::Client,
        start_unix_nanos: T0 + 1_000_000,
        duration_nanos: 3_000_000,
        tags: vec![
            ("db.system".into(), Value::from("postgresql")),
            ("db.rows".into(), Value::I64(-3)),
            ("ratio".into(), Value::F64(0.25)),
            ("cached".into(), Value::Bool(false)),
        ],
        events: vec![Event {
            name: "retry".into(),
            time_unix_nanos: T0 + 1_500_000,
            tags: vec![("attempt".into(), Value::I64(2))],
        }],
        links: vec![Link {
            span_context: SpanContext {
                trace_id: TraceId::from_u128(LINKED_TRACE).unwrap(),
                span_id: span_id(LINKED_SPAN),
                flags: crate::TraceFlags::SAMPLED,
                remote: true,
            },
            tags: vec![("messaging.batch.index".into(), Value::I64(0))],
        }],
        status: Status::Error("timeout \"db\"".into()),
        service: service.clone(),
    };
    let root = SpanData {
        trace_id,
        span_id: span_id(ROOT),
        parent_id: None,
        name: "GET /cart".into(),
        kind: SpanKind::Server,
        start_unix_nanos: T0,
        duration_nanos: 5_000_000,
        tags: vec![("http.status_code".into(), Value::I64(200))],
        events: Vec::new(),
        links: Vec::new(),
        status: Status::Unset,
        service,
    };
    vec![leaf, child, root]
}

/// A path in the temp directory no other test uses.
pub(crate) fn temp_path(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("trace-runtime-{}-{n}-{name}", std::process::id()))
}

/// A port on 127.0.0.1 that nothing listens on.
pub(crate) fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A request the test server received.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// How the test server answers one request.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// A status code and extra headers.
    Status(u16, Vec<(&'static str, &'static str)>),
    /// Read the request, never answer, keep the connection open.
    Hang,
    /// 200 with this JSON body.
    Json(&'static str),
}

/// A server on 127.0.0.1 answering connections in order with scripted
/// replies (then 200 for every later one), one request per connection
/// (each reply says `connection: close`).
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) requests: mpsc::Receiver<Received>,
}

impl TestServer {
    pub(crate) fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (sender, requests) = mpsc::channel();
        std::thread::spawn(move || {
            let mut replies = replies.into_iter();
            let mut hung = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(request) = read_request(&mut stream) else {
                    continue;
                };
                let reply = replies.next().unwrap_or(Reply::Status(200, Vec::new()));
                // The test may have finished and dropped the receiver.
                let _ = sender.send(request);
                let (reply, body) = match reply {
                    Reply::Json(body) => (Reply::Status(200, Vec::new()), body),
                    other => (other, "{}"),
                };
                match reply {
                    Reply::Status(code, headers) => {
                        let mut head = format!(
                            "HTTP/1.1 {code} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                            body.len()
                        );
                        for (k, v) in headers {
                            head.push_str(&format!("{k}: {v}\r\n"));
                        }
                        head.push_str("\r\n");
                        let _ = stream.write_all(head.as_bytes());
                        let _ = stream.write_all(body.as_bytes());
                    }
                    Reply::Hang => hung.push(stream),
                    Reply::Json(_) => unreachable!("turned into a status above"),
                }
            }
        });
        Self { addr, requests }
    }

    /// The `http://127.0.0.1:port` base URL.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Received> {
    read_request_from(&mut BufReader::new(stream))
}

/// Reads one HTTP/1.1 request with a `content-length` body.
pub(crate) fn read_request_from(reader: &mut impl BufRead) -> Option<Received> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (k, v) = trimmed.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received { method, path, headers, body })
}
