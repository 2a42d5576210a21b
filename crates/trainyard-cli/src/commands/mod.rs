//! One module per noun; each turns parsed arguments into client calls and prints the result.

mod catalog;
mod configs;
mod follow;
mod jobs;
mod viz;

use crate::cli::{Command, Global};
use crate::profile;
use crate::CliError;
use std::process::ExitCode;
use trainyard_client::Client;

/// Runs a client command.
pub async fn run(global: &Global, command: Command) -> Result<ExitCode, CliError> {
    let settings = profile::settings(global)?;
    let client = Client::new(settings.server, settings.project, settings.token);
    let out = global.output;
    match command {
        Command::Jobs(cmd) => jobs::run(&client, out, cmd).await,
        Command::Configs(cmd) => configs::run(&client, out, cmd)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Viz(cmd) => viz::run(&client, out, cmd).await,
        Command::Specs => catalog::specs(&client, out)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Engines => catalog::engines(&client, out)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Algorithms => catalog::algorithms(&client, out)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Serve { .. }
        | Command::Shim { .. }
        | Command::SlurmTask { .. }
        | Command::Completions { .. } => Err(CliError::Usage("not a client command".into())),
    }
}
