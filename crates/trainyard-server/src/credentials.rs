//! First start without configured projects: one generated project with a token and an AK/SK
//! pair, and a token for `GET /metrics`, kept in `DATA_DIR/credentials.toml` (mode 0600) and
//! reused on later starts.

use crate::config::{AccessKeyConfig, ProjectConfig};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Credentials created on this start.
#[derive(Clone)]
pub struct Generated {
    /// Project id.
    pub project_id: String,
    /// Token.
    pub token: String,
    /// Access key id of the generated AK/SK pair.
    pub access_key: String,
    /// Secret key of the generated AK/SK pair.
    pub secret_key: String,
}

impl std::fmt::Debug for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generated")
            .field("project_id", &self.project_id)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct File {
    /// The `[metrics] scrape_token` of a server without a configuration (files written
    /// before it existed get one on their next start).
    #[serde(default)]
    metrics_token: Option<String>,
    projects: Vec<ProjectConfig>,
}

/// What `credentials.toml` holds.
pub struct Stored {
    /// The generated project.
    pub projects: Vec<ProjectConfig>,
    /// The token that opens `GET /metrics`.
    pub metrics_token: String,
    /// What was created on this start, to print once.
    pub generated: Option<Generated>,
}

fn random_hex(bytes: usize) -> String {
    let buf: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(buf)
}

/// Loads `credentials.toml`, creating it first if missing.
pub fn load_or_create(data_dir: &Path) -> std::io::Result<Stored> {
    let path = data_dir.join("credentials.toml");
    if path.exists() {
        let text = std::fs::read_to_string(&path)?;
        let mut file: File = toml::from_str(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let metrics_token = match &file.metrics_token {
            Some(t) => t.clone(),
            None => {
                let t = random_hex(24);
                file.metrics_token = Some(t.clone());
                save(&path, &file)?;
                t
            }
        };
        return Ok(Stored {
            projects: file.projects,
            metrics_token,
            generated: None,
        });
    }
    let generated = Generated {
        project_id: random_hex(16),
        token: random_hex(24),
        access_key: random_hex(10).to_uppercase(),
        secret_key: random_hex(20),
    };
    let project = ProjectConfig {
        id: generated.project_id.clone(),
        tokens: vec![generated.token.clone()],
        access_keys: vec![AccessKeyConfig {
            ak: generated.access_key.clone(),
            sk: Some(generated.secret_key.clone()),
            sk_file: None,
        }],
        ..Default::default()
    };
    let metrics_token = random_hex(24);
    save(
        &path,
        &File {
            metrics_token: Some(metrics_token.clone()),
            projects: vec![project.clone()],
        },
    )?;
    Ok(Stored {
        projects: vec![project],
        metrics_token,
        generated: Some(generated),
    })
}

/// Writes `file` to `path` atomically, mode 0600.
fn save(path: &Path, file: &File) -> std::io::Result<()> {
    let text = toml::to_string(file)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let tmp = path.with_extension("toml.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
