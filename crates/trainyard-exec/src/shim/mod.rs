//! The shim: a small supervisor process that owns the workers of one run.
//!
//! It runs in its own session, so the server can restart or die without touching the run, and
//! records everything the server needs in the run directory (see [`crate::run_dir`]).

mod checkpoint;
mod log_pipe;
mod metrics;
mod notes;
mod signals;
mod supervise;
mod transfer;
mod worker;

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::run_dir::RunRecord;
use crate::{proc, run_dir, RunExit, RunOutcome, RunSpec, ShimRecord};
use signals::Signals;
use supervise::Supervisor;
use transfer::Transfers;

/// Exit code of a shim that found the run already claimed by another shim: it started
/// nothing and wrote nothing.
pub const CLAIM_LOST: i32 = 3;

/// Longest pause between two tries to write `exit.json` while the disk is full.
const EXIT_RETRY_MAX: Duration = Duration::from_secs(2);

/// Who makes `exit.json` durable (fsynced, file and folder) once it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Durability {
    /// The shim, before it exits.
    Shim,
    /// The server that launched the shim and still is its parent: it fsyncs the file while
    /// it records the end (`local::LocalBackend`), so the shim's exit, which tells the server
    /// that the run ended, does not wait for the disk (two fsyncs, ~3-6 ms at p50 here). A
    /// shim whose parent changed (the server died) fsyncs the file itself.
    Parent(i32),
}

/// The shim's main (synchronous, no tokio runtime needed), for a shim launched by a server
/// (the local backend), which makes `exit.json` durable itself while the shim is its child.
/// Returns the process exit code: 0 once `exit.json` is written, [`CLAIM_LOST`] when another
/// shim owns the run, 1 when even `exit.json` could not be written.
pub fn run_shim(run_dir: &Path) -> i32 {
    let parent = nix::unistd::getppid().as_raw();
    run(run_dir, Durability::Parent(parent))
}

/// As [`run_shim`], making `exit.json` durable before returning: for a shim whose parent
/// does not read the file (a Slurm task).
pub fn run_shim_durable(run_dir: &Path) -> i32 {
    run(run_dir, Durability::Shim)
}

/// The main of a shim started ahead of its run (`<shim> shim -`, see [`crate::Shims`]): waits
/// for its run folder on stdin (all of it, up to the end of the input), sends its stdout and
/// stderr to that folder's `shim.log`, then supervises the run as [`run_shim`] does. Returns
/// 0 at once, having started nothing, when stdin ends empty: its server dropped it, or died.
pub fn run_spare_shim() -> i32 {
    // The server that started us: it makes exit.json durable while it is still our parent.
    let server = nix::unistd::getppid().as_raw();
    // Our own session already while idle: nothing sent to the server's group reaches us.
    let _ = nix::unistd::setsid();
    let mut bytes = Vec::new();
    if std::io::stdin().lock().read_to_end(&mut bytes).is_err() || bytes.is_empty() {
        return 0;
    }
    let run_dir = PathBuf::from(OsString::from_vec(bytes));
    if let Err(e) = enter(&run_dir) {
        tracing::error!(run_dir = %run_dir.display(), error = %e, "cannot enter the run folder");
        return 1;
    }
    run(&run_dir, Durability::Parent(server))
}

/// Sends stdout and stderr to the run's `shim.log` (the server's alone, like the files it
/// writes there), stdin to `/dev/null`, and changes into the run folder.
fn enter(run_dir: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(run_dir::file(run_dir, run_dir::SHIM_LOG))?;
    let null = std::fs::File::open("/dev/null")?;
    for (from, to) in [(&log, 1), (&log, 2), (&null, 0)] {
        // SAFETY: dup2 on two valid descriptors.
        if unsafe { libc::dup2(from.as_raw_fd(), to) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    std::env::set_current_dir(run_dir)
}

fn run(run_dir: &Path, durability: Durability) -> i32 {
    // EPERM when we already lead a group (started by hand): then we keep the current session.
    let _ = nix::unistd::setsid();
    // The server's umask keeps its own files private; what the shim fetches for the
    // workers (data, mirrors) must be readable by the project's user they run as.
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(0o022) };
    // SAFETY: prctl with integer arguments only. As a subreaper we inherit orphaned
    // grandchildren and can reap them, whatever PID 1 does.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };

    let exit = match supervise_run(run_dir) {
        Some(exit) => exit,
        None => return CLAIM_LOST,
    };
    write_exit(run_dir, &exit, durability)
}

/// Writes `exit.json`, retrying while the disk is full: it is the only record of how the
/// run ended, and space usually comes back. Durable before returning unless the server that
/// launched the shim is still its parent (see [`Durability::Parent`]).
fn write_exit(run_dir: &Path, exit: &RunExit, durability: Durability) -> i32 {
    let path = run_dir::file(run_dir, run_dir::EXIT);
    let mut pause = Duration::from_millis(50);
    loop {
        let written = match durability {
            Durability::Parent(pid) if nix::unistd::getppid().as_raw() == pid => {
                run_dir::write_json_atomic(&path, exit)
            }
            _ => run_dir::write_json_durable(&path, exit),
        };
        match written {
            Ok(()) => {
                tracing::info!(outcome = ?exit.outcome, "run finished");
                return 0;
            }
            Err(e) if is_out_of_space(&e) => {
                tracing::warn!(error = %e, "cannot write exit.json yet; retrying");
                std::thread::sleep(pause);
                pause = (pause * 2).min(EXIT_RETRY_MAX);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot write exit.json");
                return 1;
            }
        }
    }
}

fn is_out_of_space(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

/// Claims the run, then starts and supervises its workers; `None` when another shim had
/// claimed it (nothing was started).
fn supervise_run(run_dir: &Path) -> Option<RunExit> {
    let failed = |message: String| {
        Some(RunExit {
            outcome: RunOutcome::SpawnFailed { message },
            workers: vec![],
        })
    };
    // Blocked before the claim: from the moment the server can see our record, a SIGTERM
    // waits for us instead of killing us before exit.json exists.
    let signals = match Signals::block() {
        Ok(s) => s,
        Err(e) => return failed(format!("shim: cannot block signals: {e}")),
    };
    let pid = std::process::id() as i32;
    let me = ShimRecord {
        pid,
        start_time: proc::start_time(pid).unwrap_or(0),
    };
    // The claim: whoever creates shim.json is the only shim that ever starts this run's
    // workers, however many were launched for it (a relaunch after a server crash).
    let record = match RunRecord::claim(run_dir, &me) {
        Ok(Some(record)) => record,
        Ok(None) => {
            tracing::info!("run already claimed by another shim; exiting");
            return None;
        }
        Err(e) => return failed(format!("shim: cannot write shim.json: {e}")),
    };
    tracing::debug!("run claimed");
    // A stop requested before we claimed (stop.json written, nobody to signal yet).
    if run_dir::file(run_dir, run_dir::STOP).exists() {
        tracing::info!("stop requested before the run started");
        return Some(RunExit {
            outcome: RunOutcome::Stopped,
            workers: vec![],
        });
    }
    let spec: RunSpec = match run_dir::read_json(&run_dir::file(run_dir, run_dir::SPEC)) {
        Ok(Some(spec)) => spec,
        Ok(None) => return failed("shim: spec.json is missing".into()),
        Err(e) => return failed(format!("shim: cannot read spec.json: {e}")),
    };
    let mut transfers = match &spec.objects {
        Some(sync) => {
            let logs = spec.workers.iter().map(|w| w.log_file.clone()).collect();
            match Transfers::fetch(sync, logs, spec.run_as) {
                Ok(mut t) => {
                    t.start_uploads(
                        sync.outputs.clone(),
                        Duration::from_millis(sync.interval_ms.max(100)),
                        sync.checkpoint.clone(),
                    );
                    Some(t)
                }
                Err(message) => return failed(message),
            }
        }
        None => None,
    };
    let waker = transfers.as_ref().and_then(Transfers::waker);
    let mut exit = start_and_supervise(run_dir, &spec, record, signals, waker);
    let failures = transfers.take().map(Transfers::finish).unwrap_or_default();
    if !failures.is_empty() && exit.outcome == RunOutcome::Succeeded {
        exit.outcome = RunOutcome::UploadFailed {
            message: failures.join("; "),
        };
    }
    Some(exit)
}

/// Starts the workers of `spec` one by one and supervises them until all have ended.
fn start_and_supervise(
    run_dir: &Path,
    spec: &RunSpec,
    mut record: RunRecord,
    signals: Signals,
    waker: Option<transfer::Waker>,
) -> RunExit {
    let mut workers = Vec::with_capacity(spec.workers.len());
    for index in 0..spec.workers.len() {
        match worker::start(spec, index) {
            Ok(w) => {
                tracing::info!(proc.pid = w.pid, worker = index, "worker started");
                // Recorded as it starts, so a shim killed mid-way still leaves a record.
                let recorded = record.add_worker(&w.record());
                workers.push(w);
                if let Err(e) = recorded {
                    // An unrecorded worker could not be found and killed if we died: stop here.
                    let message = format!("shim: cannot record worker {index} in shim.json: {e}");
                    return Supervisor::new(run_dir.to_owned(), spec, workers, signals)
                        .abort(message);
                }
            }
            Err(e) => {
                return Supervisor::new(run_dir.to_owned(), spec, workers, signals)
                    .abort(e.to_string())
            }
        }
    }
    Supervisor::new(run_dir.to_owned(), spec, workers, signals)
        .on_stop(waker)
        .run()
}
