//! Starting a run under a shim, and watching it until it ends.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::{proc, run_dir, Error, ExecHandle, Result, RunExit, RunSpec};

/// How often a reattached run's shim is checked in `/proc`.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Start the shim for `spec`: writes `spec.json`, spawns `<shim_program> shim <run_dir>`.
///
/// Returns once the shim is spawned and its start time read. The shim's stdout and stderr go to
/// `<run_dir>/shim.log`. Stale `exit.json`/`stop.json`/`workers.json`/`shim.json` from an
/// earlier use of the directory are removed first.
pub async fn launch(spec: &RunSpec, shim_program: &Path) -> Result<(ExecHandle, Running)> {
    let spec = spec.clone();
    let (dir, log) = tokio::task::spawn_blocking(move || prepare(spec))
        .await
        .map_err(|e| Error::Spawn(format!("preparing the run directory panicked: {e}")))??;

    let mut cmd = tokio::process::Command::new(shim_program);
    cmd.arg("shim")
        .arg(&dir)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let child = cmd
        .spawn()
        .map_err(|e| Error::Spawn(format!("{}: {e}", shim_program.display())))?;
    let pid = child
        .id()
        .ok_or_else(|| Error::Spawn("shim exited at once".into()))? as i32;
    // The shim is our unreaped child, so its /proc entry exists even if it already exited.
    let start_time = proc::start_time(pid)
        .ok_or_else(|| Error::Spawn(format!("shim {pid} has no /proc entry")))?;
    let handle = ExecHandle {
        shim_pid: pid,
        shim_start_time: start_time,
    };
    tracing::info!(proc.pid = pid, run_dir = %dir.display(), "shim started");
    Ok((
        handle,
        Running {
            run_dir: dir,
            handle,
            watch: Watch::Child(child),
        },
    ))
}

/// Creates the run directory, clears stale files, writes `spec.json`, opens `shim.log`.
fn prepare(mut spec: RunSpec) -> Result<(PathBuf, File)> {
    fs::create_dir_all(&spec.run_dir)?;
    let dir = fs::canonicalize(&spec.run_dir)?;
    for stale in [
        run_dir::EXIT,
        run_dir::STOP,
        run_dir::WORKERS,
        run_dir::SHIM,
    ] {
        match fs::remove_file(run_dir::file(&dir, stale)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    spec.run_dir = dir.clone();
    run_dir::write_json_atomic(&run_dir::file(&dir, run_dir::SPEC), &spec)?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(run_dir::file(&dir, run_dir::SHIM_LOG))?;
    Ok((dir, log))
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

    /// Wait for the shim to end. Returns the content of `exit.json`, or `None` if the shim
    /// vanished without writing it (the run is lost).
    ///
    /// Cancel-safe: it can sit in `tokio::select!` and be called again.
    pub async fn wait(&mut self) -> Option<RunExit> {
        if let Watch::Child(child) = &mut self.watch {
            if let Err(e) = child.wait().await {
                tracing::warn!(proc.pid = self.handle.shim_pid, error = %e, "waiting for the shim failed; polling");
                self.watch = Watch::Poll;
            }
        }
        if let Watch::Poll = self.watch {
            while proc::is_alive(self.handle.shim_pid, self.handle.shim_start_time) {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        }
        let dir = self.run_dir.clone();
        tokio::task::spawn_blocking(move || run_dir::read_exit(&dir))
            .await
            .ok()
            .flatten()
    }
}
