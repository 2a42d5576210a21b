//! The execution backends behind one interface: submit a run, stop it with a grace, follow it
//! again after a restart, and a stream of [`RunEvent`]s saying what became of it. The server
//! picks a [`Backend`] per run (by its pool) and never looks inside one; its lifecycle module
//! is the only consumer of the events.
//!
//! Whether a worker is a host process or a container is not a backend matter: it is part of
//! the [`RunSpec`] (see [`crate::ContainerSpec`]), and every backend runs it through the same
//! shim.

use std::path::Path;
use std::time::Duration;

use crate::local::LocalBackend;
use crate::slurm::{SlurmBackend, SlurmPool};
pub use crate::submit::{
    events, EventReceiver, EventSender, Reattached, RunEnd, RunEvent, RunId, Submission,
    SubmitError, Submitted, WorkerResources,
};
use crate::RunHandle;

/// An execution backend, one variant per kind.
#[derive(Clone, Debug)]
pub enum Backend {
    /// Workers under a shim on this host.
    Local(LocalBackend),
    /// Workers under shims on the nodes of a Slurm partition.
    Slurm(SlurmBackend, SlurmPool),
}

impl Backend {
    /// Starts (or queues) a run.
    pub async fn submit(&self, s: Submission) -> Result<Submitted, SubmitError> {
        match self {
            Backend::Local(b) => b.submit(s).await,
            Backend::Slurm(b, pool) => b.submit(pool, s).await,
        }
    }

    /// Stops a run: SIGTERM to its workers, SIGKILL after `grace`. Its end is reported as
    /// [`RunEvent::Ended`]; a run that never started is marked so it never will.
    pub async fn stop(&self, id: RunId, run_dir: &Path, grace: Duration) {
        match self {
            Backend::Local(b) => b.stop(run_dir, grace).await,
            Backend::Slurm(b, _) => b.stop(id, grace),
        }
    }

    /// Follows a run again after a restart, from its run directory and its stored handle.
    /// `stopping`: it was being stopped, with this grace. `time_limit`: what is left of it.
    pub async fn reattach(
        &self,
        id: RunId,
        run_dir: &Path,
        handle: Option<RunHandle>,
        stopping: Option<Duration>,
        time_limit: Option<Duration>,
    ) -> Reattached {
        match self {
            Backend::Local(b) => b.reattach(id, run_dir, stopping, time_limit).await,
            Backend::Slurm(b, _) => b.reattach(id, run_dir, handle, stopping),
        }
    }
}
