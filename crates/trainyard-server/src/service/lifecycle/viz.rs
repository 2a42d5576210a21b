//! The lifecycle of a visualization job: the one place that changes its status. The API
//! (stop, restart) and the job's supervising task (waiting, running, its end) name the step;
//! each is a compare-and-set in the store from a set of [`JobStatus`]'s own.
//!
//! 1 (created or restarted) -> 7 (waiting for capacity) -> 8 (the server answers) -> 10
//! (auto-stopped), 11 (failed to start or died) or 12 (stopped: through 9 when asked to).

use crate::util::now_ms;
use trainyard_api::JobStatus;
use trainyard_exec::RunHandle;
use trainyard_store::{Store, VizJob, VizRestart, VizSet};

/// How a run of a visualization server ended, as far as its supervisor knows.
#[derive(Debug)]
pub enum End {
    /// Stopped through the API (or the job was stopping anyway).
    Stopped,
    /// The auto-stop deadline passed.
    AutoStopped,
    /// Failed to start or died; the reason is the job's failure reason.
    Failed(String),
}

/// 1 -> 7: waiting for capacity. Cosmetic (it waits either way): a failure leaves it in 1.
pub async fn waiting(store: &dyn Store, id: i64) {
    let set = VizSet::default();
    let moved = store
        .viz_transition(id, &[JobStatus::INIT], JobStatus::WAITING, &set)
        .await;
    if let Err(e) = moved {
        tracing::warn!(viz.id = id, error = %e, "cannot mark a visualization job waiting");
    }
}

/// Records the server a start launched (its port and the handle to find it again after a
/// restart); the status stays what it is.
pub async fn launched(store: &dyn Store, id: i64, port: u16, handle: &RunHandle) {
    let set = VizSet {
        port: Some(i64::from(port)),
        handle: Some(handle.to_json()),
        ..Default::default()
    };
    let status = store
        .viz_by_id(id)
        .await
        .ok()
        .flatten()
        .map(|j| j.status)
        .unwrap_or(JobStatus::WAITING);
    if let Err(e) = store.viz_transition(id, &[status], status, &set).await {
        tracing::error!(viz.id = id, error = %e, "cannot record a visualization server's handle");
    }
}

/// A stoppable job (pending, or running) -> 8 once its server answers HTTP (at `now`), with
/// its first start time and its auto-stop `deadline`. `Ok(false)`: it was stopped meanwhile.
pub async fn running(
    store: &dyn Store,
    job: &VizJob,
    now: i64,
    deadline: Option<i64>,
) -> trainyard_store::Result<bool> {
    let set = VizSet {
        start_time: job.start_time.is_none().then_some(now),
        deadline,
        ..Default::default()
    };
    store
        .viz_transition(job.id, JobStatus::STOPPABLE, JobStatus::RUNNING, &set)
        .await
}

/// A stop asked for through the API (or a delete): a stoppable job -> 9, then 12 once its
/// server is gone ([`finish`]). `Ok(false)`: it was not stoppable (any more).
pub async fn begin_stop(store: &dyn Store, id: i64) -> trainyard_store::Result<bool> {
    let set = VizSet::default();
    store
        .viz_transition(id, JobStatus::STOPPABLE, JobStatus::KILLING, &set)
        .await
}

/// A restart: a terminal job -> 1 with a fresh run (times, deadline, port and handle
/// cleared), refused when it is not terminal.
pub async fn restart(
    store: &dyn Store,
    project: &str,
    id: i64,
) -> trainyard_store::Result<VizRestart> {
    store.restart_viz(project, id, JobStatus::TERMINAL).await
}

/// Records the end of a run: 12 if the job was being stopped, else as `end` says (12, 10 or
/// 11 with its reason), from any active status.
pub async fn finish(store: &dyn Store, id: i64, end: End) {
    let Ok(Some(job)) = store.viz_by_id(id).await else {
        return;
    };
    let (to, reason) = match end {
        _ if job.status == JobStatus::KILLING => (JobStatus::KILLED, None),
        End::Stopped => (JobStatus::KILLED, None),
        End::AutoStopped => (JobStatus::COMPLETED, None),
        End::Failed(reason) => (JobStatus::FAILED, Some(reason)),
    };
    let set = VizSet {
        end_time: Some(now_ms()),
        failure_reason: reason.clone(),
        ..Default::default()
    };
    match store.viz_transition(id, JobStatus::ACTIVE, to, &set).await {
        Ok(true) => match reason {
            Some(r) => tracing::warn!(viz.id = id, reason = %r, "visualization job failed"),
            None => tracing::info!(viz.id = id, status = to.code(), "visualization job ended"),
        },
        Ok(false) => {}
        Err(e) => {
            tracing::error!(viz.id = id, error = %e, "cannot record the end of a visualization job")
        }
    }
}
