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

/// The path parameters of a `/v1/{project_id}/...` route, checked: ids are base-10 integers
/// (else `ModelArts.0104`, in path order), names (`config_name`, `pod_name`) are kept as
/// they are. The typed extractors below take their fields from it.
struct RawPath {
    project: String,
    ids: Vec<(String, i64)>,
    names: Vec<(String, String)>,
}

impl RawPath {
    /// Reads the router's decoded parameters as they are (`RawPathParams`): deserializing
    /// them into `Vec<(String, String)>` took twelve allocations on a version's path, on
    /// every request.
    async fn from_parts<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::RouteNotFound)?;
        let mut raw = RawPath {
            project: String::new(),
            ids: Vec::new(),
            names: Vec::new(),
        };
        for (key, value) in &params {
            match key {
                "project_id" => value.clone_into(&mut raw.project),
                "config_name" | "pod_name" => raw.names.push((key.to_owned(), value.to_owned())),
                _ => {
                    let id = parse_i64(value).ok_or_else(|| {
                        ApiError::param(format!("{key}:{value} is not a numeric id"))
                    })?;
                    raw.ids.push((key.to_owned(), id));
                }
            }
        }
        Ok(raw)
    }

    /// The id named `key`; a route without it is not one of this extractor's.
    fn id(&self, key: &str) -> Result<i64, ApiError> {
        self.ids
            .iter()
            .find_map(|(k, v)| (k == key).then_some(*v))
            .ok_or(ApiError::RouteNotFound)
    }

    /// The name named `key`.
    fn name(&mut self, key: &str) -> Result<String, ApiError> {
        let at = self
            .names
            .iter()
            .position(|(k, _)| k == key)
            .ok_or(ApiError::RouteNotFound)?;
        Ok(self.names.swap_remove(at).1)
    }
}

/// `/v1/{project_id}/...` routes without other ids: the project.
pub struct ProjectPath {
    /// `{project_id}`.
    pub project: String,
}

/// `.../training-jobs/{job_id}` and `.../visualization-jobs/{job_id}` (and below, to the
/// versions list).
pub struct JobPath {
    /// `{project_id}`.
    pub project: String,
    /// `{job_id}`.
    pub job: i64,
}

/// `.../training-jobs/{job_id}/versions/{version_id}` and below.
pub struct VersionPath {
    /// `{project_id}`.
    pub project: String,
    /// `{job_id}`.
    pub job: i64,
    /// `{version_id}`.
    pub version: i64,
}

/// `.../versions/{version_id}/pod/{pod_name}/metric-statistic`.
pub struct PodPath {
    /// `{project_id}`.
    pub project: String,
    /// `{job_id}`.
    pub job: i64,
    /// `{version_id}`.
    pub version: i64,
    /// `{pod_name}` (`worker-<index>`).
    pub pod: String,
}

/// `.../sweeps/{sweep_id}` and below.
pub struct SweepPath {
    /// `{project_id}`.
    pub project: String,
    /// `{sweep_id}`.
    pub sweep: i64,
}

impl<S: Send + Sync> FromRequestParts<S> for SweepPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawPath::from_parts(parts, state).await?;
        Ok(Self {
            sweep: raw.id("sweep_id")?,
            project: raw.project,
        })
    }
}

/// `.../training-job-configs/{config_name}`.
pub struct ConfigPath {
    /// `{project_id}`.
    pub project: String,
    /// `{config_name}`.
    pub name: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ProjectPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawPath::from_parts(parts, state).await?;
        Ok(Self {
            project: raw.project,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for JobPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawPath::from_parts(parts, state).await?;
        Ok(Self {
            job: raw.id("job_id")?,
            project: raw.project,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for VersionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawPath::from_parts(parts, state).await?;
        Ok(Self {
            job: raw.id("job_id")?,
            version: raw.id("version_id")?,
            project: raw.project,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PodPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let mut raw = RawPath::from_parts(parts, state).await?;
        Ok(Self {
            job: raw.id("job_id")?,
            version: raw.id("version_id")?,
            pod: raw.name("pod_name")?,
            project: raw.project,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ConfigPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let mut raw = RawPath::from_parts(parts, state).await?;
        Ok(Self {
            name: raw.name("config_name")?,
            project: raw.project,
        })
    }
}
