//! Lines the shim adds to every worker log, so the version's log says what went wrong with
//! its transfers and checkpoints.

use std::io::Write;
use std::path::PathBuf;

use crate::run_dir::open_log;

/// Appends `[trainyard] message` to every worker log: the version's log shows what went wrong.
pub(super) fn report(logs: &[PathBuf], message: &str) {
    tracing::error!(message, "object store transfer failed");
    note(logs, message);
}

/// Appends `[trainyard] message` to every worker log.
pub(super) fn note(logs: &[PathBuf], message: &str) {
    for path in logs {
        if let Ok(mut f) = open_log(path) {
            let _ = writeln!(f, "[trainyard] {message}");
        }
    }
}
