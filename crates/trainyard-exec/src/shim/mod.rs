//! The shim: a small supervisor process that owns the workers of one run.
//!
//! It runs in its own session, so the server can restart or die without touching the run, and
//! records everything the server needs in the run directory (see [`crate::run_dir`]).

mod signals;
mod supervise;
mod worker;

use std::path::Path;
use std::time::Duration;

use crate::{proc, run_dir, RunExit, RunOutcome, RunSpec, ShimRecord, WorkerRecord};
use signals::Signals;
use supervise::Supervisor;

/// The shim's main (synchronous, no tokio runtime needed). Returns the process exit code:
/// 0 once `exit.json` is written, 1 when even that failed.
pub fn run_shim(run_dir: &Path) -> i32 {
    // EPERM when we already lead a group (started by hand): then we keep the current session.
    let _ = nix::unistd::setsid();
    // SAFETY: prctl with integer arguments only. As a subreaper we inherit orphaned
    // grandchildren and can reap them, whatever PID 1 does.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };

    let exit = supervise_run(run_dir);
    match run_dir::write_json_durable(&run_dir::file(run_dir, run_dir::EXIT), &exit) {
        Ok(()) => {
            tracing::info!(outcome = ?exit.outcome, "run finished");
            0
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot write exit.json");
            1
        }
    }
}

fn supervise_run(run_dir: &Path) -> RunExit {
    let failed = |message: String| RunExit {
        outcome: RunOutcome::SpawnFailed { message },
        workers: vec![],
    };
    let signals = match Signals::block() {
        Ok(s) => s,
        Err(e) => return failed(format!("shim: cannot block signals: {e}")),
    };
    let pid = std::process::id() as i32;
    let me = ShimRecord {
        pid,
        start_time: proc::start_time(pid).unwrap_or(0),
    };
    if let Err(e) = run_dir::write_json_atomic(&run_dir::file(run_dir, run_dir::SHIM), &me) {
        return failed(format!("shim: cannot write shim.json: {e}"));
    }
    let spec: RunSpec = match run_dir::read_json(&run_dir::file(run_dir, run_dir::SPEC)) {
        Ok(Some(spec)) => spec,
        Ok(None) => return failed("shim: spec.json is missing".into()),
        Err(e) => return failed(format!("shim: cannot read spec.json: {e}")),
    };
    let grace = Duration::from_secs(spec.grace_seconds);

    let mut workers = Vec::with_capacity(spec.workers.len());
    for index in 0..spec.workers.len() {
        match worker::start(&spec, index) {
            Ok(w) => {
                tracing::info!(proc.pid = w.pid, worker = index, "worker started");
                workers.push(w);
                // Rewritten after each start, so a shim killed mid-way still leaves a record.
                let records: Vec<WorkerRecord> = workers.iter().map(|w| w.record()).collect();
                let path = run_dir::file(run_dir, run_dir::WORKERS);
                if let Err(e) = run_dir::write_json_atomic(&path, &records) {
                    tracing::warn!(error = %e, "cannot write workers.json");
                }
            }
            Err(message) => {
                return Supervisor::new(run_dir.to_owned(), grace, workers, signals).abort(message)
            }
        }
    }
    Supervisor::new(run_dir.to_owned(), grace, workers, signals).run()
}
