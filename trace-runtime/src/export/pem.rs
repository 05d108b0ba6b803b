//! Certificate and key files (PEM), read and checked once for every TLS
//! client here: ureq's rustls for OTLP/HTTP and Zipkin (feature `tls`) and
//! tonic's for OTLP/gRPC (feature `grpc-tls`). Both features bring rustls,
//! whose PEM parser and key check this uses, so a file either client
//! accepts passes the same test when the configuration is read.

use std::path::Path;

use crate::export::http::{ConfigError, TlsFiles};

#[cfg(any(feature = "tls", feature = "grpc-tls"))]
pub(crate) use files::{client_identity, read_certificates};

/// Reads and parses a certificate file (or, with `key`, a private key file)
/// as an exporter will, so that a variable naming a bad file is refused
/// with the variable's name when the configuration is read.
pub(crate) fn check_file(path: &Path, key: bool) -> Result<(), ConfigError> {
    #[cfg(any(feature = "tls", feature = "grpc-tls"))]
    {
        if key {
            files::read_private_key(path).map(drop)
        } else {
            read_certificates(path, "certificate").map(drop)
        }
    }
    #[cfg(not(any(feature = "tls", feature = "grpc-tls")))]
    {
        let _ = (path, key);
        Err(no_tls())
    }
}

/// Checks that the client certificate and key of `files` go together: both
/// or neither, the key being the certificate's own.
pub(crate) fn check_client_pair(files: &TlsFiles) -> Result<(), ConfigError> {
    #[cfg(any(feature = "tls", feature = "grpc-tls"))]
    {
        client_identity(files).map(drop)
    }
    #[cfg(not(any(feature = "tls", feature = "grpc-tls")))]
    {
        match (&files.client_certificate, &files.client_key) {
            (None, None) => Ok(()),
            _ => Err(no_tls()),
        }
    }
}

/// What a build without TLS says to a certificate file.
#[cfg(not(any(feature = "tls", feature = "grpc-tls")))]
fn no_tls() -> ConfigError {
    ConfigError::new(
        "certificate files need TLS, which this build lacks: enable the `tls` feature of \
         trace-runtime (`grpc-tls` for OTLP/gRPC)",
    )
}

#[cfg(any(feature = "tls", feature = "grpc-tls"))]
mod files {
    use std::path::Path;

    use rustls::pki_types::pem::{self, PemObject};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    use crate::export::http::{ConfigError, TlsFiles};

    /// The certificates of a PEM file, parsed (for ureq), and the file's
    /// bytes (for tonic, which takes PEM and parses it again).
    pub(crate) struct Certificates {
        pub(crate) der: Vec<CertificateDer<'static>>,
        #[cfg(feature = "grpc-tls")]
        pub(crate) pem: Vec<u8>,
    }

    /// A client certificate chain and its private key, checked to match.
    /// The key stays PEM: both clients take it so (ureq cannot be told a
    /// parsed key's kind).
    pub(crate) struct ClientIdentity {
        pub(crate) certificates: Certificates,
        pub(crate) key_pem: Vec<u8>,
    }

    fn read(path: &Path, what: &str) -> Result<Vec<u8>, ConfigError> {
        std::fs::read(path).map_err(|error| {
            ConfigError::new(format!("cannot read the {what} {}: {error}", path.display()))
        })
    }

    /// Every certificate of the PEM file at `path` (other items are
    /// skipped); none, or a malformed item, is an error naming the file.
    pub(crate) fn read_certificates(path: &Path, what: &str) -> Result<Certificates, ConfigError> {
        let pem = read(path, what)?;
        let der = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>().map_err(
            |error| {
                ConfigError::new(format!("cannot parse the {what} {}: {error}", path.display()))
            },
        )?;
        if der.is_empty() {
            return Err(ConfigError::new(format!(
                "the {what} file {} holds no PEM certificate",
                path.display()
            )));
        }
        Ok(Certificates {
            der,
            #[cfg(feature = "grpc-tls")]
            pem,
        })
    }

    /// The first private key (PKCS#8, PKCS#1 or SEC1) of the PEM file at `path`.
    pub(crate) fn read_private_key(
        path: &Path,
    ) -> Result<(Vec<u8>, PrivateKeyDer<'static>), ConfigError> {
        let pem = read(path, "client key")?;
        match PrivateKeyDer::from_pem_slice(&pem) {
            Ok(key) => Ok((pem, key)),
            Err(pem::Error::NoItemsFound) => Err(ConfigError::new(format!(
                "the client key file {} holds no PEM private key",
                path.display()
            ))),
            Err(error) => Err(ConfigError::new(format!(
                "cannot parse the client key {}: {error}",
                path.display()
            ))),
        }
    }

    /// The client certificate and key of `files`, if any: both or neither,
    /// and the key must be the certificate's (a mismatch would otherwise
    /// surface only at the first handshake, as a failed export).
    pub(crate) fn client_identity(files: &TlsFiles) -> Result<Option<ClientIdentity>, ConfigError> {
        let (cert_path, key_path) = match (&files.client_certificate, &files.client_key) {
            (None, None) => return Ok(None),
            (Some(cert), Some(key)) => (cert, key),
            (Some(_), None) => {
                return Err(ConfigError::new("a client certificate needs its private key too"));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new("a client key needs its client certificate too"));
            }
        };
        let certificates = read_certificates(cert_path, "client certificate")?;
        let (key_pem, key) = read_private_key(key_path)?;
        let provider = rustls::crypto::ring::default_provider();
        rustls::sign::CertifiedKey::from_der(certificates.der.clone(), key, &provider).map_err(
            |error| {
                ConfigError::new(format!(
                    "the client key {} does not go with the client certificate {}: {error}",
                    key_path.display(),
                    cert_path.display()
                ))
            },
        )?;
        Ok(Some(ClientIdentity { certificates, key_pem }))
    }
}

#[cfg(all(test, any(feature = "tls", feature = "grpc-tls")))]
mod tests {
    use super::*;
    use crate::export::test_pki::TestPki;
    use crate::export::test_support::temp_path;

    #[test]
    fn certificates_and_keys_are_checked_naming_the_file() {
        let pki = TestPki::get();
        assert!(check_file(&pki.ca_path, false).is_ok());
        assert!(check_file(&pki.client.key_path, true).is_ok());
        let not_pem = temp_path("not-pem.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        for key in [false, true] {
            let error = check_file(&not_pem, key).unwrap_err().to_string();
            assert!(error.contains(&*not_pem.to_string_lossy()), "{error}");
            let error = check_file(Path::new("/no/such/file.pem"), key).unwrap_err().to_string();
            assert!(error.contains("/no/such/file.pem"), "{error}");
        }
        // A key is not a certificate, nor a certificate a key.
        let error = check_file(&pki.client.key_path, false).unwrap_err().to_string();
        assert!(error.contains("no PEM certificate"), "{error}");
        let error = check_file(&pki.client.cert_path, true).unwrap_err().to_string();
        assert!(error.contains("no PEM private key"), "{error}");
        let _ = std::fs::remove_file(not_pem);
    }

    #[test]
    fn a_client_certificate_goes_with_its_own_key_only() {
        let pki = TestPki::get();
        let pair = |cert: &Path, key: &Path| TlsFiles {
            client_certificate: Some(cert.to_owned()),
            client_key: Some(key.to_owned()),
            ..TlsFiles::default()
        };
        let own = pair(&pki.client.cert_path, &pki.client.key_path);
        assert!(check_client_pair(&own).is_ok());
        let identity = client_identity(&own).unwrap().expect("the pair");
        assert_eq!(identity.certificates.der.len(), 1);
        assert_eq!(identity.key_pem, pki.client.key_pem.as_bytes());
        let other = pair(&pki.client.cert_path, &pki.server.key_path);
        let error = check_client_pair(&other).unwrap_err().to_string();
        assert!(error.contains("does not go with"), "{error}");
        assert!(error.contains(&*pki.server.key_path.to_string_lossy()), "{error}");
        let alone = TlsFiles { client_key: None, ..own };
        let error = check_client_pair(&alone).unwrap_err().to_string();
        assert!(error.contains("needs its private key"), "{error}");
        assert!(check_client_pair(&TlsFiles::default()).is_ok());
    }
}
