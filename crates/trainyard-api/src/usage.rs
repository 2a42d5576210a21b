//! Usage accounting as the trainyard extension endpoint `GET /v1/{project_id}/usage` serves
//! it: what a project's runs used inside a time window, summed by project, user or job.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What usage is summed by (`by` of the usage endpoint).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UsageBy {
    /// One row: the project.
    #[default]
    Project,
    /// One row per identity that created runs (a user name, an access key, or `token`).
    User,
    /// One row per training job.
    Job,
}

impl UsageBy {
    /// `project`, `user` or `job`.
    pub fn as_str(self) -> &'static str {
        match self {
            UsageBy::Project => "project",
            UsageBy::User => "user",
            UsageBy::Job => "job",
        }
    }
}

/// What the runs of one group used inside the window. A run (each attempt of a retried one
/// counts) contributes the part of its running and waiting time inside the window, times the
/// resources all its workers held.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageRow {
    /// The project id, the user, or the job id.
    pub key: String,
    /// The job's name when summed by job; else the key.
    pub name: String,
    /// Runs (attempts) that ended inside the window.
    pub runs: i64,
    /// Those runs by outcome: `completed`, `failed`, `stopped`, `lost`, or `retried` (an
    /// attempt that failed and was started again).
    pub runs_by_outcome: BTreeMap<String, i64>,
    /// Running time inside the window, seconds.
    pub run_seconds: f64,
    /// Running time times cores held.
    pub core_seconds: f64,
    /// Running time times GPUs held.
    pub gpu_seconds: f64,
    /// Running time times memory (GB) held.
    pub memory_gb_seconds: f64,
    /// Time waiting for a start (from being queued to starting) inside the window, seconds.
    pub wait_seconds: f64,
}

/// Answer of the usage endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageResponse {
    /// `true`.
    pub is_success: bool,
    /// The project whose usage this is.
    pub project_id: String,
    /// Start of the window, ms since the Unix epoch (inclusive).
    pub since: i64,
    /// End of the window, ms since the Unix epoch (exclusive).
    pub until: i64,
    /// What the rows are summed by.
    pub by: UsageBy,
    /// One row per group, ordered by key (job ids as numbers).
    pub rows: Vec<UsageRow>,
    /// All the rows together (key and name `total`).
    pub total: UsageRow,
}
