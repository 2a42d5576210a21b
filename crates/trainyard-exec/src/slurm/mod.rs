//! The Slurm side of the executor: batch scripts, the `sbatch`/`squeue`/`scancel`/`sinfo`
//! commands and their parsers, and the per-task entry point that `srun` runs.

mod backend;
mod cmd;
pub mod parse;
mod script;
mod task;

pub use backend::{SlurmBackend, SlurmPool, BATCH_SCRIPT};
pub use cmd::{sbatch, scancel, sinfo, squeue, squeue_by_name, Error};
pub use parse::{PartitionFree, SlurmState};
pub use script::{batch_script, clean as job_name, SlurmSubmit, CLAIM_DIR, CLAIM_JOB, OUTPUT};

/// The Slurm job that claimed the run in `run_dir`, if one started.
pub fn claimed_by(run_dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(run_dir.join(CLAIM_DIR).join(CLAIM_JOB)).ok()?;
    text.trim().parse().ok()
}
pub use task::{run_slurm_task, task_dir};

use crate::{run_dir as files, RunExit, RunOutcome, WorkerExit};
use std::path::Path;

/// The outcome of a finished Slurm run from its tasks' exit files, or `None` when no task
/// left one (the job never ran a task, or the tasks vanished).
pub fn collect_exit(run_dir: &Path, tasks: usize) -> Option<RunExit> {
    let mut workers = Vec::new();
    let mut outcome = RunOutcome::Succeeded;
    let mut found = 0;
    for i in 0..tasks {
        let Some(exit) = files::read_exit(&task_dir(run_dir, i)) else {
            continue;
        };
        found += 1;
        let w = exit.workers.first().cloned().unwrap_or(WorkerExit {
            index: i,
            exit_code: None,
            signal: None,
        });
        let w = WorkerExit { index: i, ..w };
        match (&outcome, &exit.outcome) {
            (
                RunOutcome::Succeeded | RunOutcome::Stopped,
                RunOutcome::Failed {
                    exit_code, signal, ..
                },
            ) => {
                outcome = RunOutcome::Failed {
                    worker: i,
                    exit_code: *exit_code,
                    signal: *signal,
                };
            }
            (RunOutcome::Succeeded, RunOutcome::Stopped) => outcome = RunOutcome::Stopped,
            (RunOutcome::Succeeded, failed @ RunOutcome::SpawnFailed { .. })
            | (RunOutcome::Succeeded, failed @ RunOutcome::UploadFailed { .. })
            | (RunOutcome::Succeeded, failed @ RunOutcome::LogLimit { .. }) => {
                outcome = failed.clone();
            }
            _ => {}
        }
        workers.push(w);
    }
    if found == 0 {
        return None;
    }
    if found < tasks && outcome == RunOutcome::Succeeded {
        outcome = RunOutcome::Failed {
            worker: found,
            exit_code: None,
            signal: None,
        };
    }
    Some(RunExit { outcome, workers })
}
