//! Resource specifications (RS-01) and AI engines (RS-02).

use serde::{Deserialize, Serialize};

/// One resource specification as RS-01 shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SpecInfo {
    pub spec_id: i64,
    /// Number of cores, as a string.
    pub core: String,
    /// Memory in GB, as a string.
    pub cpu: String,
    pub gpu_num: i64,
    pub gpu_type: String,
    pub spec_code: String,
    pub unit_num: i64,
    pub max_num: i64,
    pub storage: String,
    pub interface_type: i64,
    /// True when the executor cannot start a job of this spec now.
    pub no_resource: bool,
}

/// Success answer of the resource specification list (RS-01).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SpecListResponse {
    /// `true`.
    pub is_success: bool,
    /// Number of specs returned.
    pub spec_total_count: i64,
    /// Specs.
    pub specs: Vec<SpecInfo>,
}

/// One AI engine as RS-02 shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct EngineInfo {
    pub engine_type: i64,
    pub engine_name: String,
    pub engine_id: i64,
    pub engine_version: String,
}

/// Success answer of the AI engine list (RS-02).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EngineListResponse {
    /// `true`.
    pub is_success: bool,
    /// Engines.
    pub engines: Vec<EngineInfo>,
}
