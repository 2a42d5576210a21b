//! The ModelArts error body and the one table of error codes trainyard emits.

use serde::{Deserialize, Serialize};

/// Failure body: exactly `{"is_success": false, "error_code": ..., "error_message": ...}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Always `false`.
    pub is_success: bool,
    /// `ModelArts.NNNN`.
    pub error_code: String,
    /// Human-readable message.
    pub error_message: String,
}

impl ErrorBody {
    /// Builds a failure body for `code` with `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            is_success: false,
            error_code: code.as_str().to_owned(),
            error_message: message.into(),
        }
    }
}

/// Every error code trainyard answers with (listed with their HTTP statuses in `docs/api.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0010: unexpected server error.
    Internal,
    /// 0015: unknown route.
    RouteNotFound,
    /// 0101: missing or invalid argument (also: path leaving the storage root).
    InvalidArgument,
    /// 0103: duplicate name.
    NameExists,
    /// 0104: bad format, range, enum or unknown catalog entry.
    ParameterError,
    /// 0105: not found, or action not allowed in the current status.
    NotAllowed,
    /// 0107: mutually exclusive or incomplete pair of parameters.
    InvalidCombination,
    /// 0118: quota exceeded.
    QuotaInsufficient,
    /// 0201: no credentials.
    TokenMissing,
    /// 0203: token unknown.
    TokenInvalid,
    /// 0210: credentials of another project.
    ProjectMismatch,
    /// 0202: token older than 24 h.
    TokenExpired,
    /// 0205: AK/SK request without `Authorization`.
    AuthorizationMissing,
    /// 0206 (HTTP 401): unparsable `Authorization` or `X-Sdk-Date`.
    AuthorizationMalformed,
    /// 0207: `X-Sdk-Date` too far from the server clock.
    SignatureExpired,
    /// 0208: signature mismatch; also a refused username/password (`/v3/auth/tokens`).
    AuthCheckFailed,
    /// 0206 (HTTP 403): unknown access key.
    AccessKeyInvalid,
    /// 2787: body is not JSON.
    InvalidJsonBody,
    /// 2803: wrong method on a known path.
    MethodNotAllowed,
    /// 2810: custom image cannot be run.
    ImageUnavailable,
    /// 2890: unknown resource pool.
    PoolNotFound,
    /// 2816: value over an upper limit (request body size included).
    ParamRangeError,
    /// 2818: log file not generated yet.
    LogFileNotGenerated,
    /// 3976: no resources for the selected specification.
    NoResource,
    /// 2799: rate limited.
    TooManyRequests,
    /// 2952: database failure or overload.
    DatabaseUnavailable,
    /// 4907: a visualization job cannot be submitted (its program is not installed here).
    SubmitFailed,
}

impl ErrorCode {
    /// The `ModelArts.NNNN` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Internal => "ModelArts.0010",
            Self::RouteNotFound => "ModelArts.0015",
            Self::InvalidArgument => "ModelArts.0101",
            Self::NameExists => "ModelArts.0103",
            Self::ParameterError => "ModelArts.0104",
            Self::NotAllowed => "ModelArts.0105",
            Self::InvalidCombination => "ModelArts.0107",
            Self::QuotaInsufficient => "ModelArts.0118",
            Self::TokenMissing => "ModelArts.0201",
            Self::TokenInvalid => "ModelArts.0203",
            Self::ProjectMismatch => "ModelArts.0210",
            Self::TokenExpired => "ModelArts.0202",
            Self::AuthorizationMissing => "ModelArts.0205",
            Self::AuthorizationMalformed | Self::AccessKeyInvalid => "ModelArts.0206",
            Self::SignatureExpired => "ModelArts.0207",
            Self::AuthCheckFailed => "ModelArts.0208",
            Self::InvalidJsonBody => "ModelArts.2787",
            Self::MethodNotAllowed => "ModelArts.2803",
            Self::ImageUnavailable => "ModelArts.2810",
            Self::ParamRangeError => "ModelArts.2816",
            Self::PoolNotFound => "ModelArts.2890",
            Self::LogFileNotGenerated => "ModelArts.2818",
            Self::NoResource => "ModelArts.3976",
            Self::TooManyRequests => "ModelArts.2799",
            Self::DatabaseUnavailable => "ModelArts.2952",
            Self::SubmitFailed => "ModelArts.4907",
        }
    }

    /// The HTTP status this code is sent with. ModelArts answers 400 for not-found resources
    /// (`0105`); we follow it here and only here.
    pub fn http_status(self) -> u16 {
        match self {
            Self::Internal => 500,
            Self::DatabaseUnavailable => 503,
            Self::RouteNotFound | Self::PoolNotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::TokenMissing
            | Self::TokenInvalid
            | Self::TokenExpired
            | Self::AuthorizationMissing
            | Self::AuthorizationMalformed
            | Self::SignatureExpired
            | Self::AuthCheckFailed => 401,
            Self::ProjectMismatch | Self::AccessKeyInvalid => 403,
            Self::TooManyRequests => 429,
            Self::ParamRangeError => 400,
            Self::InvalidArgument
            | Self::NameExists
            | Self::ParameterError
            | Self::NotAllowed
            | Self::InvalidCombination
            | Self::QuotaInsufficient
            | Self::InvalidJsonBody
            | Self::ImageUnavailable
            | Self::LogFileNotGenerated
            | Self::NoResource
            | Self::SubmitFailed => 400,
        }
    }
}
