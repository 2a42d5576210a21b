//! Names of the files in a run directory and how they are read and written.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// `spec.json`: the [`crate::RunSpec`].
pub const SPEC: &str = "spec.json";
/// `shim.json`: the run's record, JSON values one per line: the shim's [`crate::ShimRecord`]
/// first, created exclusively (the claim that makes the shim that wrote it the only one ever
/// to start this run's workers), then one [`crate::WorkerRecord`] per started worker,
/// appended as each starts ([`RunRecord`]).
pub const SHIM: &str = "shim.json";
/// `workers.json`: the started workers, in run folders of earlier versions (which kept them
/// apart from the claim); read when `shim.json` lists none, removed with the claim.
pub const WORKERS: &str = "workers.json";
/// `stop.json`: a [`crate::StopRequest`].
pub const STOP: &str = "stop.json";
/// `exit.json`: the [`crate::RunExit`].
pub const EXIT: &str = "exit.json";
/// `shim.log`: stdout and stderr of the shim: its log (`tracing`, at the server's level).
pub const SHIM_LOG: &str = "shim.log";

/// Path of `name` inside `run_dir`.
pub fn file(run_dir: &Path, name: &str) -> PathBuf {
    run_dir.join(name)
}

/// Writes `value` as JSON to `path` atomically (temporary file, rename), so a reader sees the
/// old or the new content, never a mix. Not fsynced: these files describe live processes,
/// which a power loss ends anyway; see [`write_json_durable`] for outcomes.
pub fn write_json_atomic<T: Serialize + ?Sized>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    write_file(path, &bytes, false)
}

/// Like [`write_json_atomic`], and fsynced (file and directory) before returning: for
/// outcomes that must survive a power loss and that no server fsyncs meanwhile (`exit.json`
/// of a Slurm task or of a shim whose server died, checkpoint records).
pub fn write_json_durable<T: Serialize + ?Sized>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    write_file(path, &bytes, true)
}

/// Makes `path`, written by [`write_json_atomic`], durable: fsyncs the file and its folder.
/// For `exit.json` of a local run, which its server makes durable while it records the end
/// (see [`crate::run_shim`]).
pub fn make_durable(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()?;
    if let Some(dir) = path.parent() {
        sync_dir(dir);
    }
    Ok(())
}

/// The run's record (`shim.json`) as the shim that claimed the run holds it open: the claim,
/// then each worker appended as it starts. One file for both, written in place: a new file
/// costs an inode, and on ext4 without a journal allocating one gets slow after many
/// deletions (bench/results.md, issue #32).
#[derive(Debug)]
pub struct RunRecord {
    file: File,
}

impl RunRecord {
    /// Claims the run in `run_dir` for `me`: creates `shim.json` holding `me`, unless it
    /// exists (`Ok(None)` then, and the file is left as it was). The claim appears whole
    /// (written to a temporary file, then hard-linked into place, which fails if the name is
    /// taken), so of several shims racing for one run exactly one wins, and readers never see
    /// a partial claim.
    ///
    /// Not fsynced: it sits on the path from submit to the job's first instruction, and the
    /// two fsyncs cost more than the start itself (measured: +2-4 ms at p50 on this
    /// project's 2-core machine). A claim survives any crash of the server or the shim (the
    /// page cache outlives processes); like the database (SQLite, `synchronous=NORMAL`) it
    /// may not survive a power loss, which ends the run anyway.
    pub fn claim(run_dir: &Path, me: &crate::ShimRecord) -> io::Result<Option<Self>> {
        let path = file(run_dir, SHIM);
        let tmp = tmp_name(&path);
        let result = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(&json_line(me)?)?;
            match fs::hard_link(&tmp, &path) {
                Ok(()) => Ok(Some(Self { file: f })),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
                Err(e) => Err(e),
            }
        })();
        let _ = fs::remove_file(&tmp);
        result
    }

    /// Records a started worker: one line appended in a single write. A shim killed in the
    /// middle of it leaves a partial last line, which readers skip, and the workers recorded
    /// before it intact.
    pub fn add_worker(&mut self, worker: &crate::WorkerRecord) -> io::Result<()> {
        self.file.write_all(&json_line(worker)?)
    }
}

/// `value` as one line of JSON.
fn json_line<T: Serialize + ?Sized>(value: &T) -> io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(value).map_err(io::Error::other)?;
    line.push(b'\n');
    Ok(line)
}

/// The JSON values of `bytes`, in order, up to the first that does not parse (a partial last
/// line). Reads one pretty-printed value as well as JSON lines.
fn json_values(bytes: &[u8]) -> impl Iterator<Item = serde_json::Value> + '_ {
    serde_json::Deserializer::from_slice(bytes)
        .into_iter::<serde_json::Value>()
        .map_while(Result::ok)
}

/// A temporary name beside `path`, unique to this process and call: two writers of one file
/// (two stop requests, two launches) never share a temporary file.
fn tmp_name(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}.{n}", std::process::id()));
    PathBuf::from(tmp)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) {
        let _ = d.sync_all();
    }
}

/// Writes `bytes` to `path` atomically (see [`write_json_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_file(path, bytes, false)
}

fn write_file(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let tmp = tmp_name(path);
    let result = (|| {
        // Private: `spec.json` holds the job's environment and the object store's keys.
        let mut f = {
            use std::os::unix::fs::OpenOptionsExt;
            fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?
        };
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    if durable {
        if let Some(dir) = path.parent() {
            // Makes the rename durable across a power loss.
            sync_dir(dir);
        }
    }
    Ok(())
}

/// Reads JSON from `path`; `Ok(None)` when the file does not exist.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> crate::Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Reads `<run_dir>/exit.json`, `None` when it is missing or unreadable.
pub fn read_exit(run_dir: &Path) -> Option<crate::RunExit> {
    match read_json(&file(run_dir, EXIT)) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(run_dir = %run_dir.display(), error = %e, "cannot read exit.json");
            None
        }
    }
}

/// Reads the claim in `<run_dir>/shim.json`: the shim that claimed the run, if one did.
pub fn read_claim(run_dir: &Path) -> Option<crate::ShimRecord> {
    let bytes = fs::read(file(run_dir, SHIM)).ok()?;
    let first = json_values(&bytes).next()?;
    serde_json::from_value(first).ok()
}

/// Reads the started workers of the run in `run_dir`: those `shim.json` lists after the
/// claim, else (a run folder of an earlier version) `workers.json`; empty when there are
/// none or they cannot be read.
pub fn read_workers(run_dir: &Path) -> Vec<crate::WorkerRecord> {
    let listed: Vec<crate::WorkerRecord> = match fs::read(file(run_dir, SHIM)) {
        Ok(bytes) => json_values(&bytes)
            .skip(1)
            .map_while(|v| serde_json::from_value(v).ok())
            .collect(),
        Err(_) => Vec::new(),
    };
    if !listed.is_empty() {
        return listed;
    }
    read_json(&file(run_dir, WORKERS))
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Opens (creating it and its folder) the log at `path` for appending, readable by the server
/// alone.
pub(crate) fn open_log(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            fs::create_dir_all(dir)?;
        }
    }
    // The server's alone (it serves logs through the API); the shim's umask lets workers read
    // what it fetches for them.
    std::os::unix::fs::OpenOptionsExt::mode(fs::OpenOptions::new().create(true).append(true), 0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ShimRecord, WorkerRecord};

    fn worker(index: usize, pid: i32) -> WorkerRecord {
        WorkerRecord {
            index,
            pid,
            pgid: pid,
            start_time: 7,
            container: None,
        }
    }

    #[test]
    fn the_claim_is_taken_once_and_lists_the_workers_added_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let me = ShimRecord {
            pid: 10,
            start_time: 11,
        };
        let mut record = RunRecord::claim(dir.path(), &me).unwrap().expect("claimed");
        let other = ShimRecord {
            pid: 20,
            start_time: 21,
        };
        assert!(RunRecord::claim(dir.path(), &other).unwrap().is_none());
        assert_eq!(read_claim(dir.path()), Some(me));
        assert!(read_workers(dir.path()).is_empty());
        record.add_worker(&worker(0, 100)).unwrap();
        record.add_worker(&worker(1, 101)).unwrap();
        assert_eq!(read_claim(dir.path()), Some(me));
        assert_eq!(
            read_workers(dir.path()),
            vec![worker(0, 100), worker(1, 101)]
        );
        // Nothing but the record itself is left in the folder (no temporary file).
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(SHIM)]);
    }

    #[test]
    fn a_partial_last_line_is_skipped_and_the_workers_before_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        let me = ShimRecord {
            pid: 10,
            start_time: 11,
        };
        let mut record = RunRecord::claim(dir.path(), &me).unwrap().unwrap();
        record.add_worker(&worker(0, 100)).unwrap();
        record.file.write_all(b"{\"index\":1,\"pid\":1").unwrap();
        assert_eq!(read_claim(dir.path()), Some(me));
        assert_eq!(read_workers(dir.path()), vec![worker(0, 100)]);
    }

    #[test]
    fn run_folders_of_earlier_versions_are_read_as_they_are() {
        // A pretty-printed claim and the workers in a file of their own.
        let dir = tempfile::tempdir().unwrap();
        let me = ShimRecord {
            pid: 10,
            start_time: 11,
        };
        write_json_atomic(&file(dir.path(), SHIM), &me).unwrap();
        assert!(read_workers(dir.path()).is_empty());
        write_json_atomic(&file(dir.path(), WORKERS), &vec![worker(0, 100)]).unwrap();
        assert_eq!(read_claim(dir.path()), Some(me));
        assert_eq!(read_workers(dir.path()), vec![worker(0, 100)]);
        // And a claim of theirs keeps a new shim out.
        assert!(RunRecord::claim(dir.path(), &me).unwrap().is_none());
    }
}
