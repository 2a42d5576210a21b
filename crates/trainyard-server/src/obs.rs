//! The OBS/S3-compatible endpoint over project storage, so `obs_endpoint` (the official SDK's
//! `session.obs`), `aws s3` and boto3 can point at trainyard.
//!
//! The S3 protocol (request routing, SigV2 and SigV4 checks, XML bodies, errors) is the `s3s`
//! crate's; this module maps its operations onto the project's folders. A request is signed
//! with one of the project's access keys, and that key decides the project: the project's
//! top-level folders are its buckets, object keys are paths below them (path-style
//! addressing). One project never sees another's folders.
//!
//! Jobs write into the same folders, so every file operation goes through
//! [`trainyard_exec::beneath`]: paths are opened relative to the project's folder with no
//! symlink followed (a link, or a folder swapped for one, fails the request instead of leading
//! out), objects are written as a new file renamed into place, and listings skip links.
//!
//! It shares the API's port: requests signed the S3 way (`Authorization: AWS ...`,
//! `AWS4-HMAC-SHA256 ...` or presigned query parameters) go to this endpoint
//! ([`front`]: request id, access log, metrics), everything else to the ModelArts API (whose
//! own signature is `SDK-HMAC-SHA256`). [`access`] adds AWS's and OBS's rules to `s3s`'s
//! signature checks and the project's request rate; [`multipart`] keeps multipart uploads.

mod access;
mod front;
mod multipart;

pub use front::{is_s3_request, Dispatch, Endpoint};

use crate::config::{self, ObsConfig};
use crate::http::state::AppState;
use crate::storage::{PathError, Storage};
use bytes::Bytes;
use futures_util::StreamExt;
use multipart::{KEY_FILE, MULTIPART_DIR};
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, Bucket, CommonPrefix,
    CompleteMultipartUploadInput, CompleteMultipartUploadOutput, CreateBucketInput,
    CreateBucketOutput, CreateMultipartUploadInput, CreateMultipartUploadOutput, DeleteBucketInput,
    DeleteBucketOutput, DeleteObjectInput, DeleteObjectOutput, DeleteObjectsInput,
    DeleteObjectsOutput, DeletedObject, ETag, GetBucketLocationInput, GetBucketLocationOutput,
    GetObjectInput, GetObjectOutput, HeadBucketInput, HeadBucketOutput, HeadObjectInput,
    HeadObjectOutput, ListBucketsInput, ListBucketsOutput, ListMultipartUploadsInput,
    ListMultipartUploadsOutput, ListObjectsInput, ListObjectsOutput, ListObjectsV2Input,
    ListObjectsV2Output, ListPartsInput, ListPartsOutput, MultipartUpload, Object, Part,
    PutObjectInput, PutObjectOutput, StreamingBlob, Timestamp, UploadPartInput, UploadPartOutput,
};
use s3s::{s3_error, S3Request, S3Response, S3Result};
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use trainyard_exec::beneath::{self, Dir, Kind};

/// Most keys one list answer holds (S3's default and ceiling).
const MAX_KEYS: usize = 1000;

/// Read size of object bodies.
const CHUNK: usize = 64 * 1024;

/// The caller's project, put in the request by the access check for the operations.
#[derive(Clone, Debug)]
struct Caller {
    project: String,
}

/// What the access check learned of a request, for its access log line and metrics.
#[derive(Debug, Default)]
struct SeenRequest {
    op: Option<String>,
    project: Option<String>,
}

/// The slot [`SeenRequest`] is written to (a request extension).
#[derive(Clone, Debug)]
struct Seen(Arc<Mutex<SeenRequest>>);

/// The endpoint's limits (`[obs]`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest body of one PUT or one part.
    pub max_object_bytes: u64,
    /// Age at which an unfinished multipart upload is removed.
    pub multipart_expiry: Duration,
    /// Most multipart uploads one project may have open.
    pub max_open_uploads: usize,
}

impl Limits {
    /// The limits `[obs]` sets, defaults for the rest.
    pub fn from_config(c: &ObsConfig) -> Self {
        Self {
            max_object_bytes: c
                .max_object_bytes
                .unwrap_or(config::DEFAULT_MAX_OBJECT_BYTES),
            multipart_expiry: Duration::from_secs(
                c.multipart_expiry_seconds
                    .unwrap_or(config::DEFAULT_MULTIPART_EXPIRY_SECONDS),
            ),
            max_open_uploads: c
                .max_open_uploads
                .unwrap_or(config::DEFAULT_MAX_OPEN_UPLOADS),
        }
    }
}

/// The S3 endpoint over `state`'s storage, authenticated with the projects' access keys, with
/// its layers; starts the sweep of abandoned multipart uploads (until `state.shutdown`).
pub fn endpoint(state: &AppState, limits: Limits) -> Endpoint {
    let storage = state.svc().storage().clone();
    let mut builder = s3s::service::S3ServiceBuilder::new(ObsStore {
        storage: storage.clone(),
        limits,
        opening: Arc::new(tokio::sync::Mutex::new(())),
    });
    builder.set_auth(access::ObsAuth {
        identity: state.identity().clone(),
    });
    builder.set_access(access::ObsAccess {
        identity: state.identity().clone(),
        rate_limits: state.rate_limits().clone(),
        max_object_bytes: limits.max_object_bytes,
    });
    let mut s3_config = s3s::config::S3Config::default();
    s3_config.presigned_url_max_skew_time_secs = access::MAX_SKEW.as_secs() as u32;
    s3_config.post_object_max_file_size = limits.max_object_bytes;
    builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(
        s3_config,
    ))));
    let mut projects: Vec<String> = state.svc().project_ids().cloned().collect();
    projects.sort();
    multipart::spawn_sweep(
        storage,
        projects,
        limits.multipart_expiry,
        state.shutdown().subscribe(),
    );
    Endpoint::new(
        builder.build(),
        state.telemetry().clone(),
        state.throttle().clone(),
    )
}

/// Buckets and objects of the caller's project, as folders and files.
struct ObsStore {
    storage: Storage,
    limits: Limits,
    /// Held while a new multipart upload is counted against the cap and made.
    opening: Arc<tokio::sync::Mutex<()>>,
}

/// A file of a listing: its key and metadata.
struct Entry {
    key: String,
    size: u64,
    modified: SystemTime,
}

fn etag(size: u64, modified: SystemTime) -> ETag {
    let nanos = modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    ETag::Strong(format!("{nanos:x}-{size:x}"))
}

fn internal(e: impl std::fmt::Display) -> s3s::S3Error {
    tracing::warn!(error = %e, "S3 endpoint: storage error");
    s3_error!(InternalError)
}

fn path_error(e: PathError) -> s3s::S3Error {
    match e {
        PathError::Io(e) => internal(e),
        other => s3_error!(AccessDenied, "{other}"),
    }
}

/// A symlink on the way: refused, never followed.
fn link_refused(what: &str) -> s3s::S3Error {
    s3_error!(
        AccessDenied,
        "{what} is or passes through a symlink; this endpoint never follows links"
    )
}

fn bucket_error(e: io::Error, bucket: &str) -> s3s::S3Error {
    if beneath::is_missing(&e) {
        s3_error!(NoSuchBucket)
    } else if beneath::is_link(&e) {
        link_refused(bucket)
    } else {
        internal(e)
    }
}

fn key_error(e: io::Error, key: &str) -> s3s::S3Error {
    if beneath::is_missing(&e) || beneath::is_dir(&e) || e.raw_os_error() == Some(libc::ENXIO) {
        s3_error!(NoSuchKey, "{key}")
    } else if beneath::is_link(&e) {
        link_refused(key)
    } else {
        internal(e)
    }
}

/// A folder on the way to `key` could not be made or opened.
fn parent_error(e: io::Error, key: &str) -> s3s::S3Error {
    if beneath::is_link(&e) {
        link_refused(key)
    } else if matches!(e.raw_os_error(), Some(libc::ENOTDIR | libc::EEXIST)) {
        s3_error!(InvalidArgument, "a parent of {key:?} is a file")
    } else {
        internal(e)
    }
}

fn upload_error(e: io::Error) -> s3s::S3Error {
    if beneath::is_missing(&e) || beneath::is_link(&e) {
        s3_error!(NoSuchUpload)
    } else {
        internal(e)
    }
}

/// A bucket name that names one folder directly below the project's (S3 names are letters,
/// digits, `.`, `-` and `_` here; never `.` or `..`).
fn check_bucket(bucket: &str) -> S3Result<()> {
    let ok = !bucket.is_empty()
        && bucket != "."
        && bucket != ".."
        && bucket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(s3_error!(InvalidBucketName))
    }
}

/// Every component of `key` is a plain name (no `..`, `.`, empty part other than a trailing
/// `/`, NUL or backslash).
fn check_key(key: &str) -> S3Result<()> {
    let body = key.strip_suffix('/').unwrap_or(key);
    let ok = !body.is_empty()
        && !key.contains('\0')
        && !key.contains('\\')
        && body.split('/').all(|part| {
            !part.is_empty() && part != "." && part != ".." && !part.starts_with(HIDDEN_PREFIX)
        });
    if ok {
        Ok(())
    } else {
        Err(s3_error!(
            InvalidArgument,
            "object key {key:?} is not a plain path"
        ))
    }
}

/// The folder part and the last name of a checked key (`a/b/c` -> `a/b`, `c`; a folder
/// marker `a/b/` -> `a`, `b`).
fn split_key(key: &str) -> (&Path, &OsStr) {
    let body = key.strip_suffix('/').unwrap_or(key);
    match body.rsplit_once('/') {
        Some((parent, leaf)) => (Path::new(parent), OsStr::new(leaf)),
        None => (Path::new(""), OsStr::new(body)),
    }
}

/// Names of the endpoint's own files in a bucket folder, never listed as objects.
const HIDDEN_PREFIX: &str = ".trainyard-";

/// A fresh name for a file being written, beside its final place.
fn temp_name() -> String {
    format!("{HIDDEN_PREFIX}upload-{:016x}", rand::random::<u64>())
}

/// An upload id we made (hex), so it is a plain folder name.
fn check_upload_id(id: &str) -> S3Result<()> {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(s3_error!(NoSuchUpload))
    }
}

/// All files below `dir`, keys relative to it with `/`, sorted (S3 lists in byte order).
/// Symlinks (and folders swapped for one while listing) are skipped, never followed.
fn walk(dir: &Dir) -> io::Result<Vec<Entry>> {
    fn visit(dir: &Dir, rel: &str, out: &mut Vec<Entry>) -> io::Result<()> {
        for e in dir.entries()? {
            let Some(name) = e.name.to_str() else {
                continue;
            };
            if name.starts_with(HIDDEN_PREFIX) {
                // Our own: a put being written, the parts of a multipart upload.
                continue;
            }
            let key = format!("{rel}{name}");
            match e.kind {
                Kind::Dir => match dir.open_dir(Path::new(name)) {
                    Ok(sub) => visit(&sub, &format!("{key}/"), out)?,
                    Err(err) if beneath::is_missing(&err) || beneath::is_link(&err) => {}
                    Err(err) => return Err(err),
                },
                Kind::File => out.push(Entry {
                    key,
                    size: e.len,
                    modified: e.modified,
                }),
                Kind::Symlink | Kind::Other => {}
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    visit(dir, "", &mut out)?;
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}
/// One page of a listing: files after `after` under `prefix`, keys folded at `delimiter`.
struct Page {
    objects: Vec<Object>,
    prefixes: Vec<CommonPrefix>,
    truncated: bool,
    last: Option<String>,
}

fn page(
    entries: Vec<Entry>,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    max: usize,
) -> Page {
    let mut objects = Vec::new();
    let mut prefixes: Vec<CommonPrefix> = Vec::new();
    let mut last = None;
    let mut truncated = false;
    for e in entries {
        if !e.key.starts_with(prefix) || after.is_some_and(|a| e.key.as_str() <= a) {
            continue;
        }
        let folded = delimiter.filter(|d| !d.is_empty()).and_then(|d| {
            e.key[prefix.len()..]
                .find(d)
                .map(|i| e.key[..prefix.len() + i + d.len()].to_owned())
        });
        if let Some(common) = &folded {
            if prefixes
                .last()
                .is_some_and(|p| p.prefix.as_deref() == Some(common.as_str()))
            {
                continue;
            }
            if after.is_some_and(|a| a.starts_with(common.as_str())) {
                continue;
            }
        }
        if objects.len() + prefixes.len() >= max {
            truncated = true;
            break;
        }
        match folded {
            Some(common) => {
                last = Some(common.clone());
                prefixes.push(CommonPrefix {
                    prefix: Some(common),
                });
            }
            None => {
                last = Some(e.key.clone());
                objects.push(Object {
                    e_tag: Some(etag(e.size, e.modified)),
                    key: Some(e.key),
                    last_modified: Some(Timestamp::from(e.modified)),
                    size: Some(e.size as i64),
                    ..Default::default()
                });
            }
        }
    }
    Page {
        objects,
        prefixes,
        truncated,
        last,
    }
}

fn max_keys(v: Option<i32>) -> usize {
    v.and_then(|n| usize::try_from(n).ok())
        .unwrap_or(MAX_KEYS)
        .min(MAX_KEYS)
}

/// Runs blocking file work off the async threads.
async fn run<T: Send + 'static>(f: impl FnOnce() -> S3Result<T> + Send + 'static) -> S3Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(internal)?
}

/// The folder of an existing bucket below the project's folder `root`.
fn open_bucket(root: &Path, bucket: &str) -> S3Result<Dir> {
    check_bucket(bucket)?;
    Dir::open(root)
        .map_err(internal)?
        .open_dir(Path::new(bucket))
        .map_err(|e| bucket_error(e, bucket))
}

/// The folder of a bucket, made if it is not there: writing into a bucket creates it, because
/// scripts assume the buckets of their cloud exist, and here a bucket is only a folder.
fn make_bucket(root: &Path, bucket: &str) -> S3Result<Dir> {
    check_bucket(bucket)?;
    Dir::open(root)
        .map_err(internal)?
        .create_dir_all(Path::new(bucket))
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOTDIR | libc::EEXIST) => {
                s3_error!(InvalidBucketName, "{bucket} is a file")
            }
            _ => bucket_error(e, bucket),
        })
}

/// The folder of upload `id` of `bucket`, made for `key` (else `NoSuchUpload`).
fn open_upload(bucket: &Dir, id: &str, key: &str) -> S3Result<Dir> {
    check_upload_id(id)?;
    let upload = bucket
        .open_dir(&Path::new(MULTIPART_DIR).join(id))
        .map_err(upload_error)?;
    match multipart::upload_key(&upload).map_err(upload_error)? {
        Some(k) if k != key => Err(s3_error!(NoSuchUpload)),
        _ => Ok(upload),
    }
}

/// Writes `body` to `file`, refusing more than `limit` bytes; returns its size and
/// modification time.
async fn write_body(
    file: std::fs::File,
    body: Option<StreamingBlob>,
    limit: u64,
) -> S3Result<(u64, SystemTime)> {
    let mut file = tokio::fs::File::from_std(file);
    let mut written = 0u64;
    if let Some(mut body) = body {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| s3_error!(IncompleteBody, "{e}"))?;
            written += chunk.len() as u64;
            if written > limit {
                return Err(access::too_large(limit));
            }
            file.write_all(&chunk).await.map_err(internal)?;
        }
    }
    file.flush().await.map_err(internal)?;
    let modified = file
        .metadata()
        .await
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    Ok((written, modified))
}

/// Writes `body` as `leaf` of `dir`: a new file beside it, renamed over it once whole, so
/// readers see the old or the new object and a link there is replaced, not written through.
async fn put_file(
    dir: Dir,
    leaf: &OsStr,
    key: &str,
    body: Option<StreamingBlob>,
    limit: u64,
) -> S3Result<(u64, SystemTime)> {
    let (dir, tmp, file) = run(move || {
        let tmp = temp_name();
        let file = dir.create_new(OsStr::new(&tmp)).map_err(internal)?;
        Ok((dir, tmp, file))
    })
    .await?;
    let written = write_body(file, body, limit).await;
    let leaf = leaf.to_owned();
    let key = key.to_owned();
    run(move || {
        let tmp = OsStr::new(&tmp);
        let written = match written {
            Ok(w) => w,
            Err(e) => {
                let _ = dir.remove_file(tmp);
                return Err(e);
            }
        };
        if let Err(e) = dir.rename(tmp, &leaf) {
            let _ = dir.remove_file(tmp);
            return Err(if beneath::is_dir(&e) {
                s3_error!(InvalidArgument, "{key:?} is a folder")
            } else {
                internal(e)
            });
        }
        Ok(written)
    })
    .await
}

/// Removes a file (nothing there is fine, as in S3), then the folders it leaves empty up to
/// the bucket's. Names are unlinked, never followed.
fn remove_object(bucket: &Dir, key: &str) -> S3Result<()> {
    let (parent, leaf) = split_key(key);
    let dir = match bucket.open_dir(parent) {
        Ok(d) => d,
        Err(e) if beneath::is_missing(&e) => return Ok(()),
        Err(e) if beneath::is_link(&e) => return Err(link_refused(key)),
        Err(e) => return Err(internal(e)),
    };
    match dir.entry(leaf) {
        Ok(e) if e.kind == Kind::Dir => {
            // A folder marker: only an empty folder goes.
            let _ = dir.remove_dir(leaf);
        }
        Ok(_) => match dir.remove_file(leaf) {
            Ok(()) => {}
            Err(e) if beneath::is_missing(&e) => {}
            Err(e) => return Err(internal(e)),
        },
        Err(e) if beneath::is_missing(&e) => return Ok(()),
        Err(e) => return Err(internal(e)),
    }
    let parts: Vec<&OsStr> = parent.iter().collect();
    for depth in (1..=parts.len()).rev() {
        let above: PathBuf = parts[..depth - 1].iter().collect();
        let Ok(d) = bucket.open_dir(&above) else {
            break;
        };
        if d.remove_dir(parts[depth - 1]).is_err() {
            break;
        }
    }
    Ok(())
}

impl ObsStore {
    /// The caller's project (the access check has refused unsigned requests).
    fn project<T>(&self, req: &S3Request<T>) -> S3Result<String> {
        req.extensions
            .get::<Caller>()
            .map(|c| c.project.clone())
            .ok_or_else(|| s3_error!(AccessDenied, "Signature is required"))
    }

    /// The caller's project folder.
    fn root<T>(&self, req: &S3Request<T>) -> S3Result<PathBuf> {
        let project = self.project(req)?;
        if self.storage.objects().is_some() {
            // With an object store behind paths there are no local buckets.
            return Err(path_error(PathError::NotLocal("/".into())));
        }
        self.storage.project_root(&project).map_err(internal)
    }

    async fn list(
        &self,
        root: PathBuf,
        bucket: String,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&str>,
        max: usize,
    ) -> S3Result<Page> {
        let entries = run(move || walk(&open_bucket(&root, &bucket)?).map_err(internal)).await?;
        Ok(page(entries, prefix, delimiter, after, max))
    }
}

#[async_trait::async_trait]
impl s3s::S3 for ObsStore {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let root = self.root(&req)?;
        let buckets = run(move || {
            let mut out = Vec::new();
            for e in Dir::open(&root)
                .and_then(|d| d.entries())
                .map_err(internal)?
            {
                match e.name.to_str() {
                    Some(name) if e.kind == Kind::Dir && check_bucket(name).is_ok() => {
                        out.push(Bucket {
                            name: Some(name.to_owned()),
                            creation_date: Some(Timestamp::from(e.modified)),
                            ..Default::default()
                        });
                    }
                    _ => {}
                }
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
        .await?;
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        }))
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let root = self.root(&req)?;
        let bucket = req.input.bucket;
        check_bucket(&bucket)?;
        let name = bucket.clone();
        run(move || {
            let made = Dir::open(&root)
                .map_err(internal)?
                .create_dir(OsStr::new(&name));
            match made {
                Ok(()) => Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    Err(s3_error!(BucketAlreadyOwnedByYou))
                }
                Err(e) => Err(internal(e)),
            }
        })
        .await?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let root = self.root(&req)?;
        let bucket = req.input.bucket;
        run(move || {
            multipart::tidy(&open_bucket(&root, &bucket)?);
            match Dir::open(&root)
                .map_err(internal)?
                .remove_dir(OsStr::new(&bucket))
            {
                Ok(()) => Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {
                    Err(s3_error!(BucketNotEmpty))
                }
                Err(e) => Err(bucket_error(e, &bucket)),
            }
        })
        .await?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let root = self.root(&req)?;
        let bucket = req.input.bucket;
        run(move || open_bucket(&root, &bucket).map(drop)).await?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let root = self.root(&req)?;
        let bucket = req.input.bucket;
        run(move || open_bucket(&root, &bucket).map(drop)).await?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let root = self.root(&req)?;
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = max_keys(input.max_keys);
        let page = self
            .list(
                root,
                input.bucket.clone(),
                &prefix,
                input.delimiter.as_deref(),
                input.marker.as_deref(),
                max,
            )
            .await?;
        Ok(S3Response::new(ListObjectsOutput {
            next_marker: page.last.filter(|_| page.truncated),
            is_truncated: Some(page.truncated),
            contents: Some(page.objects),
            common_prefixes: Some(page.prefixes),
            name: Some(input.bucket),
            prefix: Some(prefix),
            delimiter: input.delimiter,
            marker: input.marker,
            max_keys: Some(max as i32),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let root = self.root(&req)?;
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = max_keys(input.max_keys);
        // The continuation token is the last key (or common prefix) of the page before.
        let after = input
            .continuation_token
            .clone()
            .or_else(|| input.start_after.clone());
        let page = self
            .list(
                root,
                input.bucket.clone(),
                &prefix,
                input.delimiter.as_deref(),
                after.as_deref(),
                max,
            )
            .await?;
        let count = page.objects.len() + page.prefixes.len();
        Ok(S3Response::new(ListObjectsV2Output {
            next_continuation_token: page.last.filter(|_| page.truncated),
            is_truncated: Some(page.truncated),
            key_count: Some(count as i32),
            contents: Some(page.objects),
            common_prefixes: Some(page.prefixes),
            name: Some(input.bucket),
            prefix: Some(prefix),
            delimiter: input.delimiter,
            continuation_token: input.continuation_token,
            start_after: input.start_after,
            max_keys: Some(max as i32),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let root = self.root(&req)?;
        let (bucket, key) = (req.input.bucket, req.input.key);
        let (len, modified) = run(move || {
            let b = open_bucket(&root, &bucket)?;
            check_key(&key)?;
            let meta = b
                .open_file(Path::new(&key))
                .and_then(|f| f.metadata())
                .map_err(|e| key_error(e, &key))?;
            Ok((
                meta.len(),
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            ))
        })
        .await?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(len as i64),
            e_tag: Some(etag(len, modified)),
            last_modified: Some(Timestamp::from(modified)),
            content_type: Some(mime_octets()),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let root = self.root(&req)?;
        let (bucket, key) = (req.input.bucket, req.input.key);
        // One open, no link followed; the answer is read from that open file only.
        let (file, len, modified) = run(move || {
            let b = open_bucket(&root, &bucket)?;
            check_key(&key)?;
            let file = b
                .open_file(Path::new(&key))
                .map_err(|e| key_error(e, &key))?;
            let meta = file.metadata().map_err(internal)?;
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            Ok((file, meta.len(), modified))
        })
        .await?;
        let range = match &req.input.range {
            Some(r) => Some(r.check(len).map_err(|_| s3_error!(InvalidRange))?),
            None => None,
        };
        let (start, end) = range.as_ref().map_or((0, len), |r| (r.start, r.end));
        let mut file = tokio::fs::File::from_std(file);
        if start > 0 {
            file.seek(io::SeekFrom::Start(start))
                .await
                .map_err(internal)?;
        }
        let remaining = end - start;
        let stream =
            futures_util::stream::unfold((file, remaining), |(mut file, remaining)| async move {
                if remaining == 0 {
                    return None;
                }
                let want = CHUNK.min(usize::try_from(remaining).unwrap_or(CHUNK));
                let mut buf = vec![0u8; want];
                match file.read(&mut buf).await {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        Some((Ok(Bytes::from(buf)), (file, remaining - n as u64)))
                    }
                    Err(e) => Some((Err(e), (file, 0))),
                }
            });
        Ok(S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::wrap(stream)),
            content_length: Some(remaining as i64),
            content_range: range.map(|r| format!("bytes {}-{}/{len}", r.start, r.end - 1)),
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag(len, modified)),
            last_modified: Some(Timestamp::from(modified)),
            content_type: Some(mime_octets()),
            ..Default::default()
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let root = self.root(&req)?;
        let project = self.project(&req)?;
        let input = req.input;
        let limit = self.limits.max_object_bytes;
        if input
            .content_length
            .is_some_and(|n| u64::try_from(n).is_ok_and(|n| n > limit))
        {
            return Err(access::too_large(limit));
        }
        crate::storage::quota::check_s3(&self.storage, &project, input.content_length)?;
        check_bucket(&input.bucket)?;
        check_key(&input.key)?;
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        if key.ends_with('/') {
            // A folder marker (what consoles create for "new folder").
            run(move || {
                make_bucket(&root, &bucket)?
                    .create_dir_all(Path::new(&key))
                    .map(drop)
                    .map_err(|e| parent_error(e, &key))
            })
            .await?;
            return Ok(S3Response::new(PutObjectOutput::default()));
        }
        let dir = run(move || {
            let (parent, _) = split_key(&key);
            make_bucket(&root, &bucket)?
                .create_dir_all(parent)
                .map_err(|e| parent_error(e, &key))
        })
        .await?;
        let (_, leaf) = split_key(&input.key);
        let (size, modified) = put_file(dir, leaf, &input.key, input.body, limit).await?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(size, modified)),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let root = self.root(&req)?;
        let input = req.input;
        check_bucket(&input.bucket)?;
        check_key(&input.key)?;
        let cap = self.limits.max_open_uploads;
        let id = format!("{:032x}", rand::random::<u128>());
        let _counting = self.opening.lock().await;
        let (bucket, key, upload_id) = (input.bucket.clone(), input.key.clone(), id.clone());
        run(move || {
            let open = multipart::open_count(&Dir::open(&root).map_err(internal)?)
                .map_err(internal)?;
            if open >= cap {
                return Err(s3_error!(
                    InvalidRequest,
                    "this project has {open} multipart uploads open, its limit ([obs] max_open_uploads = {cap}); complete or abort some first"
                ));
            }
            let upload = make_bucket(&root, &bucket)?
                .create_dir_all(&Path::new(MULTIPART_DIR).join(&upload_id))
                .map_err(|e| parent_error(e, &key))?;
            let mut f = upload
                .create_new(OsStr::new(KEY_FILE))
                .map_err(internal)?;
            io::Write::write_all(&mut f, key.as_bytes()).map_err(internal)
        })
        .await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let root = self.root(&req)?;
        let project = self.project(&req)?;
        let input = req.input;
        crate::storage::quota::check_s3(&self.storage, &project, input.content_length)?;
        if !(1..=10_000).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "part number must be in 1..=10000"
            ));
        }
        let limit = self.limits.max_object_bytes;
        if input
            .content_length
            .is_some_and(|n| u64::try_from(n).is_ok_and(|n| n > limit))
        {
            return Err(access::too_large(limit));
        }
        let (bucket, key, id) = (
            input.bucket.clone(),
            input.key.clone(),
            input.upload_id.clone(),
        );
        let upload = run(move || open_upload(&open_bucket(&root, &bucket)?, &id, &key)).await?;
        let name = input.part_number.to_string();
        let (size, modified) =
            put_file(upload, OsStr::new(&name), &input.key, input.body, limit).await?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(etag(size, modified)),
            ..Default::default()
        }))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let root = self.root(&req)?;
        let input = req.input;
        let (bucket, key, id) = (
            input.bucket.clone(),
            input.key.clone(),
            input.upload_id.clone(),
        );
        let stored = run(move || {
            let upload = open_upload(&open_bucket(&root, &bucket)?, &id, &key)?;
            multipart::parts(&upload).map_err(internal)
        })
        .await?;
        let after = input.part_number_marker.unwrap_or(0);
        let max = max_keys(input.max_parts);
        let mut parts: Vec<Part> = Vec::new();
        let mut truncated = false;
        for p in stored.into_iter().filter(|p| p.number > after) {
            if parts.len() >= max {
                truncated = true;
                break;
            }
            parts.push(Part {
                part_number: Some(p.number),
                size: Some(p.size as i64),
                e_tag: Some(etag(p.size, p.modified)),
                last_modified: Some(Timestamp::from(p.modified)),
                ..Default::default()
            });
        }
        let next = parts.last().and_then(|p| p.part_number);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next.filter(|_| truncated),
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            parts: Some(parts),
            ..Default::default()
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let root = self.root(&req)?;
        let input = req.input;
        let bucket = input.bucket.clone();
        let all = run(move || multipart::uploads(&open_bucket(&root, &bucket)?).map_err(internal))
            .await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = max_keys(input.max_uploads);
        let key_marker = input.key_marker.clone().unwrap_or_default();
        let id_marker = input.upload_id_marker.clone().unwrap_or_default();
        let mut uploads = Vec::new();
        let mut truncated = false;
        for u in all {
            let after_marker = key_marker.is_empty()
                || u.key > key_marker
                || (u.key == key_marker && !id_marker.is_empty() && u.id > id_marker);
            if !u.key.starts_with(&prefix) || !after_marker {
                continue;
            }
            if uploads.len() >= max {
                truncated = true;
                break;
            }
            uploads.push(MultipartUpload {
                key: Some(u.key),
                upload_id: Some(u.id),
                initiated: Some(Timestamp::from(u.initiated)),
                ..Default::default()
            });
        }
        let last = uploads
            .last()
            .map(|u: &MultipartUpload| (u.key.clone(), u.upload_id.clone()));
        let (next_key, next_id) = match last.filter(|_| truncated) {
            Some((k, i)) => (k, i),
            None => (None, None),
        };
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: Some(prefix),
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            next_key_marker: next_key,
            next_upload_id_marker: next_id,
            max_uploads: Some(max as i32),
            is_truncated: Some(truncated),
            uploads: Some(uploads),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let root = self.root(&req)?;
        let project = self.project(&req)?;
        let input = req.input;
        check_key(&input.key)?;
        crate::storage::quota::check_s3(&self.storage, &project, None)?;
        // The parts the client lists, in its order; none listed: every part, by number.
        let listed: Vec<i32> = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p.part_number)
            .collect();
        let (bucket, key, id) = (
            input.bucket.clone(),
            input.key.clone(),
            input.upload_id.clone(),
        );
        let (size, modified) = run(move || {
            let b = open_bucket(&root, &bucket)?;
            let upload = open_upload(&b, &id, &key)?;
            let numbers = if listed.is_empty() {
                multipart::parts(&upload)
                    .map_err(internal)?
                    .iter()
                    .map(|p| p.number)
                    .collect()
            } else {
                listed
            };
            let (parent, leaf) = split_key(&key);
            let dir = b
                .create_dir_all(parent)
                .map_err(|e| parent_error(e, &key))?;
            let tmp = temp_name();
            let tmp = OsStr::new(&tmp);
            let mut out = dir.create_new(tmp).map_err(internal)?;
            let joined = (|| {
                let mut size = 0u64;
                for n in &numbers {
                    let mut part = upload
                        .open_file(Path::new(&n.to_string()))
                        .map_err(|_| s3_error!(InvalidPart, "part {n} was not uploaded"))?;
                    size += io::copy(&mut part, &mut out).map_err(internal)?;
                }
                let modified = out
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                Ok::<_, s3s::S3Error>((size, modified))
            })();
            let done = joined.and_then(|w| {
                dir.rename(tmp, leaf).map(|()| w).map_err(|e| {
                    if beneath::is_dir(&e) {
                        s3_error!(InvalidArgument, "{key:?} is a folder")
                    } else {
                        internal(e)
                    }
                })
            });
            if done.is_err() {
                let _ = dir.remove_file(tmp);
                return done;
            }
            if let Ok(mp) = b.open_dir(Path::new(MULTIPART_DIR)) {
                let _ = mp.remove_dir_all(OsStr::new(&id));
            }
            multipart::tidy(&b);
            done
        })
        .await?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(etag(size, modified)),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let root = self.root(&req)?;
        let input = req.input;
        let (bucket, key, id) = (input.bucket, input.key, input.upload_id);
        run(move || {
            let b = open_bucket(&root, &bucket)?;
            open_upload(&b, &id, &key)?;
            b.open_dir(Path::new(MULTIPART_DIR))
                .and_then(|mp| mp.remove_dir_all(OsStr::new(&id)))
                .map_err(upload_error)?;
            multipart::tidy(&b);
            Ok(())
        })
        .await?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let root = self.root(&req)?;
        let (bucket, key) = (req.input.bucket, req.input.key);
        run(move || {
            let b = open_bucket(&root, &bucket)?;
            check_key(&key)?;
            remove_object(&b, &key)
        })
        .await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let root = self.root(&req)?;
        let bucket = req.input.bucket;
        let keys: Vec<String> = req
            .input
            .delete
            .objects
            .into_iter()
            .map(|o| o.key)
            .collect();
        let deleted = run(move || {
            let b = open_bucket(&root, &bucket)?;
            let mut deleted = Vec::new();
            for key in keys {
                check_key(&key)?;
                remove_object(&b, &key)?;
                deleted.push(DeletedObject {
                    key: Some(key),
                    ..Default::default()
                });
            }
            Ok(deleted)
        })
        .await?;
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            ..Default::default()
        }))
    }
}

fn mime_octets() -> s3s::dto::ContentType {
    "application/octet-stream"
        .parse()
        .expect("a valid media type")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(keys: &[&str]) -> Vec<Entry> {
        keys.iter()
            .map(|k| Entry {
                key: (*k).into(),
                size: 1,
                modified: SystemTime::UNIX_EPOCH,
            })
            .collect()
    }

    fn keys(p: &Page) -> (Vec<String>, Vec<String>) {
        (
            p.objects.iter().filter_map(|o| o.key.clone()).collect(),
            p.prefixes.iter().filter_map(|c| c.prefix.clone()).collect(),
        )
    }

    #[test]
    fn listing_folds_at_the_delimiter_and_pages() {
        let all = ["a/1", "a/2", "b", "c/d/e", "c/f"];
        let p = page(entries(&all), "", Some("/"), None, 1000);
        assert_eq!(keys(&p), (vec!["b".into()], vec!["a/".into(), "c/".into()]));
        let p = page(entries(&all), "c/", Some("/"), None, 1000);
        assert_eq!(keys(&p), (vec!["c/f".into()], vec!["c/d/".into()]));
        let p = page(entries(&all), "", None, None, 2);
        assert!(p.truncated);
        assert_eq!(p.last.as_deref(), Some("a/2"));
        let p = page(entries(&all), "", None, Some("a/2"), 2);
        assert_eq!(keys(&p).0, vec!["b".to_string(), "c/d/e".into()]);
        let p = page(entries(&all), "", Some("/"), Some("a/"), 1000);
        assert_eq!(keys(&p), (vec!["b".into()], vec!["c/".into()]));
    }

    #[test]
    fn keys_and_buckets_are_plain_paths() {
        assert!(check_key("a/b.txt").is_ok());
        assert!(check_key("dir/").is_ok());
        for bad in ["", "/", "../x", "a/../b", "a//b", "./a", "a\\b", "a\0b"] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        assert!(check_bucket("bucket-1.x_y").is_ok());
        for bad in ["", ".", "..", "a/b", "a b"] {
            assert!(check_bucket(bad).is_err(), "{bad:?}");
        }
    }
}
