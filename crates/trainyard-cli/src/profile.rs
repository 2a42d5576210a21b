//! Connection settings: flags and environment (clap), then a profile file, then defaults.

use crate::global::Global;
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
    /// Access key id: requests are signed (AK/SK) instead of carrying a token.
    access_key: Option<String>,
    /// Secret key of `access_key`.
    secret_key: Option<String>,
    /// File holding the secret key instead.
    secret_key_file: Option<PathBuf>,
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
    /// Access key pair, when the profile signs requests (a token given by flag or
    /// environment wins).
    pub access_key: Option<trainyard_client::AccessKey>,
}

/// The profile file: `$TRAINYARD_PROFILE_FILE`, else `$XDG_CONFIG_HOME/trainyard/profiles.toml`.
pub fn profile_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TRAINYARD_PROFILE_FILE") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("trainyard/profiles.toml"))
}

/// The name of the profile in use: `--profile`/`TRAINYARD_PROFILE`, else `default`.
pub fn profile_name(g: &Global) -> &str {
    g.profile.as_deref().unwrap_or("default")
}

/// One profile as `trainyard profiles` shows it.
#[derive(Debug, serde::Serialize)]
pub struct ProfileSummary {
    /// Profile name.
    pub name: String,
    /// Server URL (the default when unset).
    pub server: String,
    /// Project id, if set.
    pub project: Option<String>,
    /// How it authenticates: `token`, `token_file` or `none`.
    pub auth: &'static str,
}

/// The profiles of the profile file, sorted by name (none when the file does not exist).
pub fn list() -> Result<(Option<PathBuf>, Vec<ProfileSummary>), CliError> {
    let path = profile_path();
    let profiles: HashMap<String, Profile> = match &path {
        Some(p) if p.exists() => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| CliError::Usage(format!("{}: {e}", p.display())))?;
            toml::from_str(&text).map_err(|e| CliError::Usage(format!("{}: {e}", p.display())))?
        }
        _ => HashMap::new(),
    };
    let mut out: Vec<ProfileSummary> = profiles
        .into_iter()
        .map(|(name, p)| ProfileSummary {
            name,
            server: p.server.unwrap_or_else(|| DEFAULT_SERVER.to_owned()),
            project: p.project,
            auth: match (&p.token, &p.token_file, &p.access_key) {
                (Some(_), _, _) => "token",
                (None, Some(_), _) => "token_file",
                (None, None, Some(_)) => "access_key",
                (None, None, None) => "none",
            },
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((path, out))
}

/// How a saved profile authenticates.
pub enum Auth {
    /// `X-Auth-Token`.
    Token(String),
    /// AK/SK signing.
    AccessKey(trainyard_client::AccessKey),
}

/// Writes (or replaces) profile `name` in the profile file, keeping the other profiles; the
/// file is created with mode 0600 (it holds a token) and replaced atomically.
pub fn save(name: &str, server: &str, project: &str, auth: &Auth) -> Result<PathBuf, CliError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = profile_path().ok_or_else(|| {
        CliError::Usage("no profile file: set TRAINYARD_PROFILE_FILE or HOME".into())
    })?;
    let fail = |e: &dyn std::fmt::Display| CliError::Failed(format!("{}: {e}", path.display()));
    let mut doc: toml::Table = match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| fail(&e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => toml::Table::new(),
        Err(e) => return Err(fail(&e)),
    };
    let mut entry = toml::Table::new();
    entry.insert("server".into(), server.into());
    entry.insert("project".into(), project.into());
    match auth {
        Auth::Token(token) => {
            entry.insert("token".into(), token.as_str().into());
        }
        Auth::AccessKey(key) => {
            entry.insert("access_key".into(), key.ak.as_str().into());
            entry.insert("secret_key".into(), key.sk.as_str().into());
        }
    }
    doc.insert(name.to_owned(), entry.into());
    let text = toml::to_string(&doc).map_err(|e| fail(&e))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
    }
    let tmp = path.with_extension("toml.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| fail(&e))?;
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| fail(&e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| fail(&e))?;
    std::fs::rename(&tmp, &path).map_err(|e| fail(&e))?;
    Ok(path)
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
    let access_key = match (&token, &profile.access_key) {
        (None, Some(ak)) => {
            let sk = match (&profile.secret_key, &profile.secret_key_file) {
                (Some(sk), _) => sk.clone(),
                (None, Some(f)) => std::fs::read_to_string(f)
                    .map_err(|e| CliError::Usage(format!("secret_key_file {}: {e}", f.display())))?
                    .trim()
                    .to_owned(),
                (None, None) => {
                    return Err(CliError::Usage(format!(
                        "profile access_key {ak} has no secret_key or secret_key_file"
                    )))
                }
            };
            Some(trainyard_client::AccessKey { ak: ak.clone(), sk })
        }
        _ => None,
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
        access_key,
    })
}

/// A client for `server`; refuses URLs that are not http(s). An access key signs requests.
pub fn client(
    server: &str,
    project: &str,
    token: Option<String>,
    access_key: Option<trainyard_client::AccessKey>,
) -> Result<trainyard_client::Client, CliError> {
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        return Err(CliError::Usage(format!(
            "--server {server}: expected an http:// or https:// URL"
        )));
    }
    let client = trainyard_client::Client::new(server, project, token);
    Ok(match access_key {
        Some(key) => client.with_access_key(key),
        None => client,
    })
}
