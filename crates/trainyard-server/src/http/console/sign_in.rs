//! Signing in to the console (with a project token, an AK/SK pair or a `[[projects]] users`
//! user) and out. The credentials are checked by [`crate::identity::Identity`], the same code
//! the API uses, and a failure shows the API's own message for it.

use super::pages::{escape_html, html};
use crate::error::ApiError;
use crate::http::auth::{throttled, ClientAddr};
use crate::http::session;
use crate::http::state::AppState;
use crate::http::v2_console;
use crate::identity::{Login, TokenCheck};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use std::time::SystemTime;

const PAGE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/console/sign-in.html"
));

/// A posted HTML form (`application/x-www-form-urlencoded`).
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Decodes a form body; bad bytes are replaced, never an error (a wrong field is reported
    /// as such by whoever reads it).
    pub fn parse(body: &[u8]) -> Self {
        Self(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`, trimmed; `""` when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    }
}

/// Where to go after signing in: a console path only, so the page cannot be used to send
/// people elsewhere.
fn safe_next(next: &str) -> &str {
    let ok = next.starts_with("/console/")
        && !next.starts_with("/console/sign-")
        && !next.contains("//")
        && !next.contains('\\');
    if ok {
        next
    } else {
        "/console/jobs"
    }
}

/// The sign-in page, with `error` shown above the forms.
fn render(status: StatusCode, next: &str, error: Option<&str>, form: Option<&Form>) -> Response {
    let alert = match error {
        Some(m) => format!(
            "<div class=\"alert\" role=\"alert\" id=\"sign-in-error\">{}</div>",
            escape_html(m)
        ),
        None => String::new(),
    };
    let keep = |name: &str| escape_html(form.map_or("", |f| f.get(name)));
    // The form that was refused stays open, next to its message.
    let open_if = |method: &str| match form {
        Some(f) if f.get("method") == method => " open",
        _ => "",
    };
    let body = PAGE
        .replace("{{error}}", &alert)
        .replace("{{next}}", &escape_html(safe_next(next)))
        .replace("{{access_key}}", &keep("access_key"))
        .replace("{{user}}", &keep("user"))
        .replace("{{domain}}", &keep("domain"))
        .replace("{{aksk_open}}", open_if("aksk"))
        .replace("{{user_open}}", open_if("user"));
    html(status, body)
}

/// `GET /console/sign-in[?next=PATH]`.
pub async fn page(axum::extract::RawQuery(q): axum::extract::RawQuery) -> Response {
    let form = Form::parse(q.unwrap_or_default().as_bytes());
    render(StatusCode::OK, form.get("next"), None, None)
}

/// The project the posted credentials open, and who signed in, or the API's error for them.
/// Failures count against the identity named and the client's address
/// (`crate::throttle`), as on the API's own doors.
fn check(state: &AppState, form: &Form, addr: ClientAddr) -> Result<(String, String), ApiError> {
    let identity = match form.get("method") {
        "aksk" => Some(format!("ak:{}", form.get("access_key"))),
        "user" => Some(format!("user:{}", form.get("user"))),
        _ => None,
    };
    let keys = crate::throttle::keys(identity, addr.0);
    throttled(state, &keys, addr, DOOR)?;
    let checked = check_credentials(state, form);
    match &checked {
        Ok(_) => state.throttle.success(&keys),
        Err(ApiError::AccessKeyInvalid | ApiError::LoginFailed | ApiError::TokenInvalid) => {
            // Logged by `submit`, with every other refusal.
            state.throttle.failure(&keys);
        }
        Err(_) => {}
    }
    checked
}

const DOOR: &str = "console sign-in";

fn check_credentials(state: &AppState, form: &Form) -> Result<(String, String), ApiError> {
    let now = SystemTime::now();
    match form.get("method") {
        "aksk" => {
            let ak = form.get("access_key");
            let sk = form.get("secret_key");
            let (project, secret) = state
                .identity
                .access_key(ak)
                .ok_or(ApiError::AccessKeyInvalid)?;
            if !bool::from(subtle::ConstantTimeEq::ct_eq(secret, sk.as_bytes())) {
                return Err(ApiError::AccessKeyInvalid);
            }
            Ok((project.to_owned(), format!("access key {ak}")))
        }
        "user" => {
            let domain = form.get("domain");
            let login = Login {
                user: form.get("user"),
                password: form.get("password"),
                domain: (!domain.is_empty()).then_some(domain),
                ..Default::default()
            };
            let issued = state
                .identity
                .login(&login, now)
                .ok_or(ApiError::LoginFailed)?;
            Ok((issued.project_id, issued.user))
        }
        _ => {
            let token = form.get("token");
            if token.is_empty() {
                return Err(ApiError::TokenMissing);
            }
            match state.identity.check_token(token, now) {
                TokenCheck::Valid(project) => Ok((project, "token".to_owned())),
                TokenCheck::Expired => Err(ApiError::TokenExpired),
                TokenCheck::Unknown => Err(ApiError::TokenInvalid),
            }
        }
    }
}

/// `POST /console/sign-in`: starts a session and goes on to `next`, or shows the page again
/// with the reason.
pub async fn submit(
    State(s): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = Form::parse(&body);
    let next = form.get("next");
    if !super::same_origin(&s, &headers) {
        let msg = ApiError::CsrfMissing.to_string();
        return render(StatusCode::FORBIDDEN, next, Some(&msg), Some(&form));
    }
    match check(&s, &form, addr) {
        Ok((project, who)) => {
            let (id, started) = s.console.start(&project, &who, SystemTime::now());
            let mut resp = Redirect::to(safe_next(next)).into_response();
            let secure = super::secure(&s);
            for c in [
                session::set_cookie(&id, secure),
                v2_console::set_cftk_cookie(&started.csrf, secure),
            ] {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            resp
        }
        Err(e) => {
            tracing::info!(
                method = form.get("method"),
                client.address = %addr.show(),
                "console sign-in refused"
            );
            let mut resp = render(e.status(), next, Some(&e.to_string()), Some(&form));
            if let ApiError::SignInThrottled(secs) = e {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            resp
        }
    }
}

/// `POST /console/sign-out` (a form with the CSRF token): ends the session on the server and
/// removes the cookie.
pub async fn sign_out(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = Form::parse(&body);
    if let Some((id, session)) = crate::http::auth::session_of(&s, &headers) {
        let allowed = super::same_origin(&s, &headers)
            && trainyard_viz::access::same_secret(form.get("csrf"), &session.csrf);
        if !allowed {
            return super::pages::error_page(
                StatusCode::FORBIDDEN,
                &ApiError::CsrfMissing.to_string(),
            );
        }
        s.console.end(&id);
    }
    let mut resp = Redirect::to("/console/sign-in").into_response();
    let secure = super::secure(&s);
    for c in [
        session::clear_cookie(secure),
        v2_console::clear_cftk_cookie(secure),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_inside_the_console() {
        assert_eq!(
            safe_next("/console/jobs/3?version=2"),
            "/console/jobs/3?version=2"
        );
        assert_eq!(safe_next("https://evil.example/"), "/console/jobs");
        assert_eq!(safe_next("//evil.example/console/"), "/console/jobs");
        assert_eq!(safe_next("/console//evil.example"), "/console/jobs");
        assert_eq!(safe_next("/console/sign-out"), "/console/jobs");
        assert_eq!(safe_next(""), "/console/jobs");
    }

    #[test]
    fn forms_decode() {
        let f = Form::parse(b"method=token&token=+a%2Bb+&next=%2Fconsole%2Fviz");
        assert_eq!(f.get("token"), "a+b");
        assert_eq!(f.get("next"), "/console/viz");
        assert_eq!(f.get("missing"), "");
    }
}
