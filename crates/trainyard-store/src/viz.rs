//! Visualization jobs (VJ-01..VJ-07): their rows and filters.

use trainyard_api::JobStatus;

/// A stored visualization job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VizJob {
    /// Job id.
    pub id: i64,
    /// Owning project.
    pub project_id: String,
    /// Job name (unique among the project's live jobs).
    pub name: String,
    /// Description.
    pub description: String,
    /// Storage path of the event files, as given.
    pub train_url: String,
    /// `tensorboard` or `mindinsight`.
    pub job_type: String,
    /// Flavor code, if one was given.
    pub flavor_code: Option<String>,
    /// Resource id.
    pub resource_id: String,
    /// Access secret of the proxied UI.
    pub secret: String,
    /// Status.
    pub status: JobStatus,
    /// Creation time, ms.
    pub create_time: i64,
    /// When the current run entered RUNNING, ms.
    pub start_time: Option<i64>,
    /// When the current run ended, ms.
    pub end_time: Option<i64>,
    /// Auto-stop unit (`HOURS` or `MINUTES`).
    pub schedule_unit: Option<String>,
    /// Auto-stop amount; 0 or `None` = never.
    pub schedule_duration: Option<i64>,
    /// Absolute auto-stop time, ms, fixed when the run entered RUNNING.
    pub deadline: Option<i64>,
    /// Loopback port of the current run's server.
    pub port: Option<i64>,
    /// Shim handle (JSON) of the current run.
    pub handle: Option<String>,
    /// Run directory.
    pub run_dir: String,
    /// Why the last run failed.
    pub failure_reason: Option<String>,
    /// Deleted (hidden) and waiting for its run to end before it is purged.
    pub deleted: bool,
}

/// A visualization job to insert; the store assigns the id.
#[derive(Clone, Debug)]
pub struct NewVizJob {
    /// Owning project.
    pub project_id: String,
    /// Job name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Storage path of the event files.
    pub train_url: String,
    /// `tensorboard` or `mindinsight`.
    pub job_type: String,
    /// Flavor code.
    pub flavor_code: Option<String>,
    /// Resource id.
    pub resource_id: String,
    /// Access secret.
    pub secret: String,
    /// Creation time, ms.
    pub create_time: i64,
    /// Auto-stop unit.
    pub schedule_unit: Option<String>,
    /// Auto-stop amount.
    pub schedule_duration: Option<i64>,
    /// Run directory; `{id}` is replaced by the job id.
    pub run_dir_template: String,
}

/// Sort keys of VJ-02.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VizSort {
    /// `job_id` (default).
    Id,
    /// `job_name`.
    Name,
    /// `job_desc`.
    Desc,
    /// `create_time`.
    CreateTime,
    /// `status`.
    Status,
    /// `duration` (running time).
    Duration,
    /// `log_dir` (= `train_url`).
    TrainUrl,
}

/// Filter and page of the visualization job list (VJ-02).
#[derive(Clone, Debug)]
pub struct VizFilter {
    /// Status filter; empty = all.
    pub statuses: Vec<i64>,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// Sort key.
    pub sort: VizSort,
    /// Descending order.
    pub descending: bool,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return.
    pub limit: i64,
    /// Current time, for sorting running jobs by live duration.
    pub now: i64,
}

/// Extra columns set by a visualization status transition (`None` keeps the stored value).
#[derive(Clone, Debug, Default)]
pub struct VizSet {
    /// Start of RUNNING.
    pub start_time: Option<i64>,
    /// End of the run.
    pub end_time: Option<i64>,
    /// Auto-stop time.
    pub deadline: Option<i64>,
    /// Loopback port.
    pub port: Option<i64>,
    /// Shim handle (JSON).
    pub handle: Option<String>,
    /// Failure reason.
    pub failure_reason: Option<String>,
}
