//! Query parameters of the list and log endpoints; unset fields are left out.

use serde::Serialize;

/// Filters and paging of the training job list (TJ-02).
#[derive(Clone, Debug, Default, Serialize)]
pub struct JobListQuery {
    /// Only jobs whose latest version has this status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    /// Page size (server default 10, at most 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_page: Option<i64>,
    /// 1-based page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<i64>,
    /// `job_name`, `job_desc`, `status`, `duration` or `create_time`.
    #[serde(rename = "sortBy", skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
    /// `asc` or `desc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// Name filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_content: Option<String>,
    /// Workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
}

/// Plain paging (TJ-05).
#[derive(Clone, Debug, Default, Serialize)]
pub struct PageQuery {
    /// 1-based page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<i64>,
    /// Page size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_page: Option<i64>,
}

/// Filters and paging of the configuration list (TC-02).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ConfigListQuery {
    /// Name filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_content: Option<String>,
    /// Page size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_page: Option<i64>,
    /// 1-based page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<i64>,
    /// `config_name`, `config_desc` or `create_time`.
    #[serde(rename = "sortBy", skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
    /// `asc` or `desc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
}

/// Filters of the built-in algorithm list (TJ-11).
#[derive(Clone, Debug, Default, Serialize)]
pub struct AlgorithmQuery {
    /// Name filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_content: Option<String>,
    /// Page size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_page: Option<i64>,
    /// 1-based page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<i64>,
}

/// Parameters of a log page by line (TJ-12).
#[derive(Clone, Debug, Default, Serialize)]
pub struct LogQuery {
    /// Worker log file (`<job_name>.<index>`).
    pub log_file: String,
    /// Position token to page from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_line: Option<String>,
    /// Number of lines (at most 500).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<i64>,
    /// `asc` (before `base_line`) or `desc` (after it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
}

/// Filters, sorting and paging of the visualization job list (VJ-02).
#[derive(Clone, Debug, Default, Serialize)]
pub struct VizListQuery {
    /// Only jobs with this status code, or one of several comma-separated codes (`8,12`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Page size (server default 10, at most 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_page: Option<i64>,
    /// 1-based page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<i64>,
    /// `job_id` (default), `job_name`, `job_desc`, `create_time`, `status`, `duration` or
    /// `log_dir` (= `train_url`).
    #[serde(rename = "sortBy", skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
    /// `asc` (default) or `desc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// Substring of the job name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_content: Option<String>,
    /// Workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
}
