//! TLS settings of the HTTP client (feature `tls`): the certificate files
//! (a custom CA, a client certificate and key), read and parsed when an
//! exporter is built (by `export::pem`, as for gRPC), and which TLS
//! failures are worth retrying.

use std::path::PathBuf;

use super::ConfigError;
#[cfg(feature = "tls")]
use crate::export::pem;

/// The certificate files of a TLS connection, all PEM: a CA to trust instead
/// of the built-in roots, and a client certificate with its key (mTLS).
///
/// The files are read when the exporter is built; one that cannot be read
/// or holds no certificate (or no key), or a client key that is not the
/// client certificate's, is a [`ConfigError`] then.
///
/// ```
/// use trace_runtime::export::{OtlpConfig, TlsFiles};
///
/// let config = OtlpConfig::with_endpoint("https://collector:4318")
///     .with_ca_certificate_pem("/etc/otel/ca.pem")
///     .with_client_certificate("/etc/otel/client.pem", "/etc/otel/client-key.pem");
/// assert_eq!(config.tls.ca_certificate.as_deref(), Some(std::path::Path::new("/etc/otel/ca.pem")));
/// assert_ne!(config.tls, TlsFiles::default());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TlsFiles {
    /// The CA certificates the server's certificate must chain to; `None`
    /// trusts Mozilla's root certificates (webpki-roots).
    pub ca_certificate: Option<PathBuf>,
    /// The client's certificate chain, sent when the server asks for one.
    pub client_certificate: Option<PathBuf>,
    /// The private key of the client certificate.
    pub client_key: Option<PathBuf>,
}

impl TlsFiles {
    pub(super) fn is_empty(&self) -> bool {
        self.ca_certificate.is_none()
            && self.client_certificate.is_none()
            && self.client_key.is_none()
    }
}

/// Whether TLS refused the connection over certificates: the server's is
/// not trusted (or not for this name), or the server refused ours.
#[cfg(feature = "tls")]
pub(super) fn refused_by_tls(error: &ureq::Error) -> bool {
    let tls_error = match error {
        ureq::Error::Rustls(error) => Some(error),
        ureq::Error::Io(error) => error.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    matches!(
        tls_error,
        Some(
            rustls::Error::InvalidCertificate(_)
                | rustls::Error::NoCertificatesPresented
                | rustls::Error::AlertReceived(
                    rustls::AlertDescription::BadCertificate
                        | rustls::AlertDescription::CertificateRequired
                        | rustls::AlertDescription::UnknownCA
                        | rustls::AlertDescription::CertificateUnknown
                )
        )
    )
}

#[cfg(not(feature = "tls"))]
pub(super) fn refused_by_tls(_: &ureq::Error) -> bool {
    false
}

#[cfg(feature = "tls")]
pub(super) fn tls_config(
    builder: ureq::config::ConfigBuilder<ureq::typestate::AgentScope>,
    files: &TlsFiles,
) -> Result<ureq::config::ConfigBuilder<ureq::typestate::AgentScope>, ConfigError> {
    use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};
    if files.is_empty() {
        return Ok(builder);
    }
    let certificates = |der: &[rustls::pki_types::CertificateDer<'static>]| {
        der.iter().map(|der| Certificate::from_der(der).to_owned()).collect::<Vec<_>>()
    };
    let mut tls = TlsConfig::builder();
    if let Some(path) = &files.ca_certificate {
        let roots = pem::read_certificates(path, "CA certificate")?;
        tls = tls.root_certs(RootCerts::new_with_certs(&certificates(&roots.der)));
    }
    if let Some(identity) = pem::client_identity(files)? {
        // Parsed by the same rustls parser `pem` checked the file with.
        let key = PrivateKey::from_pem(&identity.key_pem)
            .map_err(|error| ConfigError::new(format!("cannot parse the client key: {error}")))?;
        let chain = certificates(&identity.certificates.der);
        tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    Ok(builder.tls_config(tls.build()))
}

#[cfg(not(feature = "tls"))]
pub(super) fn tls_config(
    builder: ureq::config::ConfigBuilder<ureq::typestate::AgentScope>,
    files: &TlsFiles,
) -> Result<ureq::config::ConfigBuilder<ureq::typestate::AgentScope>, ConfigError> {
    if files.is_empty() {
        Ok(builder)
    } else {
        Err(ConfigError::new(
            "certificate files need TLS, which this build lacks: enable the `tls` feature of trace-runtime",
        ))
    }
}
