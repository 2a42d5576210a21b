//! The checkpoint folder of a run on S3 storage (see [`crate::checkpoint`]): restored before
//! the workers of an attempt after the first start, uploaded and verified while they run and
//! once more when they have ended, each verified upload recorded in the run folder.

use std::ffi::OsStr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::runtime::Runtime;

use super::notes::{note, report};
use crate::beneath::{Dir, Kind};
use crate::checkpoint::{CheckpointNote, CheckpointRecord, CheckpointSync, NOTES, RECORD};
use crate::objects::{Listed, Objects, Uploaded};
use crate::{run_dir, sandbox, RunAs};

/// Where a restored checkpoint is fetched first, in the run folder (no job writes there).
const STAGING: &str = ".checkpoint-restore";

/// Fetches the checkpoint `sync` restores (if any) into its folder, replacing what the folder
/// held: the folder then holds exactly the last verified checkpoint. An error (the store
/// unreachable for the retry time) fails the start, as a failed data fetch does.
pub fn restore(
    runtime: &Runtime,
    objects: &Objects,
    sync: &CheckpointSync,
    owner: Option<RunAs>,
    logs: &[PathBuf],
) -> Result<(), String> {
    let Some(record) = &sync.restore else {
        return Ok(());
    };
    let what = record.describe();
    let staging = sync.run_dir.join(STAGING);
    let _ = std::fs::remove_dir_all(&staging);
    let changed = runtime
        .block_on(objects.restore(&sync.to, &record.files, &staging))
        .map_err(|e| format!("cannot restore {what} from {}: {e}", sync.to.url()))
        .inspect_err(|message| report(logs, message))?;
    if !changed.is_empty() {
        report(
            logs,
            &format!(
                "{what}: not restored, as the store's copy changed since it was verified: {}",
                changed.join(", ")
            ),
        );
    }
    let placed = place(&sync.run_dir, &sync.folder, owner).map_err(|e| {
        let message = format!(
            "cannot put {what} into {}: {e}",
            sync.run_dir.join(&sync.folder).display()
        );
        report(logs, &message);
        message
    });
    let _ = std::fs::remove_dir_all(&staging);
    placed?;
    note(
        logs,
        &format!(
            "attempt {} starts from {what}, restored from {}",
            sync.attempt,
            sync.to.url()
        ),
    );
    Ok(())
}

/// Replaces the folder `rel` of `run_dir` by the staging folder: reached without following
/// links (the folder and its parent are the job's), the old one removed by name.
fn place(run_dir: &Path, rel: &Path, owner: Option<RunAs>) -> std::io::Result<()> {
    let staging = run_dir.join(STAGING);
    if let Some(o) = owner {
        sandbox::chown_tree(&staging, o)?;
    }
    let name = rel
        .file_name()
        .ok_or_else(|| std::io::Error::other("the checkpoint folder has no name"))?;
    let (_, parent) = sandbox::open_dirs(run_dir, rel.parent().unwrap_or(Path::new("")), owner)?;
    match parent.entry(name) {
        Ok(e) if e.kind == Kind::Dir => parent.remove_dir_all(name)?,
        Ok(_) => parent.remove_file(name)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let top = Dir::open(run_dir)?;
    nix::fcntl::renameat(
        Some(top.as_raw_fd()),
        OsStr::new(STAGING),
        Some(parent.as_raw_fd()),
        name,
    )
    .map_err(|e| std::io::Error::from_raw_os_error(e as i32))
}

/// Uploads of the checkpoint folder and their record.
pub struct Checkpoints {
    sync: CheckpointSync,
    done: Uploaded,
    /// The files of the last recorded checkpoint of this attempt: an unchanged folder is not
    /// recorded again.
    recorded: Option<Vec<Listed>>,
    /// The last verified checkpoint (this attempt's, else the restored one).
    last: Option<CheckpointRecord>,
}

impl Checkpoints {
    /// Uploads of `sync`'s folder.
    pub fn new(sync: CheckpointSync) -> Self {
        // The restored files are in the store already.
        let done = sync.restore.as_ref().map_or_else(Uploaded::default, |r| {
            Uploaded::fetched(&sync.run_dir.join(&sync.folder), &r.files)
        });
        Self {
            last: sync.restore.clone(),
            sync,
            done,
            recorded: None,
        }
    }

    /// One upload: sent, verified, then recorded as this attempt's checkpoint. A failure is
    /// a line in every worker log, and the record stays the last verified checkpoint.
    pub fn pass(&mut self, runtime: &Runtime, objects: &Objects, logs: &[PathBuf]) {
        let sync = &self.sync;
        let from = sync.run_dir.join(&sync.folder);
        let url = sync.to.url();
        let uploaded = runtime.block_on(objects.upload_verified(&from, &sync.to, &mut self.done));
        let files = match uploaded {
            Ok(files) => files,
            Err(e) => {
                let last = self
                    .last
                    .as_ref()
                    .map_or("none".to_owned(), CheckpointRecord::describe);
                report(
                    logs,
                    &format!(
                        "checkpoint upload of attempt {} to {url} failed: {e}; not counted as \
                         checkpointed (the last verified checkpoint: {last})",
                        sync.attempt
                    ),
                );
                // event: checkpoint failed (taken in from the notes by the run's event log)
                self.note(CheckpointNote::Failed {
                    attempt: sync.attempt,
                    at_ms: now_ms(),
                    url,
                    message: e.to_string(),
                });
                return;
            }
        };
        if files.is_empty() || self.recorded.as_ref() == Some(&files) {
            return;
        }
        let record = CheckpointRecord {
            attempt: sync.attempt,
            verified_at_ms: now_ms(),
            url: url.clone(),
            files,
        };
        let path = run_dir::file(&sync.run_dir, RECORD);
        match run_dir::write_json_durable(&path, &record) {
            Ok(()) => {
                tracing::info!(url, files = record.files.len(), "checkpoint verified");
                // event: checkpoint uploaded (taken in from the notes by the run's event log)
                let note = CheckpointNote::Uploaded {
                    attempt: record.attempt,
                    at_ms: record.verified_at_ms,
                    url,
                    files: record.files.len(),
                };
                self.recorded = Some(record.files.clone());
                self.last = Some(record);
                self.note(note);
            }
            Err(e) => {
                let message = format!(
                    "checkpoint of attempt {} verified at {url} but not recorded: {e}; not \
                     counted as checkpointed",
                    sync.attempt
                );
                report(logs, &message);
                self.note(CheckpointNote::Failed {
                    attempt: sync.attempt,
                    at_ms: now_ms(),
                    url,
                    message,
                });
            }
        }
    }

    /// Appends `note` to the run folder's notes (a failure to is only traced: the worker
    /// logs carry every failure already).
    fn note(&self, note: CheckpointNote) {
        use std::io::Write;
        let path = run_dir::file(&self.sync.run_dir, NOTES);
        let line = serde_json::to_string(&note).expect("a note always serializes");
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "cannot append a checkpoint note");
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
