//! Serializable descriptions of a run: what to start, how it is found again, how it ended.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One worker process of a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkerSpec {
    /// Program to run, e.g. `python3`; a bare name is looked up in the `PATH` of [`Self::env`].
    pub program: String,
    /// Arguments, without the program name.
    pub args: Vec<String>,
    /// The complete environment of the worker (nothing is inherited).
    pub env: Vec<(String, String)>,
    /// File that receives both stdout and stderr (appended; parent dirs are created).
    pub log_file: PathBuf,
    /// Run inside this container: [`Self::program`] and [`Self::args`] are then the command
    /// in the container and [`Self::env`] its added environment (the image's stays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerSpec>,
}

/// How a worker's container is made.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ContainerSpec {
    /// The container runtime, e.g. `/usr/bin/podman`.
    pub runtime: PathBuf,
    /// The image: a local name or a registry reference.
    pub image: String,
    /// Working directory inside the container.
    pub workdir: String,
    /// Host folders mounted into the container.
    pub mounts: Vec<Mount>,
    /// CPU limit (cores).
    pub cpus: Option<u32>,
    /// Memory limit, MiB.
    pub memory_mb: Option<u64>,
    /// GPU indices handed to the container.
    pub gpus: Vec<u32>,
    /// How long a missing image may take to pull before the start fails.
    pub pull_timeout_seconds: u64,
}

/// A host folder seen inside a container.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mount {
    /// The folder on the host.
    pub host: PathBuf,
    /// Where the container sees it.
    pub container: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// Everything the shim needs, written by [`crate::launch`] as `<run_dir>/spec.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSpec {
    /// Directory holding the run's bookkeeping files (`spec.json`, `exit.json`, ...).
    pub run_dir: PathBuf,
    /// Working directory of every worker.
    pub cwd: PathBuf,
    /// The worker processes, started in order.
    pub workers: Vec<WorkerSpec>,
    /// Default SIGTERM -> SIGKILL grace period, in seconds.
    pub grace_seconds: u64,
    /// Resource sampling of the workers every this many milliseconds into `metrics.jsonl`
    /// (see [`crate::metrics`]); `None` samples nothing (visualization servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_interval_ms: Option<u64>,
    /// Folders of an object store the run reads and writes (`[storage] backend = "s3"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<ObjectSync>,
    /// The project's user the workers run as (a container's root is mapped onto it); `None`
    /// runs them as the shim's own user (an unprivileged, single-tenant server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<crate::RunAs>,
    /// How container workers reach the network (see [`Network`]).
    #[serde(default)]
    pub network: Network,
    /// A cap on each worker's log (`[logs] max_log_bytes`); `None`: the log file is the
    /// workers' stdout and stderr, uncapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_limit: Option<LogLimit>,
}

/// The network of a run's containers.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// A network namespace of the run's own: worker 0's container gets one (user-mode
    /// networking, which reaches out but not the host's loopback or other runs), the others
    /// join it, so all workers meet at `127.0.0.1:MASTER_PORT`.
    #[default]
    Private,
    /// The host's network (a project the configuration trusts with it).
    Host,
    /// No network but a loopback of the run's own: host workers start in a new network
    /// namespace (so a server they run is reachable only by whoever enters it: the
    /// trainyard server, see [`crate::netns`]), containers get `--network=none`. Needs a
    /// root shim: refused, never downgraded, without one.
    Isolated,
}

/// The size cap of a worker's log: past it the shim cuts the log with a marker line.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogLimit {
    /// Most bytes a worker's log may hold.
    pub max_bytes: u64,
    /// Past the cap, stop the run ([`RunOutcome::LogLimit`]) instead of discarding the rest.
    pub fail: bool,
}

/// The object-store folders of a run: fetched before its workers start (and kept fresh
/// while they run, for a followed input), uploaded while they run and once more when they
/// have ended. Done by the shim, so on a Slurm node too.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ObjectSync {
    /// How to reach the store.
    pub s3: crate::objects::S3Config,
    /// Folders fetched first; a failed fetch fails the run before any worker starts.
    pub inputs: Vec<ObjectInput>,
    /// Folders uploaded every [`Self::interval_ms`] and at the end, in this order (logs last,
    /// so they carry any upload failure of the others).
    pub outputs: Vec<ObjectOutput>,
    /// Pause between two uploads while the run goes on.
    pub interval_ms: u64,
    /// The checkpoint folder: uploaded and verified on its own interval, restored before an
    /// attempt after the first (see [`crate::checkpoint`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<crate::checkpoint::CheckpointSync>,
}

/// A folder of the store a run reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ObjectInput {
    /// The folder.
    pub from: crate::objects::ObjectDir,
    /// Where the workers find it: a symlink to its cache entry.
    pub link: PathBuf,
    /// The cache folder (shared by runs).
    pub cache: PathBuf,
    /// Most bytes the cache may hold.
    pub limit: u64,
    /// Kept fresh while the run goes on: `link` is then a folder of its own (no cache entry)
    /// that gets what is new or changed every [`ObjectSync::interval_ms`].
    #[serde(default)]
    pub follow: bool,
}

/// A local folder a run writes, and the store's folder it goes to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ObjectOutput {
    /// The local folder.
    pub from: PathBuf,
    /// The store's folder.
    pub to: crate::objects::ObjectDir,
    /// Files whose name ends with one of these stay here (the log index sidecars).
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// What the server persists to find a run again after a restart.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExecHandle {
    /// PID of the shim.
    pub shim_pid: i32,
    /// Start time of the shim (field 22 of `/proc/<pid>/stat`), guards against PID reuse.
    pub shim_start_time: u64,
}

/// What the server stores to find a run again, one variant per backend. Stored as JSON with
/// a `backend` tag (`{"backend":"local","shim_pid":..,"shim_start_time":..}`,
/// `{"backend":"slurm","slurm_job_id":..}`), so a handle is never told apart by which type
/// happens to parse.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "backend", rename_all = "snake_case")]
pub enum RunHandle {
    /// A run under a shim on this host.
    Local(ExecHandle),
    /// A Slurm job.
    Slurm {
        /// Slurm job id.
        slurm_job_id: u64,
    },
}

impl RunHandle {
    /// The stored form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a RunHandle always serializes")
    }

    /// Reads a stored handle; `None` for none or an unreadable one.
    pub fn parse(stored: Option<&str>) -> Option<Self> {
        serde_json::from_str(stored?).ok()
    }
}

/// How one worker process ended.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerExit {
    /// Index of the worker in [`RunSpec::workers`].
    pub index: usize,
    /// Exit code when the worker exited normally.
    pub exit_code: Option<i32>,
    /// Signal number when the worker was killed by a signal.
    pub signal: Option<i32>,
}

impl WorkerExit {
    /// True for a normal exit with code 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// How a run ended.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RunOutcome {
    /// Every worker exited with code 0.
    Succeeded,
    /// A worker failed; this is the first one that did.
    Failed {
        /// Index of the first failing worker.
        worker: usize,
        /// Its exit code, when it exited normally.
        exit_code: Option<i32>,
        /// Its signal, when it was killed.
        signal: Option<i32>,
    },
    /// A stop was requested (SIGTERM or SIGINT to the shim).
    Stopped,
    /// A worker could not be started.
    SpawnFailed {
        /// What went wrong, for the user.
        message: String,
    },
    /// The workers succeeded, but their output could not be uploaded to the object store.
    UploadFailed {
        /// What went wrong, for the user.
        message: String,
    },
    /// A worker's log reached its cap with [`LogLimit::fail`] set: the run was stopped.
    LogLimit {
        /// What happened, for the user.
        message: String,
    },
}

/// Content of `<run_dir>/exit.json`, written atomically by the shim when the run is over.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RunExit {
    /// The overall result.
    pub outcome: RunOutcome,
    /// How each started worker ended, by index.
    pub workers: Vec<WorkerExit>,
}

/// A started worker process, as `<run_dir>/shim.json` records it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerRecord {
    /// Index of the worker in [`RunSpec::workers`].
    pub index: usize,
    /// PID of the worker (the leader of its process group).
    pub pid: i32,
    /// Process group of the worker (equal to `pid`).
    pub pgid: i32,
    /// Start time of the worker, guards against PID reuse.
    pub start_time: u64,
    /// The worker's container, when it runs in one (its processes are not in the group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<crate::ContainerRecord>,
}

/// The claim in `<run_dir>/shim.json` (its first line), written by the shim at start.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShimRecord {
    /// PID of the shim.
    pub pid: i32,
    /// Start time of the shim.
    pub start_time: u64,
}

impl From<ShimRecord> for ExecHandle {
    fn from(r: ShimRecord) -> Self {
        Self {
            shim_pid: r.pid,
            shim_start_time: r.start_time,
        }
    }
}

/// Content of `<run_dir>/stop.json`, written by [`crate::request_stop`].
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StopRequest {
    /// SIGTERM -> SIGKILL grace for this stop, in seconds.
    pub grace_seconds: u64,
}
