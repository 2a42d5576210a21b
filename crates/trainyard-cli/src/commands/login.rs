//! `trainyard login` and `trainyard profiles`: saved connection settings.

use crate::cli::LoginArgs;
use crate::global::{Global, Output};
use crate::output::{self, Table};
use crate::profile::{self, Auth, DEFAULT_SERVER};
use crate::CliError;
use std::path::PathBuf;
use trainyard_client::query::JobListQuery;
use trainyard_client::Client;

/// The data folder of a server on this machine: `dir`, else the default as `serve` takes it.
fn data_dir(dir: Option<PathBuf>) -> PathBuf {
    trainyard_server::config::Config {
        data_dir: dir,
        ..Default::default()
    }
    .data_dir()
}

/// The first project and token of a local server's `credentials.toml`.
fn local_credentials(data_dir: Option<PathBuf>) -> Result<(String, String), CliError> {
    let dir = self::data_dir(data_dir);
    let path = dir.join("credentials.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        CliError::Usage(format!(
            "no --project/--token given and {} cannot be read ({e}); pass them, or --data-dir of the server",
            path.display()
        ))
    })?;
    #[derive(serde::Deserialize)]
    struct File {
        projects: Vec<Project>,
    }
    #[derive(serde::Deserialize)]
    struct Project {
        id: String,
        #[serde(default)]
        tokens: Vec<String>,
    }
    let file: File =
        toml::from_str(&text).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    file.projects
        .into_iter()
        .find_map(|p| p.tokens.into_iter().next().map(|t| (p.id, t)))
        .ok_or_else(|| CliError::Usage(format!("{}: no project with a token", path.display())))
}

/// Checks the settings against the server, then saves them as the profile: AK/SK with
/// `--access-key` (secret from `--secret-key-file` or `$TRAINYARD_SECRET_KEY`), else a token.
pub async fn login(global: &Global, args: LoginArgs) -> Result<(), CliError> {
    // No server given: the one serving the data folder on this machine, where it wrote its
    // URL, else the default address.
    let server = match &global.server {
        Some(s) => s.clone(),
        None => trainyard_server::data_lock::read_url(&data_dir(args.data_dir.clone()))
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned()),
    };
    let (project, auth) = match (&args.access_key, &global.project, &global.token) {
        (Some(ak), project, _) => {
            let sk = match (&args.secret_key_file, &args.secret_key) {
                (Some(f), _) => std::fs::read_to_string(f)
                    .map_err(|e| {
                        CliError::Usage(format!("--secret-key-file {}: {e}", f.display()))
                    })?
                    .trim()
                    .to_owned(),
                (None, Some(sk)) => sk.clone(),
                (None, None) => {
                    return Err(CliError::Usage(
                        "--access-key needs --secret-key-file FILE or TRAINYARD_SECRET_KEY".into(),
                    ))
                }
            };
            let project = match project {
                Some(p) => p.clone(),
                None => local_credentials(args.data_dir.clone())?.0,
            };
            let key = trainyard_client::AccessKey { ak: ak.clone(), sk };
            (project, Auth::AccessKey(key))
        }
        (None, Some(p), Some(t)) => (p.clone(), Auth::Token(t.clone())),
        (None, p, t) => {
            let (lp, lt) = local_credentials(args.data_dir)?;
            (
                p.clone().unwrap_or(lp),
                Auth::Token(t.clone().unwrap_or(lt)),
            )
        }
    };
    let client = match &auth {
        Auth::Token(t) => crate::profile::client(&server, &project, Some(t.clone()), None)?,
        Auth::AccessKey(k) => crate::profile::client(&server, &project, None, Some(k.clone()))?,
    };
    check(&client).await?;
    let name = profile::profile_name(global);
    let path = profile::save(name, &server, &project, &auth)?;
    eprintln!(
        "logged in to {server} (project {project}, {}); saved as profile '{name}' in {}",
        match auth {
            Auth::Token(_) => "token",
            Auth::AccessKey(_) => "access key",
        },
        path.display()
    );
    Ok(())
}

/// One cheap authenticated call: the server answers and accepts the credentials.
async fn check(client: &Client) -> Result<(), CliError> {
    client
        .list_jobs(&JobListQuery {
            page: Some(1),
            per_page: Some(1),
            ..Default::default()
        })
        .await?;
    Ok(())
}

/// Prints the profiles.
pub fn profiles(global: &Global, out: Output) -> Result<(), CliError> {
    let (path, list) = profile::list()?;
    if out == Output::Json {
        return output::json(&list);
    }
    if list.is_empty() {
        eprintln!(
            "no profiles in {} (create one with `trainyard login`)",
            path.map(|p| p.display().to_string())
                .unwrap_or_else(|| "the profile file".into())
        );
        return Ok(());
    }
    let current = profile::profile_name(global);
    let mut t = Table::new(&["", "NAME", "SERVER", "PROJECT", "AUTH"]);
    for p in &list {
        t.row(vec![
            if p.name == current {
                "*".into()
            } else {
                String::new()
            },
            p.name.clone(),
            p.server.clone(),
            p.project.clone().unwrap_or_default(),
            p.auth.to_owned(),
        ]);
    }
    t.print()
}
