//! API outcomes that are not a success, and their ModelArts error bodies.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use trainyard_api::{ErrorBody, ErrorCode, JobStatus};

/// Result of a service call.
pub type ApiResult<T> = Result<T, ApiError>;

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A required field is missing or a path is refused (0101).
    #[error("Invalid Argument. {0}")]
    InvalidArgument(String),
    /// Bad format, length, range, enum or unknown catalog entry (0104).
    #[error("{0}")]
    ParameterError(String),
    /// Fields that must not go together, or an incomplete pair (0107).
    #[error("The values of the request parameters ({0},{1}) are invalid.")]
    InvalidCombination(&'static str, &'static str),
    /// Duplicate name (0103); the message is complete.
    #[error("{0}")]
    NameExists(String),
    /// Unknown job, version or configuration (0105); the message is complete.
    #[error("{0}")]
    NotFound(String),
    /// Action not allowed in the current status (0105).
    #[error("This job can't be {action}. job status: {}", status.code())]
    WrongStatus {
        action: &'static str,
        status: JobStatus,
    },
    /// Quota reached (0118).
    #[error("The expected {0} exceeds the quota limit.")]
    Quota(&'static str),
    /// The spec can never fit this executor (3976).
    #[error("No resources are available for the selected specification. {0}")]
    NoResource(String),
    /// Unknown `pool_id` (2890, HTTP 404).
    #[error("Pool ({0}) does not exist")]
    PoolNotFound(String),
    /// Custom image without a container backend (2810).
    #[error("{0}")]
    ImageUnavailable(String),
    /// A visualization server cannot be started here; the message names the fix (4907).
    #[error("{0}")]
    VizUnavailable(String),
    /// Log file not generated yet (2818).
    #[error("the log file is not generated")]
    LogFileNotGenerated,
    /// Body is not JSON (2787).
    #[error("Invalid JSON request body.")]
    InvalidJson,
    /// Body over the size limit (2816, HTTP 413).
    #[error("The parameter(request body) exceeds the upper limit {0}.")]
    BodyTooLarge(usize),
    /// Code upload over `[storage] max_upload_bytes` (2816, HTTP 413).
    #[error("The upload exceeds the upper limit of {0} bytes.")]
    UploadTooLarge(u64),
    /// No credentials (0201).
    #[error("Token doesn't exist.")]
    TokenMissing,
    /// Unknown token (0203).
    #[error("Invalid token.")]
    TokenInvalid,
    /// Issued token past its 24 h (0202).
    #[error("Invalid token header because the token has expired.")]
    TokenExpired,
    /// `X-Sdk-Date` without `Authorization` (0205).
    #[error("No authorization request header.")]
    AuthorizationMissing,
    /// `Authorization` or `X-Sdk-Date` that cannot be parsed (0206, HTTP 401).
    #[error("Incorrect authorization request header format.")]
    AuthorizationMalformed,
    /// `X-Sdk-Date` more than 15 minutes away from the server clock (0207).
    #[error("Invalid Authorization header. Signature expired, please refresh it.")]
    SignatureExpired,
    /// Signature mismatch (0208).
    #[error("Failed to check the authorization request header.")]
    SignatureMismatch,
    /// Unknown access key (0206, HTTP 403).
    #[error("Invalid AK/SK.")]
    AccessKeyInvalid,
    /// `/v3/auth/tokens` refused the username, password, domain or scope (0208).
    #[error("The username or password is wrong, or the user has no such project.")]
    LoginFailed,
    /// A console session cookie that is unknown, signed out or expired (0202).
    #[error("The console session has ended. Sign in again.")]
    SessionEnded,
    /// A console request without its session's CSRF token, or with a wrong one (0208): the
    /// session cookie alone never authorizes a request.
    #[error("The request does not carry the console session's CSRF token. Reload the page.")]
    CsrfMissing,
    /// Credentials of another project (0210).
    #[error("The project id in the request URL does not match the token.")]
    ProjectMismatch,
    /// Unknown route (0015).
    #[error("The resource you requested is not exist")]
    RouteNotFound,
    /// Wrong method on a known path (2803).
    #[error("Method not allowed.")]
    MethodNotAllowed,
    /// The project has `[logs] max_streams_per_project` log streams open (2799, HTTP 429:
    /// the request is valid and succeeds once one of them ends, so "try again later", as
    /// for the rate limit, with `Retry-After`).
    #[error("services too many requests: this project already has {0} log streams open ([logs] max_streams_per_project); close one or retry later")]
    TooManyStreams(usize),
    /// A write that would take the project past its `storage_quota_gb` (0118).
    #[error("The expected storage exceeds the quota limit: {0}")]
    StorageQuota(crate::storage::quota::QuotaExceeded),
    /// The project sent more requests than its rate allows (2799, HTTP 429).
    #[error("services too many requests")]
    TooManyRequests,
    /// Too many failed credential checks for this identity or from this address: checks are
    /// refused unevaluated for this many seconds (2799, HTTP 429 with `Retry-After`).
    #[error("services too many requests: too many failed sign-in attempts; retry after {0} s.")]
    SignInThrottled(u64),
    /// The `Host` header names a host that is not one of this server's public URLs (0101).
    #[error(
        "Invalid Argument. Host {0:?} is not a name of this server (see [server] public_urls)."
    )]
    HostNotAllowed(String),
    /// Database busy or unreachable (2952, HTTP 503).
    #[error("Database service error.")]
    Unavailable(#[source] trainyard_store::Error),
    /// The server's disk is full (0010, HTTP 507): nothing was changed; retry once space is
    /// freed. Told apart from other internal errors so users and operators know what to fix.
    #[error("Internal error: the server is out of disk space. Nothing was changed; retry once the operator has freed space.")]
    OutOfSpace(#[source] anyhow_like::BoxError),
    /// Anything unexpected (0010); the text is logged, never sent.
    #[error("Internal error.")]
    Internal(#[source] anyhow_like::BoxError),
}

/// A boxed error without pulling anyhow into the library.
pub mod anyhow_like {
    /// Boxed error.
    pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
}

impl ApiError {
    /// Wraps any error as internal; a full disk anywhere in its chain is [`Self::OutOfSpace`].
    pub fn internal(e: impl Into<anyhow_like::BoxError>) -> Self {
        let e = e.into();
        if is_out_of_space(e.as_ref()) {
            Self::OutOfSpace(e)
        } else {
            Self::Internal(e)
        }
    }

    /// The ModelArts code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidArgument(_) => ErrorCode::InvalidArgument,
            Self::ParameterError(_) => ErrorCode::ParameterError,
            Self::InvalidCombination(..) => ErrorCode::InvalidCombination,
            Self::NameExists(_) => ErrorCode::NameExists,
            Self::NotFound(_) => ErrorCode::NotAllowed,
            Self::WrongStatus { .. } => ErrorCode::NotAllowed,
            Self::Quota(_) => ErrorCode::QuotaInsufficient,
            Self::NoResource(_) => ErrorCode::NoResource,
            Self::ImageUnavailable(_) => ErrorCode::ImageUnavailable,
            Self::PoolNotFound(_) => ErrorCode::PoolNotFound,
            Self::VizUnavailable(_) => ErrorCode::SubmitFailed,
            Self::LogFileNotGenerated => ErrorCode::LogFileNotGenerated,
            Self::InvalidJson => ErrorCode::InvalidJsonBody,
            Self::BodyTooLarge(_) => ErrorCode::ParamRangeError,
            Self::UploadTooLarge(_) => ErrorCode::ParamRangeError,
            Self::TokenMissing => ErrorCode::TokenMissing,
            Self::TokenInvalid => ErrorCode::TokenInvalid,
            Self::ProjectMismatch => ErrorCode::ProjectMismatch,
            Self::TokenExpired => ErrorCode::TokenExpired,
            Self::SessionEnded => ErrorCode::TokenExpired,
            Self::CsrfMissing => ErrorCode::AuthCheckFailed,
            Self::AuthorizationMissing => ErrorCode::AuthorizationMissing,
            Self::AuthorizationMalformed => ErrorCode::AuthorizationMalformed,
            Self::SignatureExpired => ErrorCode::SignatureExpired,
            Self::SignatureMismatch => ErrorCode::AuthCheckFailed,
            Self::AccessKeyInvalid => ErrorCode::AccessKeyInvalid,
            Self::LoginFailed => ErrorCode::AuthCheckFailed,
            Self::RouteNotFound => ErrorCode::RouteNotFound,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::TooManyRequests => ErrorCode::TooManyRequests,
            Self::SignInThrottled(_) => ErrorCode::TooManyRequests,
            Self::HostNotAllowed(_) => ErrorCode::InvalidArgument,
            Self::TooManyStreams(_) => ErrorCode::TooManyRequests,
            Self::StorageQuota(_) => ErrorCode::QuotaInsufficient,
            Self::Unavailable(_) => ErrorCode::DatabaseUnavailable,
            Self::OutOfSpace(_) => ErrorCode::Internal,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The HTTP status: the code's, except a too-large body, which is 413.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BodyTooLarge(_) | Self::UploadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::OutOfSpace(_) => StatusCode::INSUFFICIENT_STORAGE,
            other => StatusCode::from_u16(other.code().http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    /// Parameter error with the spec's `Parameter error. ` prefix.
    pub fn param(detail: impl std::fmt::Display) -> Self {
        Self::ParameterError(format!("Parameter error. {detail}"))
    }

    /// Missing required field.
    pub fn required(field: &str) -> Self {
        Self::InvalidArgument(format!("{field} is required"))
    }
}

/// Whether `e` or one of its sources is a full disk (ENOSPC, EDQUOT, SQLITE_FULL).
pub(crate) fn is_out_of_space(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(io.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)) {
                return true;
            }
        }
        if matches!(
            err.downcast_ref::<trainyard_store::Error>(),
            Some(trainyard_store::Error::Full(_))
        ) {
            return true;
        }
        cur = err.source();
    }
    false
}

impl From<trainyard_store::Error> for ApiError {
    fn from(e: trainyard_store::Error) -> Self {
        match e {
            trainyard_store::Error::Unavailable(_) => Self::Unavailable(e),
            other => Self::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(source) => {
                tracing::error!(error = %source, "internal error answering a request")
            }
            Self::Unavailable(source) => tracing::warn!(error = %source, "database unavailable"),
            _ => {}
        }
        let mut resp =
            (status, Json(ErrorBody::new(self.code(), self.to_string()))).into_response();
        let retry_after = match self {
            Self::TooManyRequests | Self::TooManyStreams(_) => Some(1),
            Self::SignInThrottled(secs) => Some(secs),
            _ => None,
        };
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        resp
    }
}

/// An outcome of the new-version (v2) API: HTTP status, `ModelArts.NNNN` code and message,
/// answered as `{"error_code", "error_msg", "error_solution"}`.
#[derive(Debug)]
pub struct V2Error {
    /// HTTP status.
    pub status: StatusCode,
    /// `ModelArts.NNNN`.
    pub code: &'static str,
    /// Message.
    pub msg: String,
}

/// Result of the v2 service.
pub type V2Result<T> = Result<T, V2Error>;

impl V2Error {
    /// An error with `status`, `code` and `msg`.
    pub fn new(status: u16, code: &'static str, msg: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code,
            msg: msg.into(),
        }
    }

    /// 400 `ModelArts.2788`: `Invalid parameter(field).`, with why.
    pub fn param(field: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "ModelArts.2788",
            format!("Invalid parameter({field}). {why}"),
        )
    }

    /// 400 `ModelArts.2775`: no such job.
    pub fn not_found(id: &str) -> Self {
        Self::new(
            400,
            "ModelArts.2775",
            format!("Training job (ID: {id}) not found."),
        )
    }

    /// 400 `ModelArts.2764`: a bad query parameter.
    pub fn query(name: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "ModelArts.2764",
            format!("Invalid query parameter ({name}). {why}"),
        )
    }

    /// The v2 body of this error.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "error_code": self.code,
            "error_msg": self.msg,
            "error_solution": "",
        })
    }
}

impl From<ApiError> for V2Error {
    fn from(e: ApiError) -> Self {
        let msg = e.to_string();
        match e {
            ApiError::InvalidArgument(_)
            | ApiError::ParameterError(_)
            | ApiError::InvalidCombination(..)
            | ApiError::VizUnavailable(_)
            | ApiError::HostNotAllowed(_) => Self::new(400, "ModelArts.2788", msg),
            ApiError::NameExists(_) => Self::new(400, "ModelArts.2751", msg),
            ApiError::NotFound(_) => Self::new(400, "ModelArts.2775", msg),
            ApiError::WrongStatus { .. } => Self::new(409, "ModelArts.2796", msg),
            ApiError::Quota(_) | ApiError::StorageQuota(_) => Self::new(400, "ModelArts.2815", msg),
            ApiError::NoResource(_) => Self::new(400, "ModelArts.2763", msg),
            ApiError::PoolNotFound(_) => Self::new(404, "ModelArts.2890", msg),
            ApiError::ImageUnavailable(_) => Self::new(400, "ModelArts.2810", msg),
            ApiError::LogFileNotGenerated => Self::new(400, "ModelArts.2818", msg),
            ApiError::InvalidJson => Self::new(400, "ModelArts.2787", msg),
            ApiError::BodyTooLarge(_) | ApiError::UploadTooLarge(_) => {
                Self::new(413, "ModelArts.2816", msg)
            }
            ApiError::RouteNotFound => Self::new(404, "ModelArts.2836", "Path not found."),
            ApiError::MethodNotAllowed => Self::new(405, "ModelArts.2803", msg),
            ApiError::TooManyRequests
            | ApiError::TooManyStreams(_)
            | ApiError::SignInThrottled(_) => Self::new(429, "ModelArts.2799", msg),
            ApiError::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable");
                Self::new(503, "ModelArts.2952", msg)
            }
            ApiError::Internal(source) | ApiError::OutOfSpace(source) => {
                tracing::error!(error = %source, "internal error answering a v2 request");
                Self::new(500, "ModelArts.2950", "Unknown error.")
            }
            ApiError::TokenMissing
            | ApiError::TokenInvalid
            | ApiError::TokenExpired
            | ApiError::AuthorizationMissing
            | ApiError::AuthorizationMalformed
            | ApiError::SignatureExpired
            | ApiError::SignatureMismatch
            | ApiError::AccessKeyInvalid
            | ApiError::LoginFailed
            | ApiError::SessionEnded
            | ApiError::CsrfMissing
            | ApiError::ProjectMismatch => Self {
                status: e.status(),
                code: e.code().as_str(),
                msg,
            },
        }
    }
}

impl From<trainyard_store::Error> for V2Error {
    fn from(e: trainyard_store::Error) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}
