//! Which user each project's jobs run as (see `sandbox` in trainyard-exec and docs/security.md,
//! "Security model").
//!
//! A server running as root gives every project a block of [`IDS_PER_PROJECT`] user and group
//! ids from `[executor] job_uids`: its host jobs run as the block's first id, its containers
//! map their ids 0.. onto the block. A project's block is its `[[projects]] run_as`, else the
//! one recorded for it in `<data_dir>/job-uids.json`, else the lowest free one, recorded there
//! so that it never changes. An unprivileged server runs every job as itself.

use crate::config::{Config, ConfigError};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use trainyard_exec::sandbox::{privileged, IDS_PER_PROJECT};
use trainyard_exec::{Network, RunAs};

/// Default `[executor] job_uids`: 1525 blocks, far above the ids of local accounts.
pub const DEFAULT_JOB_UIDS: &str = "100000000-199999999";

/// The file recording each project's block.
const RECORD: &str = "job-uids.json";

/// Each project's job user and network.
#[derive(Debug, Default)]
pub struct JobUsers {
    users: HashMap<String, RunAs>,
    host_network: HashSet<String>,
}

impl JobUsers {
    /// Resolves the users of `config`'s projects, recording new blocks in `data_dir`.
    pub fn load(config: &Config, data_dir: &Path) -> Result<Self, ConfigError> {
        let host_network = config
            .projects
            .iter()
            .filter(|p| p.host_network)
            .map(|p| p.id.clone())
            .collect();
        if !privileged() {
            if config.projects.len() > 1 {
                tracing::warn!(
                    projects = config.projects.len(),
                    "this server does not run as root, so every project's jobs run as its own user and can read each other's files and the server's: a single-tenant install (docs/security.md)"
                );
            }
            return Ok(Self {
                users: HashMap::new(),
                host_network,
            });
        }
        let range = config
            .executor
            .job_uids
            .as_deref()
            .unwrap_or(DEFAULT_JOB_UIDS);
        let (first, last) = parse_range(range)?;
        let path = data_dir.join(RECORD);
        let mut recorded: BTreeMap<String, u32> = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let mut users = HashMap::new();
        let mut taken: HashSet<u32> = HashSet::new();
        for p in &config.projects {
            if let Some(uid) = p.run_as {
                if uid == 0 {
                    return Err(ConfigError::Invalid(format!(
                        "projects.run_as of '{}' is 0 (root): jobs must not run as root",
                        p.id
                    )));
                }
                if !taken.insert(uid) {
                    return Err(ConfigError::Invalid(format!(
                        "projects.run_as {uid} of '{}' is another project's too",
                        p.id
                    )));
                }
                users.insert(p.id.clone(), RunAs { uid, gid: uid });
            }
        }
        let mut changed = false;
        for p in config.projects.iter().filter(|p| p.run_as.is_none()) {
            let uid = match recorded.get(&p.id) {
                Some(uid) if !taken.contains(uid) => *uid,
                _ => {
                    let used: HashSet<u32> =
                        recorded.values().chain(taken.iter()).copied().collect();
                    let uid = (first..=last)
                        .step_by(IDS_PER_PROJECT as usize)
                        .take_while(|start| start.saturating_add(IDS_PER_PROJECT - 1) <= last)
                        .find(|start| !used.contains(start))
                        .ok_or_else(|| {
                            ConfigError::Invalid(format!(
                                "executor.job_uids {range} has no free block of {IDS_PER_PROJECT} ids for project '{}'",
                                p.id
                            ))
                        })?;
                    recorded.insert(p.id.clone(), uid);
                    changed = true;
                    uid
                }
            };
            taken.insert(uid);
            users.insert(p.id.clone(), RunAs { uid, gid: uid });
        }
        if changed {
            let bytes = serde_json::to_vec_pretty(&recorded).expect("a map of ids serializes");
            trainyard_exec::run_dir::write_atomic(&path, &bytes)
                .map_err(|source| ConfigError::Read { path, source })?;
        }
        Ok(Self {
            users,
            host_network,
        })
    }

    /// Every project with its user.
    pub fn all(&self) -> impl Iterator<Item = (&str, RunAs)> {
        self.users.iter().map(|(p, u)| (p.as_str(), *u))
    }

    /// The user `project`'s jobs run as; `None` on an unprivileged server.
    pub fn of(&self, project: &str) -> Option<RunAs> {
        self.users.get(project).copied()
    }

    /// How `project`'s containers reach the network.
    pub fn network(&self, project: &str) -> Network {
        if self.host_network.contains(project) {
            Network::Host
        } else {
            Network::Private
        }
    }
}

/// `"first-last"`, both ids, `first` > 0.
fn parse_range(text: &str) -> Result<(u32, u32), ConfigError> {
    let bad = || {
        ConfigError::Invalid(format!(
            "executor.job_uids '{text}' must be 'FIRST-LAST', two user ids above 0 holding at least {IDS_PER_PROJECT} ids"
        ))
    };
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let first: u32 = a.trim().parse().map_err(|_| bad())?;
    let last: u32 = b.trim().parse().map_err(|_| bad())?;
    if first == 0 || last < first || last - first + 1 < IDS_PER_PROJECT {
        return Err(bad());
    }
    Ok((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked() {
        assert_eq!(parse_range("100000-165535").unwrap(), (100000, 165535));
        assert!(parse_range("0-70000").is_err());
        assert!(parse_range("100000-100010").is_err());
        assert!(parse_range("x").is_err());
    }
}
