//! Wire types of trainyard's own endpoints, outside the ModelArts API (docs/api-compatibility.md "ModelArts
//! extensions"): the code upload and the live log stream.

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
