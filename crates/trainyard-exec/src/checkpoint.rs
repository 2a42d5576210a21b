//! Checkpoints on S3 storage: a run's checkpoint folder (`TRAINYARD_CHECKPOINT_DIR` below a
//! bucket's `train_url`) is uploaded by its shim every [`CheckpointSync::interval_ms`] and
//! once more when its workers have ended; each upload is verified against the store's
//! listing (sizes, ETags) before it is recorded as the attempt's checkpoint
//! ([`CheckpointRecord`], `checkpoint.json` in the run folder), and the next attempt starts
//! from the recorded one, fetched back into the folder before its workers start.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::objects::{Listed, ObjectDir};

/// The record of the last verified checkpoint, in the run folder (kept across attempts).
pub const RECORD: &str = "checkpoint.json";

/// Every checkpoint upload's outcome, one JSON line ([`CheckpointNote`]) each, appended by
/// the shim in the run folder (kept across attempts): what the run's event log takes in.
pub const NOTES: &str = "checkpoint-notes.jsonl";

/// How one checkpoint upload went (a line of [`NOTES`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CheckpointNote {
    /// Verified and recorded as the attempt's checkpoint.
    Uploaded {
        /// The attempt.
        attempt: i64,
        /// When (Unix milliseconds).
        at_ms: i64,
        /// The store's folder.
        url: String,
        /// How many files it holds.
        files: usize,
    },
    /// Failed or not verified: the attempt is not counted as checkpointed by it.
    Failed {
        /// The attempt.
        attempt: i64,
        /// When (Unix milliseconds).
        at_ms: i64,
        /// The store's folder.
        url: String,
        /// Why.
        message: String,
    },
}

/// The checkpoint folder of a run and where it goes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckpointSync {
    /// The run folder (trusted: no job writes there), where [`RECORD`] is kept.
    pub run_dir: PathBuf,
    /// The checkpoint folder, relative to [`Self::run_dir`] (e.g. `train/checkpoints`).
    pub folder: PathBuf,
    /// The store's folder it goes to.
    pub to: ObjectDir,
    /// Pause between two uploads while the run goes on.
    pub interval_ms: u64,
    /// The attempt this run is (`TRAINYARD_ATTEMPT`).
    pub attempt: i64,
    /// The checkpoint fetched into the folder before the workers start (the last one an
    /// earlier attempt got verified), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<CheckpointRecord>,
}

/// A verified checkpoint: what the store held, object by object, right after an upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    /// The attempt whose upload it was.
    pub attempt: i64,
    /// When it was verified (Unix milliseconds).
    pub verified_at_ms: i64,
    /// The store's folder.
    pub url: String,
    /// Its files, as listed (relative path, size, ETag).
    pub files: Vec<Listed>,
}

impl CheckpointRecord {
    /// `the checkpoint of attempt 1 (3 files)`, as log lines name it.
    pub fn describe(&self) -> String {
        format!(
            "the checkpoint of attempt {} ({} files)",
            self.attempt,
            self.files.len()
        )
    }
}

/// Reads the record of `run_dir` without following links (the run folder is the server's,
/// but a job of an unprivileged server runs as its user); `None` when there is none or it
/// cannot be read.
pub fn read_record(run_dir: &Path) -> Option<CheckpointRecord> {
    let dir = crate::beneath::Dir::open(run_dir).ok()?;
    let mut file = dir.open_file(Path::new(RECORD)).ok()?;
    let mut bytes = Vec::new();
    // A record is a few KB per thousand files; anything far larger is not ours.
    file.by_ref().take(64 << 20).read_to_end(&mut bytes).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(run_dir = %run_dir.display(), error = %e, "unreadable checkpoint record");
            None
        }
    }
}

/// The notes of `run_dir` ([`NOTES`]), read without following links; lines that do not
/// parse (a note cut by a crash) are skipped.
pub fn read_notes(run_dir: &Path) -> Vec<CheckpointNote> {
    let Ok(dir) = crate::beneath::Dir::open(run_dir) else {
        return Vec::new();
    };
    let Ok(mut file) = dir.open_file(Path::new(NOTES)) else {
        return Vec::new();
    };
    let mut text = String::new();
    if file
        .by_ref()
        .take(64 << 20)
        .read_to_string(&mut text)
        .is_err()
    {
        return Vec::new();
    }
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_is_read_without_following_a_link() {
        let run = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let record = CheckpointRecord {
            attempt: 1,
            verified_at_ms: 5,
            url: "s3://b/out/checkpoints/".into(),
            files: vec![Listed {
                rel: "step.txt".into(),
                size: 2,
                etag: Some("\"e\"".into()),
            }],
        };
        let planted = elsewhere.path().join(RECORD);
        std::fs::write(&planted, serde_json::to_vec(&record).unwrap()).unwrap();
        assert_eq!(read_record(run.path()), None);
        std::os::unix::fs::symlink(&planted, run.path().join(RECORD)).unwrap();
        assert_eq!(read_record(run.path()), None, "a planted link is not read");
        std::fs::remove_file(run.path().join(RECORD)).unwrap();
        crate::run_dir::write_json_durable(&run.path().join(RECORD), &record).unwrap();
        assert_eq!(read_record(run.path()), Some(record.clone()));
        assert_eq!(
            record.describe(),
            "the checkpoint of attempt 1 (1 files)".to_owned()
        );
    }
}
