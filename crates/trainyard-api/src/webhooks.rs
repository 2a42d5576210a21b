//! Webhook deliveries as the trainyard extension endpoint
//! `GET /v1/{project_id}/webhooks/deliveries` serves them: each notification sent (or still
//! to send) to a configured webhook, with every attempt at it.

use serde::{Deserialize, Serialize};

/// The path of the deliveries endpoint below `/v1/{project_id}`.
pub const DELIVERIES_PATH: &str = "/webhooks/deliveries";

/// One attempt at a delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryAttemptInfo {
    /// 1 for the first.
    pub attempt: i64,
    /// When it was sent, ms since the Unix epoch.
    pub time: i64,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i64>,
    /// Why it failed (no answer, or not 2xx), when it did.
    pub error: Option<String>,
    /// How long it took, ms.
    pub duration_ms: i64,
}

/// A notification for one webhook: an event of a run, and how its sending went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryInfo {
    /// Its id: the `X-Trainyard-Delivery` header of each attempt.
    pub id: i64,
    /// The configured webhook's name.
    pub webhook: String,
    /// The event as notified (`queued`, `started`, `completed`, `failed`, ...): the
    /// `X-Trainyard-Event` header.
    pub event: String,
    /// The job.
    pub job_id: i64,
    /// The version whose run the event happened to.
    pub version_id: i64,
    /// The event's `seq` in the run's event log.
    pub event_seq: i64,
    /// `pending` (tried again at `next_time`), `delivered` or `failed` (given up).
    pub state: String,
    /// When the event was recorded, ms since the Unix epoch.
    pub create_time: i64,
    /// When a pending delivery is tried next, ms since the Unix epoch.
    pub next_time: Option<i64>,
    /// What went wrong last, if anything.
    pub last_error: Option<String>,
    /// Every attempt, oldest first.
    pub attempts: Vec<DeliveryAttemptInfo>,
}

/// Answer of the deliveries endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryListResponse {
    /// `true`.
    pub is_success: bool,
    /// The project's deliveries, newest first.
    pub deliveries: Vec<DeliveryInfo>,
}

/// The events a webhook can be sent: the run event log's kinds, and `completed`, `failed` and
/// `terminated`, the end (`ended`) by its outcome.
pub const EVENTS: &[&str] = &[
    "created",
    "queued",
    "started",
    "worker_exited",
    "retry_scheduled",
    "hang_suspected",
    "checkpoint_uploaded",
    "checkpoint_failed",
    "stop_requested",
    "preempted",
    "timed_out",
    "ended",
    "completed",
    "failed",
    "terminated",
];

/// ModelArts' notification events (v2 `spec.notification.events`) and the event each is
/// here.
pub const MODELARTS_EVENTS: &[(&str, &str)] = &[
    ("JobStarted", "started"),
    ("JobCompleted", "completed"),
    ("JobFailed", "failed"),
    ("JobTerminated", "terminated"),
    ("JobRestarted", "retry_scheduled"),
    ("JobHanged", "hang_suspected"),
    ("JobPreempted", "preempted"),
];

/// What a job's notification sends when it names a topic and no events.
pub const DEFAULT_EVENTS: &[&str] = &["started", "completed", "failed", "terminated"];

/// The events `names` select, as [`EVENTS`] names (ModelArts' mapped, duplicates dropped), or
/// the first unknown name in an error that lists the known ones.
pub fn select_events(names: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let name = name.trim();
        let known = if let Some(e) = EVENTS.iter().find(|e| **e == name) {
            *e
        } else if let Some((_, e)) = MODELARTS_EVENTS
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(name))
        {
            *e
        } else {
            return Err(format!(
                "unknown event '{name}' (known: {}, or ModelArts' {})",
                EVENTS.join(", "),
                MODELARTS_EVENTS
                    .iter()
                    .map(|(m, _)| *m)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        if !out.iter().any(|o| o == known) {
            out.push(known.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log names pass, ModelArts' are mapped, unknown ones are named.
    #[test]
    fn events_are_selected_by_either_name() {
        let s = |v: &[&str]| select_events(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            s(&[
                "queued",
                "JobCompleted",
                "jobfailed",
                "completed",
                "JobPreempted"
            ])
            .unwrap(),
            ["queued", "completed", "failed", "preempted"]
        );
        let e = s(&["started", "JobExploded"]).unwrap_err();
        assert!(e.starts_with("unknown event 'JobExploded'"), "{e}");
        assert!(e.contains("JobHanged"), "{e}");
    }
}
