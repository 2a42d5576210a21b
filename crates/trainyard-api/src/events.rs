//! The event log of a version's run as the trainyard extension endpoint
//! `GET /v1/{project_id}/training-jobs/{job_id}/versions/{version_id}/events` serves it.

use serde::{Deserialize, Serialize};

/// One event of a run: what happened and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunEventInfo {
    /// Its place in the log: increasing in the order events were recorded.
    pub seq: i64,
    /// When, ms since the Unix epoch.
    pub time: i64,
    /// What happened: `created`, `queued`, `started`, `worker_exited`, `retry_scheduled`,
    /// `hang_suspected`, `checkpoint_uploaded`, `checkpoint_failed`, `stop_requested`,
    /// `timed_out` or `ended`.
    pub kind: String,
    /// `Info`, `Warning` or `Error`.
    pub level: String,
    /// `Job` (the version) or `Task` (one worker).
    pub source: String,
    /// The event in one English sentence.
    pub message: String,
    /// The event's fields (`kind` and those of its kind), as recorded.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// Answer of the events endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunEventsResponse {
    /// `true`.
    pub is_success: bool,
    /// Job id.
    pub job_id: i64,
    /// Version id.
    pub version_id: i64,
    /// The events, oldest first.
    pub events: Vec<RunEventInfo>,
}
