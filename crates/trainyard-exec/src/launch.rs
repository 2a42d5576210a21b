//! Starting a run under a shim, and watching it until it ends.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::spare::Shims;

use crate::{
    proc, run_dir, signal, Error, ExecHandle, Result, RunExit, RunOutcome, RunSpec, StopRequest,
};

/// How often a reattached run's shim is checked in `/proc` where the kernel has no pidfd.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Start the shim for `spec`: writes `spec.json`, starts `<shim_program> shim -` and hands it
/// the run folder (see [`Shims`]; no spares kept).
///
/// Returns once the shim is started and its start time read. The shim sends its stdout and
/// stderr to `<run_dir>/shim.log`. Nothing of an earlier launch into the same directory is
/// removed: the shim that claims the run first (`shim.json`) is the only one that ever starts
/// its workers, and [`Running::wait`] follows that one, so launching again after a server
/// crash can never run the job twice.
pub async fn launch(spec: &RunSpec, shim_program: &Path) -> Result<(ExecHandle, Running)> {
    launch_on(spec, &Shims::new(shim_program.to_owned(), 0)).await
}

/// As [`launch`], with a shim of `shims` (an idle spare when one is ready).
pub(crate) async fn launch_on(spec: &RunSpec, shims: &Arc<Shims>) -> Result<(ExecHandle, Running)> {
    let spec = spec.clone();
    let dir = tokio::task::spawn_blocking(move || prepare(spec))
        .await
        .map_err(|e| Error::Spawn(format!("preparing the run directory panicked: {e}")))??;
    tracing::debug!(run_dir = %dir.display(), "run folder ready");
    let (handle, child) = shims.start(&dir).await?;
    tracing::info!(proc.pid = handle.shim_pid, run_dir = %dir.display(), "shim started");
    Ok((
        handle,
        Running {
            run_dir: dir,
            handle,
            watch: Watch::Child(child),
        },
    ))
}

/// Makes `run_dir` ready for a new run of something restartable (a visualization server):
/// removes the previous run's claim, stop request, workers and exit. Refused while the shim
/// that claimed the previous run is alive. Training jobs never reuse a run directory, so
/// their runs cannot be started twice.
pub fn reset_run_dir(run_dir: &Path) -> Result<()> {
    if let Some(owner) = run_dir::read_claim(run_dir) {
        if proc::is_alive(owner.pid, owner.start_time) {
            return Err(Error::Spawn(format!(
                "the previous run in {} is still alive (shim {})",
                run_dir.display(),
                owner.pid
            )));
        }
    }
    for stale in [
        run_dir::EXIT,
        run_dir::STOP,
        run_dir::WORKERS,
        run_dir::SHIM,
    ] {
        match fs::remove_file(run_dir::file(run_dir, stale)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    Ok(())
}

/// Creates the run directory, writes `spec.json`; returns the directory's canonical path.
fn prepare(mut spec: RunSpec) -> Result<PathBuf> {
    fs::create_dir_all(&spec.run_dir)?;
    let dir = fs::canonicalize(&spec.run_dir)?;
    spec.run_dir = dir.clone();
    run_dir::write_json_atomic(&run_dir::file(&dir, run_dir::SPEC), &spec)?;
    Ok(dir)
}

/// A live run we are watching.
#[derive(Debug)]
pub struct Running {
    run_dir: PathBuf,
    handle: ExecHandle,
    watch: Watch,
}

#[derive(Debug)]
enum Watch {
    /// We spawned the shim: wait on it (this also reaps it).
    Child(tokio::process::Child),
    /// The shim belongs to an earlier server process: poll `/proc`.
    Poll,
}

impl Running {
    /// A watcher for a shim we did not spawn (after a server restart).
    pub(crate) fn polling(run_dir: &Path, handle: ExecHandle) -> Self {
        Self {
            run_dir: run_dir.to_owned(),
            handle,
            watch: Watch::Poll,
        }
    }

    /// The handle to persist for this run.
    pub fn handle(&self) -> ExecHandle {
        self.handle
    }

    /// The run directory.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Wait for the run to end. Returns the content of `exit.json`, or `None` if the shim
    /// that owns the run vanished without writing it (the run is lost; its recorded worker
    /// groups have been SIGKILLed, start-time checked, so nothing of it runs on).
    ///
    /// When the shim we launched lost the claim to another one (a launch before a server
    /// crash), this follows the owner instead. When no shim ever claimed the run, the run
    /// is marked stopped (so a late claimer starts nothing) and reported as never started.
    ///
    /// Cancel-safe: it can sit in `tokio::select!` and be called again.
    pub async fn wait(&mut self) -> Option<RunExit> {
        loop {
            if let Watch::Child(child) = &mut self.watch {
                if let Err(e) = child.wait().await {
                    tracing::warn!(proc.pid = self.handle.shim_pid, error = %e, "waiting for the shim failed; polling");
                    self.watch = Watch::Poll;
                }
            }
            if let Watch::Poll = self.watch {
                wait_gone(self.handle).await;
            }
            let (dir, current) = (self.run_dir.clone(), self.handle);
            let settled = tokio::task::spawn_blocking(move || settle(&dir, current)).await;
            match settled {
                Ok(Settled::Ended(exit)) => return exit,
                Ok(Settled::Owner(owner)) => {
                    tracing::info!(
                        proc.pid = owner.shim_pid,
                        "another shim owns this run; following it"
                    );
                    self.handle = owner;
                    self.watch = Watch::Poll;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "settling a run panicked");
                    return None;
                }
            }
        }
    }
}

/// Returns once `shim` (not our child) is gone: woken by the kernel through a pidfd, or,
/// where the kernel has none (before Linux 5.3), by looking at `/proc` every
/// [`POLL_INTERVAL`].
async fn wait_gone(shim: ExecHandle) {
    if let Some(exited) = proc::Exited::open(shim.shim_pid) {
        // Opened first, checked second: the pidfd is of the process that started then, not
        // of a later one that reused its PID.
        if !proc::is_alive(shim.shim_pid, shim.shim_start_time) {
            return;
        }
        // SAFETY: the descriptor is owned by the `Exited` moved in, so it stays open for as
        // long as the `AsyncFd` is registered.
        match unsafe { tokio::io::unix::AsyncFd::register(exited) } {
            Ok(fd) => {
                if fd.readable().await.is_ok() {
                    return;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot wait on a pidfd; polling"),
        }
    }
    while proc::is_alive(shim.shim_pid, shim.shim_start_time) {
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// What is known once the shim we watched is gone.
enum Settled {
    /// The run is over: its `exit.json`, or `None` when it is lost.
    Ended(Option<RunExit>),
    /// Another live shim owns the run.
    Owner(ExecHandle),
}

/// Decides, from the run directory alone, how a run stands after `gone` (a shim) ended.
fn settle(run_dir: &Path, gone: ExecHandle) -> Settled {
    if let Some(exit) = run_dir::read_exit(run_dir) {
        return Settled::Ended(Some(exit));
    }
    match run_dir::read_claim(run_dir).map(ExecHandle::from) {
        Some(owner) if owner != gone && proc::is_alive(owner.shim_pid, owner.shim_start_time) => {
            return Settled::Owner(owner)
        }
        Some(_) => {}
        None => {
            // Nobody claimed the run. Mark it stopped first, so a shim that claims it later
            // (one launched just before a crash) starts nothing; then look once more.
            let stop = StopRequest { grace_seconds: 0 };
            if let Err(e) =
                run_dir::write_json_atomic(&run_dir::file(run_dir, run_dir::STOP), &stop)
            {
                tracing::warn!(run_dir = %run_dir.display(), error = %e, "cannot write stop.json");
            }
            if let Some(owner) = run_dir::read_claim(run_dir).map(ExecHandle::from) {
                if proc::is_alive(owner.shim_pid, owner.shim_start_time) {
                    return Settled::Owner(owner);
                }
            } else {
                return Settled::Ended(Some(RunExit {
                    outcome: RunOutcome::SpawnFailed {
                        message: "the run supervisor exited before starting any worker (see shim.log in the run directory)".into(),
                    },
                    workers: vec![],
                }));
            }
        }
    }
    // The owner died; it may have written exit.json just before.
    if let Some(exit) = run_dir::read_exit(run_dir) {
        return Settled::Ended(Some(exit));
    }
    tracing::warn!(run_dir = %run_dir.display(), "run lost: shim gone without exit.json; killing its workers");
    signal::kill_recorded(run_dir);
    Settled::Ended(None)
}
