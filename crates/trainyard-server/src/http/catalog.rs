//! Handlers of the resource specification and AI engine lists (RS-01, RS-02) and of training
//! job configurations (TC-01..TC-05).

use crate::catalog::{engine_info, spec_info};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{Body, ConfigPath, ProjectPath, Query};
use crate::http::state::AppState;
use axum::extract::State;
use axum::Json;
use trainyard_api::catalog::{EngineListResponse, SpecListResponse};
use trainyard_api::training::Success;
use trainyard_api::training_config::{ConfigDetail, ConfigListResponse, ConfigRequest};

fn check_job_type(q: &crate::service::query::Params) -> ApiResult<()> {
    match q.get("job_type").map(str::to_ascii_lowercase).as_deref() {
        None | Some("train") | Some("inference") => Ok(()),
        Some(other) => Err(ApiError::param(format!(
            "job_type:{other} must be train or inference"
        ))),
    }
}

/// Lists the resource specifications (RS-01): `no_resource` is true when one worker of the
/// spec does not fit the free capacity now.
pub async fn resource_specs(
    State(s): State<AppState>,
    _path: ProjectPath,
    Query(q): Query,
) -> ApiResult<Json<SpecListResponse>> {
    check_job_type(&q)?;
    let engine_id = q.int("engine_id", 0, 0, i64::MAX)?;
    if engine_id != 0 && s.svc.catalog().engine(engine_id).is_none() {
        return Err(ApiError::param(format!(
            "engine_id:{engine_id} is not existed"
        )));
    }
    q.int("project_type", 0, 0, 3)?;
    let specs: Vec<_> = s
        .svc
        .catalog()
        .specs
        .iter()
        .map(|spec| spec_info(spec, s.svc.no_resource(spec)))
        .collect();
    Ok(Json(SpecListResponse {
        is_success: true,
        spec_total_count: specs.len() as i64,
        specs,
    }))
}

/// Lists the AI engines (RS-02).
pub async fn ai_engines(
    State(s): State<AppState>,
    _path: ProjectPath,
    Query(q): Query,
) -> ApiResult<Json<EngineListResponse>> {
    check_job_type(&q)?;
    Ok(Json(EngineListResponse {
        is_success: true,
        engines: s.svc.catalog().engines.iter().map(engine_info).collect(),
    }))
}

/// Creates a training configuration (TC-01).
pub async fn create_config(
    State(s): State<AppState>,
    path: ProjectPath,
    Body(req): Body<ConfigRequest>,
) -> ApiResult<Json<Success>> {
    s.svc.create_config(&path.project, req).await?;
    Ok(Json(Success::OK))
}

/// Lists training configurations (TC-02).
pub async fn list_configs(
    State(s): State<AppState>,
    path: ProjectPath,
    Query(q): Query,
) -> ApiResult<Json<ConfigListResponse>> {
    Ok(Json(s.svc.list_configs(&path.project, &q).await?))
}

/// Replaces a training configuration (TC-03).
pub async fn update_config(
    State(s): State<AppState>,
    path: ConfigPath,
    Body(req): Body<ConfigRequest>,
) -> ApiResult<Json<Success>> {
    s.svc.update_config(&path.project, &path.name, req).await?;
    Ok(Json(Success::OK))
}

/// Deletes a training configuration (TC-04).
pub async fn delete_config(
    State(s): State<AppState>,
    path: ConfigPath,
) -> ApiResult<Json<Success>> {
    s.svc.delete_config(&path.project, &path.name).await?;
    Ok(Json(Success::OK))
}

/// Shows one training configuration (TC-05).
pub async fn get_config(
    State(s): State<AppState>,
    path: ConfigPath,
    Query(q): Query,
) -> ApiResult<Json<ConfigDetail>> {
    Ok(Json(s.svc.get_config(&path.project, &path.name, &q).await?))
}
