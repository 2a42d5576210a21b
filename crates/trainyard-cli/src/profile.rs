//! Connection settings: flags and environment (clap), then a profile file, then defaults.

use crate::cli::Global;
use crate::CliError;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;

/// Server used when none is given anywhere.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8600";

/// One profile of the profile file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    server: Option<String>,
    project: Option<String>,
    token: Option<String>,
    /// File holding the token (for tokens kept out of the profile file).
    token_file: Option<PathBuf>,
}

/// What a client command connects with.
#[derive(Debug)]
pub struct Settings {
    /// Base URL.
    pub server: String,
    /// Project id.
    pub project: String,
    /// Token, if any.
    pub token: Option<String>,
}

/// The profile file: `$TRAINYARD_PROFILE_FILE`, else `$XDG_CONFIG_HOME/trainyard/profiles.toml`.
fn profile_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TRAINYARD_PROFILE_FILE") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("trainyard/profiles.toml"))
}

/// Resolves the settings; a named profile that does not exist is a usage error.
pub fn settings(g: &Global) -> Result<Settings, CliError> {
    let path = profile_path();
    let profiles: HashMap<String, Profile> = match &path {
        Some(p) if p.exists() => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| CliError::Usage(format!("{}: {e}", p.display())))?;
            toml::from_str(&text).map_err(|e| CliError::Usage(format!("{}: {e}", p.display())))?
        }
        _ => HashMap::new(),
    };
    let mut profiles = profiles;
    let profile = match &g.profile {
        Some(name) => profiles.remove(name).ok_or_else(|| {
            CliError::Usage(format!(
                "profile '{name}' is not in {}",
                path.as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "the profile file".into())
            ))
        })?,
        None => profiles.remove("default").unwrap_or_default(),
    };
    let token = match (&g.token, profile.token, &profile.token_file) {
        (Some(t), _, _) => Some(t.clone()),
        (None, Some(t), _) => Some(t),
        (None, None, Some(f)) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| CliError::Usage(format!("token_file {}: {e}", f.display())))?
                .trim()
                .to_owned(),
        ),
        (None, None, None) => None,
    };
    let project = g.project.clone().or(profile.project).ok_or_else(|| {
        CliError::Usage(
            "no project: pass --project, set TRAINYARD_PROJECT or add it to a profile".into(),
        )
    })?;
    let server = g
        .server
        .clone()
        .or(profile.server)
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    Ok(Settings {
        server,
        project,
        token,
    })
}
