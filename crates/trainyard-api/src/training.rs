//! Training jobs and their versions (TJ-01..TJ-12).

use crate::lenient;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// A `label`/`value` pair passed to the program. Input: `key` is an alias of `label`, `value` may
/// be any scalar. Output: both strings.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Parameter {
    /// Parameter name.
    pub label: String,
    /// Parameter value, as a string.
    pub value: String,
}

impl<'de> Deserialize<'de> for Parameter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let label = match map.get("label").or_else(|| map.get("key")) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => lenient::scalar_string(other)
                .ok_or_else(|| de::Error::custom("parameter label must be a string"))?,
            None => return Err(de::Error::custom("parameter label is required")),
        };
        let value = match map.get("value") {
            None => String::new(),
            Some(v) => lenient::scalar_string(v)
                .ok_or_else(|| de::Error::custom("parameter value must be a scalar"))?,
        };
        Ok(Self { label, value })
    }
}

/// One data input. Output carries only the keys that are set.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct DataSource {
    /// `obs` or `dataset`.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub kind: Option<String>,
    /// Storage path of the data (type `obs`).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub data_url: Option<String>,
    /// Dataset id (type `dataset`).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub dataset_id: Option<String>,
    /// Dataset version id (type `dataset`); `dataset_version_id` is accepted as an alias.
    #[serde(
        default,
        alias = "dataset_version_id",
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub dataset_version: Option<String>,
}

/// An `nfs` volume: a network file system mounted into the job.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct NfsVolume {
    /// File system id.
    #[serde(default)]
    pub id: String,
    /// Share address.
    #[serde(default)]
    pub src_path: String,
    /// Mount point inside the job.
    #[serde(default)]
    pub dest_path: String,
    /// Read-only mount.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub read_only: Option<bool>,
}

/// A `host_path` volume: a folder of the host mounted into a container job.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct HostPathVolume {
    /// Host path.
    #[serde(default)]
    pub src_path: String,
    /// Mount point inside the job.
    #[serde(default)]
    pub dest_path: String,
    /// Read-only mount.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub read_only: Option<bool>,
}

/// A volume item: exactly one of `nfs` or `host_path`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Volume {
    /// Shared file system volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nfs: Option<NfsVolume>,
    /// Host path volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<HostPathVolume>,
}

/// A `flavor` object: a resource specification named by its code.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Flavor {
    /// Spec code.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub code: Option<String>,
}

/// A number of minutes, fractions allowed. Compared bit for bit, so a configuration that
/// holds one stays `Eq`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Minutes(pub f64);

impl PartialEq for Minutes {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Minutes {}

fn opt_minutes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Minutes>, D::Error> {
    Ok(lenient::opt_f64(d)?.map(Minutes))
}

/// The run configuration of a version (TJ-01/TJ-06 `config`), also the body of a training job
/// configuration (TC-01/TC-03) and what the store keeps. Lenient on input; the server
/// validates and fills defaults before storing.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct JobConfig {
    /// Number of workers.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub worker_server_num: Option<i64>,
    /// Code directory.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub app_url: Option<String>,
    /// Boot file inside the code directory.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub boot_file_url: Option<String>,
    /// Running parameters.
    #[serde(default)]
    pub parameter: Option<Vec<Parameter>>,
    /// Data path.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub data_url: Option<String>,
    /// Dataset id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub dataset_id: Option<String>,
    /// Dataset version id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub dataset_version_id: Option<String>,
    /// Data inputs.
    #[serde(default)]
    pub data_source: Option<Vec<DataSource>>,
    /// Resource spec id.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub spec_id: Option<i64>,
    /// Resource pool id (`poolId`, as the official SDK sends a pool-only job, is accepted).
    #[serde(default, alias = "poolId", deserialize_with = "lenient::opt_string")]
    pub pool_id: Option<String>,
    /// Engine id.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub engine_id: Option<i64>,
    /// Built-in algorithm id.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub model_id: Option<i64>,
    /// Output path.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub train_url: Option<String>,
    /// Log copy path.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub log_url: Option<String>,
    /// Custom image.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub user_image_url: Option<String>,
    /// Custom image command.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub user_command: Option<String>,
    /// Whether TJ-01 also creates the first version (default true).
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub create_version: Option<bool>,
    /// Volumes.
    #[serde(default)]
    pub volumes: Option<Vec<Volume>>,
    /// `{"code": spec_code}` instead of `spec_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavor: Option<Flavor>,
    /// The version this one derives from (new versions only, TJ-06).
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub pre_version_id: Option<i64>,
    /// trainyard extension: stop and fail the version after this many seconds of running.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_runtime_seconds: Option<i64>,
    /// trainyard extension: stop and fail the version as hung when its workers write no log
    /// output and use next to no CPU for this many minutes (fractions allowed).
    #[serde(
        default,
        deserialize_with = "opt_minutes",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<f64>)]
    pub hang_timeout_minutes: Option<Minutes>,
    /// trainyard extension: when a failed run is started again (a new attempt of the same
    /// version); without it, the project's default (`[[projects]] retry`), else never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    /// The official SDK's NAS mount (`nas_type`, `nas_share_addr`, `nas_mount_path`): sent in
    /// `config` beside the documented fields; refused like an `nfs` volume, never dropped.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub nas_type: Option<String>,
    /// See `nas_type`.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub nas_share_addr: Option<String>,
    /// See `nas_type`.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub nas_mount_path: Option<String>,
    /// The job priority (3 high, 2 middle, 1 low, the default; the official SDK sends 1):
    /// queued runs of higher priority start first (1..=3; changeable while the version waits,
    /// `PUT .../versions/{version_id}/priority`).
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub priority: Option<i64>,
    /// Environment variables of the workers, set by the v2 API (`algorithm.environments`);
    /// not a v1 field (a v1 request carrying it is refused), so not in the v1 schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub environments: Option<std::collections::BTreeMap<String, String>>,
    /// Whether the run may be preempted where its pool allows preemption: set by the v2 API
    /// (`spec.schedule_policy.preemptible`; `false` opts out); not a v1 field (refused there),
    /// so not in the v1 schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub preemptible: Option<bool>,
    /// trainyard extension: runs this version waits for (`after_ok`, `after_any`,
    /// `after_failed`, as Slurm's `--dependency`), versions of jobs of the same project.
    /// Stored with each parent's version id resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<Dependency>>,
    /// The sweep this version is a run of: set by the server when a sweep creates it (a
    /// request carrying it is refused), so not in the schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub sweep: Option<SweepMember>,
    /// The official SDK's `false` when a job names no data input: the job runs without one.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_check: Option<bool>,
}

/// trainyard extension `config.depends_on[]`: a run this version waits for.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Dependency {
    /// The parent's job (of the same project).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub job_id: Option<i64>,
    /// The parent version; default: the job's latest version when this one is created.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub version_id: Option<i64>,
    /// When the parent's end lets this version start: `after_ok` (the default: it
    /// completed), `after_any` (it ended) or `after_failed` (it failed or was stopped).
    /// An `after_ok` or `after_failed` dependency never met ends this version with status
    /// 13 (cancelled) and a reason naming the parent.
    #[serde(
        default,
        rename = "type",
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub kind: Option<String>,
}

/// trainyard extension `config.retry_policy`: which failures of a run start it again, how
/// often and after what pause. A lost worker, shim or node is retried whenever
/// `max_retries > 0`; a user stop, a timeout and a run that could not start never are.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RetryPolicy {
    /// How many times a failed run is started again (0..128; default 0: never).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub max_retries: Option<i64>,
    /// Worker exit codes that are retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_exit_codes: Option<Vec<i32>>,
    /// A regular expression: a failure is retried when one of the last 50 lines of a worker's
    /// log matches it.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub on_log_pattern: Option<String>,
    /// Retry any failure (a non-zero exit, whatever the code).
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub on_any_failure: Option<bool>,
    /// Retry a run stopped as hung (see `hang_timeout_minutes`; without one, a hang timeout
    /// of 30 minutes applies to the job). Such retries count into `max_consecutive_any`.
    #[serde(
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub on_hang: Option<bool>,
    /// At most this many `on_any_failure` retries in a row (a retry of a lost worker resets
    /// the count); default: no limit but `max_retries`. The v2 annotation
    /// `job-unconditional-retry` sets 3.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_consecutive_any: Option<i64>,
    /// Pause before the first retry in seconds (0..3600; default 5), doubled for each next
    /// one, at most an hour.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub backoff_seconds: Option<i64>,
}

/// Request body of training job creation (TJ-01).
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreateJobRequest {
    /// Job name.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub job_name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_desc: Option<String>,
    /// Run configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<JobConfig>,
    /// Workspace (default "0").
    #[serde(
        default,
        deserialize_with = "lenient_workspace",
        skip_serializing_if = "Option::is_none"
    )]
    pub workspace_id: Option<String>,
    /// A notification topic and events: `topic_urn` names a topic the server's configuration
    /// maps to webhooks, `events` the run events sent there; an empty one asks for nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<Notification>,
}

/// The `notification` of a job creation (TJ-01): a configured topic and the events sent to its
/// webhooks.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Notification {
    /// The topic (a configured `[[topics]] name`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub topic_urn: Option<String>,
    /// Events to send: the run event log's names (`queued`, `started`, `completed`, `failed`,
    /// ...) or ModelArts' (`JobStarted`, `JobCompleted`, ...); none = the default set.
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

/// Request body of version creation (TJ-06).
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreateVersionRequest {
    /// Version description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_desc: Option<String>,
    /// Run configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<JobConfig>,
}

/// Request body of a job description change (TJ-08).
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpdateDescriptionRequest {
    /// New description (required, may be empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_desc: Option<String>,
}

/// Optional request body of a version stop (TJ-07), a trainyard extension.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StopRequest {
    /// Overrides the configured SIGTERM-to-SIGKILL grace period.
    #[serde(
        default,
        deserialize_with = "lenient::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub grace_period_seconds: Option<i64>,
}

fn lenient_workspace<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    match &v {
        serde_json::Value::String(s) if s.trim().is_empty() => Ok(None),
        serde_json::Value::Null => Ok(None),
        other => lenient::scalar_string(other)
            .map(Some)
            .ok_or_else(|| de::Error::custom("workspace_id must be a string")),
    }
}

/// Success answer of training job creation and of version creation (TJ-01, TJ-06).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreateJobResponse {
    /// `true`.
    pub is_success: bool,
    /// Job id.
    pub job_id: i64,
    /// Job name.
    pub job_name: String,
    /// Initial status.
    pub status: JobStatusCode,
    /// Creation time (ms).
    pub create_time: i64,
    /// First/new version id.
    pub version_id: Option<i64>,
    /// Charged resource id.
    pub resource_id: Option<String>,
    /// Version name.
    pub version_name: Option<String>,
}

/// A status as an integer on the wire.
pub type JobStatusCode = i64;

/// One entry of the training job list (TJ-02).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobSummary {
    /// Job id.
    pub job_id: i64,
    /// Job name.
    pub job_name: String,
    /// Latest version id.
    pub version_id: Option<i64>,
    /// Latest version status.
    pub status: JobStatusCode,
    /// Creation time (ms).
    pub create_time: i64,
    /// Latest version running time (ms).
    pub duration: i64,
    /// Description.
    pub job_desc: String,
    /// Number of versions.
    pub version_count: i64,
    /// trainyard extension: while the latest version waits in this host's queue, why (as
    /// the version's `queue_reason`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub queue_reason: Option<String>,
}

/// Success answer of the training job list (TJ-02).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobListResponse {
    /// `true`.
    pub is_success: bool,
    /// Jobs matching the filter (all pages).
    pub job_total_count: i64,
    /// Jobs the project can still create.
    pub job_count_limit: i64,
    /// Page of jobs.
    pub jobs: Vec<JobSummary>,
    /// Maximum number of jobs.
    pub quotas: i64,
}

/// Version details (TJ-03) and version list items (TJ-05): the TJ-03 superset, with the
/// worked example's extra fields.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionInfo {
    /// Only in TJ-03.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub is_success: Option<bool>,
    /// Only in TJ-03.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub job_id: Option<i64>,
    /// Only in TJ-03.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub job_name: Option<String>,
    /// Only in TJ-03.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub job_desc: Option<String>,
    pub version_id: i64,
    pub version_name: String,
    pub pre_version_id: Option<i64>,
    pub engine_type: Option<i64>,
    pub engine_name: Option<String>,
    pub engine_id: Option<i64>,
    pub engine_version: Option<String>,
    pub status: JobStatusCode,
    pub app_url: Option<String>,
    pub boot_file_url: Option<String>,
    pub create_time: i64,
    pub parameter: Vec<Parameter>,
    pub duration: i64,
    pub spec_id: Option<i64>,
    pub core: Option<String>,
    pub cpu: Option<String>,
    pub gpu: Option<bool>,
    pub gpu_num: Option<i64>,
    pub gpu_type: Option<String>,
    pub worker_server_num: i64,
    pub data_url: Option<String>,
    pub train_url: Option<String>,
    pub log_url: Option<String>,
    pub dataset_version_id: Option<String>,
    pub dataset_id: Option<String>,
    pub data_source: Option<Vec<DataSource>>,
    pub model_id: Option<i64>,
    /// JSON-encoded string.
    pub model_metric_list: String,
    /// Object in TJ-03, JSON-encoded string in TJ-05.
    pub system_metric_list: serde_json::Value,
    pub user_image_url: Option<String>,
    pub user_command: Option<String>,
    pub resource_id: Option<String>,
    pub dataset_name: Option<String>,
    pub spec_code: Option<String>,
    pub start_time: Option<i64>,
    pub volumes: Option<Vec<Volume>>,
    pub dataset_version_name: Option<String>,
    pub pool_name: Option<String>,
    pub pool_id: Option<String>,
    pub nas_mount_path: Option<String>,
    pub nas_share_addr: Option<String>,
    pub nas_type: Option<String>,
    pub flavor_code: Option<String>,
    pub max_num: Option<i64>,
    pub storage: Option<String>,
    pub no_resource: Option<bool>,
    pub job_type: i64,
    pub pool_type: String,
    pub pod_version: Option<String>,
    pub task_summary: serde_json::Value,
    pub model_outputs: Vec<serde_json::Value>,
    pub error_result: Option<serde_json::Value>,
    pub user_frame_image: Option<String>,
    pub is_zombie: Option<bool>,
    pub outputs: Option<serde_json::Value>,
    pub inputs: Option<serde_json::Value>,
    pub algorithm_id: Option<String>,
    pub autosearch_config: Option<serde_json::Value>,
    pub retrain_model_id: Option<i64>,
    pub npu_info: Option<serde_json::Value>,
    /// trainyard extension: which start of the run this is (1, 2, ...), shown once the
    /// version has a retry policy or was retried.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub attempt: Option<i64>,
    /// trainyard extension: while the next attempt waits for its pause, when it starts (ms).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_attempt_time: Option<i64>,
    /// trainyard extension: the version's priority (1 low .. 3 high), shown when its
    /// configuration names one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub priority: Option<i64>,
    /// trainyard extension: while the version waits in this host's queue, how many queued
    /// runs go before it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub queue_position: Option<u64>,
    /// trainyard extension: while the version waits in this host's queue, why, in words
    /// (`3 runs ahead`, `project at its GPU quota`, `project over its fair share`,
    /// `waiting for 8 cores on this host`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub queue_reason: Option<String>,
}

/// Success answer of the version list (TJ-05).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionListResponse {
    /// `true`.
    pub is_success: bool,
    /// Job id.
    pub job_id: i64,
    /// Job name.
    pub job_name: String,
    /// Job description.
    pub job_desc: String,
    /// Total versions.
    pub version_count: i64,
    /// Page of versions, newest first.
    pub versions: Vec<VersionInfo>,
}

/// `GET .../versions/{version_id}/pod/{pod_name}/metric-statistic` (an undocumented
/// ModelArts API; trainyard's shape): the usage of one worker, `pod_name` `worker-<index>`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PodMetricsResponse {
    /// `true`.
    pub is_success: bool,
    /// Job id.
    pub job_id: i64,
    /// Version id.
    pub version_id: i64,
    /// The worker, `worker-<index>`.
    pub pod_name: String,
    /// The nine keys of `system_metric_list` (an object), for this worker alone.
    pub system_metric_list: serde_json::Value,
}

/// Success answer of the log file names (TJ-10).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogFileNamesResponse {
    /// `true`.
    pub is_success: bool,
    /// One file per worker.
    pub log_file_list: Vec<String>,
}

/// Success answer of a log page (TJ-12).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AomLogResponse {
    /// `true`.
    pub is_success: bool,
    /// Lines joined by `\n`.
    pub content: String,
    /// Number of lines returned.
    pub lines: i64,
    /// Token of the first returned line.
    pub start_line: String,
    /// Token of the last returned line.
    pub end_line: String,
}

/// One built-in algorithm (TJ-11).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BuiltInAlgorithm {
    pub model_id: i64,
    pub model_name: String,
    pub model_usage: i64,
    pub model_precision: String,
    pub model_size: i64,
    pub model_train_dataset: String,
    pub model_dataset_format: String,
    pub model_description_url: String,
    /// JSON-encoded array of parameter descriptions.
    pub parameter: String,
    pub create_time: i64,
    pub engine_id: i64,
    pub engine_name: String,
    pub engine_version: String,
}

/// Success answer of the built-in algorithm list (TJ-11).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BuiltInAlgorithmsResponse {
    /// `true`.
    pub is_success: bool,
    /// Matching models.
    pub model_total_count: i64,
    /// Page of models.
    pub models: Vec<BuiltInAlgorithm>,
}

/// `{"is_success": true}`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Success {
    /// `true`.
    pub is_success: bool,
}

impl Success {
    /// The success body.
    pub const OK: Self = Self { is_success: true };
}

/// The sweep (`/v1/{project_id}/sweeps`) a version is a run of: kept in its stored
/// configuration, set by the server, never by a request.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SweepMember {
    /// The sweep.
    pub sweep_id: i64,
    /// The sweep's concurrency.
    pub concurrency: i64,
}
