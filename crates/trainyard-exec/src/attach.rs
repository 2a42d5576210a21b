//! Finding a run again after a server restart.

use std::path::Path;

use nix::sys::signal::Signal;

use crate::{proc, run_dir, signal, ExecHandle, RunExit, Running};

/// Result of looking a run up again after a server restart.
#[derive(Debug)]
pub enum Attach {
    /// The run is over; this is its `exit.json`.
    Finished(RunExit),
    /// The shim still runs; wait on it.
    Alive(Running),
    /// The shim is gone without an `exit.json` (killed, machine rebooted). Any worker groups it
    /// left behind have been SIGKILLed.
    Lost,
}

/// After a server restart: `exit.json` present -> `Finished`; shim alive with the same start
/// time -> `Alive`; else `Lost` (after killing leftover worker groups, start-time checked).
///
/// Does blocking file I/O; call it from `spawn_blocking` in async code.
pub fn reattach(run_dir: &Path, handle: ExecHandle) -> Attach {
    if let Some(exit) = run_dir::read_exit(run_dir) {
        return Attach::Finished(exit);
    }
    if proc::is_alive(handle.shim_pid, handle.shim_start_time) {
        return Attach::Alive(Running::polling(run_dir, handle));
    }
    // The shim may have written exit.json and exited between the two checks.
    if let Some(exit) = run_dir::read_exit(run_dir) {
        return Attach::Finished(exit);
    }
    tracing::warn!(proc.pid = handle.shim_pid, run_dir = %run_dir.display(), "run lost: shim gone without exit.json");
    signal::recorded_groups(run_dir, Signal::SIGKILL);
    Attach::Lost
}
