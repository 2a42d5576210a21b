//! First start without configured projects: one generated project with a token and an AK/SK
//! pair, kept in `DATA_DIR/credentials.toml` (mode 0600) and reused on later starts.

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
    projects: Vec<ProjectConfig>,
}

fn random_hex(bytes: usize) -> String {
    let buf: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(buf)
}

/// Loads `credentials.toml`, creating it first if missing.
pub fn load_or_create(data_dir: &Path) -> std::io::Result<(Vec<ProjectConfig>, Option<Generated>)> {
    let path = data_dir.join("credentials.toml");
    if path.exists() {
        let text = std::fs::read_to_string(&path)?;
        let file: File = toml::from_str(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        return Ok((file.projects, None));
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
    let text = toml::to_string(&File {
        projects: vec![project.clone()],
    })
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
    std::fs::rename(&tmp, &path)?;
    Ok((vec![project], Some(generated)))
}
