//! Finding a run again after a server restart, from the run directory alone.

use std::path::Path;

use crate::{proc, run_dir, signal, ExecHandle, RunExit, Running};

/// How a run stands when the server looks at it again after a restart.
#[derive(Debug)]
pub enum Attach {
    /// No shim ever claimed the run (`shim.json` is missing): nothing of it ever ran, so it
    /// may be launched (again). A shim launched just before the crash that claims it later
    /// loses to the new launch's shim or wins and is followed: see [`crate::launch`].
    NotStarted,
    /// The run is over; this is its `exit.json`.
    Finished(RunExit),
    /// The shim that claimed the run still runs; wait on it.
    Alive(Running),
    /// The shim that claimed the run is gone without an `exit.json` (killed, machine
    /// rebooted). Any worker groups it left behind have been SIGKILLed.
    Lost,
}

/// After a server restart: `exit.json` present -> `Finished`; no `shim.json` -> `NotStarted`;
/// the claiming shim alive with the same start time -> `Alive`; else `Lost` (after killing
/// leftover worker groups, start-time checked). Stored handles are not needed: the run
/// directory is the durable record of what was started.
///
/// Does blocking file I/O; call it from `spawn_blocking` in async code.
pub fn reattach(run_dir: &Path) -> Attach {
    if let Some(exit) = run_dir::read_exit(run_dir) {
        return Attach::Finished(exit);
    }
    let Some(owner) = run_dir::read_claim(run_dir).map(ExecHandle::from) else {
        return Attach::NotStarted;
    };
    if proc::is_alive(owner.shim_pid, owner.shim_start_time) {
        return Attach::Alive(Running::polling(run_dir, owner));
    }
    // The shim may have written exit.json and exited between the two checks.
    if let Some(exit) = run_dir::read_exit(run_dir) {
        return Attach::Finished(exit);
    }
    tracing::warn!(proc.pid = owner.shim_pid, run_dir = %run_dir.display(), "run lost: shim gone without exit.json");
    signal::kill_recorded(run_dir);
    Attach::Lost
}
