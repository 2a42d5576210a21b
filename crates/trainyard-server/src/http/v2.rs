//! Handlers of the new-version (v2) training API, `/v2/{project_id}/...`: extract, call
//! `service::v2`, answer. Errors are v2 bodies (`{"error_code", "error_msg",
//! "error_solution"}`); [`V2ErrorBodies`] rewrites those the shared layers (authentication,
//! fallbacks) answer in the v1 shape.

use crate::error::{V2Error, V2Result};
use crate::http::extract::Query;
use crate::http::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::future::{BoxFuture, Either};
use serde::Deserialize;
use serde_json::Value;
use std::convert::Infallible;
use std::task::{Context, Poll};

/// The path parameters of v2 routes.
#[derive(Deserialize)]
pub struct V2Path {
    project_id: String,
    #[serde(default)]
    training_job_id: String,
    #[serde(default)]
    task_id: String,
    #[serde(default)]
    algorithm_id: String,
}

/// Creates a job (T2-01): 201 with the job.
pub async fn create(
    State(s): State<AppState>,
    Path(p): Path<V2Path>,
    crate::http::auth::Caller(who): crate::http::auth::Caller,
    body: Bytes,
) -> V2Result<(StatusCode, Json<Value>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.svc.v2_create(&p.project_id, &who, &body).await?),
    ))
}

/// Shows a job (T2-02).
pub async fn show(State(s): State<AppState>, Path(p): Path<V2Path>) -> V2Result<Json<Value>> {
    Ok(Json(
        s.svc.v2_show(&p.project_id, &p.training_job_id).await?,
    ))
}

/// Lists jobs (T2-03).
pub async fn search(
    State(s): State<AppState>,
    Path(p): Path<V2Path>,
    Query(q): Query,
    body: Bytes,
) -> V2Result<Json<Value>> {
    Ok(Json(s.svc.v2_list(&p.project_id, &body, &q).await?))
}

/// Changes the description (T2-04): 200, no body.
pub async fn update(
    State(s): State<AppState>,
    Path(p): Path<V2Path>,
    body: Bytes,
) -> V2Result<StatusCode> {
    s.svc
        .v2_update(&p.project_id, &p.training_job_id, &body)
        .await?;
    Ok(StatusCode::OK)
}

/// Deletes a job (T2-05): 202, no body; any body sent is ignored.
pub async fn delete(State(s): State<AppState>, Path(p): Path<V2Path>) -> V2Result<StatusCode> {
    s.svc.v2_delete(&p.project_id, &p.training_job_id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Deletes jobs (T2-06): 202, no body.
pub async fn batch_delete(
    State(s): State<AppState>,
    Path(p): Path<V2Path>,
    body: Bytes,
) -> V2Result<StatusCode> {
    s.svc.v2_batch_delete(&p.project_id, &body).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Terminates a job (T2-07): 202 with the job.
pub async fn action(
    State(s): State<AppState>,
    Path(p): Path<V2Path>,
    body: Bytes,
) -> V2Result<(StatusCode, Json<Value>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(
            s.svc
                .v2_action(&p.project_id, &p.training_job_id, &body)
                .await?,
        ),
    ))
}

/// The job's task instances (T2-08), a top-level array.
pub async fn tasks(State(s): State<AppState>, Path(p): Path<V2Path>) -> V2Result<Json<Value>> {
    Ok(Json(
        s.svc.v2_tasks(&p.project_id, &p.training_job_id).await?,
    ))
}

/// The end of a task's log (T2-09).
pub async fn log_preview(
    State(s): State<AppState>,
    Path(p): Path<V2Path>,
) -> V2Result<Json<Value>> {
    Ok(Json(
        s.svc
            .v2_log_preview(&p.project_id, &p.training_job_id, &p.task_id)
            .await?,
    ))
}

/// A temporary URL of a task's log (T2-10), served by this server.
pub async fn log_url(
    State(s): State<AppState>,
    Path(p): Path<V2Path>,
    Query(q): Query,
    headers: HeaderMap,
) -> V2Result<Json<Value>> {
    let content_type = q
        .get("Content-Type")
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(';').next().unwrap_or("").trim().to_owned())
                .filter(|v| v == "text/plain" || v == "application/octet-stream")
        })
        .unwrap_or_else(|| "text/plain".to_owned());
    let query = s
        .svc
        .v2_log_url_query(&p.project_id, &p.training_job_id, &p.task_id, &content_type)
        .await?;
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let url = format!(
        "{}://{host}/v2/{}/training-jobs/{}/tasks/{}/logs/raw?{query}",
        s.public.scheme(),
        p.project_id,
        p.training_job_id,
        p.task_id
    );
    Ok(Json(serde_json::json!({ "obs_url": url })))
}

/// The log a temporary URL of T2-10 opens: no credentials, the URL's signature instead.
pub async fn log_raw(
    State(s): State<AppState>,
    Path(p): Path<V2Path>,
    Query(q): Query,
) -> V2Result<Response> {
    let expires = q
        .get("expires")
        .and_then(|e| e.parse::<i64>().ok())
        .ok_or_else(|| V2Error::query("expires", "required"))?;
    let signature = q.get("signature").unwrap_or_default();
    let download = q.get("download") == Some("true");
    let path = s
        .svc
        .v2_log_raw(
            &p.project_id,
            &p.training_job_id,
            &p.task_id,
            expires,
            signature,
        )
        .await?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(crate::error::ApiError::internal)?;
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    if download {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let name = format!("attachment; filename=\"{}.log\"", p.task_id);
        if let Ok(v) = HeaderValue::from_str(&name) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    } else {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    Ok(resp)
}

/// A task's usage series (T2-11).
pub async fn metrics(State(s): State<AppState>, Path(p): Path<V2Path>) -> V2Result<Json<Value>> {
    Ok(Json(
        s.svc
            .v2_metrics(&p.project_id, &p.training_job_id, &p.task_id)
            .await?,
    ))
}

/// The job's events (T2-12).
pub async fn events(
    State(s): State<AppState>,
    Path(p): Path<V2Path>,
    Query(q): Query,
) -> V2Result<Json<Value>> {
    Ok(Json(
        s.svc
            .v2_events(&p.project_id, &p.training_job_id, &q)
            .await?,
    ))
}

/// Public flavors (T2-13).
pub async fn flavors(State(s): State<AppState>, Query(q): Query) -> V2Result<Json<Value>> {
    Ok(Json(s.svc.v2_flavors(&q)?))
}

/// Preset engines (T2-14).
pub async fn engines(State(s): State<AppState>) -> Json<Value> {
    Json(s.svc.v2_engines())
}

/// The job-count quota (T2-15).
pub async fn quotas(
    State(s): State<AppState>,
    Path(p): Path<V2Path>,
    Query(q): Query,
) -> V2Result<Json<Value>> {
    Ok(Json(s.svc.v2_quotas(&p.project_id, &q).await?))
}

/// Adds tags to a job (T2-16a): 204.
pub async fn create_tags(
    State(s): State<AppState>,
    Path(p): Path<V2Path>,
    body: Bytes,
) -> V2Result<StatusCode> {
    s.svc
        .v2_change_tags(&p.project_id, &p.training_job_id, &body, true)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes tags from a job (T2-16b): 204.
pub async fn delete_tags(
    State(s): State<AppState>,
    Path(p): Path<V2Path>,
    body: Bytes,
) -> V2Result<StatusCode> {
    s.svc
        .v2_change_tags(&p.project_id, &p.training_job_id, &body, false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A job's tags (T2-16c).
pub async fn tags(State(s): State<AppState>, Path(p): Path<V2Path>) -> V2Result<Json<Value>> {
    Ok(Json(
        s.svc.v2_tags(&p.project_id, &p.training_job_id).await?,
    ))
}

/// The project's tag keys and values (T2-16d).
pub async fn project_tags(
    State(s): State<AppState>,
    Path(p): Path<V2Path>,
    Query(q): Query,
) -> V2Result<Json<Value>> {
    Ok(Json(s.svc.v2_project_tags(&p.project_id, &q).await?))
}

/// Creates an algorithm: 201 with it.
pub async fn create_algorithm(
    State(s): State<AppState>,
    Path(p): Path<V2Path>,
    body: Bytes,
) -> V2Result<(StatusCode, Json<Value>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.svc.v2_create_algorithm(&p.project_id, &body).await?),
    ))
}

/// Lists the project's algorithms.
pub async fn list_algorithms(
    State(s): State<AppState>,
    Path(p): Path<V2Path>,
    Query(q): Query,
) -> V2Result<Json<Value>> {
    Ok(Json(s.svc.v2_list_algorithms(&p.project_id, &q).await?))
}

/// Shows an algorithm.
pub async fn show_algorithm(
    State(s): State<AppState>,
    Path(p): Path<V2Path>,
) -> V2Result<Json<Value>> {
    Ok(Json(
        s.svc
            .v2_show_algorithm(&p.project_id, &p.algorithm_id)
            .await?,
    ))
}

/// Changes an algorithm: 200 with it.
pub async fn change_algorithm(
    State(s): State<AppState>,
    Path(p): Path<V2Path>,
    body: Bytes,
) -> V2Result<Json<Value>> {
    Ok(Json(
        s.svc
            .v2_change_algorithm(&p.project_id, &p.algorithm_id, &body)
            .await?,
    ))
}

/// Deletes an algorithm: 202, no body.
pub async fn delete_algorithm(
    State(s): State<AppState>,
    Path(p): Path<V2Path>,
) -> V2Result<StatusCode> {
    s.svc
        .v2_delete_algorithm(&p.project_id, &p.algorithm_id)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Under `/v2/`, error bodies of the shared layers (authentication, rate limits, unknown
/// routes, wrong methods, body limits) in the v2 shape: `error_msg` for `error_message`,
/// `ModelArts.2836` for an unknown route. Only `/v2/` answers are looked at (in a boxed
/// future); others pass unboxed.
#[derive(Clone)]
pub struct V2ErrorBodies<S>(pub S);

impl<S> tower::Service<Request> for V2ErrorBodies<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, BoxFuture<'static, Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if !req.uri().path().starts_with("/v2/") {
            return Either::Left(self.0.call(req));
        }
        let answer = self.0.call(req);
        Either::Right(Box::pin(async move {
            let resp = match answer.await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            Ok(v2_error_body(resp).await)
        }))
    }
}

/// A `/v2/` answer, its error body (if any) in the v2 shape.
async fn v2_error_body(resp: Response) -> Response {
    if resp.status().as_u16() < 400 {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return (
            parts.status,
            Json(V2Error::new(500, "ModelArts.2950", "Unknown error.").body()),
        )
            .into_response();
    };
    let old: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if old.get("error_msg").is_some() {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let mut status = parts.status;
    let mut code = old["error_code"].as_str().unwrap_or("").to_owned();
    let mut msg = old["error_message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
    if code == trainyard_api::ErrorCode::RouteNotFound.as_str()
        || status == StatusCode::NOT_FOUND && code.is_empty()
    {
        status = StatusCode::NOT_FOUND;
        code = "ModelArts.2836".to_owned();
        msg = "Path not found.".to_owned();
    } else if code.is_empty() {
        code = match status.as_u16() {
            405 => "ModelArts.2803",
            413 => "ModelArts.2816",
            400 | 422 => "ModelArts.2788",
            _ => "ModelArts.2950",
        }
        .to_owned();
    }
    let mut out = (
        status,
        Json(serde_json::json!({"error_code": code, "error_msg": msg, "error_solution": ""})),
    )
        .into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}
