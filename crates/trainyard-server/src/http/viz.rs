//! Visualization job handlers (VJ-01..VJ-07) and the reverse proxy in front of each job's
//! TensorBoard.

use crate::error::ApiResult;
use crate::http::extract::{Body, JobPath, ProjectPath, Query};
use crate::http::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use trainyard_api::training::{Success, UpdateDescriptionRequest};
use trainyard_api::visualization::{
    CreateVisualizationRequest, CreateVisualizationResponse, VisualizationDetails,
    VisualizationListResponse,
};
use trainyard_api::{ErrorBody, ErrorCode, JobStatus};
use trainyard_viz::access;

/// Creates a visualization job (VJ-01).
pub async fn create_viz(
    State(s): State<AppState>,
    path: ProjectPath,
    Body(req): Body<CreateVisualizationRequest>,
) -> ApiResult<Json<CreateVisualizationResponse>> {
    Ok(Json(s.svc.create_viz(&path.project, req).await?))
}

/// Lists visualization jobs (VJ-02).
pub async fn list_viz(
    State(s): State<AppState>,
    path: ProjectPath,
    Query(q): Query,
) -> ApiResult<Json<VisualizationListResponse>> {
    Ok(Json(s.svc.list_viz(&path.project, &q).await?))
}

/// Shows one visualization job (VJ-03).
pub async fn get_viz(
    State(s): State<AppState>,
    path: JobPath,
) -> ApiResult<Json<VisualizationDetails>> {
    Ok(Json(s.svc.get_viz(&path.project, path.job).await?))
}

/// Replaces a visualization job's description (VJ-04).
pub async fn update_viz(
    State(s): State<AppState>,
    path: JobPath,
    Body(req): Body<UpdateDescriptionRequest>,
) -> ApiResult<Json<Success>> {
    s.svc
        .update_viz_description(&path.project, path.job, req.job_desc)
        .await?;
    Ok(Json(Success::OK))
}

/// Deletes a visualization job (VJ-05).
pub async fn delete_viz(State(s): State<AppState>, path: JobPath) -> ApiResult<Json<Success>> {
    s.svc.delete_viz(&path.project, path.job).await?;
    Ok(Json(Success::OK))
}

/// Stops a visualization job (VJ-06).
pub async fn stop_viz(State(s): State<AppState>, path: JobPath) -> ApiResult<Json<Success>> {
    s.svc.stop_viz(&path.project, path.job).await?;
    Ok(Json(Success::OK))
}

/// Restarts a visualization job (VJ-07).
pub async fn restart_viz(State(s): State<AppState>, path: JobPath) -> ApiResult<Json<Success>> {
    s.svc.restart_viz(&path.project, path.job).await?;
    Ok(Json(Success::OK))
}

/// Why the proxy did not forward a request.
///
/// Credentials are checked before the job is looked up: without valid credentials the answer
/// is the same whether the job exists or not, so the proxy does not tell which ids exist.
#[derive(Debug)]
enum ProxyError {
    /// No such job for a caller whose token opens the path's project, or a token of another
    /// project (the same answer: another project's jobs do not exist for it).
    NotFound(String),
    /// Neither token, secret nor cookie (401).
    NoCredentials,
    /// An expired token (401).
    TokenExpired,
    /// An unknown token, or a secret or cookie that does not open the job at this path,
    /// including one for a job that does not exist (401).
    Refused,
    /// The job exists but its server is not running (503).
    NotRunning(JobStatus),
    /// The server did not answer (502).
    Upstream(i64),
    /// The database failed (503).
    Store,
}

impl ProxyError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::NoCredentials => StatusCode::UNAUTHORIZED,
            Self::TokenExpired => StatusCode::UNAUTHORIZED,
            Self::Refused => StatusCode::UNAUTHORIZED,
            Self::NotRunning(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Store => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound(_) => ErrorCode::NotAllowed,
            Self::NoCredentials => ErrorCode::TokenMissing,
            Self::TokenExpired => ErrorCode::TokenExpired,
            Self::Refused => ErrorCode::TokenInvalid,
            Self::NotRunning(_) => ErrorCode::NotAllowed,
            Self::Upstream(_) => ErrorCode::Internal,
            Self::Store => ErrorCode::DatabaseUnavailable,
        }
    }

    fn message(&self) -> String {
        match self {
            Self::NotFound(what) => format!("{what} is not existed"),
            Self::NoCredentials => {
                "This page needs credentials: open the job's service_url (it carries the access secret) or send the project's X-Auth-Token.".into()
            }
            Self::TokenExpired => "Invalid token header because the token has expired.".into(),
            Self::Refused => "The credentials do not open this visualization job.".into(),
            Self::NotRunning(s) if s.is_pending() => {
                format!("The visualization job is starting. job status: {}. Try again in a moment.", s.code())
            }
            Self::NotRunning(s) => {
                format!("The visualization job is not running. job status: {}. Restart it to open it again.", s.code())
            }
            Self::Upstream(id) => format!("The visualization server of job {id} did not answer."),
            Self::Store => "Database service error.".into(),
        }
    }

    /// An HTML page for browsers, else the ModelArts error body.
    fn into_response(self, wants_html: bool) -> Response {
        let status = self.status();
        let message = self.message();
        let mut resp = if wants_html {
            let page = format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>{code} {reason}</title></head>\
                 <body><h1>{reason}</h1><p>{msg}</p><p><small>{ma}</small></p></body></html>",
                code = status.as_u16(),
                reason = status.canonical_reason().unwrap_or(""),
                msg = html_escape(&message),
                ma = self.code().as_str(),
            );
            (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                page,
            )
                .into_response()
        } else {
            (status, Json(ErrorBody::new(self.code(), message))).into_response()
        };
        if matches!(self, Self::NotRunning(s) if s.is_pending()) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A redirect to `location` (a path of the job's UI) that sets the job's access cookie, scoped
/// to its public path: how a browser that proved it may open the job (the secret of
/// `service_url`, or a console session of its project) gets in without the secret in the
/// address bar.
pub fn grant_access(s: &AppState, job: &trainyard_store::VizJob, location: &str) -> Response {
    let public_path = format!("{}/", crate::service::viz::VizContext::prefix(job));
    let cookie = access::set_cookie(
        job.id,
        &job.secret,
        &public_path,
        s.svc.viz().ctx().public_base.starts_with("https://"),
    );
    match (
        HeaderValue::from_str(location),
        HeaderValue::from_str(&cookie),
    ) {
        (Ok(location), Ok(cookie)) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, location),
                (header::SET_COOKIE, cookie),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        // Only a path with bytes a header cannot carry gets here: refused like a wrong secret.
        _ => ProxyError::Refused.into_response(false),
    }
}

/// `/modelarts2/{job_type}/{project_id}/{job_id}[/...]`: checks the caller, then streams the
/// request to the job's server and its answer back.
///
/// Credentials: the project's `X-Auth-Token`, the job's cookie, or the secret of `service_url`
/// (`?trainyard_secret=`), which is answered with a redirect to the same URL without it that
/// sets an HttpOnly cookie scoped to the job's path. They are checked before the job is looked
/// up, and a secret or cookie for a job that does not exist is refused like a wrong one: only a
/// token of the path's project learns whether a job exists (404).
pub async fn proxy(State(s): State<AppState>, req: Request) -> Response {
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    match proxy_inner(&s, req).await {
        Ok(resp) => s.telemetry.count_proxy_body(resp),
        Err(e) => e.into_response(wants_html),
    }
}

/// What the caller proved, before any job is looked up.
enum Caller {
    /// A valid token of the path's project.
    Project,
    /// The secret of `service_url`, still to be compared with the job's.
    Secret(String),
    /// The job's cookie, still to be compared with the job's secret.
    Cookie(String),
}

async fn proxy_inner(s: &AppState, req: Request) -> Result<Response, ProxyError> {
    let path = req.uri().path().to_owned();
    let mut parts = path.trim_start_matches('/').splitn(5, '/');
    let (_, job_type, project, id_text) = (
        parts.next(),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let id = trainyard_api::lenient::parse_i64(id_text);

    let token = req
        .headers()
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let (secret, rest_query) = access::take_secret(req.uri().query());
    let cookie = id.and_then(|id| access::cookie(req.headers(), &access::cookie_name(id)));
    let caller = match (secret, token, cookie) {
        (Some(secret), ..) => Caller::Secret(secret),
        (None, Some(t), _) => match s.identity.check_token(t, std::time::SystemTime::now()) {
            crate::identity::TokenCheck::Valid(owner) if owner == project => Caller::Project,
            // Another project's jobs do not exist for this caller.
            crate::identity::TokenCheck::Valid(_) => {
                return Err(ProxyError::NotFound(format!("Job id:{id_text}")))
            }
            crate::identity::TokenCheck::Expired => return Err(ProxyError::TokenExpired),
            crate::identity::TokenCheck::Unknown => return Err(ProxyError::Refused),
        },
        (None, None, Some(c)) => Caller::Cookie(c.to_owned()),
        (None, None, None) => return Err(ProxyError::NoCredentials),
    };

    let job = match id {
        Some(id) => s
            .svc
            .viz_for_proxy(project, job_type, id)
            .await
            .map_err(|_| ProxyError::Store)?,
        None => None,
    };
    let job = match (caller, job) {
        (Caller::Project, Some(job)) => job,
        (Caller::Project, None) => return Err(ProxyError::NotFound(format!("Job id:{id_text}"))),
        (Caller::Cookie(c), Some(job)) if access::same_secret(&c, &job.secret) => job,
        (Caller::Secret(secret), Some(job)) if access::same_secret(&secret, &job.secret) => {
            // Trade the secret for the cookie and drop it from the address bar.
            let location = match rest_query {
                Some(q) => format!("{path}?{q}"),
                None => path.clone(),
            };
            return Ok(grant_access(s, &job, &location));
        }
        // A wrong secret or cookie, or one for a job that does not exist: the same answer.
        (Caller::Secret(_) | Caller::Cookie(_), _) => return Err(ProxyError::Refused),
    };
    let id = job.id;
    let upstream = match (job.status, job.port.and_then(|p| u16::try_from(p).ok())) {
        (JobStatus::RUNNING, Some(port)) => s
            .svc
            .viz_upstream(&job, port)
            .ok_or(ProxyError::Upstream(id))?,
        (status, _) => return Err(ProxyError::NotRunning(status)),
    };
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or(path);
    let drop = [
        header::HeaderName::from_static("x-auth-token"),
        header::COOKIE,
    ];
    let resp = s
        .proxy
        .forward(upstream, &path_and_query, req, &drop)
        .await
        .map_err(|e| {
            tracing::warn!(viz.id = id, error = %e, "visualization server did not answer");
            ProxyError::Upstream(id)
        })?;
    Ok(resp.map(axum::body::Body::new))
}
