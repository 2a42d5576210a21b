//! The ModelArts web console's REST proxy, as the ModelArts CLI (`modelarts-macli`) calls it:
//! `/modelarts/rest/trainingJob/v2/{project_id}/...` is the new-version training API under
//! `/v2/{project_id}/...`, and `GET /modelarts/rest/me` tells who is signed in.
//!
//! Both are authenticated by trainyard's own console session: the session cookie plus the
//! session's CSRF token in the `cftk` header, the pair Huawei's console uses (its `cftk` cookie
//! holds the token, and its scripts echo it in a `cftk` header). Console sign-in therefore also
//! sets a `cftk` cookie holding the token (HttpOnly like the session cookie: trainyard's own
//! pages get the token in the page), so the `Cookie` header a user copies from the browser's
//! developer tools is all macli needs.

use crate::error::ApiError;
use crate::http::auth::session_of;
use crate::http::session;
use crate::http::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// The console's REST prefix of the new-version training API.
pub const PREFIX: &str = "/modelarts/rest/trainingJob/v2/";

/// Name of the cookie and the header that carry the session's CSRF token.
pub const CFTK: &str = "cftk";

/// The `Set-Cookie` value that carries a new session's CSRF token, with the attributes of the
/// session cookie (`session::set_cookie`).
pub fn set_cftk_cookie(csrf: &str, secure: bool) -> String {
    cookie::Cookie::build((CFTK, csrf))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(
            session::TTL.as_secs() as i64
        ))
        .build()
        .to_string()
}

/// The `Set-Cookie` value that removes the `cftk` cookie (sign-out).
pub fn clear_cftk_cookie(secure: bool) -> String {
    cookie::Cookie::build((CFTK, ""))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(secure)
        .max_age(cookie::time::Duration::ZERO)
        .build()
        .to_string()
}

/// Before routing: a request under [`PREFIX`] goes to the same path under `/v2/`, its `cftk`
/// header becoming the console's CSRF header, so the API's own authentication (session cookie
/// and CSRF token, never the cookie alone) and handlers answer it. Other requests pass as
/// they are.
pub fn rewrite(mut req: Request) -> Request {
    let Some(rest) = req.uri().path().strip_prefix(PREFIX) else {
        return req;
    };
    let pq = match req.uri().query() {
        Some(q) => format!("/v2/{rest}?{q}"),
        None => format!("/v2/{rest}"),
    };
    let mut parts = req.uri().clone().into_parts();
    let Ok(p) = pq.parse() else {
        return req;
    };
    parts.path_and_query = Some(p);
    if let Ok(u) = Uri::from_parts(parts) {
        *req.uri_mut() = u;
    }
    let headers = req.headers_mut();
    if !headers.contains_key(session::CSRF_HEADER) {
        if let Some(token) = headers.get(CFTK).cloned() {
            headers.insert(session::CSRF_HEADER, token);
        }
    }
    req
}

/// `GET /modelarts/rest/me`: the signed-in session's project and region (its project's name),
/// as the console answers it (`projectId`, `region`, `supportRegions`, `userId`, `userName`).
/// Needs the session cookie and its token in the `cftk` header.
pub async fn me(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session_of(&s, &headers) else {
        return ApiError::SessionEnded.into_response();
    };
    let sent = headers
        .get(CFTK)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !trainyard_viz::access::same_secret(sent, &session.csrf) {
        return ApiError::CsrfMissing.into_response();
    }
    let region = s.identity.project_name(&session.project);
    let mut resp = Json(json!({
        "projectId": session.project,
        "region": region,
        "supportRegions": [region],
        "id": session.who,
        "userId": session.who,
        "userName": session.who,
    }))
    .into_response();
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut b = axum::http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        rewrite(b.body(axum::body::Body::empty()).unwrap())
    }

    #[test]
    fn the_console_prefix_becomes_v2_with_the_token_as_csrf_header() {
        let r = rewritten(
            "/modelarts/rest/trainingJob/v2/p1/training-jobs/abc/tasks/worker-0/logs/url?Content-Type=text%2Fplain",
            &[("cftk", "tok")],
        );
        assert_eq!(
            r.uri(),
            "/v2/p1/training-jobs/abc/tasks/worker-0/logs/url?Content-Type=text%2Fplain"
        );
        assert_eq!(r.headers()[session::CSRF_HEADER], "tok");
        let r = rewritten(
            "/modelarts/rest/trainingJob/v2/p1/training-job-searches",
            &[],
        );
        assert_eq!(r.uri(), "/v2/p1/training-job-searches");
        assert!(!r.headers().contains_key(session::CSRF_HEADER));
    }

    #[test]
    fn other_paths_and_an_explicit_csrf_header_are_kept() {
        let r = rewritten("/v2/p1/training-jobs", &[("cftk", "tok")]);
        assert_eq!(r.uri(), "/v2/p1/training-jobs");
        assert!(!r.headers().contains_key(session::CSRF_HEADER));
        let r = rewritten(
            "/modelarts/rest/trainingJob/v2/p1/training-jobs",
            &[("cftk", "tok"), (session::CSRF_HEADER, "own")],
        );
        assert_eq!(r.headers()[session::CSRF_HEADER], "own");
    }

    #[test]
    fn the_token_cookie_is_http_only_and_strict() {
        let c = set_cftk_cookie("tok", true);
        assert!(c.starts_with("cftk=tok") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(c.contains("HttpOnly") && c.contains("Max-Age=43200"));
        assert!(clear_cftk_cookie(false).contains("Max-Age=0"));
    }
}
