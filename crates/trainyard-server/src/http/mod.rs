//! The one router: routes, authentication, error fallbacks, body limit, panic guard.

pub mod auth;
pub mod catalog;
pub mod console;
pub mod extensions;
pub mod extract;
pub mod iam;
pub mod jobs;
pub mod metrics;
pub mod openapi;
pub mod rate;
pub mod request_id;
pub mod session;
pub mod signing;
pub mod state;
pub mod sweeps;
pub mod v2;
pub mod v2_console;
pub mod viz;

use crate::error::ApiError;
use crate::http::extract::BodyLimit;
use crate::http::state::AppState;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use axum::{Extension, Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Liveness for load balancers and operators: 200 with the database's engine and the duties
/// this server holds (`service::cluster`); 503 with `ModelArts.2952` (database unavailable)
/// when the database does not answer, so a balancer sends requests to another replica.
async fn health(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(state.svc.health().await?))
}

async fn not_found() -> ApiError {
    ApiError::RouteNotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::internal("handler panicked").into_response()
}

/// All routes of the API, each with the request counter and the `/v1` and `/v2` ones with
/// authentication; [`front`] puts the layers every request passes before them.
pub fn router(state: AppState) -> Router {
    const TJ: &str = "/v1/{project_id}/training-jobs";
    const VJ: &str = "/v1/{project_id}/visualization-jobs";
    const VERSION: &str = "/v1/{project_id}/training-jobs/{job_id}/versions/{version_id}";
    let api = Router::new()
        .route(TJ, post(jobs::create_job).get(jobs::list_jobs))
        .route(
            &format!("{TJ}/{{job_id}}"),
            axum::routing::put(jobs::update_job).delete(jobs::delete_job),
        )
        .route(
            &format!("{TJ}/{{job_id}}/versions"),
            get(jobs::list_versions).post(jobs::create_version),
        )
        .route(VERSION, get(jobs::get_version).delete(jobs::delete_version))
        .route(&format!("{VERSION}/stop"), post(jobs::stop_version))
        .route(
            &format!("{VERSION}/priority"),
            axum::routing::put(jobs::set_priority),
        )
        .route(
            &format!("{VERSION}/log/file-names"),
            get(jobs::log_file_names),
        )
        .route(&format!("{VERSION}/aom-log"), get(jobs::read_log))
        .route(
            &format!("{VERSION}/pod/{{pod_name}}/metric-statistic"),
            get(jobs::pod_metrics),
        )
        .route(&format!("{VERSION}/events"), get(jobs::list_events))
        .route(
            &format!("{VERSION}/log/stream"),
            get(extensions::log_stream),
        )
        .route(
            &format!(
                "/v1/{{project_id}}{}",
                trainyard_api::extensions::UPLOAD_PATH
            ),
            axum::routing::put(extensions::upload)
                .delete(extensions::delete_upload)
                .get(extensions::upload_limits),
        )
        .route(
            &format!(
                "/v1/{{project_id}}{}",
                trainyard_api::extensions::FILES_PATH
            ),
            get(extensions::list_files),
        )
        .route(
            &format!("/v1/{{project_id}}{}", trainyard_api::extensions::FILE_PATH),
            get(extensions::read_file),
        )
        .route("/v1/{project_id}/usage", get(extensions::usage))
        .route(
            &format!(
                "/v1/{{project_id}}{}",
                trainyard_api::webhooks::DELIVERIES_PATH
            ),
            get(extensions::list_deliveries),
        )
        .route(
            "/v1/{project_id}/sweeps",
            post(sweeps::create_sweep).get(sweeps::list_sweeps),
        )
        .route(
            "/v1/{project_id}/sweeps/{sweep_id}",
            get(sweeps::get_sweep).delete(sweeps::delete_sweep),
        )
        .route(
            "/v1/{project_id}/sweeps/{sweep_id}/stop",
            post(sweeps::stop_sweep),
        )
        .route(
            "/v1/{project_id}/built-in-algorithms",
            get(jobs::built_in_algorithms),
        )
        .route(
            "/v1/{project_id}/training-job-configs",
            post(catalog::create_config).get(catalog::list_configs),
        )
        .route(
            "/v1/{project_id}/training-job-configs/{config_name}",
            get(catalog::get_config)
                .put(catalog::update_config)
                .delete(catalog::delete_config),
        )
        .route(
            "/v1/{project_id}/job/resource-specs",
            get(catalog::resource_specs),
        )
        .route("/v1/{project_id}/job/ai-engines", get(catalog::ai_engines))
        .route(VJ, post(viz::create_viz).get(viz::list_viz))
        .route(
            &format!("{VJ}/{{job_id}}"),
            get(viz::get_viz)
                .put(viz::update_viz)
                .delete(viz::delete_viz),
        )
        .route(&format!("{VJ}/{{job_id}}/stop"), post(viz::stop_viz))
        .route(&format!("{VJ}/{{job_id}}/restart"), post(viz::restart_viz))
        .merge(v2_routes())
        .route_layer(auth::RequireCredentials(state.clone()));
    Router::new()
        .merge(api)
        .merge(console::routes())
        .route("/health", get(health))
        .route("/metrics", get(metrics::scrape))
        .route("/openapi.json", get(openapi::document))
        .route(
            "/modelarts2/{job_type}/{project_id}/{job_id}",
            any(viz::proxy),
        )
        .route(
            "/modelarts2/{job_type}/{project_id}/{job_id}/",
            any(viz::proxy),
        )
        .route(
            "/modelarts2/{job_type}/{project_id}/{job_id}/{*rest}",
            any(viz::proxy),
        )
        .route("/modelarts/rest/me", get(v2_console::me))
        .route(
            "/v2/{project_id}/training-jobs/{training_job_id}/tasks/{task_id}/logs/raw",
            get(v2::log_raw),
        )
        .route("/v3/auth/tokens", post(iam::issue_token))
        .route("/v3/projects", get(iam::list_projects))
        .route(
            "/v3.0/OS-CREDENTIAL/securitytokens",
            post(iam::issue_security_token),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(metrics::CountRequests(state.telemetry.clone()))
        .with_state(state)
}

/// The layers every request passes, around `router`: its path tidied ([`normalize_path`]),
/// then, outermost first, an `x-request-id` (the client's, else a new UUID-shaped id,
/// [`request_id`]), the request's span (which carries the id into every log line), the id on
/// the response, the panic guard, the body limits, and `/v2/`'s error bodies. They wrap the
/// router once: `Router::layer` wraps every route instead, and each wrapped route clones
/// itself and boxes a future on every request, once per layer.
pub fn front(
    router: Router,
    state: &AppState,
) -> impl tower::Service<
    Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl std::future::Future<Output = Result<Response, std::convert::Infallible>>
                 + Send
                 + 'static,
> + Clone
       + Send
       + 'static {
    let max_body = state.max_body;
    tower::ServiceBuilder::new()
        .map_request(normalize_path)
        .map_response(|r: http::Response<_>| r.map(axum::body::Body::new))
        .layer(SetRequestIdLayer::x_request_id(request_id::MakeRequestIds))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::x_request_id())
        .map_response(|r: http::Response<_>| r.map(axum::body::Body::new))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(Extension(BodyLimit(max_body)))
        .layer(DefaultBodyLimit::max(max_body))
        .layer_fn(v2::V2ErrorBodies)
        .service(router)
}

/// The routes of the new-version (v2) training API (authenticated as v1's).
fn v2_routes() -> Router<AppState> {
    const J: &str = "/v2/{project_id}/training-jobs";
    const ONE: &str = "/v2/{project_id}/training-jobs/{training_job_id}";
    const T: &str = "/v2/{project_id}/modelarts-training-job/{training_job_id}";
    Router::new()
        .route(J, post(v2::create))
        .route(ONE, get(v2::show).put(v2::update).delete(v2::delete))
        .route(&format!("{J}/batch-delete"), post(v2::batch_delete))
        .route("/v2/{project_id}/training-job-searches", post(v2::search))
        .route(&format!("{ONE}/actions"), post(v2::action))
        .route(&format!("{ONE}/tasks"), get(v2::tasks))
        .route(
            &format!("{ONE}/tasks/{{task_id}}/logs/preview"),
            get(v2::log_preview),
        )
        .route(
            &format!("{ONE}/tasks/{{task_id}}/logs/url"),
            get(v2::log_url),
        )
        .route(&format!("{ONE}/metrics/{{task_id}}"), get(v2::metrics))
        .route(&format!("{ONE}/events"), get(v2::events))
        .route("/v2/{project_id}/training-job-flavors", get(v2::flavors))
        .route("/v2/{project_id}/training-job-engines", get(v2::engines))
        .route("/v2/{project_id}/training-quotas", get(v2::quotas))
        .route(&format!("{T}/tags/create"), post(v2::create_tags))
        .route(&format!("{T}/tags/delete"), delete(v2::delete_tags))
        .route(&format!("{T}/tags"), get(v2::tags))
        .route(
            "/v2/{project_id}/modelarts-training-job/tags",
            get(v2::project_tags),
        )
        .route(
            "/v2/{project_id}/algorithms",
            post(v2::create_algorithm).get(v2::list_algorithms),
        )
        .route(
            "/v2/{project_id}/algorithms/{algorithm_id}",
            get(v2::show_algorithm)
                .put(v2::change_algorithm)
                .delete(v2::delete_algorithm),
        )
}

/// The span of one request: method, path and request id, so every line logged while it is
/// answered can be traced back to it.
pub(crate) fn request_span<B>(req: &http::Request<B>) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
}

/// Public paths of visualization jobs, proxied as they are.
pub const VIZ_PREFIX: &str = "/modelarts2/";

/// Tolerates the paths the docs' samples use: repeated slashes, a trailing slash, and
/// stray spaces before the query. A path that changes keeps the URI as sent in [`auth::RawUri`]
/// (what a signature covers); one that is already clean, most of them, is passed on as it is.
pub fn normalize_path(req: Request) -> Request {
    let path = req.uri().path();
    if !path.starts_with(v2_console::PREFIX) && (path.starts_with(VIZ_PREFIX) || is_clean(path)) {
        return req;
    }
    let raw = auth::RawUri(req.uri().clone());
    let mut req = v2_console::rewrite(req);
    req.extensions_mut().insert(raw);
    let uri = req.uri();
    let path = uri.path();
    if path.starts_with(VIZ_PREFIX) {
        // Proxied visualization UIs: the path belongs to the upstream server, as sent.
        return req;
    }
    let mut clean = String::with_capacity(path.len());
    for seg in path.split('/') {
        let seg = seg.trim_end_matches("%20").trim_start_matches("%20");
        if !seg.is_empty() {
            clean.push('/');
            clean.push_str(seg);
        }
    }
    if clean.is_empty() {
        clean.push('/');
    }
    if clean != path {
        let pq = match uri.query() {
            Some(q) => format!("{clean}?{q}"),
            None => clean,
        };
        let mut parts = uri.clone().into_parts();
        if let Ok(p) = pq.parse() {
            parts.path_and_query = Some(p);
            if let Ok(u) = Uri::from_parts(parts) {
                *req.uri_mut() = u;
            }
        }
    }
    req
}

/// Whether [`normalize_path`] would leave `path` as it is: it starts with a slash, has no
/// empty segment, no trailing slash and no escape (so no `%20` to trim).
fn is_clean(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.first() == Some(&b'/')
        && (bytes.len() == 1 || bytes.last() != Some(&b'/'))
        && !bytes.windows(2).any(|w| w == b"//")
        && !bytes.contains(&b'%')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(uri: &str) -> (String, Option<String>) {
        let req = normalize_path(
            Request::builder()
                .uri(uri)
                .body(axum::body::Body::empty())
                .unwrap(),
        );
        let raw = req
            .extensions()
            .get::<auth::RawUri>()
            .map(|r| r.0.to_string());
        (req.uri().to_string(), raw)
    }

    #[test]
    fn clean_paths_pass_as_they_are() {
        for uri in ["/", "/v1/p/training-jobs?page=1", "/health"] {
            assert!(is_clean(uri.split('?').next().unwrap()), "{uri}");
            assert_eq!(normalized(uri), (uri.to_owned(), None));
        }
    }

    #[test]
    fn untidy_paths_are_cleaned_and_keep_the_raw_uri() {
        for (uri, clean) in [
            (
                "//v1//p/training-jobs/?page=1",
                "/v1/p/training-jobs?page=1",
            ),
            (
                "/v1/p/training-jobs%20?page=1",
                "/v1/p/training-jobs?page=1",
            ),
            ("/v1/p/training-jobs/", "/v1/p/training-jobs"),
        ] {
            assert!(!is_clean(uri.split('?').next().unwrap()), "{uri}");
            assert_eq!(normalized(uri), (clean.to_owned(), Some(uri.to_owned())));
        }
        let console = format!("{}p/training-jobs", v2_console::PREFIX);
        assert_eq!(
            normalized(&console),
            ("/v2/p/training-jobs".to_owned(), Some(console.clone()))
        );
    }
}
