//! One module per noun; each turns parsed arguments into client calls and prints the result.

mod catalog;
mod configs;
mod follow;
mod jobs;
mod login;
mod viz;

use crate::cli::{Command, Global};
use crate::profile;
use crate::CliError;
use std::process::ExitCode;
use trainyard_client::Client;

/// A client for `server`; refuses URLs that are not http(s). An access key signs requests.
pub fn client(
    server: &str,
    project: &str,
    token: Option<String>,
    access_key: Option<trainyard_client::AccessKey>,
) -> Result<Client, CliError> {
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        return Err(CliError::Usage(format!(
            "--server {server}: expected an http:// or https:// URL"
        )));
    }
    let client = Client::new(server, project, token);
    Ok(match access_key {
        Some(key) => client.with_access_key(key),
        None => client,
    })
}

/// Runs a client command.
pub async fn run(global: &Global, command: Command) -> Result<ExitCode, CliError> {
    crate::output::init(global);
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
    let client = client(
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
        | Command::Shim { .. }
        | Command::SlurmTask { .. }
        | Command::Completions { .. } => Err(CliError::Usage("not a client command".into())),
    }
}
