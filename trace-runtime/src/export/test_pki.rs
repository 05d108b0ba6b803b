//! A throwaway PKI for the TLS tests (rcgen): a CA with a server
//! certificate for 127.0.0.1 and a client certificate, and an untrusted CA
//! with its own server certificate, all written to files as the exporters
//! read them.

// Only the HTTPS tests (feature `tls`) use every part of it.
#![cfg_attr(not(feature = "tls"), allow(dead_code))]

use std::path::PathBuf;
use std::sync::OnceLock;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::export::test_support::temp_path;

/// A certificate and its key, PEM, also written to files.
pub(crate) struct Identity {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
    pub(crate) cert_path: PathBuf,
    pub(crate) key_path: PathBuf,
}

/// A CA with a server certificate for 127.0.0.1 and a client certificate,
/// and a second, untrusted CA with its own server certificate.
pub(crate) struct TestPki {
    pub(crate) ca_pem: String,
    pub(crate) ca_path: PathBuf,
    pub(crate) server: Identity,
    pub(crate) client: Identity,
    pub(crate) untrusted_server: Identity,
}

fn new_ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

fn new_identity(issuer: &Issuer<'_, KeyPair>, name: &str, client: bool) -> Identity {
    let sans = if client { vec![] } else { vec!["127.0.0.1".to_owned(), "localhost".to_owned()] };
    let mut params = CertificateParams::new(sans).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
    let cert_path = temp_path(&format!("{name}.pem"));
    let key_path = temp_path(&format!("{name}-key.pem"));
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, &key_pem).unwrap();
    Identity { cert_pem, key_pem, cert_path, key_path }
}

impl TestPki {
    /// One set of certificates for the whole test run.
    pub(crate) fn get() -> &'static TestPki {
        static PKI: OnceLock<TestPki> = OnceLock::new();
        PKI.get_or_init(|| {
            let (ca_pem, ca) = new_ca("trace-runtime test CA");
            let (_, other_ca) = new_ca("an untrusted CA");
            let ca_path = temp_path("ca.pem");
            std::fs::write(&ca_path, &ca_pem).unwrap();
            TestPki {
                ca_pem,
                ca_path,
                server: new_identity(&ca, "server", false),
                client: new_identity(&ca, "client", true),
                untrusted_server: new_identity(&other_ca, "untrusted-server", false),
            }
        })
    }
}
