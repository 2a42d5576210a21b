//! `trainyard serve`.

use anyhow::Context as _;
use std::path::PathBuf;
use trainyard_server::config::Config;

/// Resolves on SIGINT or SIGTERM. The handlers are in place when this returns, not when the
/// future is first polled: a signal that comes once the server answers is never fatal.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        tracing::info!(
            "shutting down; running jobs keep running and are reattached on the next start"
        );
    })
}

/// The URL a client on this machine reaches a listener at (a wildcard address becomes loopback).
fn client_url(scheme: &str, addr: std::net::SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        }
        ip => ip,
    };
    format!("{scheme}://{}", std::net::SocketAddr::new(ip, addr.port()))
}

/// The configuration `serve` would run with: the file (`--config`, else
/// `$XDG_CONFIG_HOME/trainyard/config.toml` if there), then the flags.
pub fn load_config(
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
) -> anyhow::Result<Config> {
    let config_path = config.or_else(|| {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        Some(base.join("trainyard/config.toml")).filter(|p| p.exists())
    });
    let mut cfg = match &config_path {
        Some(p) => Config::from_file(p)?,
        None => Config::default(),
    };
    if data_dir.is_some() {
        cfg.data_dir = data_dir;
    }
    if database_url.is_some() {
        cfg.database_url = database_url;
    }
    Ok(cfg)
}

/// Loads the configuration (file < flags) and serves until SIGINT/SIGTERM.
pub async fn serve(
    listen: Option<std::net::SocketAddr>,
    data_dir: Option<PathBuf>,
    config: Option<PathBuf>,
    database_url: Option<String>,
    tls: Option<(PathBuf, PathBuf)>,
    self_signed: bool,
) -> anyhow::Result<()> {
    let mut cfg = load_config(config, data_dir, database_url)?;
    if listen.is_some() {
        cfg.listen = listen;
    }
    if let Some((cert, key)) = tls {
        cfg.tls = Some(trainyard_server::config::TlsConfig {
            cert: Some(cert),
            key: Some(key),
            self_signed: false,
        });
    } else if self_signed {
        cfg.tls.get_or_insert_with(Default::default).self_signed = true;
    }
    let exe = std::env::current_exe()?;
    // Everything the server writes (database, credentials, keys, runs' records, stored
    // objects) is its own alone unless it says otherwise: no job or local user reads it.
    trainyard_exec::sandbox::private_files();
    let shutdown = shutdown_signal()?;
    // The address first: a server that cannot serve must not reattach anyone's jobs.
    let listen = cfg.listen();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let app = trainyard_server::build(cfg, exe).await?;
    if let Some(g) = &app.generated {
        let url = client_url(app.scheme(), listener.local_addr()?);
        println!(
            "# First start: created project {} with a token and an access key (saved in {}).\n\
             # Paste these lines into a shell for the CLI and the Python SDK:\n\
             export TRAINYARD_SERVER={url}\n\
             export TRAINYARD_PROJECT={}\n\
             export TRAINYARD_TOKEN={}\n\
             export MODELARTS_ACCESS_KEY={}\n\
             export MODELARTS_SECRET_KEY={}",
            g.project_id,
            app.data_dir.join("credentials.toml").display(),
            g.project_id,
            g.token,
            g.access_key,
            g.secret_key,
        );
    }
    if let Some(c) = app.tls_cert.as_ref().filter(|c| c.self_signed) {
        println!(
            "# TLS: {} self-signed certificate {}\n\
             # SHA-256 fingerprint {}\n\
             # Clients trust it with SSL_CERT_FILE={}",
            if c.generated {
                "generated a"
            } else {
                "using the"
            },
            c.cert.display(),
            c.fingerprint,
            c.cert.display(),
        );
    }
    if let Some(c) = &app.tls_cert {
        tracing::info!(cert = %c.cert.display(), fingerprint = %c.fingerprint, "serving HTTPS");
    }
    let url = client_url(app.scheme(), listener.local_addr()?);
    tracing::info!(url = %url, data_dir = %app.data_dir.display(), "trainyard listening");
    // Where `trainyard login` on this machine finds this server (any port, any data folder).
    let data_dir = app.data_dir.clone();
    if let Err(e) = trainyard_server::data_lock::write_url(&data_dir, &url) {
        tracing::warn!(error = %e, "cannot record the server's URL in the data folder");
    }
    let served = trainyard_server::serve(app, listener, shutdown).await;
    if trainyard_server::data_lock::read_url(&data_dir).as_deref() == Some(url.as_str()) {
        let _ = std::fs::remove_file(data_dir.join(trainyard_server::data_lock::URL_FILE));
    }
    served?;
    Ok(())
}
