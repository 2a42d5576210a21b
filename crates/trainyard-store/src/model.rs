//! Stored rows and the filters that select them.

use trainyard_api::training::JobConfig;
use trainyard_api::JobStatus;

/// A training job with the summary of its newest live version.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub workspace_id: String,
    pub create_time: i64,
    pub latest_version_id: Option<i64>,
    pub latest_status: i64,
    pub latest_start_time: Option<i64>,
    pub latest_end_time: Option<i64>,
    pub version_count: i64,
}

/// A version of a training job: one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Version {
    pub id: i64,
    pub job_id: i64,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub pre_version_id: Option<i64>,
    pub status: JobStatus,
    pub config: JobConfig,
    pub resource_id: String,
    pub run_dir: String,
    pub create_time: i64,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    /// Executor handle (JSON), set once the run is launched.
    pub handle: Option<String>,
    /// Grace period asked for by the last stop request.
    pub stop_grace: Option<i64>,
    pub failure_reason: Option<String>,
    pub deleted: bool,
    /// Which start of the run this is (1 for the first; retries count on).
    pub attempt: i64,
    /// While the next attempt waits for its pause: when it starts (ms since the epoch).
    pub retry_at: Option<i64>,
    /// `on_any_failure` retries in a row so far.
    pub retry_consecutive_any: i64,
    /// Who created it (the caller's identity: a user name, an access key, or `token`).
    pub created_by: String,
    /// When the current attempt started running (ms): the first start, or a retry's; none
    /// while a retry's attempt has not started.
    pub attempt_start_time: Option<i64>,
    /// When the current attempt became due, for a retried one (ms); the first waited from
    /// `create_time`.
    pub attempt_queue_time: Option<i64>,
}

/// Running time in ms: from start to end, or to `now` while running.
pub fn duration_ms(start: Option<i64>, end: Option<i64>, now: i64) -> i64 {
    match (start, end) {
        (Some(s), Some(e)) => (e - s).max(0),
        (Some(s), None) => (now - s).max(0),
        _ => 0,
    }
}

/// A new version to insert; the store assigns id and name.
#[derive(Clone, Debug)]
pub struct NewVersion {
    pub description: String,
    pub pre_version_id: Option<i64>,
    pub status: JobStatus,
    pub config: JobConfig,
    pub resource_id: String,
    /// Run directory; `{id}` is replaced by the version id.
    pub run_dir_template: String,
    pub create_time: i64,
    /// Who creates it (see [`Version::created_by`]).
    pub created_by: String,
    /// The project's limits its create is held to.
    pub quota: VersionQuota,
}

/// The limits a version's create is held to, counted in the create's write transaction so
/// that concurrent creates (on this server or on others sharing the database) cannot pass
/// them together: the create is refused with [`crate::Error::Quota`] when the project
/// already has that many. `None`: no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VersionQuota {
    /// Pending and running versions ([`JobStatus::STOPPABLE`]).
    pub active: Option<i64>,
    /// Versions waiting to start ([`JobStatus::QUEUED`]).
    pub queued: Option<i64>,
}

/// Which limit refused a create ([`crate::Error::Quota`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaLimit {
    /// The project's live jobs ([`NewJob::quota`]).
    Jobs,
    /// Its pending and running versions ([`VersionQuota::active`]).
    Active,
    /// Its versions waiting to start ([`VersionQuota::queued`]).
    Queued,
}

impl NewVersion {
    /// The version as stored once inserted: id, job, name and run folder assigned, nothing
    /// run yet.
    pub(crate) fn stored(
        &self,
        id: i64,
        job_id: i64,
        project_id: &str,
        name: String,
        run_dir: String,
    ) -> Version {
        Version {
            id,
            job_id,
            project_id: project_id.to_owned(),
            name,
            description: self.description.clone(),
            pre_version_id: self.pre_version_id,
            status: self.status,
            config: self.config.clone(),
            resource_id: self.resource_id.clone(),
            run_dir,
            create_time: self.create_time,
            start_time: None,
            end_time: None,
            handle: None,
            stop_grace: None,
            failure_reason: None,
            deleted: false,
            attempt: 1,
            retry_at: None,
            retry_consecutive_any: 0,
            created_by: self.created_by.clone(),
            attempt_start_time: None,
            attempt_queue_time: None,
        }
    }
}

/// A new job to insert.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub workspace_id: String,
    pub create_time: i64,
    /// The most live jobs the project may hold before this one (all its jobs; for a v2 job,
    /// its v2 jobs), counted in the create's write transaction like [`VersionQuota`].
    /// `None`: no limit.
    pub quota: Option<i64>,
}

/// Sort keys of TJ-02.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobSort {
    Name,
    Desc,
    Status,
    Duration,
    VersionCount,
    CreateTime,
}

/// Filter and page of the training job list (TJ-02).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JobFilter {
    pub statuses: Vec<i64>,
    pub search: Option<String>,
    pub workspace_id: Option<String>,
    pub sort: JobSort,
    pub descending: bool,
    pub offset: i64,
    pub limit: i64,
    /// Current time, for sorting running jobs by live duration.
    pub now: i64,
}

/// A version with its job's name, which its run's log files and usage record carry: what a
/// status move leaves ([`crate::Store::move_version`]) and what recording a run's end reads
/// ([`crate::Store::named_version`]), each in one statement.
#[derive(Clone, Debug)]
pub struct NamedVersion {
    /// The version.
    pub version: Version,
    /// Its job's name (deleted job or not).
    pub job_name: String,
}

/// Extra columns set by a status transition.
#[derive(Clone, Debug, Default)]
pub struct TransitionSet {
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub handle: Option<String>,
    pub stop_grace: Option<i64>,
    pub failure_reason: Option<String>,
    /// A retry: the next attempt's number, when it starts and its consecutive count
    /// (`attempt`, `retry_at`, `retry_consecutive_any`).
    pub retry: Option<(i64, i64, i64)>,
    /// The start of an attempt: when it started running.
    pub attempt_start: Option<i64>,
    /// The usage of the attempt this transition ends, recorded in the same transaction when
    /// it moves (once per version and attempt).
    pub usage: Option<crate::UsageRecord>,
}

/// An event of a version's run, to be appended to its log ([`crate::Store::append_run_events`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRunEvent {
    /// The version whose run it happened to.
    pub version_id: i64,
    /// When, ms since the Unix epoch.
    pub time: i64,
    /// Its kind, a short snake_case name (`created`, `started`, ...).
    pub kind: String,
    /// The event itself as JSON (its kind and fields).
    pub detail: String,
    /// The webhook deliveries it makes, written in the same transaction.
    pub deliveries: Vec<crate::NewDelivery>,
}

/// An event of a run's log as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunEventRow {
    /// Its place in the log: increasing in the order events were recorded.
    pub seq: i64,
    /// The version whose run it happened to.
    pub version_id: i64,
    /// When, ms since the Unix epoch.
    pub time: i64,
    /// Its kind.
    pub kind: String,
    /// The event as JSON.
    pub detail: String,
}

/// A stored training job configuration.
#[derive(Clone, Debug)]
pub struct StoredConfig {
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub config: JobConfig,
    pub create_time: i64,
}

/// Sort keys of TC-02.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigSort {
    Name,
    Desc,
    CreateTime,
}

/// A new-version (v2) training job: its job row, its one version, and what v2 adds.
#[derive(Clone, Debug)]
pub struct V2Job {
    pub job: Job,
    /// The job's id on the v2 API (a UUID).
    pub uuid: String,
    /// The job document as created (JSON), echoed by the v2 API.
    pub doc: String,
    pub version: Version,
}

/// What a v2 job adds to a new job row.
#[derive(Clone, Debug)]
pub struct NewV2 {
    pub uuid: String,
    pub doc: String,
}

/// An algorithm of the v2 algorithm management, stored per project.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct V2Algorithm {
    pub project_id: String,
    /// Its id on the v2 API (a UUID).
    pub uuid: String,
    /// Unique in the project.
    pub name: String,
    /// Milliseconds.
    pub create_time: i64,
    /// Milliseconds.
    pub update_time: i64,
    /// The algorithm's document (JSON), as the v2 API shows it.
    pub doc: String,
}

/// A text column of the v2 search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V2Text {
    /// The job's UUID.
    Uuid,
    /// The job's name.
    Name,
}

/// One condition of the v2 job search (T2-03), in SQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V2Cond {
    /// The column contains one of the values, ignoring case.
    Like(V2Text, Vec<String>),
    /// The column is one of the values.
    In(V2Text, Vec<String>),
    /// The column is none of the values.
    NotIn(V2Text, Vec<String>),
    /// The run's status is one of these (`false`: none of these).
    Status(Vec<i64>, bool),
    /// Created within `lo..=hi` (ms).
    CreatedWithin(i64, i64),
    /// No job (a condition on a field every job has the same value of, not holding).
    Nothing,
}

/// Sort keys of the v2 job search in SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V2Sort {
    CreateTime,
    Name,
    /// Running time, as of `V2Search::now` for a running job.
    Duration,
}

/// A v2 job search: one workspace's live v2 jobs of a project, every condition holding,
/// sorted (then by id) and paged.
#[derive(Clone, Debug)]
pub struct V2Search {
    pub workspace_id: String,
    pub conditions: Vec<V2Cond>,
    pub sort: V2Sort,
    pub descending: bool,
    pub now: i64,
    pub offset: i64,
    pub limit: i64,
}
