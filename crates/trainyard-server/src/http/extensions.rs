//! trainyard's own endpoints: code upload, live log streams and usage (docs/api-compatibility.md "ModelArts extensions").

use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ProjectPath, Query, VersionPath};
use crate::http::state::AppState;
use crate::service::files::StoredFile;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use trainyard_api::extensions::{
    FileListResponse, UploadLimits, UploadResponse, STREAM_OFFSET_HEADER, STREAM_OFFSET_PARAM,
};

/// Read size of a stored file's body.
const FILE_CHUNK: usize = 64 * 1024;

/// `GET /v1/{project_id}/webhooks/deliveries`: the project's webhook deliveries, newest
/// first, each with its attempts (`job_id`, `limit`).
pub async fn list_deliveries(
    State(s): State<AppState>,
    at: ProjectPath,
    Query(q): Query,
) -> ApiResult<Json<trainyard_api::webhooks::DeliveryListResponse>> {
    Ok(Json(s.svc.webhook_deliveries(&at.project, &q).await?))
}

/// `GET /v1/{project_id}/storage/upload`: the limits an upload is held to.
pub async fn upload_limits(State(s): State<AppState>, _at: ProjectPath) -> Json<UploadLimits> {
    Json(UploadLimits {
        max_upload_bytes: s.svc.max_upload_bytes(),
    })
}

/// `GET /v1/{project_id}/usage?since=MS[&until=MS][&by=project|user|job]`: what the project's
/// runs used in that window.
pub async fn usage(
    State(s): State<AppState>,
    at: ProjectPath,
    Query(q): Query,
) -> ApiResult<Json<trainyard_api::usage::UsageResponse>> {
    Ok(Json(s.svc.usage(&at.project, &q).await?))
}

/// `GET /v1/{project_id}/storage/files?path=/dir/`: the files below a storage folder.
pub async fn list_files(
    State(s): State<AppState>,
    at: ProjectPath,
    Query(q): Query,
) -> ApiResult<Json<FileListResponse>> {
    let path = q.get("path").ok_or_else(|| ApiError::required("path"))?;
    Ok(Json(s.svc.list_files(&at.project, path).await?))
}

/// `GET /v1/{project_id}/storage/file?path=/dir/file`: one stored file's bytes.
pub async fn read_file(
    State(s): State<AppState>,
    at: ProjectPath,
    Query(q): Query,
) -> ApiResult<Response> {
    let path = q.get("path").ok_or_else(|| ApiError::required("path"))?;
    let (file, len) = s.svc.open_file(&at.project, path).await?;
    let body = match file {
        StoredFile::Local(file) => Body::from_stream(local_chunks(tokio::fs::File::from_std(file))),
        StoredFile::Object(bytes) => Body::from_stream(bytes),
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(resp)
}

/// A local file's bytes, [`FILE_CHUNK`] at a time.
fn local_chunks(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> {
    futures_util::stream::unfold(Some(file), |file| async move {
        use tokio::io::AsyncReadExt;
        let mut file = file?;
        let mut buf = vec![0u8; FILE_CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// `PUT /v1/{project_id}/storage/upload?path=/dir/`: a tar archive replaces that folder.
pub async fn upload(
    State(s): State<AppState>,
    at: ProjectPath,
    Query(q): Query,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<UploadResponse>> {
    let path = q
        .get("path")
        .ok_or_else(|| ApiError::required("path"))?
        .to_owned();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    Ok(Json(
        s.svc
            .upload(&at.project, &path, declared, body.into_data_stream())
            .await?,
    ))
}

/// `DELETE /v1/{project_id}/storage/upload?path=/dir/`: removes that folder (a failed submit
/// takes its upload back); answers `{"is_success": true}`, also when nothing was there.
pub async fn delete_upload(
    State(s): State<AppState>,
    at: ProjectPath,
    Query(q): Query,
) -> ApiResult<Json<trainyard_api::training::Success>> {
    let path = q
        .get("path")
        .ok_or_else(|| ApiError::required("path"))?
        .to_owned();
    s.svc.delete_upload(&at.project, &path).await?;
    Ok(Json(trainyard_api::training::Success { is_success: true }))
}

/// `GET .../versions/{version_id}/log/stream?log_file=NAME&offset=N[&follow=false]`: the raw
/// bytes of a worker log from byte `offset`, chunked, following the file until the version
/// ends. The start offset is echoed in `x-trainyard-log-offset`.
pub async fn log_stream(
    State(s): State<AppState>,
    at: VersionPath,
    Query(q): Query,
) -> ApiResult<Response> {
    let name = q
        .get("log_file")
        .ok_or_else(|| ApiError::required("log_file"))?
        .to_owned();
    let offset = q.int(STREAM_OFFSET_PARAM, 0, 0, i64::MAX)? as u64;
    let follow = match q.get("follow").map(str::to_ascii_lowercase).as_deref() {
        None | Some("true") | Some("1") => true,
        Some("false") | Some("0") => false,
        Some(other) => {
            return Err(ApiError::param(format!(
                "follow:{other} must be true or false"
            )))
        }
    };
    let stream = crate::service::logs::log_stream(
        s.svc.clone(),
        &at.project,
        at.job,
        at.version,
        &name,
        offset,
        follow,
    )
    .await?;
    // On shutdown the body is cut with an error (no final chunk), so the client sees a broken
    // stream and resumes from its offset on the next server rather than taking it as the end.
    let stopping = s.shutdown.subscribe();
    let stream = futures_util::stream::unfold(
        (Box::pin(stream), false),
        move |(mut stream, stopped)| {
            let mut stopping = stopping.clone();
            async move {
                if stopped {
                    return None;
                }
                tokio::select! {
                    item = futures_util::StreamExt::next(&mut stream) => item.map(|i| (i, (stream, false))),
                    _ = stopping.wait_for(|s| *s) => Some((
                        Err(std::io::Error::other("server shutting down")),
                        (stream, true),
                    )),
                }
            }
        },
    );
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(STREAM_OFFSET_HEADER, HeaderValue::from(offset));
    Ok(resp)
}
