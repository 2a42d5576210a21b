//! Helpers of the integration tests: specs for `sh` workers, deadlines, teardown.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::killpg;
use nix::unistd::Pid;
use trainyard_exec::{run_dir, RunSpec, WorkerRecord, WorkerSpec};

/// The test shim binary built from this crate.
pub fn shim() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_trainyard-test-shim"))
}

/// A worker running `sh -c script`, logging to `<dir>/logs/worker-<index>.log`.
pub fn sh_worker(dir: &Path, index: usize, script: &str) -> WorkerSpec {
    WorkerSpec {
        program: "sh".into(),
        args: vec!["-c".into(), script.into()],
        env: vec![
            (
                "PATH".into(),
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
            ),
            ("RANK".into(), index.to_string()),
        ],
        log_file: dir.join("logs").join(format!("worker-{index}.log")),
        container: None,
    }
}

/// A spec with run dir `<dir>/run` and cwd `<dir>/work` (created).
pub fn spec(dir: &Path, workers: Vec<WorkerSpec>, grace_seconds: u64) -> RunSpec {
    let cwd = dir.join("work");
    std::fs::create_dir_all(&cwd).unwrap();
    RunSpec {
        run_dir: dir.join("run"),
        cwd,
        workers,
        grace_seconds,
        sample_interval_ms: None,
        objects: None,
        run_as: None,
        network: Default::default(),
        log_limit: None,
    }
}

/// Polls `cond` every 10 ms until it holds; panics with `what` after `limit`.
pub async fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the run's record lists `n` workers and returns them.
pub async fn wait_for_workers(run_dir: &Path, n: usize) -> Vec<WorkerRecord> {
    wait_until(Duration::from_secs(10), "recorded workers", || {
        run_dir::read_workers(run_dir).len() == n
    })
    .await;
    run_dir::read_workers(run_dir)
}

/// True when no process (zombies included) is left in group `pgid`.
pub fn group_gone(pgid: i32) -> bool {
    killpg(Pid::from_raw(pgid), None) == Err(Errno::ESRCH)
}

/// Reads a worker log.
pub fn log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Kills whatever a test left running in its run dir.
pub struct Teardown(pub PathBuf);

impl Drop for Teardown {
    fn drop(&mut self) {
        trainyard_exec::kill_run(&self.0);
    }
}
