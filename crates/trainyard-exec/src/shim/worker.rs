//! Starting worker processes and writing to their log files.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::log_pipe::LogPipe;
use crate::container::{self, ContainerError, ContainerRecord};
use crate::run_dir::open_log;
use crate::{proc, RunSpec, WorkerExit, WorkerRecord, WorkerSpec};

/// Longest wait for worker 0's container to run before another worker joins its network.
const JOIN_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A started worker as the shim tracks it.
pub struct Worker {
    /// Index in the spec.
    pub index: usize,
    /// PID, also the process group ID.
    pub pid: i32,
    /// Start time of the process.
    pub start_time: u64,
    /// Log file of the worker.
    pub log: PathBuf,
    /// The worker's container, when it runs in one.
    pub container: Option<ContainerRecord>,
    /// The host PID of the container's init, once known (its processes are not ours).
    pub container_pid: std::cell::Cell<Option<i32>>,
    /// Set once the worker has been reaped.
    pub exit: Option<WorkerExit>,
    /// The pipe the worker's output goes through, when the run caps its logs.
    pub log_pipe: Option<LogPipe>,
}

impl Worker {
    /// The record of this worker in `shim.json`.
    pub fn record(&self) -> WorkerRecord {
        WorkerRecord {
            index: self.index,
            pid: self.pid,
            pgid: self.pid,
            start_time: self.start_time,
            container: self.container.clone(),
        }
    }

    /// True until the worker has been reaped.
    pub fn running(&self) -> bool {
        self.exit.is_none()
    }

    /// Appends a `[trainyard] ...` line to the worker's log (best effort), after what the
    /// worker wrote before.
    pub fn log_line(&self, message: &str) {
        match &self.log_pipe {
            Some(pipe) => pipe.write_line(message),
            None => append_line(&self.log, message),
        }
    }

    /// Copies what the worker's log pipe holds into its log (nothing without a pipe).
    pub fn flush_log(&self) {
        if let Some(pipe) = &self.log_pipe {
            pipe.flush();
        }
    }

    /// The worker's log reached its cap and the run is to fail for it: the cap.
    pub fn log_limit_hit(&self) -> Option<u64> {
        let pipe = self.log_pipe.as_ref()?;
        pipe.limit_hit().then(|| pipe.limit().max_bytes)
    }

    /// The roots of the worker's process tree, for resource sampling: its own process, or
    /// its container's init (under conmon, not under us), found once the container runs.
    pub fn sample_roots(&self) -> Vec<i32> {
        let Some(c) = &self.container else {
            return vec![self.pid];
        };
        if self.container_pid.get().is_none() {
            self.container_pid.set(container::init_pid(c));
        }
        self.container_pid.get().into_iter().collect()
    }

    /// Sends SIGTERM to the worker: to its container through the runtime, else (or when the
    /// runtime cannot, the container not being up yet) to its process group. Blocking.
    pub fn terminate(&self) -> nix::Result<()> {
        match &self.container {
            Some(c) if container::terminate(c) => Ok(()),
            _ => crate::signal::group(self.pid, nix::sys::signal::Signal::SIGTERM),
        }
    }

    /// SIGKILLs the worker's container (its processes are outside the worker's process
    /// group); the worker, `podman run --rm`, then removes it and exits. Blocking.
    pub fn kill_container(&self) {
        if let Some(c) = &self.container {
            container::kill(c);
        }
    }

    /// Removes the worker's container if its `podman run` could not: it was killed by a
    /// signal (or never reaped). Blocking.
    pub fn remove_leftover_container(&self) {
        let clean_exit = self.exit.as_ref().is_some_and(|e| e.signal.is_none());
        if let (Some(c), false) = (&self.container, clean_exit) {
            container::remove(c);
        }
    }
}

/// Why a worker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The program could not be spawned.
    #[error("worker {index}: cannot start `{program}`: {source}")]
    Spawn {
        /// The worker.
        index: usize,
        /// What was started.
        program: String,
        /// Why it failed.
        source: io::Error,
    },
    /// The worker's container could not be made.
    #[error("worker {index}: {source}")]
    Container {
        /// The worker.
        index: usize,
        /// Why.
        source: ContainerError,
    },
}

/// Starts worker `index` of `spec` as the leader of a new process group.
pub fn start(spec: &RunSpec, index: usize) -> Result<Worker, StartError> {
    let w = &spec.workers[index];
    let result = match &w.container {
        None => try_start(spec, w, None)
            .map(|child| (child, None))
            .map_err(|source| StartError::Spawn {
                index,
                program: w.program.clone(),
                source,
            }),
        Some(c) => start_container(spec, w, c, index),
    };
    match result {
        Ok(((child, log_pipe), container)) => {
            let pid = child.id() as i32;
            // The child is not reaped before we wait for it, so its /proc entry exists.
            let start_time = proc::start_time(pid).unwrap_or(0);
            // `Child` is dropped without waiting: the shim reaps with waitpid itself.
            drop(child);
            Ok(Worker {
                index,
                pid,
                start_time,
                log: w.log_file.clone(),
                container,
                container_pid: std::cell::Cell::new(None),
                exit: None,
                log_pipe,
            })
        }
        Err(e) => {
            append_line(&w.log_file, &format!("[trainyard] {e}"));
            Err(e)
        }
    }
}

fn start_container(
    spec: &RunSpec,
    w: &WorkerSpec,
    c: &crate::ContainerSpec,
    index: usize,
) -> Result<(Started, Option<ContainerRecord>), StartError> {
    container::ensure_image(c, &w.log_file)
        .map_err(|source| StartError::Container { index, source })?;
    let record = ContainerRecord {
        runtime: c.runtime.clone(),
        name: container::name(&spec.run_dir, index),
    };
    let network = match (spec.network, index) {
        (crate::Network::Host, _) => container::NetworkArg::Host,
        (crate::Network::Private, 0) => container::NetworkArg::Own,
        (crate::Network::Isolated, 0) => container::NetworkArg::None,
        (crate::Network::Private | crate::Network::Isolated, _) => {
            // Worker 0's namespace is joined, so it must be up: its `podman run` was only
            // spawned.
            let first = container::name(&spec.run_dir, 0);
            container::wait_running(&c.runtime, &first, JOIN_WAIT)
                .map_err(|source| StartError::Container { index, source })?;
            container::NetworkArg::Join(first)
        }
    };
    let args = container::run_args(c, w, &record.name, &network, spec.run_as);
    let child =
        try_start(spec, w, Some((&c.runtime, &args))).map_err(|source| StartError::Container {
            index,
            source: ContainerError::Runtime {
                runtime: c.runtime.clone(),
                source,
            },
        })?;
    Ok((child, Some(record)))
}

/// A spawned worker and the pipe its output goes through, if any.
type Started = (std::process::Child, Option<LogPipe>);

/// Spawns the worker's program, or `runtime args` for a container worker (which keeps the
/// shim's environment: the worker's own goes into the container).
fn try_start(
    spec: &RunSpec,
    w: &WorkerSpec,
    container: Option<(&PathBuf, &Vec<String>)>,
) -> io::Result<Started> {
    let (log, log_pipe) = worker_output(spec, w)?;
    let host = container.is_none();
    let who = spec.run_as.filter(|_| crate::sandbox::privileged());
    // A host worker with a network of its own: the namespace is made in the hook below,
    // as root, so the hook (not std, whose drop comes first) drops to the job's user after it.
    let own_network = match (host, spec.network) {
        (true, crate::Network::Isolated) => Some(isolated_user(who, &spec.cwd)?),
        _ => None,
    };
    let mut cmd = match container {
        None => {
            let mut cmd = Command::new(&w.program);
            cmd.args(&w.args)
                .env_clear()
                .envs(w.env.iter().map(|(k, v)| (k, v)));
            if let (Some(who), None) = (who, &own_network) {
                // std sets the group, clears the supplementary groups and sets the user, then
                // changes into the working directory as that user.
                cmd.uid(who.uid).gid(who.gid);
            }
            cmd
        }
        Some((runtime, args)) => {
            let mut cmd = Command::new(runtime);
            cmd.args(args);
            cmd
        }
    };
    cmd.current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0);
    // SAFETY: only async-signal-safe calls (sigprocmask, signal, umask, prctl) between fork
    // and exec.
    unsafe {
        cmd.pre_exec(move || {
            reset_signals();
            if let Some((who, cwd)) = &own_network {
                crate::netns::enter_own()?;
                crate::sandbox::become_user(*who)?;
                // std changed into it as root: again as the user, who must be let in.
                if libc::chdir(cwd.as_ptr()) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            // The server's files are private (umask 077); a job's are its own business.
            libc::umask(0o022);
            // No set-uid program brings a job back to more privileges than it started with
            // (a container gets the same from its runtime: `no-new-privileges`).
            if host && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // The copier first: a worker whose pipe nobody drains would block once it is full.
    if let Some(pipe) = &log_pipe {
        pipe.spawn_copier()?;
    }
    let child = cmd.spawn();
    // `cmd` held our copy of the pipe's write end: closed with it, so the copier sees the
    // end of the output once the worker's processes are gone (at once if none started).
    drop(cmd);
    Ok((child?, log_pipe))
}

// --- Log plumbing: where a worker's stdout and stderr go (see `log_pipe`). ---

/// The worker's stdout/stderr: its log file, or the write end of a pipe the shim copies into
/// the log when the run caps its logs.
fn worker_output(spec: &RunSpec, w: &WorkerSpec) -> io::Result<(File, Option<LogPipe>)> {
    match spec.log_limit {
        None => Ok((open_log(&w.log_file)?, None)),
        Some(limit) => {
            let (pipe, write_end) = LogPipe::open(&w.log_file, limit)?;
            Ok((write_end, Some(pipe)))
        }
    }
}

/// The user (and working directory, for the hook) a host worker with a network of its own
/// runs as. Making the namespace takes root: a shim without it refuses the run rather than
/// give the worker the host's network.
fn isolated_user(
    who: Option<crate::RunAs>,
    cwd: &Path,
) -> io::Result<(crate::RunAs, std::ffi::CString)> {
    let who = who.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            "a run with a network of its own (network = isolated) needs a root shim that runs it as its project's user",
        )
    })?;
    let cwd = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(cwd.as_os_str()))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    Ok((who, cwd))
}

/// Gives the worker a clean signal state: the shim's blocked set (TERM, INT, CHLD) and any
/// ignored disposition inherited from whoever started the server (e.g. SIGINT/SIGQUIT of a
/// background shell job) would otherwise make the job deaf to stop requests.
fn reset_signals() {
    // SAFETY: plain libc calls on valid arguments; async-signal-safe.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
}

/// Appends `line` to the log at `path`, starting a new line if the log does not end with one.
pub fn append_line(path: &Path, line: &str) {
    let result = (|| {
        let mut f = open_log(path)?;
        let mut text = String::new();
        let len = f.metadata()?.len();
        if len > 0 {
            let mut last = [0u8];
            let mut r = File::open(path)?;
            r.seek(SeekFrom::Start(len - 1))?;
            r.read_exact(&mut last)?;
            if last[0] != b'\n' {
                text.push('\n');
            }
        }
        text.push_str(line);
        text.push('\n');
        f.write_all(text.as_bytes())
    })();
    if let Err(e) = result {
        tracing::warn!(log = %path.display(), error = %e, "cannot append to worker log");
    }
}

/// Decodes a `waitpid` status into a [`WorkerExit`].
pub fn exit_from_status(index: usize, status: libc::c_int) -> WorkerExit {
    if libc::WIFEXITED(status) {
        WorkerExit {
            index,
            exit_code: Some(libc::WEXITSTATUS(status)),
            signal: None,
        }
    } else if libc::WIFSIGNALED(status) {
        WorkerExit {
            index,
            exit_code: None,
            signal: Some(libc::WTERMSIG(status)),
        }
    } else {
        WorkerExit {
            index,
            exit_code: None,
            signal: None,
        }
    }
}

/// The `[trainyard] worker <i> ...` line for an exit.
pub fn exit_message(exit: &WorkerExit) -> String {
    match (exit.exit_code, exit.signal) {
        (Some(code), _) => format!("[trainyard] worker {} exited with code {code}", exit.index),
        (None, Some(sig)) => format!("[trainyard] worker {} killed by signal {sig}", exit.index),
        (None, None) => format!("[trainyard] worker {} ended", exit.index),
    }
}
