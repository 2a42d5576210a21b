//! Sending signals to processes and process groups; "no such process" counts as success.

use std::path::Path;

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use crate::{proc, run_dir, WorkerRecord};

/// Signals every process of group `pgid`. An empty group (`ESRCH`) is success.
pub fn group(pgid: i32, sig: Signal) -> Result<(), Errno> {
    if pgid <= 1 {
        return Err(Errno::EINVAL);
    }
    match killpg(Pid::from_raw(pgid), sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Signals `pid` only if it is still the process that started at `start_time`.
/// Returns whether a signal was sent; a vanished process is success.
pub fn process_checked(pid: i32, start_time: u64, sig: Signal) -> Result<bool, Errno> {
    if pid <= 1 || !proc::is_alive(pid, start_time) {
        return Ok(false);
    }
    match kill(Pid::from_raw(pid), sig) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Queues `sig` with `value` for `pid` (`sigqueue`: the receiver reads the value with the
/// signal), only if it is still the process that started at `start_time`. Returns whether a
/// signal was sent; a vanished process is success.
pub fn queue_checked(pid: i32, start_time: u64, sig: Signal, value: u64) -> Result<bool, Errno> {
    if pid <= 1 || !proc::is_alive(pid, start_time) {
        return Ok(false);
    }
    let value = libc::sigval {
        sival_ptr: value as usize as *mut libc::c_void,
    };
    // SAFETY: sigqueue takes a pid, a signal number and a plain value.
    if unsafe { libc::sigqueue(pid, sig as libc::c_int, value) } == 0 {
        return Ok(true);
    }
    match Errno::last() {
        Errno::ESRCH => Ok(false),
        e => Err(e),
    }
}

/// Signals the group of a recorded worker, unless its PID now belongs to another process.
///
/// When the leader is gone, stragglers may still hold the group, and the group ID cannot be
/// reused while they exist, so the group is signalled. When the PID exists with another start
/// time it was reused, which means the old group is empty: nothing is sent.
pub fn worker_group_checked(rec: &WorkerRecord, sig: Signal) -> Result<(), Errno> {
    match proc::start_time(rec.pid) {
        Some(st) if st != rec.start_time => Ok(()),
        _ => group(rec.pgid, sig),
    }
}

/// SIGKILLs every worker recorded in `<run_dir>` ([`run_dir::read_workers`]): its group (start-time checked)
/// and, for a container worker, its container, which runs outside the group and is removed.
pub fn kill_recorded(run_dir: &Path) {
    for rec in run_dir::read_workers(run_dir) {
        if let Some(c) = &rec.container {
            crate::container::remove(c);
        }
        if let Err(e) = worker_group_checked(&rec, Signal::SIGKILL) {
            tracing::warn!(proc.pgid = rec.pgid, error = %e, "cannot signal worker group");
        }
    }
}
