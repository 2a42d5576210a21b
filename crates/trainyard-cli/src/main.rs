//! The one `trainyard` binary: the server (`serve`), the client commands, and the hidden
//! `shim` that supervises a run.

mod admin;
mod cli;
mod commands;
mod complete;
mod global;
mod log_setup;
mod output;
mod profile;
mod serve;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command};
use std::process::ExitCode;

/// Exit code: the server refused, or a job did not complete.
const EXIT_FAILURE: u8 = 1;
/// Exit code: bad usage (clap's own).
const EXIT_USAGE: u8 = 2;
/// Exit code: the server could not be reached.
const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: interrupted by Ctrl-C (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

/// Why a client command did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A client call failed.
    #[error(transparent)]
    Client(#[from] trainyard_client::Error),
    /// Arguments or settings that cannot work.
    #[error("{0}")]
    Usage(String),
    /// Anything else that fails the command (a failed job under `wait`...).
    #[error("{0}")]
    Failed(String),
    /// stdout was closed by the reader: not an error.
    #[error("broken pipe")]
    BrokenPipe,
    /// Ctrl-C ended a command that follows a job (the job itself may go on).
    #[error("interrupted")]
    Interrupted,
}

impl CliError {
    /// Maps an error writing stdout.
    pub fn from_stdout(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Self::BrokenPipe
        } else {
            Self::Failed(format!("writing output: {e}"))
        }
    }

    fn exit_code(&self) -> ExitCode {
        match self {
            Self::Client(e) if e.is_unreachable() => ExitCode::from(EXIT_UNREACHABLE),
            Self::Usage(_) => ExitCode::from(EXIT_USAGE),
            Self::BrokenPipe => ExitCode::SUCCESS,
            Self::Interrupted => ExitCode::from(EXIT_INTERRUPTED),
            Self::Client(_) | Self::Failed(_) => ExitCode::from(EXIT_FAILURE),
        }
    }

    /// Prints `error: ...` and the cause chain.
    fn report(&self) {
        if matches!(self, Self::BrokenPipe | Self::Interrupted) {
            return;
        }
        let mut text = format!("error: {self}");
        let mut source = std::error::Error::source(self);
        if matches!(self, Self::Client(_)) {
            // `transparent`: the first source is the client error itself.
            source = source.and_then(std::error::Error::source);
        }
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        eprintln!("{text}");
    }
}

fn init_tracing(default: tracing::level_filters::LevelFilter, global: &global::Global) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::builder()
        .with_default_directive(default.into())
        .from_env_lossy();
    // Colours only on a terminal, and never with NO_COLOR: piped or redirected logs stay plain.
    let ansi = match global.color {
        global::Color::Always => true,
        global::Color::Never => false,
        global::Color::Auto => {
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let layer = match global.log_format {
        global::LogFormat::Json => layer.json().with_ansi(false).boxed(),
        global::LogFormat::Text => layer.boxed(),
    };
    // Both filters global, ahead of the layer: a span or event they turn off is never
    // created. As per-layer filters they did not do that (nested, their interests summed to
    // `sometimes`, so every request span was created and entered), and joined into one with
    // `FilterExt::and` they lost events (`it::after_a_minute::visualization_auto_stop_and_slurm_polling_...`).
    tracing_subscriber::registry()
        .with(filter)
        .with(log_setup::no_secrets())
        .with(layer)
        .init();
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Runtime::new() {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            None
        }
    }
}

/// Man pages: the main page to stdout, or one page per command into `dir`.
fn man_pages(dir: Option<&std::path::Path>) -> Result<(), CliError> {
    let cmd = Cli::command();
    let Some(dir) = dir else {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut out)
            .map_err(|e| CliError::Failed(format!("rendering the man page: {e}")))?;
        return output::stdout(&out);
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Failed(format!("{}: {e}", dir.display())))?;
    clap_mangen::generate_to(cmd, dir)
        .map_err(|e| CliError::Failed(format!("{}: {e}", dir.display())))?;
    eprintln!("man pages written to {}", dir.display());
    Ok(())
}

/// Exit code and message of `backup` and `restore`.
fn admin_result(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn main() -> ExitCode {
    // `COMPLETE=<shell> trainyard -- ...`: the shell asks for completions (see `completions`).
    clap_complete::env::CompleteEnv::with_factory(Cli::command).complete();
    let cli = Cli::parse();
    match cli.command {
        Command::Shim { run_dir } => {
            log_setup::init_supervisor();
            let code = if run_dir.as_os_str() == trainyard_exec::RUN_DIR_ON_STDIN {
                trainyard_exec::run_spare_shim()
            } else {
                trainyard_exec::run_shim(&run_dir)
            };
            ExitCode::from(code.clamp(0, 255) as u8)
        }
        Command::SlurmTask { run_dir } => {
            // Its stderr is the batch job's `slurm.out` in the run folder.
            log_setup::init_supervisor();
            ExitCode::from(trainyard_exec::slurm::run_slurm_task(&run_dir).clamp(0, 255) as u8)
        }
        Command::Serve {
            listen,
            data_dir,
            config,
            database_url,
            tls_cert,
            tls_key,
            tls_self_signed,
        } => {
            init_tracing(tracing::level_filters::LevelFilter::INFO, &cli.global);
            let Some(rt) = runtime() else {
                return ExitCode::from(EXIT_FAILURE);
            };
            match rt.block_on(serve::serve(
                listen,
                data_dir,
                config,
                database_url,
                tls_cert.zip(tls_key),
                tls_self_signed,
            )) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(EXIT_FAILURE)
                }
            }
        }
        Command::Backup {
            file,
            without_storage,
            server,
        } => {
            init_tracing(tracing::level_filters::LevelFilter::WARN, &cli.global);
            let Some(rt) = runtime() else {
                return ExitCode::from(EXIT_FAILURE);
            };
            admin_result(rt.block_on(admin::backup(&file, without_storage, server)))
        }
        Command::Restore { file, server } => {
            init_tracing(tracing::level_filters::LevelFilter::WARN, &cli.global);
            admin_result(admin::restore(&file, server))
        }
        Command::Completions { shell } => {
            let mut out = Vec::new();
            let registered = clap_complete::env::Shells::builtins()
                .completer(&shell.to_string())
                .ok_or_else(|| std::io::Error::other(format!("no dynamic completion for {shell}")))
                .and_then(|c| {
                    c.write_registration(
                        "COMPLETE",
                        "trainyard",
                        "trainyard",
                        "trainyard",
                        &mut out,
                    )
                });
            if let Err(e) = registered {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
            match output::stdout(&out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    e.report();
                    e.exit_code()
                }
            }
        }
        Command::Man { out_dir } => match man_pages(out_dir.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                e.report();
                e.exit_code()
            }
        },
        command => {
            let level = match cli.global.verbose {
                0 => tracing::level_filters::LevelFilter::WARN,
                1 => tracing::level_filters::LevelFilter::INFO,
                _ => tracing::level_filters::LevelFilter::DEBUG,
            };
            init_tracing(level, &cli.global);
            let Some(rt) = runtime() else {
                return ExitCode::from(EXIT_FAILURE);
            };
            match rt.block_on(commands::run(&cli.global, command)) {
                Ok(code) => code,
                Err(e) => {
                    e.report();
                    e.exit_code()
                }
            }
        }
    }
}
