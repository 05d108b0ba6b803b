//! The HTTP stack against an HTTPS receiver (rustls on a std TcpListener)
//! with a throwaway CA from rcgen: a custom CA, an untrusted server
//! certificate, mTLS, gzip, keep-alive, a CONNECT proxy and timeouts, each
//! checked by what reaches the receiver.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::export::test_pki::TestPki;
use crate::export::test_support::{Received, read_request_from, sample_trace, temp_path};
use crate::export::{
    BatchConfig, BatchSpanProcessor, Compression, OtlpConfig, OtlpHttpExporter, RetryPolicy,
    SpanExporter, SpanProcessor,
};

/// How the receiver behaves.
#[derive(Clone, Copy)]
pub(crate) struct Options {
    /// Serve the certificate of the untrusted CA.
    pub(crate) untrusted: bool,
    /// Ask for a client certificate from the test CA and refuse clients without.
    pub(crate) require_client_cert: bool,
    /// Read requests but never answer.
    pub(crate) hang: bool,
}

pub(crate) const PLAIN: Options =
    Options { untrusted: false, require_client_cert: false, hang: false };

/// An HTTPS receiver on 127.0.0.1 answering `200 {}` to every request,
/// keeping connections open between requests; it counts connections.
pub(crate) struct HttpsServer {
    pub(crate) addr: SocketAddr,
    pub(crate) requests: mpsc::Receiver<Received>,
    pub(crate) connections: Arc<AtomicUsize>,
}

fn server_config(options: Options) -> Arc<rustls::ServerConfig> {
    let pki = TestPki::get();
    let identity = if options.untrusted { &pki.untrusted_server } else { &pki.server };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if options.require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap()).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let chain = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).unwrap();
    Arc::new(builder.with_single_cert(chain, key).unwrap())
}

impl HttpsServer {
    pub(crate) fn start(options: Options) -> Self {
        let config = server_config(options);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (sender, requests) = mpsc::channel();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let (config, sender) = (config.clone(), sender.clone());
                std::thread::spawn(move || serve(stream, config, sender, options.hang));
            }
        });
        Self { addr, requests, connections }
    }

    /// The `https://127.0.0.1:port` base URL.
    pub(crate) fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

/// Answers the requests of one connection until the client closes it.
fn serve(
    stream: TcpStream,
    config: Arc<rustls::ServerConfig>,
    sender: mpsc::Sender<Received>,
    hang: bool,
) {
    let connection = rustls::ServerConnection::new(config).unwrap();
    let mut reader = BufReader::new(rustls::StreamOwned::new(connection, stream));
    while let Some(request) = read_request_from(&mut reader) {
        // The test may have finished and dropped the receiver.
        let _ = sender.send(request);
        if hang {
            // Hold the connection until the client gives up.
            let _ = reader.read_to_end(&mut Vec::new());
            return;
        }
        let reply =
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        let stream = reader.get_mut();
        if stream.write_all(reply.as_bytes()).and_then(|()| stream.flush()).is_err() {
            return;
        }
    }
}

/// A CONNECT proxy on 127.0.0.1 that tunnels to any target and records the
/// `CONNECT` targets it was asked for.
struct ConnectProxy {
    addr: SocketAddr,
    targets: mpsc::Receiver<String>,
}

impl ConnectProxy {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (sender, targets) = mpsc::channel();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let sender = sender.clone();
                std::thread::spawn(move || tunnel(client, sender));
            }
        });
        Self { addr, targets }
    }
}

fn tunnel(client: TcpStream, sender: mpsc::Sender<String>) -> Option<()> {
    let mut reader = BufReader::new(client.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.strip_prefix("CONNECT ")?.split_whitespace().next()?.to_owned();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        if header.trim().is_empty() {
            break;
        }
    }
    let _ = sender.send(target.clone());
    let upstream = TcpStream::connect(&target).ok()?;
    let mut client_write = client;
    client_write.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").ok()?;
    let mut upstream_read = upstream.try_clone().ok()?;
    let mut to_client = client_write.try_clone().ok()?;
    std::thread::spawn(move || std::io::copy(&mut upstream_read, &mut to_client));
    let mut upstream_write = upstream;
    // Bytes the reader buffered past the CONNECT head go first.
    upstream_write.write_all(reader.buffer()).ok()?;
    std::io::copy(reader.get_mut(), &mut upstream_write).ok()?;
    Some(())
}

fn config_for(server: &HttpsServer) -> OtlpConfig {
    OtlpConfig::with_endpoint(&server.url()).with_ca_certificate_pem(&TestPki::get().ca_path)
}

/// The request body, gunzipped when it says so, read with the official
/// OTLP messages (JSON, or protobuf when the request is protobuf).
fn decode(request: &Received) -> ExportTraceServiceRequest {
    let mut body = request.body.clone();
    if request.header("content-encoding") == Some("gzip") {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain).unwrap();
        body = plain;
    }
    match request.header("content-type") {
        #[cfg(feature = "protobuf")]
        Some("application/x-protobuf") => prost::Message::decode(body.as_slice()).unwrap(),
        _ => serde_json::from_slice(&body).unwrap(),
    }
}

/// What arrived of each span: ID, parent, name and string-valued tags.
fn arrived(request: &ExportTraceServiceRequest) -> Vec<(String, String, String, Vec<String>)> {
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut spans = Vec::new();
    for resource in &request.resource_spans {
        for scope in &resource.scope_spans {
            for span in &scope.spans {
                let tags = span.attributes.iter().map(|kv| kv.key.clone()).collect();
                spans.push((
                    hex(&span.span_id),
                    hex(&span.parent_span_id),
                    span.name.clone(),
                    tags,
                ));
            }
        }
    }
    spans.sort();
    spans
}

/// What `sample_trace` should arrive as.
fn expected() -> Vec<(String, String, String, Vec<String>)> {
    let mut spans: Vec<_> = sample_trace()
        .iter()
        .map(|span| {
            (
                span.span_id.to_string(),
                span.parent_id.map(|p| p.to_string()).unwrap_or_default(),
                span.name.to_string(),
                span.tags.iter().map(|(key, _)| key.to_string()).collect(),
            )
        })
        .collect();
    spans.sort();
    spans
}

fn quick_batches() -> BatchConfig {
    BatchConfig {
        scheduled_delay: Duration::from_secs(3600),
        retry: RetryPolicy {
            max_retries: 1,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(10),
        },
        report_interval: None,
        ..BatchConfig::default()
    }
}

#[test]
fn https_with_a_custom_ca_delivers_every_span_gzipped() {
    let server = HttpsServer::start(PLAIN);
    let config = config_for(&server).with_compression(Compression::Gzip);
    let exporter = OtlpHttpExporter::new(config).unwrap();
    exporter.export(&sample_trace()).unwrap();
    let request = server.requests.recv().unwrap();
    assert_eq!(request.path, "/v1/traces");
    assert_eq!(request.header("content-encoding"), Some("gzip"));
    let decoded = decode(&request);
    assert_eq!(arrived(&decoded), expected());
    let tags = &decoded.resource_spans[0].scope_spans[0].spans;
    let client = tags.iter().find(|s| s.name == "load cart").unwrap();
    let db = client.attributes.iter().find(|kv| kv.key == "db.system").unwrap();
    assert_eq!(
        format!("{:?}", db.value.as_ref().unwrap().value),
        r#"Some(StringValue("postgresql"))"#
    );
}

#[cfg(feature = "protobuf")]
#[test]
fn https_gzip_protobuf_delivers_every_span() {
    let server = HttpsServer::start(PLAIN);
    let mut config = config_for(&server).with_compression(Compression::Gzip);
    config.protocol = crate::export::OtlpProtocol::HttpProtobuf;
    OtlpHttpExporter::new(config).unwrap().export(&sample_trace()).unwrap();
    let request = server.requests.recv().unwrap();
    assert_eq!(request.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(arrived(&decode(&request)), expected());
}

#[test]
fn a_server_certificate_from_an_unknown_ca_fails_and_is_counted() {
    let server = HttpsServer::start(Options { untrusted: true, ..PLAIN });
    let exporter = OtlpHttpExporter::new(config_for(&server)).unwrap();
    let error = exporter.export(&sample_trace()).unwrap_err();
    assert!(error.message().contains("certificate"), "{error}");
    assert!(!error.is_retryable(), "retrying cannot make the certificate trusted");
    assert!(error.message().contains(&server.url()), "{error}");
    let batch = BatchSpanProcessor::with_config(exporter, quick_batches());
    batch.on_end(sample_trace().into());
    assert!(batch.shutdown_with_timeout(Duration::from_secs(10)));
    let stats = batch.stats();
    assert_eq!((stats.exported, stats.failed_spans, stats.retries), (0, 3, 0), "{stats:?}");
    assert!(server.requests.try_recv().is_err(), "nothing may reach an untrusted server");
}

#[test]
fn mtls_needs_the_client_certificate() {
    let server = HttpsServer::start(Options { require_client_cert: true, ..PLAIN });
    let without = OtlpHttpExporter::new(config_for(&server)).unwrap();
    // With TLS 1.3 the server's refusal may arrive as an alert or as a
    // broken pipe, so whether it is retried is not asserted.
    assert!(without.export(&sample_trace()).is_err());
    let pki = TestPki::get();
    let config =
        config_for(&server).with_client_certificate(&pki.client.cert_path, &pki.client.key_path);
    let with = OtlpHttpExporter::new(config).unwrap();
    with.export(&sample_trace()).unwrap();
    let request = server.requests.recv().unwrap();
    assert_eq!(arrived(&decode(&request)), expected());
    assert!(server.requests.try_recv().is_err(), "the refused client sent nothing");
}

#[test]
fn batches_share_one_connection() {
    let server = HttpsServer::start(PLAIN);
    let exporter = OtlpHttpExporter::new(config_for(&server)).unwrap();
    for _ in 0..5 {
        exporter.export(&sample_trace()).unwrap();
    }
    assert_eq!(server.requests.try_iter().count(), 5);
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[test]
fn a_proxy_tunnels_every_batch() {
    let server = HttpsServer::start(PLAIN);
    let proxy = ConnectProxy::start();
    let config = config_for(&server).with_proxy(format!("http://{}", proxy.addr));
    let exporter = OtlpHttpExporter::new(config).unwrap();
    for _ in 0..3 {
        exporter.export(&sample_trace()).unwrap();
    }
    let requests: Vec<Received> = server.requests.try_iter().collect();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| arrived(&decode(r)) == expected()));
    // One tunnel, kept alive, to the configured destination.
    let targets: Vec<String> = proxy.targets.try_iter().collect();
    assert_eq!(targets, [server.addr.to_string()]);
}

#[test]
fn a_receiver_that_never_answers_is_given_up_on_at_the_timeout() {
    let server = HttpsServer::start(Options { hang: true, ..PLAIN });
    let mut config = config_for(&server);
    config.timeout = Duration::from_millis(300);
    let exporter = OtlpHttpExporter::new(config).unwrap();
    let started = Instant::now();
    let error = exporter.export(&sample_trace()).unwrap_err();
    // Generous slack for a loaded machine; without the deadline it would
    // wait for ever.
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(error.is_retryable() && error.message().contains("timed out"), "{error}");
    assert_eq!(arrived(&decode(&server.requests.recv().unwrap())), expected());
}

#[test]
fn unreadable_certificate_files_are_config_errors() {
    let pki = TestPki::get();
    let not_pem = temp_path("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    for config in [
        OtlpConfig::default().with_ca_certificate_pem("/no/such/ca.pem"),
        OtlpConfig::default().with_ca_certificate_pem(&not_pem),
        OtlpConfig::default().with_client_certificate(&pki.client.cert_path, &not_pem),
        OtlpConfig::default().with_client_certificate("/no/such/cert.pem", &pki.client.key_path),
    ] {
        let error = OtlpHttpExporter::new(config).unwrap_err().to_string();
        assert!(error.contains("no/such") || error.contains("not.pem"), "{error}");
    }
}

#[test]
fn a_proxy_tunnels_plain_http_too() {
    let server = crate::export::test_support::TestServer::start(vec![]);
    let proxy = ConnectProxy::start();
    let config =
        OtlpConfig::with_endpoint(&server.url()).with_proxy(format!("http://{}", proxy.addr));
    OtlpHttpExporter::new(config).unwrap().export(&sample_trace()).unwrap();
    assert_eq!(server.requests.recv().unwrap().path, "/v1/traces");
    let targets: Vec<String> = proxy.targets.try_iter().collect();
    assert_eq!(targets, [server.addr.to_string()]);
}
