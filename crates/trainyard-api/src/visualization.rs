//! Visualization jobs (VJ-01..VJ-07): a TensorBoard (or MindInsight) server per job.

use crate::lenient;
use crate::training::Flavor;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// One auto-stop rule as sent: `{type, time_unit | timeUnit, duration}`. Fields are kept raw; the
/// server validates them (`type` = `stop`, `time_unit` = `HOURS` or `MINUTES`, `duration` in [0,
/// 24]). Serialized as documented (`time_unit`), unset fields left out.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ScheduleInput {
    /// Must be `stop` (case-insensitive).
    #[serde(
        rename = "type",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub kind: Option<String>,
    /// `HOURS` (documented) or `MINUTES` (trainyard extension); `timeUnit` is an alias.
    #[serde(
        default,
        alias = "timeUnit",
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub time_unit: Option<String>,
    /// Delay before the job is stopped; 0 = never.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<i64>,
}

impl ScheduleInput {
    /// A `stop` rule after `duration` `time_unit`s (`HOURS` or `MINUTES`).
    pub fn stop_after(time_unit: &str, duration: i64) -> Self {
        Self {
            kind: Some("stop".into()),
            time_unit: Some(time_unit.into()),
            duration: Some(duration),
        }
    }
}

/// `schedule` as an object or as an array of objects (the docs show both); `null` and `[]` mean
/// none.
pub fn schedule_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ScheduleInput>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(Vec::new()),
        v @ serde_json::Value::Object(_) => serde_json::from_value(v)
            .map(|s| vec![s])
            .map_err(de::Error::custom),
        v @ serde_json::Value::Array(_) => serde_json::from_value(v).map_err(de::Error::custom),
        other => Err(de::Error::custom(format!(
            "schedule must be an object or an array, got {other}"
        ))),
    }
}

/// Request body of visualization job creation (VJ-01). Serialized with unset fields left out and
/// `schedule` as an array (omitted when empty).
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreateVisualizationRequest {
    /// Job name, 1-20 of letters, digits, `_`, `-`.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub job_name: Option<String>,
    /// Description, 0-256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_desc: Option<String>,
    /// Storage path of the event files.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub train_url: Option<String>,
    /// `tensorboard` (default) or `mindinsight`, case-insensitive.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub job_type: Option<String>,
    /// Flavor; users need not set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavor: Option<Flavor>,
    /// Auto-stop rules.
    #[serde(
        default,
        deserialize_with = "schedule_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub schedule: Vec<ScheduleInput>,
}

/// Success answer of visualization job creation (VJ-01).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CreateVisualizationResponse {
    /// `true`.
    pub is_success: bool,
    /// New job id.
    pub job_id: i64,
    /// Job name.
    pub job_name: String,
    /// Initial status, 1.
    pub status: i64,
    /// Creation time, ms.
    pub create_time: i64,
    /// Where the UI is served (carries the job's access secret).
    pub service_url: String,
}

/// An auto-stop rule as emitted: `{"type", "timeUnit", "duration"}`, in an array.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ScheduleOutput {
    /// `stop`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `HOURS` or `MINUTES`.
    #[serde(rename = "timeUnit")]
    pub time_unit: String,
    /// Delay in `time_unit`s.
    pub duration: i64,
}

/// One visualization job, as listed (VJ-02) and detailed (VJ-03).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct VisualizationJob {
    /// Job id.
    pub job_id: i64,
    /// Job name.
    pub job_name: String,
    /// Status code.
    pub status: i64,
    /// Creation time, ms.
    pub create_time: i64,
    /// Running time, ms.
    pub duration: i64,
    /// Description.
    pub job_desc: String,
    /// Where the UI is served (carries the job's access secret).
    pub service_url: String,
    /// Storage path of the event files.
    pub train_url: String,
    /// Resource id.
    pub resource_id: String,
    /// `tensorboard` or `mindinsight`.
    pub job_type: String,
    /// Flavor.
    pub flavor: Flavor,
    /// Auto-stop rules, `[]` when none.
    pub schedule: Vec<ScheduleOutput>,
    /// Milliseconds left before auto-stop while running, else `null`.
    pub remaining_duration: Option<i64>,
}

/// Success answer of the visualization job list (VJ-02).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct VisualizationListResponse {
    /// `true`.
    pub is_success: bool,
    /// Jobs matching the filter.
    pub job_total_count: i64,
    /// How many more visualization jobs the project may create.
    pub job_count_limit: i64,
    /// This page.
    pub jobs: Vec<VisualizationJob>,
    /// Most visualization jobs the project may have active at once.
    pub quotas: i64,
}

/// Success answer of visualization job details (VJ-03).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct VisualizationDetails {
    /// `true`.
    pub is_success: bool,
    /// The job.
    #[serde(flatten)]
    pub job: VisualizationJob,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_as_object_or_array() {
        let r: CreateVisualizationRequest = serde_json::from_str(
            r#"{"job_name":"a","train_url":"/x/","schedule":{"type":"stop","timeUnit":"HOURS","duration":"2"}}"#,
        )
        .unwrap();
        assert_eq!(r.schedule.len(), 1);
        assert_eq!(r.schedule[0].duration, Some(2));
        assert_eq!(r.schedule[0].time_unit.as_deref(), Some("HOURS"));
        let r: CreateVisualizationRequest = serde_json::from_str(
            r#"{"schedule":[{"type":"stop","time_unit":"MINUTES","duration":1}]}"#,
        )
        .unwrap();
        assert_eq!(r.schedule[0].time_unit.as_deref(), Some("MINUTES"));
        let r: CreateVisualizationRequest = serde_json::from_str(r#"{"schedule":null}"#).unwrap();
        assert!(r.schedule.is_empty());
        assert!(serde_json::from_str::<CreateVisualizationRequest>(r#"{"schedule":3}"#).is_err());
    }

    #[test]
    fn request_round_trips_as_sent() {
        let req = CreateVisualizationRequest {
            job_name: Some("a".into()),
            train_url: Some("/x/".into()),
            schedule: vec![ScheduleInput::stop_after("MINUTES", 5)],
            ..Default::default()
        };
        let text = serde_json::to_value(&req).unwrap();
        assert_eq!(
            text,
            serde_json::json!({"job_name": "a", "train_url": "/x/",
                               "schedule": [{"type": "stop", "time_unit": "MINUTES", "duration": 5}]})
        );
        let back: CreateVisualizationRequest = serde_json::from_value(text).unwrap();
        assert_eq!(back.schedule, req.schedule);
        let bare = serde_json::to_value(CreateVisualizationRequest::default()).unwrap();
        assert_eq!(bare, serde_json::json!({}));
    }
}
