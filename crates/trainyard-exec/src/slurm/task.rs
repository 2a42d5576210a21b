//! `trainyard slurm-task <run_dir>`: what `srun` starts once per task. It picks its worker
//! from `spec.json` by `SLURM_PROCID`, fills in the distributed environment from Slurm's, and
//! runs it under the shim in `task-<index>/`, exiting with the worker's status so that
//! `srun --kill-on-bad-exit` stops the siblings of a failed worker.

use crate::{run_dir as files, RunOutcome, RunSpec};
use std::path::{Path, PathBuf};

/// Directory of task `index` inside a run directory.
pub fn task_dir(run_dir: &Path, index: usize) -> PathBuf {
    run_dir.join(format!("task-{index}"))
}

fn env_usize(key: &str) -> Option<usize> {
    std::env::var(key).ok()?.trim().parse().ok()
}

fn first_host(nodelist: &str) -> Option<String> {
    let out = std::process::Command::new("scontrol")
        .args(["show", "hostnames", nodelist])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Runs this task's worker; returns the process exit code.
pub fn run_slurm_task(run_dir: &Path) -> i32 {
    let spec: RunSpec = match files::read_json(&files::file(run_dir, files::SPEC)) {
        Ok(Some(s)) => s,
        other => {
            eprintln!(
                "slurm-task: cannot read spec.json in {}: {other:?}",
                run_dir.display()
            );
            return 2;
        }
    };
    let index = env_usize("SLURM_PROCID").unwrap_or(0);
    let count = env_usize("SLURM_NTASKS").unwrap_or(spec.workers.len());
    let Some(mut worker) = spec.workers.get(index).cloned() else {
        eprintln!("slurm-task: no worker {index} in spec.json");
        return 2;
    };
    let master = std::env::var("SLURM_JOB_NODELIST")
        .ok()
        .and_then(|l| first_host(&l))
        .or_else(|| std::env::var("SLURMD_NODENAME").ok())
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let local = env_usize("SLURM_LOCALID").unwrap_or(0);
    let mut set = vec![
        ("RANK", index.to_string()),
        ("WORLD_SIZE", count.to_string()),
        ("LOCAL_RANK", local.to_string()),
        ("DLS_TASK_INDEX", index.to_string()),
        ("DLS_TASK_NUMBER", count.to_string()),
        ("MASTER_ADDR", master),
    ];
    for key in [
        "SLURM_JOB_ID",
        "SLURM_PROCID",
        "SLURM_NTASKS",
        "SLURM_JOB_NODELIST",
        "SLURMD_NODENAME",
    ] {
        if let Ok(v) = std::env::var(key) {
            set.push((key, v));
        }
    }
    if let Ok(v) = std::env::var("CUDA_VISIBLE_DEVICES") {
        set.push(("CUDA_VISIBLE_DEVICES", v));
    }
    for (k, v) in set {
        worker.env.retain(|(key, _)| key != k);
        worker.env.push((k.to_owned(), v));
    }
    let dir = task_dir(run_dir, index);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("slurm-task: cannot create {}: {e}", dir.display());
        return 2;
    }
    let task_spec = RunSpec {
        run_dir: dir.clone(),
        cwd: spec.cwd.clone(),
        workers: vec![worker],
        grace_seconds: spec.grace_seconds,
        sample_interval_ms: spec.sample_interval_ms,
        log_limit: spec.log_limit,
        // Each task fetches and uploads on its own node; the first one alone restores and
        // uploads the checkpoint folder (its tasks share the run folder).
        objects: spec.objects.clone().map(|mut o| {
            if index > 0 {
                o.checkpoint = None;
            }
            o
        }),
        run_as: spec.run_as,
        // Each task runs one worker, in its own container: tasks of one job meet at the first
        // node's address, which a private namespace per task cannot offer, so a job of
        // several tasks keeps the nodes' network (docs/security.md).
        network: if count > 1 {
            crate::Network::Host
        } else {
            spec.network
        },
    };
    if let Err(e) = files::write_json_atomic(&files::file(&dir, files::SPEC), &task_spec) {
        eprintln!("slurm-task: cannot write the task spec: {e}");
        return 2;
    }
    if crate::run_shim_durable(&dir) != 0 {
        return 2;
    }
    match files::read_exit(&dir).map(|e| e.outcome) {
        Some(RunOutcome::Succeeded) => 0,
        Some(RunOutcome::Failed {
            exit_code: Some(c), ..
        }) => c.clamp(1, 255),
        Some(RunOutcome::Failed {
            signal: Some(s), ..
        }) => 128 + s,
        Some(RunOutcome::Stopped) => 143,
        _ => 1,
    }
}
