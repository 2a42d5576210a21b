//! Stopping a run, politely and then not.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::{run_dir, signal, ExecHandle, Result, StopRequest};

/// Extra time the backstop gives the shim beyond the grace period.
const BACKSTOP_SLACK: Duration = Duration::from_secs(5);

/// Ask a run to stop: SIGTERMs the shim that claimed the run, if it is still that process,
/// the grace (whole seconds, rounded up) queued with the signal; then writes
/// `<run_dir>/stop.json` with it: a shim that has not claimed the run yet finds it when it
/// does and starts nothing, and one signalled from outside reads its grace there. The signal
/// goes first: the file costs a new inode, which on this project's disk took 17-900 µs, and
/// the stop waited for it (bench/results.md, issue #32).
///
/// Also arms a backstop (a tokio task, or a thread outside a runtime): if the shim is still
/// alive grace + 5 s later, every recorded worker group and the shim get SIGKILL.
/// A run that is already gone is success; if its shim vanished, leftover worker groups are
/// SIGKILLed at once.
pub fn request_stop(run_dir: &Path, grace: Duration) -> Result<()> {
    let grace_seconds = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
    let mut owner = tell_owner(run_dir, grace_seconds)?;
    let stop = StopRequest { grace_seconds };
    if let Err(e) = run_dir::write_json_atomic(&run_dir::file(run_dir, run_dir::STOP), &stop) {
        // A shim signalled already has its grace; stopping matters more than the record.
        tracing::warn!(run_dir = %run_dir.display(), error = %e, "cannot write stop.json");
    }
    if let Owner::Unclaimed = owner {
        // A shim may have claimed the run after we looked, and looked for stop.json before
        // we wrote it: it would run on unsignalled. Look again now that the file is there.
        owner = tell_owner(run_dir, grace_seconds)?;
    }
    let Owner::Told(handle) = owner else {
        return Ok(());
    };
    let (pid, start) = (handle.shim_pid, handle.shim_start_time);
    tracing::info!(proc.pid = pid, grace_s = grace_seconds, "stop requested");

    let dir = run_dir.to_owned();
    let delay = Duration::from_secs(grace_seconds) + BACKSTOP_SLACK;
    let backstop = move || {
        if crate::proc::is_alive(pid, start) {
            tracing::warn!(
                proc.pid = pid,
                "shim still alive after the grace period; killing the run"
            );
            kill_groups_and_shim(&dir, handle);
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn(async move {
                tokio::time::sleep(delay).await;
                // File reads and /proc access are blocking.
                let _ = tokio::task::spawn_blocking(backstop).await;
            });
        }
        Err(_) => {
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                backstop();
            });
        }
    }
    Ok(())
}

/// Who was told of a stop request.
enum Owner {
    /// No shim has claimed the run (yet).
    Unclaimed,
    /// The shim that claimed it is gone (its leftover workers, if it wrote no exit, killed).
    Gone,
    /// The shim that claimed it was signalled.
    Told(ExecHandle),
}

/// SIGTERMs the shim that claimed the run in `run_dir`, `grace_seconds` queued with it.
fn tell_owner(run_dir: &Path, grace_seconds: u64) -> Result<Owner> {
    let Some(owner) = run_dir::read_claim(run_dir) else {
        return Ok(Owner::Unclaimed);
    };
    let handle = ExecHandle::from(owner);
    let (pid, start) = (handle.shim_pid, handle.shim_start_time);
    if signal::queue_checked(pid, start, Signal::SIGTERM, grace_seconds)? {
        return Ok(Owner::Told(handle));
    }
    if run_dir::read_exit(run_dir).is_none() {
        signal::kill_recorded(run_dir);
    }
    Ok(Owner::Gone)
}

/// Test/teardown helper: SIGKILL the shim and every worker group recorded in `run_dir`
/// (start-time checked). Blocking.
pub fn kill_run(run_dir: &Path) {
    match run_dir::read_claim(run_dir) {
        Some(s) => kill_groups_and_shim(run_dir, s.into()),
        None => signal::kill_recorded(run_dir),
    }
}

fn kill_groups_and_shim(run_dir: &Path, handle: ExecHandle) {
    // The shim first, so it cannot react to its workers dying; then the groups.
    let _ = signal::process_checked(handle.shim_pid, handle.shim_start_time, Signal::SIGKILL);
    signal::kill_recorded(run_dir);
}
