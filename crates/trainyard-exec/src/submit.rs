//! What every backend takes and reports, apart from the backends themselves: a
//! [`Submission`], what it became ([`Submitted`], [`SubmitError`], [`Reattached`]) and the
//! [`RunEvent`]s of a run. [`crate::backend`] re-exports all of it.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::{RunExit, RunHandle, RunSpec};

/// The server's id of a run (its version id).
pub type RunId = i64;

/// What a backend reports about a run.
#[derive(Debug)]
pub enum RunEvent {
    /// The run's workers are running now (a Slurm job left the queue).
    Running,
    /// The run is followed under this handle from now on (to be persisted); its status does
    /// not change.
    Handle(RunHandle),
    /// The run is over.
    Ended(RunEnd),
}

/// How a run ended.
#[derive(Debug)]
pub struct RunEnd {
    /// Its exit record; `None` when it was lost: its supervisor vanished without one, and
    /// whatever it left running has been killed.
    pub exit: Option<RunExit>,
    /// A line for the run's log (e.g. why Slurm ended it).
    pub note: Option<String>,
    /// It was stopped for exceeding its time limit.
    pub timed_out: bool,
}

/// Where backends send their events.
pub type EventSender = mpsc::UnboundedSender<(RunId, RunEvent)>;
/// Where the server reads them.
pub type EventReceiver = mpsc::UnboundedReceiver<(RunId, RunEvent)>;

/// A new event stream.
pub fn events() -> (EventSender, EventReceiver) {
    mpsc::unbounded_channel()
}

/// A run to start.
#[derive(Debug)]
pub struct Submission {
    /// The run's id.
    pub id: RunId,
    /// What to run; its `run_dir` is where the run's files go.
    pub spec: RunSpec,
    /// A name for the run unique on the backend (Slurm's job name).
    pub name: String,
    /// What one worker needs.
    pub per_worker: WorkerResources,
    /// Longest the run may take; the backend stops it then and reports `timed_out`.
    pub time_limit: Option<Duration>,
    /// How much to lower the run in a backend's own queue (Slurm's `--nice`; 0: not at all).
    pub nice: u32,
    /// Its class of service in a backend's own queue (Slurm's `--qos`; none: the default).
    pub qos: Option<String>,
}

/// What one worker needs (a backend that places workers itself asks for this much).
#[derive(Clone, Copy, Debug, Default)]
pub struct WorkerResources {
    /// Cores.
    pub cpus: u32,
    /// Memory, MB.
    pub mem_mb: u64,
    /// GPUs.
    pub gpus: u32,
}

/// What a submission became.
#[derive(Debug)]
pub enum Submitted {
    /// Its workers are starting under this handle.
    Started(RunHandle),
    /// The backend queued it under this handle; [`RunEvent::Running`] follows when it runs.
    Queued(RunHandle),
}

/// Why a run could not be submitted; the text is what its user reads.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The run's supervisor could not be started.
    #[error(transparent)]
    Exec(#[from] crate::Error),
    /// Slurm refused the job or could not be asked (a `slurm::Error`).
    #[error("slurm refused the job: {0}")]
    Slurm(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The batch script could not be written.
    #[error("cannot write the batch script: {0}")]
    Script(#[source] std::io::Error),
}

/// What a run found again after a restart turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Reattached {
    /// It is followed again (or was over, and its [`RunEvent::Ended`] is sent).
    Followed,
    /// Nothing of it ever started: it may be submitted again (a late start of the earlier
    /// submission is never doubled: the shims' and Slurm tasks' claims see to that).
    NotStarted,
}
