//! Training job parameter configurations (TC-01..TC-05).

use crate::lenient;
use crate::training::{DataSource, JobConfig, Parameter, Volume};
use serde::{Deserialize, Serialize};

/// Request body of configuration creation and replacement (TC-01, TC-03): flat, the run
/// configuration fields next to name and description.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConfigRequest {
    /// Name (TC-01 only; the path names it in TC-03).
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub config_name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_desc: Option<String>,
    /// The run configuration.
    #[serde(flatten)]
    pub config: JobConfig,
}

/// One entry of the configuration list (TC-02).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConfigSummary {
    pub config_name: String,
    pub config_desc: String,
    pub create_time: i64,
    pub engine_type: Option<i64>,
    pub engine_name: Option<String>,
    pub engine_id: Option<i64>,
    pub engine_version: Option<String>,
    pub user_image_url: Option<String>,
    pub user_command: Option<String>,
}

/// Success answer of the configuration list (TC-02).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConfigListResponse {
    /// `true`.
    pub is_success: bool,
    /// Matching configurations.
    pub config_total_count: i64,
    /// Page of configurations.
    pub configs: Vec<ConfigSummary>,
}

/// Success answer of configuration details (TC-05).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConfigDetail {
    /// `true`.
    pub is_success: bool,
    pub config_name: String,
    pub config_desc: String,
    pub worker_server_num: Option<i64>,
    pub app_url: Option<String>,
    pub boot_file_url: Option<String>,
    pub model_id: Option<i64>,
    pub parameter: Vec<Parameter>,
    pub spec_id: Option<i64>,
    pub data_url: Option<String>,
    pub dataset_id: Option<String>,
    pub dataset_version_id: Option<String>,
    pub data_source: Option<Vec<DataSource>>,
    pub engine_type: Option<i64>,
    pub engine_name: Option<String>,
    pub engine_id: Option<i64>,
    pub engine_version: Option<String>,
    pub train_url: Option<String>,
    pub log_url: Option<String>,
    pub user_image_url: Option<String>,
    pub user_command: Option<String>,
    pub spec_code: Option<String>,
    pub gpu_type: Option<String>,
    pub create_time: i64,
    pub cpu: Option<String>,
    pub gpu_num: Option<i64>,
    pub core: Option<String>,
    pub dataset_name: Option<String>,
    pub dataset_version_name: Option<String>,
    pub pool_id: Option<String>,
    pub pool_name: Option<String>,
    pub volumes: Option<Vec<Volume>>,
    pub nas_mount_path: Option<String>,
    pub nas_share_addr: Option<String>,
    pub nas_type: Option<String>,
}
