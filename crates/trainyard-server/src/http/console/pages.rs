//! The HTML of the console: one shell for every signed-in screen (its scripts draw the screen
//! from the path), and a plain error page.

use crate::http::session::Session;
use crate::http::state::AppState;
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use trainyard_api::JobStatus;

const SHELL: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/console/shell.html"
));
const ERROR: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/console/error.html"
));

/// Text made safe inside HTML elements and quoted attributes.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An HTML answer with the console's security headers, never cached (pages carry the
/// session's CSRF token).
pub fn html(status: StatusCode, body: String) -> Response {
    let mut resp = (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response();
    super::harden(&mut resp);
    resp
}

/// A page that says what went wrong, with a way back.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let body = ERROR
        .replace("{{status}}", &status.as_u16().to_string())
        .replace(
            "{{reason}}",
            &escape_html(status.canonical_reason().unwrap_or("Error")),
        )
        .replace("{{message}}", &escape_html(message));
    html(status, body)
}

/// The status names and sets the pages need, from the one definition in `trainyard-api`, so
/// the scripts never keep their own copy of the codes.
fn statuses_json() -> String {
    let codes = |set: &[JobStatus]| set.iter().map(|s| s.code()).collect::<Vec<_>>();
    let names: serde_json::Map<String, serde_json::Value> = JobStatus::ALL
        .iter()
        .map(|s| (s.code().to_string(), s.name().into()))
        .collect();
    serde_json::json!({
        "names": names,
        "pending": codes(JobStatus::PENDING),
        "running": codes(JobStatus::IN_PROGRESS),
        "stoppable": codes(JobStatus::STOPPABLE),
        "terminal": codes(JobStatus::TERMINAL),
    })
    .to_string()
    // Inside <script type="application/json">: no `</script>` can be formed.
    .replace('<', "\\u003c")
}

/// The shell of a signed-in screen.
fn shell_for(session: &Session) -> String {
    SHELL
        .replace("{{project}}", &escape_html(&session.project))
        .replace("{{who}}", &escape_html(&session.who))
        .replace("{{csrf}}", &escape_html(&session.csrf))
        .replace("{{statuses}}", &statuses_json())
}

/// `GET /console/`: the jobs list when signed in, else the sign-in page.
pub async fn home(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match crate::http::auth::session_of(&s, &headers) {
        Some(_) => Redirect::to("/console/jobs").into_response(),
        None => Redirect::to("/console/sign-in").into_response(),
    }
}

/// `GET /console/{*page}`: the shell, or the sign-in page (coming back here afterwards) when
/// the browser has no live session.
pub async fn shell(
    State(s): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    match crate::http::auth::session_of(&s, &headers) {
        Some((_, session)) => html(StatusCode::OK, shell_for(&session)),
        None => {
            let next = uri
                .path_and_query()
                .map(|pq| pq.as_str().to_owned())
                .unwrap_or_default();
            let target: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("next", &next)
                .finish();
            Redirect::to(&format!("/console/sign-in?{target}")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn status_names_come_from_the_api_crate() {
        let v: serde_json::Value = serde_json::from_str(&statuses_json()).unwrap();
        assert_eq!(v["names"]["8"], "RUNNING");
        assert_eq!(v["names"]["12"], "KILLED");
        assert!(v["terminal"].as_array().unwrap().contains(&10.into()));
    }
}
