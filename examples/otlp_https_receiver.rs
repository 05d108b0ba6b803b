//! A local OTLP/HTTP receiver over HTTPS, for trying the TLS export by hand.
//!
//! It makes a throwaway CA and a certificate for 127.0.0.1 and localhost
//! (rcgen), writes the CA to `CA_PATH`, listens on `https://127.0.0.1:PORT`
//! (0: any free port, printed on the first line), and accepts
//! `POST /v1/traces` in JSON or protobuf, gzip-compressed or not, on
//! kept-alive connections. Each span received is appended to `DUMP` as one
//! line `service span_id trace_id parent_span_id name`.
//!
//! ```text
//! cargo run --example otlp_https_receiver -- 4318 target/ca.pem target/received.txt &
//! OTEL_EXPORTER_OTLP_ENDPOINT=https://127.0.0.1:4318 \
//! OTEL_EXPORTER_OTLP_CERTIFICATE=target/ca.pem \
//! OTEL_EXPORTER_OTLP_COMPRESSION=gzip \
//! OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
//!     cargo run --example demo
//! ```

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [port, ca_path, dump_path] = args.as_slice() else {
        eprintln!("usage: otlp_https_receiver PORT CA_PATH DUMP");
        std::process::exit(2);
    };
    let (ca_pem, server_chain, server_key) = certificates();
    std::fs::write(ca_path, ca_pem).expect("write the CA file");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(server_chain, server_key)
        .expect("the server certificate");
    let config = Arc::new(config);
    let listener = TcpListener::bind(format!("127.0.0.1:{port}")).expect("bind");
    println!("LISTENING https://{}", listener.local_addr().unwrap());
    let dump = Arc::new(Mutex::new(
        OpenOptions::new().create(true).append(true).open(dump_path).expect("open the dump"),
    ));
    let connections = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let n = connections.fetch_add(1, Ordering::Relaxed) + 1;
        eprintln!("receiver: connection {n}");
        let (config, dump) = (config.clone(), dump.clone());
        std::thread::spawn(move || serve(stream, config, &dump));
    }
}

/// A CA, and a server certificate it signed for 127.0.0.1 and localhost.
fn certificates() -> (String, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "otlp_https_receiver CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let mut server = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    server.distinguished_name.push(DnType::CommonName, "otlp_https_receiver");
    let key = KeyPair::generate().unwrap();
    let cert = server.signed_by(&key, &issuer).unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap();
    (ca_pem, vec![cert.der().clone()], key)
}

/// Answers the requests of one connection until the client closes it.
fn serve(stream: TcpStream, config: Arc<rustls::ServerConfig>, dump: &Mutex<std::fs::File>) {
    let connection = rustls::ServerConnection::new(config).unwrap();
    let mut reader = BufReader::new(rustls::StreamOwned::new(connection, stream));
    loop {
        let Some((headers, body)) = read_request(&mut reader) else { return };
        let header = |name: &str| {
            headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        };
        let (status, reply) = match decode(header("content-type"), header("content-encoding"), body)
        {
            Ok(request) => {
                let mut lines = String::new();
                for resource in &request.resource_spans {
                    let service = resource
                        .resource
                        .iter()
                        .flat_map(|r| &r.attributes)
                        .find(|kv| kv.key == "service.name")
                        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                            any_value::Value::StringValue(name) => Some(name.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    for span in resource.scope_spans.iter().flat_map(|s| &s.spans) {
                        lines.push_str(&format!(
                            "{} {} {} {} {:?}\n",
                            service,
                            hex(&span.span_id),
                            hex(&span.trace_id),
                            hex(&span.parent_span_id),
                            span.name
                        ));
                    }
                }
                dump.lock().unwrap().write_all(lines.as_bytes()).unwrap();
                ("200 OK", "{}".to_owned())
            }
            Err(error) => {
                eprintln!("receiver: bad request: {error}");
                ("400 Bad Request", error)
            }
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
            reply.len()
        );
        let stream = reader.get_mut();
        if stream.write_all(response.as_bytes()).and_then(|()| stream.flush()).is_err() {
            return;
        }
    }
}

fn decode(
    content_type: Option<&str>,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> Result<ExportTraceServiceRequest, String> {
    let body = match encoding {
        Some("gzip") => {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut plain)
                .map_err(|e| format!("gzip: {e}"))?;
            plain
        }
        None => body,
        Some(other) => return Err(format!("unknown content-encoding {other}")),
    };
    match content_type {
        Some("application/x-protobuf") => {
            ExportTraceServiceRequest::decode(body.as_slice()).map_err(|e| e.to_string())
        }
        Some("application/json") => serde_json::from_slice(&body).map_err(|e| e.to_string()),
        other => Err(format!("unknown content-type {other:?}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A request's headers, in order.
type Headers = Vec<(String, String)>;

/// One HTTP/1.1 request with a `content-length` body: headers and body.
fn read_request(reader: &mut impl BufRead) -> Option<(Headers, Vec<u8>)> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    if line.is_empty() {
        return None;
    }
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
    Some((headers, body))
}
