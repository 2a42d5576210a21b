//! Wire types of trainyard's own endpoints, outside the ModelArts API (docs/api-compatibility.md "ModelArts
//! extensions"): the code upload, the live log stream and the priority of a queued version.

use serde::{Deserialize, Serialize};

/// Path of the upload endpoint below `/v1/{project_id}`: `PUT` a tar archive with
/// `?path=/bucket/dir/` to replace that storage folder with the archive's tree.
pub const UPLOAD_PATH: &str = "/storage/upload";

/// Query parameter naming the log byte offset a stream starts at.
pub const STREAM_OFFSET_PARAM: &str = "offset";

/// Response header of the log stream: the byte offset its body starts at.
pub const STREAM_OFFSET_HEADER: &str = "x-trainyard-log-offset";

/// Answer of a successful upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadResponse {
    /// `true`.
    pub is_success: bool,
    /// The storage path now holding the uploaded tree, as given.
    pub path: String,
    /// Regular files written.
    pub files: u64,
    /// Bytes of file content written.
    pub bytes: u64,
}

/// Path of the storage listing below `/v1/{project_id}`: `GET` with `?path=/bucket/dir/` lists
/// the files below that folder (every depth), or that one file.
pub const FILES_PATH: &str = "/storage/files";

/// Path of one stored file below `/v1/{project_id}`: `GET` with `?path=/bucket/dir/file`
/// answers its bytes.
pub const FILE_PATH: &str = "/storage/file";

/// Answer of `GET /v1/{project_id}/storage/upload`: the limits an upload is held to, so a
/// client can check a folder before sending it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadLimits {
    /// Most bytes one upload's tar archive may hold (`[storage] max_upload_bytes`).
    pub max_upload_bytes: u64,
}

/// One file of a storage listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StorageFile {
    /// Its storage path (`/bucket/dir/file`).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written, in milliseconds since the epoch.
    pub modified: i64,
}

/// Answer of `GET /v1/{project_id}/storage/files`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileListResponse {
    /// The path listed, as given.
    pub path: String,
    /// Its regular files at every depth, sorted by path (symlinks are left out).
    pub files: Vec<StorageFile>,
    /// Whether the listing stopped at its limit (10,000 files).
    pub truncated: bool,
}

/// Body of `PUT /v1/{project_id}/training-jobs/{job_id}/versions/{version_id}/priority`: the
/// new priority of a version waiting to start (1 low .. 3 high).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityRequest {
    /// 1 (low), 2 (middle) or 3 (high); an empty body (0) is refused.
    pub priority: i64,
}
