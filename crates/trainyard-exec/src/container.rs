//! Workers that run inside a container (podman): the command line that starts one, the image
//! check before it, and the removal after it.
//!
//! The shim starts `podman run` in the foreground as the worker's process-group leader, so
//! the worker is supervised like a host process: its stdout and stderr (attached by podman)
//! land in the worker's log, its exit code is the container's, and a SIGTERM to the group
//! reaches the container's init through podman's signal proxy. What a signal to the group
//! cannot do, because the container runs under conmon outside the group, is kill it: the
//! SIGKILL paths (grace over, lost shim) kill and remove the container by name.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::{ContainerSpec, WorkerSpec};

/// What the shim records of a container worker, enough to kill and remove it later.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContainerRecord {
    /// The container runtime (podman).
    pub runtime: PathBuf,
    /// The container's name.
    pub name: String,
}

/// Why a container worker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// The runtime itself could not be run.
    #[error("cannot run {runtime}: {source}")]
    Runtime {
        /// The runtime.
        runtime: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The image is not on this host and could not be pulled.
    #[error("image {image} is not on this host and pulling it failed ({reason})")]
    Pull {
        /// The image reference.
        image: String,
        /// Why, for the log.
        reason: PullFailure,
    },
    /// Worker 0's container, whose network the others join, did not come up.
    #[error("container {name} (worker 0, whose network this worker joins) was not running after {} s", waited.as_secs())]
    NotUp {
        /// Worker 0's container.
        name: String,
        /// How long we waited.
        waited: Duration,
    },
}

/// How a pull failed.
#[derive(Debug)]
pub enum PullFailure {
    /// The runtime answered with this exit code (its message is in the worker's log).
    Exit(Option<i32>),
    /// It did not finish within this time.
    TimedOut(Duration),
}

impl fmt::Display for PullFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exit(Some(code)) => write!(f, "the pull exited with code {code}; see above"),
            Self::Exit(None) => write!(f, "the pull was killed"),
            Self::TimedOut(t) => write!(
                f,
                "no registry answered within {} s; make the image on this host (podman load/import) or make its registry reachable",
                t.as_secs()
            ),
        }
    }
}

/// The name of worker `index`'s container in the run at `run_dir`: unique per run directory
/// on this host (two servers on one host never share one), and the same on every launch, so
/// a container left over from a lost shim is replaced, never doubled.
pub fn name(run_dir: &Path, index: usize) -> String {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let hash = run_dir
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("trainyard-{hash:016x}-{index}")
}

/// Where a worker's container gets its network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkArg {
    /// A namespace of its own, with user-mode networking: it reaches out, but neither the
    /// host's loopback (the server, visualization servers) nor other runs' containers.
    Own,
    /// The namespace of this container (worker 0's): the run's workers share one loopback.
    Join(String),
    /// None but a loopback of its own.
    None,
    /// The host's.
    Host,
}

impl NetworkArg {
    fn arg(&self) -> String {
        match self {
            Self::Own => "--network=slirp4netns".to_owned(),
            Self::Join(name) => format!("--network=container:{name}"),
            Self::None => "--network=none".to_owned(),
            Self::Host => "--network=host".to_owned(),
        }
    }
}

/// The arguments of `podman` that run worker `w` in container `name`, with its ids mapped
/// onto `run_as` (the container's root is that user on the host).
pub fn run_args(
    c: &ContainerSpec,
    w: &WorkerSpec,
    name: &str,
    network: &NetworkArg,
    run_as: Option<crate::RunAs>,
) -> Vec<String> {
    let mut args: Vec<String> = [
        "run",
        "--rm",
        "--replace",
        "--init",
        "--pull=never",
        "--sig-proxy=true",
        "--security-opt=no-new-privileges",
        &network.arg(),
        "--name",
        name,
        "--workdir",
        &c.workdir,
    ]
    .map(str::to_owned)
    .into();
    if let Some(who) = run_as {
        args.extend(who.container_args());
    }
    for m in &c.mounts {
        let mode = if m.read_only { "ro" } else { "rw" };
        args.push("--volume".into());
        args.push(format!("{}:{}:{mode}", m.host.display(), m.container));
    }
    for (k, v) in &w.env {
        args.push("--env".into());
        args.push(format!("{k}={v}"));
    }
    if let Some(cpus) = c.cpus.filter(|n| *n > 0) {
        args.push(format!("--cpus={cpus}"));
    }
    if let Some(mb) = c.memory_mb.filter(|n| *n > 0) {
        args.push(format!("--memory={mb}m"));
    }
    for gpu in &c.gpus {
        // CDI names (nvidia-ctk cdi generate): the same indices the host backend hands out.
        args.push(format!("--device=nvidia.com/gpu={gpu}"));
    }
    args.push(c.image.clone());
    args.push(w.program.clone());
    args.extend(w.args.iter().cloned());
    args
}

/// Makes sure `c.image` is on this host: present, or pulled within `c.pull_timeout_seconds`
/// (the pull's own output goes to `log`). A registry that does not answer fails the start
/// instead of hanging it.
pub fn ensure_image(c: &ContainerSpec, log: &Path) -> Result<(), ContainerError> {
    let runtime_err = |source| ContainerError::Runtime {
        runtime: c.runtime.clone(),
        source,
    };
    let exists = Command::new(&c.runtime)
        .args(["image", "exists", &c.image])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(runtime_err)?;
    if exists.success() {
        return Ok(());
    }
    append(
        log,
        &format!(
            "[trainyard] image {} is not on this host; pulling it",
            c.image
        ),
    );
    let out = crate::run_dir::open_log(log).map_err(runtime_err)?;
    let mut pull = Command::new(&c.runtime)
        .args(["pull", "--quiet", &c.image])
        .stdin(Stdio::null())
        .stdout(out.try_clone().map_err(runtime_err)?)
        .stderr(out)
        .spawn()
        .map_err(runtime_err)?;
    let limit = Duration::from_secs(c.pull_timeout_seconds);
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = pull.try_wait().map_err(runtime_err)? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = pull.kill();
            let _ = pull.wait();
            return Err(ContainerError::Pull {
                image: c.image.clone(),
                reason: PullFailure::TimedOut(limit),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if status.success() {
        Ok(())
    } else {
        Err(ContainerError::Pull {
            image: c.image.clone(),
            reason: PullFailure::Exit(status.code()),
        })
    }
}

/// Waits until container `name` runs, at most `limit`. Blocking.
pub fn wait_running(runtime: &Path, name: &str, limit: Duration) -> Result<(), ContainerError> {
    let deadline = Instant::now() + limit;
    loop {
        let out = Command::new(runtime)
            .args(["inspect", "--format", "{{.State.Running}}", name])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|source| ContainerError::Runtime {
                runtime: runtime.to_owned(),
                source,
            })?;
        if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "true" {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ContainerError::NotUp {
                name: name.to_owned(),
                waited: limit,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The host PID of the container's first process (its init), once the container runs.
/// Blocking.
pub fn init_pid(rec: &ContainerRecord) -> Option<i32> {
    let out = Command::new(&rec.runtime)
        .args(["inspect", "--format", "{{.State.Pid}}", &rec.name])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    (out.status.success() && pid > 0).then_some(pid)
}

/// SIGKILLs the container's processes; the `podman run --rm` that started it then removes it.
/// Blocking; errors are logged.
pub fn kill(rec: &ContainerRecord) {
    runtime(rec, &["kill", "--signal", "KILL", &rec.name]);
}

/// Sends SIGTERM to the container (its `--init` passes it on to the command); whether the
/// runtime did. Blocking.
///
/// Sent through the runtime rather than to `podman run`'s process group: the group also
/// holds the `runc kill` that `podman run` starts to pass on a signal it got (from Slurm,
/// say), and a second SIGTERM to the group would kill that one before it delivers.
pub fn terminate(rec: &ContainerRecord) -> bool {
    runtime(rec, &["kill", "--signal", "TERM", &rec.name])
}

/// Kills (SIGKILL) and removes the container, if it still exists. Blocking; errors are
/// logged, not returned: this runs on the way out, where nothing better can be done.
pub fn remove(rec: &ContainerRecord) {
    runtime(
        rec,
        &["rm", "--force", "--ignore", "--time", "0", &rec.name],
    );
}

/// Runs `runtime args` for a container, logging a failure; whether it succeeded.
fn runtime(rec: &ContainerRecord, args: &[&str]) -> bool {
    let result = Command::new(&rec.runtime)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    match result {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            tracing::warn!(
                container = %rec.name,
                command = args[0],
                stderr = %String::from_utf8_lossy(&out.stderr).trim(),
                "container runtime failed"
            );
            false
        }
        Err(e) => {
            tracing::warn!(container = %rec.name, error = %e, "cannot run the container runtime");
            false
        }
    }
}

fn append(log: &Path, line: &str) {
    if let Ok(mut f) = crate::run_dir::open_log(log) {
        let _ = writeln!(f, "{line}");
    }
}
