//! Per-project storage quotas (`[[projects]] storage_quota_gb`).
//!
//! A project's usage is the apparent size of the files below its storage folder (what code
//! uploads, S3 PUTs and jobs' outputs write), measured by a scan every `[storage]
//! quota_scan_seconds` (default 60 s). Between scans every accepted upload and S3 PUT adds
//! its size, so a burst of writes cannot outrun the scan. Refused: an upload or PUT that would
//! take the project past its quota. Stopped: the project's running jobs, after a scan finds
//! the project over its quota (their outputs are what grows between uploads), each with the
//! reason in its log (that part is `service::quota`'s). Runs' own folders (logs, bookkeeping) are not the project's storage;
//! `[logs] max_log_bytes` caps logs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Default seconds between two scans of the projects' storage folders.
pub const DEFAULT_SCAN_SECONDS: f64 = 60.0;

/// The projects' quotas and what they use.
#[derive(Debug)]
pub struct Quotas {
    root: PathBuf,
    limits: HashMap<String, Limit>,
    used: Mutex<HashMap<String, u64>>,
}

#[derive(Clone, Copy, Debug)]
struct Limit {
    gb: f64,
    bytes: u64,
}

/// A write that the project's quota does not allow, or a project over its quota.
#[derive(Debug, Clone)]
pub struct QuotaExceeded {
    /// The project.
    pub project: String,
    /// Bytes used, as last measured plus what was accepted since.
    pub used: u64,
    /// What the refused write would add (0 for a scan's finding).
    pub adding: u64,
    limit: Limit,
}

impl std::fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "project {} uses {} bytes of its storage_quota_gb = {} ({} bytes)",
            self.project, self.used, self.limit.gb, self.limit.bytes
        )?;
        if self.adding > 0 {
            write!(f, "; refused: {} more bytes", self.adding)?;
        }
        Ok(())
    }
}

impl Quotas {
    /// The quotas of `projects` over storage folders below `root`; `None` when no project
    /// has one.
    pub fn new<'a>(
        root: &Path,
        projects: impl IntoIterator<Item = &'a crate::config::ProjectConfig>,
    ) -> Option<Arc<Self>> {
        let limits: HashMap<String, Limit> = projects
            .into_iter()
            .filter_map(|p| {
                let gb = p.storage_quota_gb?;
                let bytes = p.storage_quota_bytes()?;
                Some((p.id.clone(), Limit { gb, bytes }))
            })
            .collect();
        (!limits.is_empty()).then(|| {
            Arc::new(Self {
                root: root.to_owned(),
                limits,
                used: Mutex::default(),
            })
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.used.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Accepts a write of `adding` bytes into `project`'s storage, counting it until the next
    /// scan, or refuses it when it would take the project past its quota.
    pub fn reserve(&self, project: &str, adding: u64) -> Result<(), QuotaExceeded> {
        let Some(limit) = self.limits.get(project).copied() else {
            return Ok(());
        };
        let mut used = self.lock();
        let now = used.get(project).copied().unwrap_or(0);
        if now.saturating_add(adding) > limit.bytes || (adding == 0 && now > limit.bytes) {
            return Err(QuotaExceeded {
                project: project.to_owned(),
                used: now,
                adding,
                limit,
            });
        }
        used.insert(project.to_owned(), now + adding);
        Ok(())
    }

    /// Counts `bytes` written into `project`'s storage without a check beforehand (an upload
    /// that did not say its size), so the next writes see them.
    pub fn add(&self, project: &str, bytes: u64) {
        if self.limits.contains_key(project) {
            *self.lock().entry(project.to_owned()).or_default() += bytes;
        }
    }

    /// Measures every project with a quota (blocking: call from `spawn_blocking`); returns
    /// those over it.
    pub fn scan(&self) -> Vec<QuotaExceeded> {
        let mut over = Vec::new();
        for (project, limit) in &self.limits {
            let used = tree_size(&self.root.join(project));
            self.lock().insert(project.clone(), used);
            if used > limit.bytes {
                over.push(QuotaExceeded {
                    project: project.clone(),
                    used,
                    adding: 0,
                    limit: *limit,
                });
            }
        }
        over
    }
}

/// Apparent size of the files below `dir` (links not followed; unreadable parts skipped).
fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

/// For the S3 endpoint: the quota check of a PUT of `adding` bytes, as an S3 error
/// (`QuotaExceeded`, HTTP 403, as Ceph's RGW answers).
pub fn check_s3(
    storage: &super::Storage,
    project: &str,
    adding: Option<i64>,
) -> Result<(), s3s::S3Error> {
    let Some(q) = storage.quotas() else {
        return Ok(());
    };
    let adding = adding.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
    q.reserve(project, adding).map_err(|e| {
        let mut err = s3s::S3Error::with_message(
            s3s::S3ErrorCode::Custom("QuotaExceeded".into()),
            format!("The storage quota is exceeded: {e}"),
        );
        err.set_status_code(http::StatusCode::FORBIDDEN);
        err
    })
}
