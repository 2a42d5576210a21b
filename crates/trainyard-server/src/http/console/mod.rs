//! The web console at `/console/`: sign-in, a page shell per screen, embedded assets, and the
//! few actions a browser cannot do through the JSON API alone.
//!
//! The pages are one HTML shell plus small scripts (`assets/console/js/`) that call the same
//! `/v1/{project_id}` API as every other client, so each rule lives once, in the service layer, and
//! every error the page shows is the API's own message. A browser proves who it is with the session
//! cookie *and* the session's CSRF token in the `X-Console-CSRF` header
//! ([`crate::http::auth::authorize_api`]): the cookie alone never authorizes an API call, so
//! another site can neither read nor change anything through a signed-in browser. Token and AK/SK
//! clients are not affected: their credentials are checked first, exactly as before.
//!
//! Server-side routes besides the pages: `POST /console/sign-in`, `POST /console/sign-out`,
//! `POST /console/viz/{id}/open` (hands the browser the visualization job's access cookie, so
//! the secret never appears in an address bar) and `GET /console/api/capacity` (free and used
//! capacity for the catalog page).

pub mod assets;
pub mod pages;
pub mod sign_in;

use crate::error::ApiError;
use crate::http::auth::{authorize_api, session_of};
use crate::http::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

/// Where the console lives.
pub const BASE: &str = "/console";

/// The console's routes (merged into the main router, outside the API's credential check).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        // Path normalization drops the trailing slash: `/console/` arrives as `/console`.
        .route(BASE, get(pages::home))
        .route("/console/sign-in", get(sign_in::page).post(sign_in::submit))
        .route("/console/sign-out", post(sign_in::sign_out))
        .route("/console/assets/{*file}", get(assets::serve))
        .route("/console/api/capacity", get(capacity))
        .route("/console/viz/{id}/open", post(open_viz))
        .route("/console/{*page}", get(pages::shell))
}

/// Whether a form post comes from a page of this server: its `Origin` is one of the server's
/// configured origins (`[server] public_urls`, never the request's own `Host`), or (browsers
/// that send none) `Sec-Fetch-Site` does not say cross-site. A second line of defence beside
/// SameSite=Strict and the CSRF token.
pub fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    match text(header::ORIGIN) {
        Some(origin) => state.public.allows_origin(origin),
        None => text(header::HeaderName::from_static("sec-fetch-site")) != Some("cross-site"),
    }
}

/// Whether the server is reached over HTTPS (cookies then get `Secure`).
fn secure(state: &AppState) -> bool {
    state.svc.viz().ctx().public_base.starts_with("https://")
}

/// `GET /console/api/capacity`: the executor's capacity (used and free per resource) and how
/// many workers of each resource spec fit now; same credentials as the API's console calls.
async fn capacity(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let project = match session_of(&s, &headers) {
        Some((_, session)) => session.project,
        None => return ApiError::SessionEnded.into_response(),
    };
    if let Err(e) = authorize_api(&s, &project, &headers) {
        return e.into_response();
    }
    Json(s.svc.capacity_report()).into_response()
}

/// `POST /console/viz/{id}/open` (a form with the CSRF token, opened in a new tab): sets the
/// job's access cookie, as the proxy does when `service_url`'s secret is visited, and
/// redirects to the job's UI, so the secret is never in the address bar or history.
async fn open_viz(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some((_, session)) = session_of(&s, &headers) else {
        return Redirect::to("/console/sign-in").into_response();
    };
    let form = sign_in::Form::parse(&body);
    if !same_origin(&s, &headers)
        || !trainyard_viz::access::same_secret(form.get("csrf"), &session.csrf)
    {
        return pages::error_page(StatusCode::FORBIDDEN, &ApiError::CsrfMissing.to_string());
    }
    let job = match trainyard_api::lenient::parse_i64(&id) {
        Some(id) => s.svc.viz_of_project(&session.project, id).await,
        None => Ok(None),
    };
    let job = match job {
        Ok(Some(job)) => job,
        Ok(None) => {
            let msg = ApiError::NotFound(format!("Job id:{id} is not existed")).to_string();
            return pages::error_page(StatusCode::NOT_FOUND, &msg);
        }
        Err(e) => return pages::error_page(e.status(), &e.to_string()),
    };
    crate::http::viz::grant_access(
        &s,
        &job,
        &format!("{}/", crate::service::viz::VizContext::prefix(&job)),
    )
}

/// `no-store` plus the headers every console answer carries: a strict content security
/// policy (scripts and styles from this server only, no framing) and no MIME sniffing.
pub fn harden(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
             frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}
