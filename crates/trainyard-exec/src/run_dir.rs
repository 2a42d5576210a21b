//! Names of the files in a run directory and how they are read and written.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// `spec.json`: the [`crate::RunSpec`].
pub const SPEC: &str = "spec.json";
/// `shim.json`: the shim's [`crate::ShimRecord`], created exclusively: the claim that makes
/// the shim that wrote it the only one ever to start this run's workers.
pub const SHIM: &str = "shim.json";
/// `workers.json`: the started workers, [`crate::WorkerRecord`]s.
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

/// Creates `path` holding `value` as JSON, unless it exists: `Ok(false)` then, and the file is
/// left as it was. The content appears whole (written to a temporary file, then hard-linked
/// into place, which fails if the name is taken), so of several processes racing for the
/// same name exactly one wins, and readers never see a partial file.
///
/// Not fsynced: it sits on the path from submit to the job's first instruction, and the two
/// fsyncs cost more than the start itself (measured: +2-4 ms at p50 on this project's 2-core
/// machine). A claim survives any crash of the server or the shim (the page cache outlives
/// processes); like the database (SQLite, `synchronous=NORMAL`) it may not survive a power
/// loss, which ends the run anyway.
pub fn create_json_exclusive<T: Serialize + ?Sized>(path: &Path, value: &T) -> io::Result<bool> {
    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    let tmp = tmp_name(path);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        match fs::hard_link(&tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    })();
    let _ = fs::remove_file(&tmp);
    result
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

/// Reads `<run_dir>/shim.json`: the shim that claimed the run, if one did.
pub fn read_claim(run_dir: &Path) -> Option<crate::ShimRecord> {
    read_json(&file(run_dir, SHIM)).ok().flatten()
}

/// Reads `<run_dir>/workers.json`; empty when missing or unreadable.
pub fn read_workers(run_dir: &Path) -> Vec<crate::WorkerRecord> {
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
