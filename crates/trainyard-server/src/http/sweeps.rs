//! Sweep handlers (trainyard extension, docs/api-compatibility.md "ModelArts extensions").

use crate::error::ApiResult;
use crate::http::auth::Caller;
use crate::http::extract::{Body, ProjectPath, SweepPath};
use crate::http::state::AppState;
use axum::extract::State;
use axum::Json;
use trainyard_api::sweeps::{CreateSweepRequest, SweepListResponse, SweepResponse};
use trainyard_api::training::Success;

/// `POST /v1/{project_id}/sweeps`: creates a sweep and all its runs.
pub async fn create_sweep(
    State(s): State<AppState>,
    path: ProjectPath,
    Caller(who): Caller,
    Body(req): Body<CreateSweepRequest>,
) -> ApiResult<Json<SweepResponse>> {
    Ok(Json(s.svc.create_sweep(&path.project, &who, req).await?))
}

/// `GET /v1/{project_id}/sweeps`: the project's sweeps, newest first, with their progress.
pub async fn list_sweeps(
    State(s): State<AppState>,
    path: ProjectPath,
) -> ApiResult<Json<SweepListResponse>> {
    Ok(Json(s.svc.list_sweeps(&path.project).await?))
}

/// `GET /v1/{project_id}/sweeps/{sweep_id}`: a sweep with its progress, best run and runs.
pub async fn get_sweep(
    State(s): State<AppState>,
    path: SweepPath,
) -> ApiResult<Json<SweepResponse>> {
    Ok(Json(s.svc.get_sweep(&path.project, path.sweep).await?))
}

/// `POST /v1/{project_id}/sweeps/{sweep_id}/stop`: stops every run that has not ended.
pub async fn stop_sweep(
    State(s): State<AppState>,
    path: SweepPath,
) -> ApiResult<Json<SweepResponse>> {
    Ok(Json(s.svc.stop_sweep(&path.project, path.sweep).await?))
}

/// `DELETE /v1/{project_id}/sweeps/{sweep_id}`: deletes the sweep and its runs' jobs.
pub async fn delete_sweep(State(s): State<AppState>, path: SweepPath) -> ApiResult<Json<Success>> {
    s.svc.delete_sweep(&path.project, path.sweep).await?;
    Ok(Json(Success { is_success: true }))
}
