//! The one `trainyard` binary.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use trainyard_server::config::Config;

/// trainyard: a self-hosted training job service that speaks the ModelArts v1 API.
#[derive(Parser)]
#[command(name = "trainyard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the API server.
    Serve {
        /// Address to listen on (default 127.0.0.1:8600).
        #[arg(long, env = "TRAINYARD_LISTEN")]
        listen: Option<std::net::SocketAddr>,
        /// Data directory (default $XDG_DATA_HOME/trainyard).
        #[arg(long, env = "TRAINYARD_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Configuration file (TOML).
        #[arg(long, env = "TRAINYARD_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Supervise one run (started by the server; not for direct use).
    #[command(hide = true)]
    Shim {
        /// The run directory holding spec.json.
        run_dir: PathBuf,
    },
    /// Run one task of a Slurm job (started by srun; not for direct use).
    #[command(hide = true)]
    SlurmTask {
        /// The run directory holding spec.json.
        run_dir: PathBuf,
    },
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::builder()
        .with_default_directive(tracing::level_filters::LevelFilter::INFO.into())
        .from_env_lossy();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("TRAINYARD_LOG_FORMAT").is_ok_and(|v| v == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down; running jobs keep running and are reattached on the next start");
}

async fn serve(listen: Option<std::net::SocketAddr>, data_dir: Option<PathBuf>, config: Option<PathBuf>) -> anyhow::Result<()> {
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
        println!("(saved in {})", app.data_dir.join("credentials.toml").display());
    }
    let listener = tokio::net::TcpListener::bind(app.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, data_dir = %app.data_dir.display(), "trainyard listening");
    trainyard_server::serve(app, listener, shutdown_signal()).await?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Shim { run_dir } => ExitCode::from(trainyard_exec::run_shim(&run_dir).clamp(0, 255) as u8),
        Command::SlurmTask { run_dir } => {
            ExitCode::from(trainyard_exec::slurm::run_slurm_task(&run_dir).clamp(0, 255) as u8)
        }
        Command::Serve { listen, data_dir, config } => {
            init_tracing();
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            match rt.block_on(serve(listen, data_dir, config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
