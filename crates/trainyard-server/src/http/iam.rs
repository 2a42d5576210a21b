//! A minimal IAM (Keystone v3 style) for the SDK's username/password modes:
//! `POST /v3/auth/tokens` issues a project-scoped token (header `X-Subject-Token`, 24 h),
//! `GET /v3/projects` lists the caller's project.

use crate::error::ApiError;
use crate::http::auth::{failed, throttled, ClientAddr};
use crate::http::extract::Body;
use crate::http::state::AppState;
use crate::identity::{rfc3339, Login, TokenCheck, TEMPORARY_KEY_DEFAULT, TEMPORARY_KEY_SECONDS};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::SystemTime;

const TOKENS: &str = "iam tokens";
const PROJECTS: &str = "iam projects";
const SECURITY_TOKENS: &str = "iam securitytokens";

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `POST /v3/auth/tokens` with the `password` method.
pub async fn issue_token(
    State(state): State<AppState>,
    addr: ClientAddr,
    Body(body): Body<Value>,
) -> Result<Response, ApiError> {
    let identity = body
        .get("auth")
        .and_then(|a| a.get("identity"))
        .ok_or_else(|| ApiError::required("auth.identity"))?;
    let methods_ok = identity
        .get("methods")
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|m| m.as_str() == Some("password")));
    if !methods_ok {
        return Err(ApiError::param(
            "auth.identity.methods must contain \"password\"",
        ));
    }
    let user = identity
        .get("password")
        .and_then(|p| p.get("user"))
        .ok_or_else(|| ApiError::required("auth.identity.password.user"))?;
    let name = text(user, &["name"])
        .ok_or_else(|| ApiError::required("auth.identity.password.user.name"))?;
    let password = text(user, &["password"])
        .ok_or_else(|| ApiError::required("auth.identity.password.user.password"))?;
    let scope = body
        .get("auth")
        .and_then(|a| a.get("scope"))
        .cloned()
        .unwrap_or(Value::Null);
    let login = Login {
        user: name,
        password,
        domain: text(user, &["domain", "name"]),
        project_id: text(&scope, &["project", "id"]),
        project_name: text(&scope, &["project", "name"]),
    };
    let keys = crate::throttle::keys(Some(format!("user:{name}")), addr.0);
    throttled(&state, &keys, addr, TOKENS)?;
    let now = SystemTime::now();
    let Some(issued) = state.identity.login(&login, now) else {
        failed(&state, &keys, addr, TOKENS);
        return Err(ApiError::LoginFailed);
    };
    state.throttle.success(&keys);
    tracing::info!(user = %issued.user, project.id = %issued.project_id, "token issued");
    let body = json!({
        "token": {
            "methods": ["password"],
            "expires_at": rfc3339(issued.expires_at),
            "issued_at": rfc3339(issued.issued_at),
            "user": {"name": issued.user, "id": issued.user, "domain": {"name": issued.domain, "id": issued.domain}},
            "project": {
                "id": issued.project_id,
                "name": issued.project_name,
                "domain": {"name": issued.domain, "id": issued.domain},
            },
            "catalog": [],
            "roles": [],
        }
    });
    let mut resp = (StatusCode::CREATED, Json(body)).into_response();
    let value = HeaderValue::from_str(&issued.token).map_err(ApiError::internal)?;
    resp.headers_mut().insert("x-subject-token", value);
    Ok(resp)
}

/// `GET /v3/projects` (optional `name` filter) with `X-Auth-Token`.
pub async fn list_projects(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let token = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::TokenMissing)?;
    let keys = crate::throttle::keys(None, addr.0);
    throttled(&state, &keys, addr, PROJECTS)?;
    let projects = state
        .identity
        .projects_of(token, SystemTime::now())
        .map_err(|e| match e {
            TokenCheck::Expired => ApiError::TokenExpired,
            TokenCheck::Valid(_) | TokenCheck::Unknown => {
                failed(&state, &keys, addr, PROJECTS);
                ApiError::TokenInvalid
            }
        })?;
    let list: Vec<Value> = projects
        .into_iter()
        .filter(|(_, name)| q.get("name").is_none_or(|n| n == name))
        .map(
            |(id, name)| json!({"id": id, "name": name, "enabled": true, "domain_id": Value::Null}),
        )
        .collect();
    Ok(Json(
        json!({"projects": list, "links": {"self": "/v3/projects"}}),
    ))
}

/// `POST /v3.0/OS-CREDENTIAL/securitytokens` with `X-Auth-Token` and the `token` method: a
/// temporary AK/SK for the token's project, which the OBS/S3 endpoint accepts (the official
/// SDK's account and IAM-user modes sign `session.obs` with it). Minting counts against the
/// project's request rate, as API calls do.
pub async fn issue_security_token(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let token = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::TokenMissing)?;
    let lifetime = temporary_key_lifetime(&body)?;
    let keys = crate::throttle::keys(None, addr.0);
    throttled(&state, &keys, addr, SECURITY_TOKENS)?;
    match state.identity.check_token(token, SystemTime::now()) {
        TokenCheck::Valid(project) if !state.rate_limits.admit(&project) => {
            return Err(ApiError::TooManyRequests)
        }
        TokenCheck::Valid(_) | TokenCheck::Expired => {}
        TokenCheck::Unknown => {
            failed(&state, &keys, addr, SECURITY_TOKENS);
            return Err(ApiError::TokenInvalid);
        }
    }
    let key = state
        .identity
        .issue_temporary_key(token, lifetime, SystemTime::now())
        .map_err(|e| match e {
            TokenCheck::Expired => ApiError::TokenExpired,
            TokenCheck::Valid(_) | TokenCheck::Unknown => ApiError::TokenInvalid,
        })?;
    tracing::info!(project.id = %key.project_id, "temporary access key issued");
    let body = json!({
        "credential": {
            "access": key.access,
            "secret": key.secret,
            "securitytoken": key.security_token,
            "expires_at": rfc3339(key.expires_at),
        }
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `auth.identity.token.duration_seconds` of a security token request: IAM's range, 15 minutes
/// to 24 hours; absent (or no body) means IAM's default, 15 minutes.
fn temporary_key_lifetime(body: &[u8]) -> Result<std::time::Duration, ApiError> {
    const FIELD: &str = "auth.identity.token.duration_seconds";
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(TEMPORARY_KEY_DEFAULT);
    }
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::param(format!("the body is not JSON: {e}")))?;
    let value = ["auth", "identity", "token", "duration_seconds"]
        .iter()
        .try_fold(&body, |v, k| v.get(k));
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(TEMPORARY_KEY_DEFAULT);
    };
    match value.as_u64() {
        Some(s) if TEMPORARY_KEY_SECONDS.contains(&s) => Ok(std::time::Duration::from_secs(s)),
        _ => Err(ApiError::param(format!(
            "{FIELD} must be an integer from {} to {} (15 minutes to 24 hours, as IAM allows), not {value}",
            TEMPORARY_KEY_SECONDS.start(),
            TEMPORARY_KEY_SECONDS.end()
        ))),
    }
}
