//! What a guarded change did, named: a delete or restart checks the row's status first, and
//! its caller answers each outcome differently (done, refused with the status, unknown).

use trainyard_api::JobStatus;

/// A delete of one training version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionDeletion {
    /// Hidden from the API (also when it was gone already); a pending or running one is being
    /// stopped.
    Hidden,
    /// Its status refuses a delete.
    Refused(JobStatus),
}

/// A delete of a training job and all its versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobDeletion {
    /// The versions hidden (none when the job was unknown or gone already).
    Hidden(Vec<i64>),
    /// A version's status refuses a delete.
    Refused(JobStatus),
}

/// A restart of a visualization job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VizRestart {
    /// Back to status 1 with a fresh run.
    Restarted,
    /// Its status refuses a restart.
    Refused(JobStatus),
    /// No live job of the project has that id.
    Unknown,
}

/// A delete of a visualization job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VizDeletion {
    /// Hidden from the API; `was` is the status it had (an active one still has to stop).
    Hidden { was: JobStatus },
    /// Its status refuses a delete.
    Refused(JobStatus),
    /// No live job of the project has that id.
    Unknown,
}
