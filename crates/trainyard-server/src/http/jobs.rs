//! Training job, version and log handlers (TJ-01..TJ-12).

use crate::error::{ApiError, ApiResult};
use crate::http::auth::Caller;
use crate::http::extract::{Body, JobPath, PodPath, ProjectPath, Query, VersionPath};
use crate::http::state::AppState;
use axum::extract::State;
use axum::Json;
use trainyard_api::training::{
    AomLogResponse, BuiltInAlgorithmsResponse, CreateJobRequest, CreateJobResponse,
    CreateVersionRequest, JobListResponse, LogFileNamesResponse, StopRequest, Success,
    UpdateDescriptionRequest, VersionListResponse,
};

/// Creates a training job, by default with its first version (TJ-01).
pub async fn create_job(
    State(s): State<AppState>,
    path: ProjectPath,
    Caller(who): Caller,
    Body(req): Body<CreateJobRequest>,
) -> ApiResult<Json<CreateJobResponse>> {
    Ok(Json(s.svc.create_job(&path.project, &who, req).await?))
}

/// Lists training jobs (TJ-02).
pub async fn list_jobs(
    State(s): State<AppState>,
    path: ProjectPath,
    Query(q): Query,
) -> ApiResult<Json<JobListResponse>> {
    Ok(Json(s.svc.list_jobs(&path.project, &q).await?))
}

/// Shows one version in detail (TJ-03).
pub async fn get_version(
    State(s): State<AppState>,
    path: VersionPath,
) -> ApiResult<impl axum::response::IntoResponse> {
    let body = s
        .svc
        .get_version(&path.project, path.job, path.version)
        .await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    ))
}

/// The per-worker usage series (`.../pod/{pod_name}/metric-statistic`).
pub async fn pod_metrics(
    State(s): State<AppState>,
    path: PodPath,
) -> ApiResult<Json<trainyard_api::training::PodMetricsResponse>> {
    Ok(Json(
        s.svc
            .pod_metrics(&path.project, path.job, path.version, &path.pod)
            .await?,
    ))
}

/// The run's event log (`.../versions/{version_id}/events`, a trainyard extension).
pub async fn list_events(
    State(s): State<AppState>,
    path: VersionPath,
) -> ApiResult<Json<trainyard_api::events::RunEventsResponse>> {
    Ok(Json(
        s.svc
            .run_events(&path.project, path.job, path.version)
            .await?,
    ))
}

/// Deletes a version (TJ-04).
pub async fn delete_version(
    State(s): State<AppState>,
    path: VersionPath,
) -> ApiResult<Json<Success>> {
    s.svc
        .delete_version(&path.project, path.job, path.version)
        .await?;
    Ok(Json(Success::OK))
}

/// Lists a job's versions (TJ-05).
pub async fn list_versions(
    State(s): State<AppState>,
    path: JobPath,
    Query(q): Query,
) -> ApiResult<Json<VersionListResponse>> {
    Ok(Json(
        s.svc.list_versions(&path.project, path.job, &q).await?,
    ))
}

/// Creates a new version of a job (TJ-06).
pub async fn create_version(
    State(s): State<AppState>,
    path: JobPath,
    Caller(who): Caller,
    Body(req): Body<CreateVersionRequest>,
) -> ApiResult<Json<CreateJobResponse>> {
    Ok(Json(
        s.svc
            .create_version(&path.project, &who, path.job, req)
            .await?,
    ))
}

/// Stops a version (TJ-07), with the optional `{"grace_period_seconds": N}` extension.
pub async fn stop_version(
    State(s): State<AppState>,
    path: VersionPath,
    Body(req): Body<StopRequest>,
) -> ApiResult<Json<Success>> {
    s.svc
        .stop_version(
            &path.project,
            path.job,
            path.version,
            req.grace_period_seconds,
        )
        .await?;
    Ok(Json(Success::OK))
}

/// Changes the priority of a version waiting to start (trainyard extension).
pub async fn set_priority(
    State(s): State<AppState>,
    path: VersionPath,
    Body(req): Body<trainyard_api::extensions::PriorityRequest>,
) -> ApiResult<Json<Success>> {
    s.svc
        .set_priority(&path.project, path.job, path.version, req.priority)
        .await?;
    Ok(Json(Success::OK))
}

/// Replaces a job's description (TJ-08).
pub async fn update_job(
    State(s): State<AppState>,
    path: JobPath,
    Body(req): Body<UpdateDescriptionRequest>,
) -> ApiResult<Json<Success>> {
    s.svc
        .update_job_description(&path.project, path.job, req.job_desc)
        .await?;
    Ok(Json(Success::OK))
}

/// Deletes a job with all its versions (TJ-09).
pub async fn delete_job(State(s): State<AppState>, path: JobPath) -> ApiResult<Json<Success>> {
    s.svc.delete_job(&path.project, path.job).await?;
    Ok(Json(Success::OK))
}

/// Lists a version's log file names (TJ-10); `?shim_log=true` (a trainyard extension) adds
/// the run supervisor's `shim.log`.
pub async fn log_file_names(
    State(s): State<AppState>,
    path: VersionPath,
    Query(q): Query,
) -> ApiResult<Json<LogFileNamesResponse>> {
    let with_shim_log = match q.get("shim_log").map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(other) => {
            return Err(ApiError::param(format!(
                "shim_log:{other} must be true or false"
            )))
        }
    };
    let log_file_list = s
        .svc
        .log_file_names(&path.project, path.job, path.version, with_shim_log)
        .await?;
    Ok(Json(LogFileNamesResponse {
        is_success: true,
        log_file_list,
    }))
}

/// Lists the built-in algorithms (TJ-11).
pub async fn built_in_algorithms(
    State(s): State<AppState>,
    _path: ProjectPath,
    Query(q): Query,
) -> ApiResult<Json<BuiltInAlgorithmsResponse>> {
    Ok(Json(s.svc.built_in_algorithms(&q)?))
}

/// Pages a worker log by line (TJ-12).
pub async fn read_log(
    State(s): State<AppState>,
    path: VersionPath,
    Query(q): Query,
) -> ApiResult<Json<AomLogResponse>> {
    Ok(Json(
        s.svc
            .read_log(&path.project, path.job, path.version, &q)
            .await?,
    ))
}
