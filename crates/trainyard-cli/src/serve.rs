//! `trainyard serve`.

use std::path::PathBuf;
use trainyard_server::config::Config;

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down; running jobs keep running and are reattached on the next start");
}

/// Loads the configuration (file < flags) and serves until SIGINT/SIGTERM.
pub async fn serve(
    listen: Option<std::net::SocketAddr>,
    data_dir: Option<PathBuf>,
    config: Option<PathBuf>,
) -> anyhow::Result<()> {
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
    if listen.is_some() {
        cfg.listen = listen;
    }
    if data_dir.is_some() {
        cfg.data_dir = data_dir;
    }
    let exe = std::env::current_exe()?;
    let app = trainyard_server::build(cfg, exe).await?;
    if let Some(g) = &app.generated {
        println!("Created project {} with token {}", g.project_id, g.token);
        println!(
            "(saved in {})",
            app.data_dir.join("credentials.toml").display()
        );
    }
    let listener = tokio::net::TcpListener::bind(app.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, data_dir = %app.data_dir.display(), "trainyard listening");
    trainyard_server::serve(app, listener, shutdown_signal()).await?;
    Ok(())
}
