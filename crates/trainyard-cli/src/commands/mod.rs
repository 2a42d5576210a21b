//! One module per noun; each turns parsed arguments into client calls and prints the result.

mod catalog;
mod configs;
mod files;
mod follow;
mod jobs;
mod login;
mod sweeps;
mod usage;
mod viz;
mod webhooks;

use crate::cli::Command;
use crate::global::Global;
use crate::profile;
use crate::CliError;
use std::process::ExitCode;

/// Runs a client command.
pub async fn run(global: &Global, command: Command) -> Result<ExitCode, CliError> {
    crate::output::init(global);
    if global.output == crate::global::Output::Csv && !matches!(command, Command::Usage(_)) {
        return Err(CliError::Usage(
            "-o csv is offered by `trainyard usage` only".into(),
        ));
    }
    match command {
        Command::Login(args) => {
            return login::login(global, args).await.map(|()| ExitCode::SUCCESS)
        }
        Command::Profiles => {
            return login::profiles(global, global.output).map(|()| ExitCode::SUCCESS)
        }
        _ => {}
    }
    let settings = profile::settings(global)?;
    let client = profile::client(
        &settings.server,
        &settings.project,
        settings.token,
        settings.access_key,
    )?;
    let out = global.output;
    match command {
        Command::Jobs(cmd) => jobs::run(&client, out, cmd).await,
        Command::Configs(cmd) => configs::run(&client, out, cmd)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Viz(cmd) => viz::run(&client, out, cmd).await,
        Command::Files(cmd) => files::run(&client, out, cmd)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Usage(args) => usage::run(&client, out, args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Webhooks(cmd) => webhooks::run(&client, out, cmd)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Sweep(cmd) => sweeps::run(&client, out, cmd)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Specs => catalog::specs(&client, out)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Engines => catalog::engines(&client, out)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Algorithms => catalog::algorithms(&client, out)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Login(_)
        | Command::Profiles
        | Command::Man { .. }
        | Command::Serve { .. }
        | Command::Backup { .. }
        | Command::Restore { .. }
        | Command::Shim { .. }
        | Command::SlurmTask { .. }
        | Command::Completions { .. } => Err(CliError::Usage("not a client command".into())),
    }
}
