//! Wire types of the new-version (v2) training API (`/v2/{project_id}/...`) as trainyard
//! speaks it: the request bodies, parsed leniently (numbers as strings, unknown fields
//! ignored, `null` as absent). Responses are built as JSON documents by the server
//! (`service::v2`), since they echo what the request gave. `docs/api-v2.md` says what each
//! field does.

use crate::lenient;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A training job as created (T2-01): the body of `POST /v2/{project_id}/training-jobs`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobV2 {
    /// Job type: only `job`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub kind: Option<String>,
    /// Name, description, workspace, annotations.
    #[serde(default)]
    pub metadata: Option<MetadataV2>,
    /// What runs: code and boot file with an engine, or an image and a command.
    #[serde(default)]
    pub algorithm: Option<AlgorithmV2>,
    /// Heterogeneous tasks (refused when not empty).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub tasks: Option<Vec<Value>>,
    /// Resources, volumes, log export, policies.
    #[serde(default)]
    pub spec: Option<SpecV2>,
    /// SSH key pairs (refused when set).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub endpoints: Option<Value>,
}

/// `metadata` of a job.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetadataV2 {
    /// Job name: 1-64 letters, digits, `_`, `-`; unique among the project's v2 jobs.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Description, at most 256 characters.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    /// Workspace (default `"0"`; `""` is `"0"`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub workspace_id: Option<String>,
    /// Free annotations, echoed; `fault-tolerance/job-retry-num` and
    /// `job-unconditional-retry` set the retry policy; the other fault-tolerance and tool keys
    /// are refused until served.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub annotations: Option<BTreeMap<String, Value>>,
    /// Experiment reference, echoed.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub training_experiment_reference: Option<Value>,
}

/// `algorithm` of a job.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlgorithmV2 {
    /// Algorithm from the algorithm management (`/v2/{project_id}/algorithms`); unknown: `ModelArts.2755`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    /// Algorithm name, echoed.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Subscribed algorithm (not served: refused with `ModelArts.2755`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub subscription_id: Option<String>,
    /// Goes with `subscription_id`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub item_version_id: Option<String>,
    /// Code directory in object storage.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub code_dir: Option<String>,
    /// Boot file inside `code_dir`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub boot_file: Option<String>,
    /// Start command of a custom-image job.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub command: Option<String>,
    /// Running parameters, passed as `--name=value`.
    #[serde(default)]
    pub parameters: Option<Vec<ParameterV2>>,
    /// Hyper-parameter search (only an empty one is accepted).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub policies: Option<Value>,
    /// Input channels (one, named `data_url`).
    #[serde(default)]
    pub inputs: Option<Vec<ChannelV2>>,
    /// Output channels (one, named `train_url`).
    #[serde(default)]
    pub outputs: Option<Vec<ChannelV2>>,
    /// Engine (from the engine list) or custom image.
    #[serde(default)]
    pub engine: Option<EngineV2>,
    /// Where the code goes in the container (refused when set).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub local_code_dir: Option<String>,
    /// Working directory of the process (refused when set).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub working_dir: Option<String>,
    /// Environment variables (a map, or an array of maps merged in order).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub environments: Option<Value>,
    /// Visualization logs (refused when set).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub summary: Option<Value>,
}

/// One running parameter.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ParameterV2 {
    /// Name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Value (always a string on the wire).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub value: Option<String>,
    /// Description, echoed.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    /// Constraint, echoed.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub constraint: Option<Value>,
    /// Localized description, echoed.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub i18n_description: Option<Value>,
}

/// One input or output channel.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelV2 {
    /// Channel name (`data_url` for the input, `train_url` for the output).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Description, echoed.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    /// Container path (refused when set: the path is the run's, passed as a parameter).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub local_dir: Option<String>,
    /// `parameter` (default); `env` is refused.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub access_method: Option<String>,
    /// Where the data is: `obs.obs_url` (a dataset is refused).
    #[serde(default)]
    pub remote: Option<RemoteV2>,
    /// Data constraints, echoed.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub remote_constraint: Option<Value>,
}

/// `remote` of a channel.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RemoteV2 {
    /// Object storage folder.
    #[serde(default)]
    pub obs: Option<ObsV2>,
    /// Dataset (refused).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub dataset: Option<Value>,
}

/// An object storage path.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ObsV2 {
    /// `obs://bucket/path/` or `/bucket/path/`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub obs_url: Option<String>,
}

/// `algorithm.engine`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EngineV2 {
    /// Engine id from the engine list.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub engine_id: Option<String>,
    /// Engine name (with `engine_version`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub engine_name: Option<String>,
    /// Engine version (with `engine_name`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub engine_version: Option<String>,
    /// Custom image, run in a container with `algorithm.command`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub image_url: Option<String>,
    /// Install the platform's packages (refused when true).
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub install_sys_packages: Option<bool>,
    /// Enterprise image repository (refused when set).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub image_repo_id: Option<String>,
}

/// `spec` of a job.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SpecV2 {
    /// Flavor, node count, pool.
    #[serde(default)]
    pub resource: Option<ResourceV2>,
    /// Volumes: `nfs` exports the server maps to host folders, mounted into containers.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub volumes: Option<Vec<Value>>,
    /// Where the logs are copied to.
    #[serde(default)]
    pub log_export_path: Option<LogExportPathV2>,
    /// Stop the job after a running time.
    #[serde(default)]
    pub auto_stop: Option<AutoStopV2>,
    /// Priority and affinity.
    #[serde(default)]
    pub schedule_policy: Option<SchedulePolicyV2>,
    /// Notifications: `topic_urn` (a configured topic) and `events`, as TJ-01's.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub notification: Option<Value>,
    /// Custom metrics (refused when set).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub custom_metrics: Option<Value>,
}

/// `spec.resource`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResourceV2 {
    /// Flavor from the flavor list.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub flavor_id: Option<String>,
    /// Nodes (workers), default 1.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub node_count: Option<i64>,
    /// Resource pool (as v1's `pool_id`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub pool_id: Option<String>,
    /// Pool federation (refused when set).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub pool_group_id: Option<String>,
    /// Custom container size (refused when set).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub main_container_customized_flavor: Option<Value>,
}

/// `spec.log_export_path`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogExportPathV2 {
    /// Object storage folder the logs are copied to (`""` = none).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub obs_url: Option<String>,
    /// Host folder (refused when set).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub host_path: Option<String>,
}

/// `spec.auto_stop`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AutoStopV2 {
    /// Only `HOURS`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub time_unit: Option<String>,
    /// Hours, at least 1.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub duration: Option<i64>,
}

/// `spec.schedule_policy`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SchedulePolicyV2 {
    /// 0 or 1 (the default); 2 and 3 are refused until priorities are served.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub priority: Option<i64>,
    /// Preemption (refused when true).
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub preemptible: Option<bool>,
    /// Affinity (refused when set).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub required_affinity: Option<Value>,
    /// Affinity (refused when set).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub preferred_affinity: Option<Value>,
}

/// Body of T2-03, the job search.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobSearchV2 {
    /// Workspace (`""` is `"0"`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub workspace_id: Option<String>,
    /// Item offset (default 0).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub offset: Option<i64>,
    /// Page size 1-50 (default 10).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub limit: Option<i64>,
    /// `create_time` (default), `name`, `duration` or `phase`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub sort_by: Option<String>,
    /// `desc` (default) or `asc`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub order: Option<String>,
    /// Echoed.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub group_by: Option<String>,
    /// Conditions, all of which must hold.
    #[serde(default)]
    pub filters: Option<Vec<FilterV2>>,
    /// `job` (default) or `ftjob` (no fine-tuning jobs here: an empty page).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub train_type: Option<String>,
    /// Tag filter (refused when not empty).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub tags: Option<Vec<Value>>,
    /// Host filter (refused when not empty).
    #[serde(default)]
    pub host_ips: Option<Vec<String>>,
}

/// One condition of a job search.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FilterV2 {
    /// `id`, `name`, `create_time`, `phase`, `algorithm_name`, `kind`, `user_id`, `runtime_type`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub key: Option<String>,
    /// `between`, `like`, `in`, `not`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub operator: Option<String>,
    /// Operands.
    #[serde(default)]
    pub value: Option<Vec<String>>,
}

/// Body of T2-04, the update.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobUpdateV2 {
    /// New description (at most 256 characters).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    /// `schedule_policy.priority` (1-3) of a job waiting to start; other changes (a
    /// notification) are refused.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub spec: Option<Value>,
    /// SSH keys (refused when set).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub endpoints: Option<Value>,
    /// Annotations (refused when set).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// Body of T2-06, the batch delete.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchDeleteV2 {
    /// 1-100 jobs: `{"kind": "job", "metadata": {"id": ...}}`.
    #[serde(default)]
    pub jobs: Option<Vec<BatchDeleteItemV2>>,
}

/// One job of a batch delete.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchDeleteItemV2 {
    /// Job type (`job`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub kind: Option<String>,
    /// `{"id": ...}`.
    #[serde(default)]
    pub metadata: Option<BatchDeleteIdV2>,
}

/// The id of a job in a batch delete.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchDeleteIdV2 {
    /// Job id.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
}

/// Body of T2-07, the job action.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobActionV2 {
    /// Only `terminate`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub action_type: Option<String>,
}

/// An algorithm of the algorithm management: the body of `POST /v2/{project_id}/algorithms`
/// and `PUT .../algorithms/{algorithm_id}` (the SDK's `Algorithm`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlgorithmCreateV2 {
    /// Name, description, workspace, optional id.
    #[serde(default)]
    pub metadata: Option<AlgorithmMetadataV2>,
    /// What a job using the algorithm runs.
    #[serde(default)]
    pub job_config: Option<AlgorithmJobConfigV2>,
    /// Resource constraints, stored and echoed.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub resource_requirements: Option<Value>,
    /// Advanced settings (hyper-parameter search), stored and echoed.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub advanced_config: Option<Value>,
}

/// `metadata` of an algorithm.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlgorithmMetadataV2 {
    /// A UUID chosen by the client on create (else one is made); ignored on change.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    /// 1-64 letters, digits, `_`, `-`; unique in the project.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// At most 256 characters.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    /// Workspace (default `"0"`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub workspace_id: Option<String>,
    /// AI project (retired by ModelArts), echoed.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub ai_project: Option<String>,
}

/// `job_config` of an algorithm: what a job naming it (`algorithm.id`) runs.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlgorithmJobConfigV2 {
    /// Code directory in object storage.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub code_dir: Option<String>,
    /// Boot file inside `code_dir`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub boot_file: Option<String>,
    /// Start command of a custom image.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub command: Option<String>,
    /// Default running parameters (a job's parameters of the same name override them).
    #[serde(default)]
    pub parameters: Option<Vec<ParameterV2>>,
    /// Input channels declared, stored and echoed (a job gives its own).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub inputs: Option<Value>,
    /// Output channels declared, stored and echoed (a job gives its own).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub outputs: Option<Value>,
    /// Engine (from the engine list) or custom image.
    #[serde(default)]
    pub engine: Option<EngineV2>,
    /// Whether jobs may add parameters, echoed.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub parameters_customization: Option<bool>,
}

/// Body of T2-16a and T2-16b, a job's tags to add or remove.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TagsV2 {
    /// The tags.
    #[serde(default)]
    pub tags: Option<Vec<TagV2>>,
}

/// One tag of a job.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TagV2 {
    /// 1-128 characters: letters, digits, spaces, `_ . : = + - @`; not `_sys_...`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub key: Option<String>,
    /// 0-255 characters, the key's set and `/` (optional on delete).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub value: Option<String>,
}

/// The error body of the v2 API.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBodyV2 {
    /// `ModelArts.NNNN`.
    pub error_code: String,
    /// Human-readable message.
    pub error_msg: String,
    /// What to do about it (may be empty).
    pub error_solution: String,
}

/// The v2 `status.phase` and `status.secondary_phase` of a run's status: the one lifecycle
/// rendered for the new API.
pub fn phase(status: crate::JobStatus) -> (&'static str, &'static str) {
    use crate::JobStatus as S;
    match status {
        S::INIT | S::IMAGE_CREATING | S::SUBMIT_TRYING | S::CHECK_INIT => ("Creating", "Creating"),
        S::WAITING => ("Pending", "Queuing"),
        S::RUNNING | S::SCALING | S::CHECK_RUNNING => ("Running", "Running"),
        S::KILLING => ("Terminating", "Terminating"),
        S::COMPLETED | S::CHECK_RUNNING_COMPLETED => ("Completed", "Completed"),
        S::FAILED | S::SUBMIT_MODEL_FAILED | S::DEPLOY_SERVICE_FAILED | S::CHECK_FAILED => {
            ("Failed", "Failed")
        }
        S::KILLED | S::CANCELED => ("Terminated", "Terminated"),
        S::IMAGE_FAILED | S::SUBMIT_FAILED | S::MOUNT_FAILED => ("Abnormal", "CreateFailed"),
        S::LOST => ("Abnormal", "Lost"),
        _ => ("Abnormal", "Unknown"),
    }
}

/// The phases a phase filter names: case-insensitive, with the CLI's `Waiting` (= `Pending`)
/// and `Stopped` (= `Terminated`).
pub fn phase_named(text: &str) -> Option<&'static str> {
    const PHASES: [&str; 8] = [
        "Creating",
        "Pending",
        "Running",
        "Failed",
        "Completed",
        "Terminating",
        "Terminated",
        "Abnormal",
    ];
    match text.to_ascii_lowercase().as_str() {
        "waiting" => Some("Pending"),
        "stopped" => Some("Terminated"),
        t => PHASES.iter().copied().find(|p| p.to_ascii_lowercase() == t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JobStatus;

    #[test]
    fn every_status_has_the_phase_of_the_table() {
        let want = [
            (0, "Abnormal", "Unknown"),
            (1, "Creating", "Creating"),
            (2, "Creating", "Creating"),
            (3, "Abnormal", "CreateFailed"),
            (4, "Creating", "Creating"),
            (5, "Abnormal", "CreateFailed"),
            (6, "Abnormal", "Unknown"),
            (7, "Pending", "Queuing"),
            (8, "Running", "Running"),
            (9, "Terminating", "Terminating"),
            (10, "Completed", "Completed"),
            (11, "Failed", "Failed"),
            (12, "Terminated", "Terminated"),
            (13, "Terminated", "Terminated"),
            (14, "Abnormal", "Lost"),
            (15, "Running", "Running"),
            (16, "Failed", "Failed"),
            (17, "Failed", "Failed"),
            (18, "Creating", "Creating"),
            (19, "Running", "Running"),
            (20, "Completed", "Completed"),
            (21, "Failed", "Failed"),
            (22, "Abnormal", "CreateFailed"),
        ];
        assert_eq!(want.len(), JobStatus::ALL.len());
        for (s, (code, p, sp)) in JobStatus::ALL.iter().zip(want) {
            assert_eq!(s.code(), code);
            assert_eq!(phase(*s), (p, sp), "status {code}");
        }
        assert_eq!(phase(JobStatus::from_code(99)), ("Abnormal", "Unknown"));
    }

    #[test]
    fn phase_filters_take_the_cli_aliases() {
        assert_eq!(phase_named("waiting"), Some("Pending"));
        assert_eq!(phase_named("Stopped"), Some("Terminated"));
        assert_eq!(phase_named("RUNNING"), Some("Running"));
        assert_eq!(phase_named("Queuing"), None);
    }
}
