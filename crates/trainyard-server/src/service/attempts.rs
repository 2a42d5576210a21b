//! Attempts of a version's run (retries, `config.retry_policy`): the run folder of each
//! attempt but the current one is kept aside, its worker logs listed as
//! `attempt-<n>/<job_name>.<index>`, and the last log lines the retry decision reads.

use std::io;
use std::path::{Path, PathBuf};
use trainyard_api::training::RetryPolicy;
use trainyard_exec::run_dir;
use trainyard_sched::plan::{log_name, logs_dir, worker_count};
use trainyard_store::Version;

/// The folder of the run folder where attempt `n`'s own files (claims, exit, supervisor log)
/// are kept once a next attempt starts: `attempts/<n>/`.
pub fn attempt_dir(run_dir: &Path, n: i64) -> PathBuf {
    run_dir.join("attempts").join(n.to_string())
}

/// The folder of the logs folder holding attempt `n`'s worker logs: `logs/attempt-<n>/`.
pub fn attempt_logs_dir(run_dir: &Path, n: i64) -> PathBuf {
    logs_dir(run_dir).join(format!("attempt-{n}"))
}

/// The files of one attempt in the run folder: what the shim (or the Slurm job and its
/// tasks) claims and writes. The code, the outputs and the spec stay for the next one.
fn is_attempt_file(name: &str) -> bool {
    [
        run_dir::SHIM,
        run_dir::WORKERS,
        run_dir::STOP,
        run_dir::EXIT,
        run_dir::SHIM_LOG,
        trainyard_exec::slurm::CLAIM_DIR,
        // Left in place, the batch script would make the next submission follow the
        // earlier attempt's Slurm job instead of submitting its own.
        trainyard_exec::slurm::BATCH_SCRIPT,
        trainyard_exec::slurm::OUTPUT,
    ]
    .contains(&name)
        || name
            .strip_prefix("task-")
            .is_some_and(|i| i.parse::<u32>().is_ok())
}

/// Moves attempt `n`'s files aside (see [`attempt_dir`], [`attempt_logs_dir`]) so that the
/// next attempt starts on a clean run folder with the same layout, and its shim's claim is
/// its own. Idempotent: a restart between two moves finishes the job, and a file already
/// moved is not moved again.
pub fn archive(run_dir: &Path, n: i64) -> io::Result<()> {
    let keep = attempt_dir(run_dir, n);
    std::fs::create_dir_all(&keep)?;
    for entry in std::fs::read_dir(run_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_str().is_some_and(is_attempt_file) && !keep.join(&name).exists() {
            std::fs::rename(entry.path(), keep.join(&name))?;
        }
    }
    let logs = logs_dir(run_dir);
    let kept_logs = attempt_logs_dir(run_dir, n);
    std::fs::create_dir_all(&kept_logs)?;
    for entry in std::fs::read_dir(&logs)? {
        let entry = entry?;
        if entry.file_type()?.is_file() && !kept_logs.join(entry.file_name()).exists() {
            std::fs::rename(entry.path(), kept_logs.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// The worker logs of the earlier attempts, oldest attempt first, each by worker index:
/// (`attempt-<n>/<job_name>.<index>`, path).
pub fn earlier_logs(run_dir: &Path, job_name: &str) -> Vec<(String, PathBuf)> {
    let prefix = format!("{job_name}.");
    let mut found: Vec<(i64, usize, String, PathBuf)> = Vec::new();
    let Ok(dirs) = std::fs::read_dir(logs_dir(run_dir)) else {
        return Vec::new();
    };
    for dir in dirs.flatten() {
        let Some(folder) = dir.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some(n) = folder
            .strip_prefix("attempt-")
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        for file in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let Some(name) = file.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if let Some(index) = name
                .strip_prefix(&prefix)
                .and_then(|i| i.parse::<usize>().ok())
            {
                found.push((n, index, format!("{folder}/{name}"), file.path()));
            }
        }
    }
    found.sort();
    found.into_iter().map(|(_, _, n, p)| (n, p)).collect()
}

/// The last lines of each worker's log of the current attempt, for `on_log_pattern`.
pub fn tail(v: &Version, job_name: &str) -> Vec<String> {
    let logs = logs_dir(Path::new(&v.run_dir));
    let mut lines = Vec::new();
    for i in 0..worker_count(v.config.worker_server_num) {
        let path = logs.join(log_name(job_name, i));
        if let Ok(page) = trainyard_exec::logs::read_page(
            &path,
            None,
            trainyard_sched::retry::TAIL_LINES,
            trainyard_exec::logs::Order::Desc,
        ) {
            lines.extend(page.content.lines().map(str::to_owned));
        }
    }
    lines
}

/// The retry policy of `v`: its own, else its project's default.
pub fn policy<'a>(
    v: &'a Version,
    defaults: &'a std::collections::HashMap<String, RetryPolicy>,
) -> Option<&'a RetryPolicy> {
    v.config
        .retry_policy
        .as_ref()
        .or_else(|| defaults.get(&v.project_id))
}
