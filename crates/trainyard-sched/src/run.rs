//! Decisions about one run that need its version's status: whether the executor takes it,
//! what becomes of it after a restart, and its time and stop limits.

use std::time::Duration;
use trainyard_api::JobStatus;

/// On a database other servers share, how long after its creation a version without its run
/// directory is left to the server creating it (which hands it over once its code is in
/// place; a sweep or a takeover's recovery may see it first); past that, its creator is
/// taken to have died in between, and the version is started (and fails for want of code),
/// as a lone server does with such a version at once.
pub const HANDOVER_MS: i64 = 30_000;

/// The statuses whose versions wait for the executor to start them after a restart, or
/// when a sweep finds them: they are queued (again).
pub const QUEUED: &[JobStatus] = JobStatus::QUEUED;

/// The statuses whose runs may own processes after a restart: their backend looks for them.
/// (Pending versions in [`QUEUED`] are queued again instead.)
pub const MAY_RUN: &[JobStatus] = &[
    JobStatus::SUBMIT_TRYING,
    JobStatus::RUNNING,
    JobStatus::SCALING,
    JobStatus::KILLING,
];

/// Whether the executor takes a version it is told about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// It is pending: queue it.
    Queue,
    /// It is not pending (any more): nothing to do.
    Ignore,
    /// Its creator is still moving its code into place: it hands the version over when done.
    LeaveToCreator,
}

/// Whether to queue a version in `status`, created `age_ms` ago. `shared`: other servers
/// share the database; `run_dir_exists` says whether its code is in place (asked only when
/// that matters).
pub fn admit(
    status: JobStatus,
    shared: bool,
    age_ms: i64,
    run_dir_exists: impl FnOnce() -> bool,
) -> Admission {
    if !status.is_pending() {
        Admission::Ignore
    } else if shared && status == JobStatus::INIT && age_ms < HANDOVER_MS && !run_dir_exists() {
        Admission::LeaveToCreator
    } else {
        Admission::Queue
    }
}

/// Whether a version in `status` was handed to a backend that queues it itself, when its
/// stored handle names a job there (`backend_job`: a Slurm job id): in 7 with one, it waits
/// in Slurm's queue, not in trainyard's. After a restart it is followed there like a run in
/// [`MAY_RUN`] (counting against its project's quota and its pool's cap), never queued and
/// submitted again.
pub fn handed_over(status: JobStatus, backend_job: bool) -> bool {
    status == JobStatus::WAITING && backend_job
}

/// What becomes of a run found in one of [`MAY_RUN`] after a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// Its backend follows it again (or found it over, and reports its end).
    Follow,
    /// It was being stopped and nothing of it ever started: recorded stopped (9 -> 12).
    StoppedBeforeStart,
    /// Nothing of it ever started: back to 1 and queued, to be started again.
    Requeue,
}

/// What becomes of a run whose version is in `status` after a restart; `found`: its backend
/// found it (running or over).
pub fn recover(status: JobStatus, found: bool) -> Recovery {
    if found {
        Recovery::Follow
    } else if status == JobStatus::KILLING {
        Recovery::StoppedBeforeStart
    } else {
        Recovery::Requeue
    }
}

/// The grace between SIGTERM and SIGKILL stored with a stop (`None` or negative: none).
pub fn stop_grace(stored_seconds: Option<i64>) -> Duration {
    Duration::from_secs(u64::try_from(stored_seconds.unwrap_or(0)).unwrap_or(0))
}

/// The stop a run found after a restart is under: its stored grace when its version is
/// being stopped, else none.
pub fn stopping(status: JobStatus, stored_seconds: Option<i64>) -> Option<Duration> {
    (status == JobStatus::KILLING).then(|| stop_grace(stored_seconds))
}

/// What is left of a run's `max_runtime_seconds` at `now_ms`, counted from its start (or
/// from now when it has not started). A limit past what `Duration` holds, or a negative
/// one, is none.
pub fn time_left(
    max_runtime_seconds: Option<i64>,
    start_ms: Option<i64>,
    now_ms: i64,
) -> Option<Duration> {
    let limit = Duration::from_secs(u64::try_from(max_runtime_seconds?).ok()?);
    let start = start_ms.unwrap_or(now_ms);
    let elapsed = Duration::from_millis(u64::try_from(now_ms.saturating_sub(start)).unwrap_or(0));
    Some(limit.saturating_sub(elapsed))
}
