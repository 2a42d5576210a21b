//! HTTPS: loading the `[tls]` certificate and key, and serving the router over rustls with the
//! same graceful shutdown as plain HTTP.

use axum::extract::Request;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsAcceptor;

/// Longest a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Serves `svc` over TLS on `listener` until `shutdown` resolves, then stops accepting and
/// waits for open connections to finish (as `axum::serve` does for plain HTTP).
pub async fn serve<S>(
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    svc: S,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: tower::Service<
            Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the others.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let svc = svc.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(peer = %peer, "TLS handshake timed out");
                    return;
                }
            };
            let svc = tower::ServiceExt::map_request(
                svc,
                move |req: hyper::Request<hyper::body::Incoming>| {
                    let mut req = req.map(axum::body::Body::new);
                    // As `into_make_service_with_connect_info` does for plain HTTP.
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    req
                },
            );
            let hyper_svc = hyper_util::service::TowerToHyperService::new(svc);
            // HTTP/1.1 as the plain server (no upgrades are served: the viz proxy streams
            // bodies but does not tunnel WebSockets).
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), hyper_svc);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
