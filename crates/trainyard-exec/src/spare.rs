//! Shims started ahead of their runs (*spares*): the server keeps a few `<shim> shim -`
//! processes exec'd, loaded and waiting on a pipe for the run folder they will supervise, so
//! a run's start does not wait for the exec, the dynamic loader and the shim's set-up (about
//! 1.5 ms of a trivial run's start on this project's 2-core machine, bench/results.md, issue
//! #32).
//!
//! A spare is an ordinary shim once it is given its run: it claims the run (`shim.json`), and
//! it lives in a session of its own, so it outlives its server exactly as a shim started for
//! the run would. Its run folder comes on its stdin, the write end of which only the server
//! holds: the server writes the folder and closes its end, and a spare whose server died (or
//! dropped it) reads end-of-file with nothing and exits by itself, having started nothing.

use std::collections::VecDeque;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};

use crate::{proc, Error, ExecHandle, Result};

/// The shim's argument in place of a run folder: "read the run folder from stdin" (`<shim>
/// shim -`), which is how every local run's shim is started.
pub const RUN_DIR_ON_STDIN: &str = "-";

/// The shims of a server's local runs: spares kept ready, and new ones when none is.
#[derive(Debug)]
pub struct Shims {
    program: PathBuf,
    /// How many idle spares to keep.
    keep: usize,
    pool: Mutex<Pool>,
}

#[derive(Debug, Default)]
struct Pool {
    idle: VecDeque<Spare>,
    /// Spares being started now (counted against `keep`).
    starting: usize,
}

/// An idle spare: our child, waiting for its run folder on the pipe we hold.
#[derive(Debug)]
struct Spare {
    child: Child,
    assign: ChildStdin,
    handle: ExecHandle,
}

impl Shims {
    /// Shims of `program` (`<program> shim -`), keeping `keep` idle spares once the first
    /// run has started (none: each run's shim is started for it).
    pub fn new(program: PathBuf, keep: usize) -> Arc<Self> {
        Arc::new(Self {
            program,
            keep,
            pool: Mutex::default(),
        })
    }

    /// Starts the shim of the run in `run_dir`: hands the run to an idle spare, else to a
    /// shim started now; then tops the spares up in the background. Returns the shim's handle
    /// and the child to wait on.
    pub(crate) async fn start(self: &Arc<Self>, run_dir: &Path) -> Result<(ExecHandle, Child)> {
        loop {
            let Some(spare) = self.pool().idle.pop_front() else {
                break;
            };
            match spare.assign(run_dir).await {
                Ok(started) => {
                    tracing::debug!(
                        proc.pid = started.0.shim_pid,
                        "run handed to an idle spare shim"
                    );
                    self.top_up();
                    return Ok(started);
                }
                // It died idle (killed from outside): try the next one.
                Err(e) => tracing::warn!(error = %e, "a spare shim is gone; taking another"),
            }
        }
        if self.keep > 0 {
            tracing::debug!("no idle spare shim; starting one for the run");
        }
        let started = spawn(&self.program)?.assign(run_dir).await;
        self.top_up();
        started
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts spares in the background until `keep` are idle or starting.
    fn top_up(self: &Arc<Self>) {
        let missing = {
            let mut pool = self.pool();
            let missing = self.keep.saturating_sub(pool.idle.len() + pool.starting);
            pool.starting += missing;
            missing
        };
        for _ in 0..missing {
            let me = self.clone();
            tokio::spawn(async move {
                let spare = spawn(&me.program);
                let mut pool = me.pool();
                pool.starting -= 1;
                match spare {
                    Ok(spare) => pool.idle.push_back(spare),
                    Err(e) => tracing::warn!(error = %e, "cannot start a spare shim"),
                }
            });
        }
    }
}

/// Starts `<program> shim -`, idle until it is given a run folder. A clean environment:
/// nothing of the server's (keys, database URL, settings) is in the shim's
/// `/proc/<pid>/environ`, nor handed on to the workers; only its log level, so the shim logs
/// (into `shim.log`) what the server would.
fn spawn(program: &Path) -> Result<Spare> {
    let mut child = Command::new(program)
        .arg("shim")
        .arg(RUN_DIR_ON_STDIN)
        .env_clear()
        .envs(crate::sandbox::clean_env())
        .envs(std::env::var_os("RUST_LOG").map(|level| ("RUST_LOG", level)))
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Spawn(format!("{}: {e}", program.display())))?;
    let pid = child
        .id()
        .ok_or_else(|| Error::Spawn("shim exited at once".into()))? as i32;
    // Our unreaped child, so its /proc entry exists even if it already exited.
    let start_time = proc::start_time(pid)
        .ok_or_else(|| Error::Spawn(format!("shim {pid} has no /proc entry")))?;
    let assign = child.stdin.take().expect("stdin is piped");
    Ok(Spare {
        child,
        assign,
        handle: ExecHandle {
            shim_pid: pid,
            shim_start_time: start_time,
        },
    })
}

impl Spare {
    /// Gives the spare its run: writes the folder and closes the pipe (end of file tells the
    /// shim the folder is whole). Fails when the spare is gone.
    async fn assign(mut self, run_dir: &Path) -> Result<(ExecHandle, Child)> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Err(Error::Spawn(format!("the spare shim exited ({status})")));
        }
        self.assign
            .write_all(run_dir.as_os_str().as_bytes())
            .await
            .map_err(|e| Error::Spawn(format!("cannot hand the run to its shim: {e}")))?;
        drop(self.assign);
        Ok((self.handle, self.child))
    }
}
