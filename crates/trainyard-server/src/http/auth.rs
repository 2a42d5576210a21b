//! Every `/v1/{project_id}` request needs a token of that project.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The project id of a `/v1/{project_id}/...` path.
fn project_of(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/")?.split('/').next().filter(|p| !p.is_empty())
}

/// Checks `X-Auth-Token`: missing -> 401 0201, unknown -> 401 0203, other project -> 403 0210.
pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(project) = project_of(req.uri().path()) else {
        return next.run(req).await;
    };
    let token = req.headers().get("x-auth-token").and_then(|v| v.to_str().ok()).map(str::trim);
    let outcome = match token {
        None | Some("") => Err(ApiError::TokenMissing),
        Some(t) => match state.tokens.get(t) {
            None => Err(ApiError::TokenInvalid),
            Some(owner) if owner != project => Err(ApiError::ProjectMismatch),
            Some(_) if !state.rate_limits.admit(project) => Err(ApiError::TooManyRequests),
            Some(_) => Ok(()),
        },
    };
    match outcome {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}
