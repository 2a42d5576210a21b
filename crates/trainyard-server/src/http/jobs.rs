//! Training job, version and log handlers (TJ-01..TJ-12).

use crate::error::ApiResult;
use crate::http::extract::{Body, Ids, Query};
use crate::http::state::AppState;
use axum::extract::State;
use axum::Json;
use trainyard_api::training::{
    AomLogResponse, BuiltInAlgorithmsResponse, CreateJobRequest, CreateJobResponse,
    CreateVersionRequest, JobListResponse, LogFileNamesResponse, StopRequest, Success,
    UpdateDescriptionRequest, VersionInfo, VersionListResponse,
};

/// Creates a training job, by default with its first version (TJ-01).
pub async fn create_job(
    State(s): State<AppState>,
    ids: Ids,
    Body(req): Body<CreateJobRequest>,
) -> ApiResult<Json<CreateJobResponse>> {
    Ok(Json(s.svc.create_job(&ids.project, req).await?))
}

/// Lists training jobs (TJ-02).
pub async fn list_jobs(
    State(s): State<AppState>,
    ids: Ids,
    Query(q): Query,
) -> ApiResult<Json<JobListResponse>> {
    Ok(Json(s.svc.list_jobs(&ids.project, &q).await?))
}

/// Shows one version in detail (TJ-03).
pub async fn get_version(State(s): State<AppState>, ids: Ids) -> ApiResult<Json<VersionInfo>> {
    Ok(Json(
        s.svc
            .get_version(&ids.project, ids.nums[0], ids.nums[1])
            .await?,
    ))
}

/// The per-worker usage series (`.../pod/{pod_name}/metric-statistic`).
pub async fn pod_metrics(
    State(s): State<AppState>,
    ids: Ids,
) -> ApiResult<Json<trainyard_api::training::PodMetricsResponse>> {
    let pod = ids.name.clone().unwrap_or_default();
    Ok(Json(
        s.svc
            .pod_metrics(&ids.project, ids.nums[0], ids.nums[1], &pod)
            .await?,
    ))
}

/// Deletes a version (TJ-04).
pub async fn delete_version(State(s): State<AppState>, ids: Ids) -> ApiResult<Json<Success>> {
    s.svc
        .delete_version(&ids.project, ids.nums[0], ids.nums[1])
        .await?;
    Ok(Json(Success::OK))
}

/// Lists a job's versions (TJ-05).
pub async fn list_versions(
    State(s): State<AppState>,
    ids: Ids,
    Query(q): Query,
) -> ApiResult<Json<VersionListResponse>> {
    Ok(Json(
        s.svc.list_versions(&ids.project, ids.nums[0], &q).await?,
    ))
}

/// Creates a new version of a job (TJ-06).
pub async fn create_version(
    State(s): State<AppState>,
    ids: Ids,
    Body(req): Body<CreateVersionRequest>,
) -> ApiResult<Json<CreateJobResponse>> {
    Ok(Json(
        s.svc.create_version(&ids.project, ids.nums[0], req).await?,
    ))
}

/// Stops a version (TJ-07), with the optional `{"grace_period_seconds": N}` extension.
pub async fn stop_version(
    State(s): State<AppState>,
    ids: Ids,
    Body(req): Body<StopRequest>,
) -> ApiResult<Json<Success>> {
    s.svc
        .stop_version(
            &ids.project,
            ids.nums[0],
            ids.nums[1],
            req.grace_period_seconds,
        )
        .await?;
    Ok(Json(Success::OK))
}

/// Replaces a job's description (TJ-08).
pub async fn update_job(
    State(s): State<AppState>,
    ids: Ids,
    Body(req): Body<UpdateDescriptionRequest>,
) -> ApiResult<Json<Success>> {
    s.svc
        .update_job_description(&ids.project, ids.nums[0], req.job_desc)
        .await?;
    Ok(Json(Success::OK))
}

/// Deletes a job with all its versions (TJ-09).
pub async fn delete_job(State(s): State<AppState>, ids: Ids) -> ApiResult<Json<Success>> {
    s.svc.delete_job(&ids.project, ids.nums[0]).await?;
    Ok(Json(Success::OK))
}

/// Lists a version's log file names (TJ-10).
pub async fn log_file_names(
    State(s): State<AppState>,
    ids: Ids,
) -> ApiResult<Json<LogFileNamesResponse>> {
    let log_file_list = s
        .svc
        .log_file_names(&ids.project, ids.nums[0], ids.nums[1])
        .await?;
    Ok(Json(LogFileNamesResponse {
        is_success: true,
        log_file_list,
    }))
}

/// Lists the built-in algorithms (TJ-11).
pub async fn built_in_algorithms(
    State(s): State<AppState>,
    _ids: Ids,
    Query(q): Query,
) -> ApiResult<Json<BuiltInAlgorithmsResponse>> {
    Ok(Json(s.svc.built_in_algorithms(&q)?))
}

/// Pages a worker log by line (TJ-12).
pub async fn read_log(
    State(s): State<AppState>,
    ids: Ids,
    Query(q): Query,
) -> ApiResult<Json<AomLogResponse>> {
    Ok(Json(
        s.svc
            .read_log(&ids.project, ids.nums[0], ids.nums[1], &q)
            .await?,
    ))
}
