//! Names of the files in a run directory and how they are read and written.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// `spec.json`: the [`crate::RunSpec`].
pub const SPEC: &str = "spec.json";
/// `shim.json`: the shim's [`crate::ShimRecord`].
pub const SHIM: &str = "shim.json";
/// `workers.json`: the started workers, [`crate::WorkerRecord`]s.
pub const WORKERS: &str = "workers.json";
/// `stop.json`: a [`crate::StopRequest`].
pub const STOP: &str = "stop.json";
/// `exit.json`: the [`crate::RunExit`].
pub const EXIT: &str = "exit.json";
/// `shim.log`: stdout and stderr of the shim.
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
/// `exit.json`, the outcome that must survive a power loss.
pub fn write_json_durable<T: Serialize + ?Sized>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    write_file(path, &bytes, true)
}

/// Writes `bytes` to `path` atomically (see [`write_json_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_file(path, bytes, false)
}

fn write_file(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut f = File::create(&tmp)?;
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
            if let Ok(d) = File::open(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            }) {
                let _ = d.sync_all();
            }
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

/// Reads `<run_dir>/workers.json`; empty when missing or unreadable.
pub fn read_workers(run_dir: &Path) -> Vec<crate::WorkerRecord> {
    read_json(&file(run_dir, WORKERS))
        .ok()
        .flatten()
        .unwrap_or_default()
}
