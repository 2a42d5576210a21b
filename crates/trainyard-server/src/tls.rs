//! HTTPS: loading the `[tls]` certificate and key (connections are served by [`crate::conn`],
//! with the same limits as plain HTTP).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// Why the certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file is unreadable or holds no certificate.
    #[error("tls.cert {path}: {message}")]
    Cert {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The key file is unreadable or holds no private key.
    #[error("tls.key {path}: {message}")]
    Key {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the pair (e.g. the key does not match the certificate).
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The certificate in use, for the operator: its file and SHA-256 fingerprint, and whether
/// this start generated it.
#[derive(Clone, Debug)]
pub struct CertInfo {
    /// The certificate file (PEM).
    pub cert: PathBuf,
    /// SHA-256 of the leaf certificate (DER), colon-separated upper-case hex, as
    /// `openssl x509 -fingerprint -sha256` prints it.
    pub fingerprint: String,
    /// Whether a self-signed pair was generated on this start.
    pub generated: bool,
    /// Whether the certificate is the self-signed one of `self_signed = true`.
    pub self_signed: bool,
}

/// The names a generated certificate is valid for: loopback, this host's name, and the listen
/// address when it is a specific one.
fn subject_names(listen: std::net::SocketAddr) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            names.push(host.to_owned());
        }
    }
    if !listen.ip().is_unspecified() && !listen.ip().is_loopback() {
        names.push(listen.ip().to_string());
    }
    names.dedup();
    names
}

/// Writes a self-signed certificate and key for `listen` to `cert` and `key` (the key mode
/// 0600), unless both files exist. Returns whether it generated them.
pub fn ensure_self_signed(
    cert: &Path,
    key: &Path,
    listen: std::net::SocketAddr,
) -> Result<bool, TlsError> {
    if cert.exists() && key.exists() {
        return Ok(false);
    }
    let gen_err = |e: rcgen::Error| TlsError::Cert {
        path: cert.display().to_string(),
        message: format!("cannot generate a self-signed certificate: {e}"),
    };
    let mut params = rcgen::CertificateParams::new(subject_names(listen)).map_err(gen_err)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "trainyard (self-signed)");
    // Ten years: a self-signed certificate is trusted by its fingerprint, not its dates.
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    let pair = rcgen::KeyPair::generate().map_err(gen_err)?;
    let certificate = params.self_signed(&pair).map_err(gen_err)?;
    let io_err = |path: &Path| {
        let path = path.display().to_string();
        move |e: std::io::Error| TlsError::Cert {
            path,
            message: e.to_string(),
        }
    };
    for file in [cert, key] {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
    }
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(key)
            .map_err(io_err(key))?;
        f.write_all(pair.serialize_pem().as_bytes())
            .map_err(io_err(key))?;
    }
    std::fs::write(cert, certificate.pem()).map_err(io_err(cert))?;
    Ok(true)
}

/// SHA-256 fingerprint of a DER certificate, `AB:CD:...`.
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A TLS acceptor for the certificate chain in `cert` and the key in `key` (HTTP/1.1 only,
/// as the plain server), with what the operator is told about the certificate.
pub fn acceptor(cert: &Path, key: &Path) -> Result<(TlsAcceptor, String), TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| TlsError::Cert {
            path: cert.display().to_string(),
            message: e.to_string(),
        })?;
    let Some(leaf) = certs.first() else {
        return Err(TlsError::Cert {
            path: cert.display().to_string(),
            message: "no certificate in the file".into(),
        });
    };
    let fp = fingerprint(leaf);
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        message: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((TlsAcceptor::from(Arc::new(config)), fp))
}
