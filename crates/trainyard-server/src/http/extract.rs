//! Extractors that turn every malformed input into a ModelArts error body.

use crate::error::ApiError;
use crate::service::query::Params;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use trainyard_api::lenient::parse_i64;

/// A JSON body: not JSON -> 2787, wrong shape or type -> 0104 naming the field, too large -> 413.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map(|l| l.0)
            .unwrap_or(1 << 20);
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::BodyTooLarge(limit)
                } else {
                    ApiError::InvalidJson
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|_| ApiError::InvalidJson)?;
        if !value.is_object() {
            return Err(ApiError::InvalidJson);
        }
        serde_path_to_error::deserialize(value)
            .map(Self)
            .map_err(|e| {
                let path = e.path().to_string();
                ApiError::param(format!("{path}: {}", e.inner()))
            })
    }
}

/// The configured body limit, put in request extensions by the router.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

/// Query parameters, trimmed and lenient.
pub struct Query(pub Params);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        Ok(Self(Params::from_pairs(
            form_urlencoded::parse(raw.as_bytes()).into_owned(),
        )))
    }
}

/// Path segments after `/v1/{project_id}`: the project and numeric ids.
pub struct Ids {
    /// `{project_id}`.
    pub project: String,
    /// Numeric path ids in order (job, version).
    pub nums: Vec<i64>,
    /// Non-numeric tail segment (config name), if any.
    pub name: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Ids {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(params) =
            axum::extract::Path::<Vec<(String, String)>>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::RouteNotFound)?;
        let mut ids = Ids {
            project: String::new(),
            nums: Vec::new(),
            name: None,
        };
        for (key, value) in params {
            match key.as_str() {
                "project_id" => ids.project = value,
                "config_name" | "pod_name" => ids.name = Some(value),
                _ => ids.nums.push(parse_i64(&value).ok_or_else(|| {
                    ApiError::param(format!("{key}:{value} is not a numeric id"))
                })?),
            }
        }
        Ok(ids)
    }
}
