//! The OBS/S3-compatible endpoint over project storage, so `obs_endpoint` (the official SDK's
//! `session.obs`), `aws s3` and boto3 can point at trainyard.
//!
//! The S3 protocol (request routing, SigV2 and SigV4 checks, XML bodies, errors) is the `s3s`
//! crate's; this module only maps its operations onto [`Storage`]. A request is signed with one of
//! the project's access keys, and that key decides the project: the project's top-level folders
//! are its buckets, object keys are paths below them (path-style addressing). One project never
//! sees another's folders, and keys are resolved by [`Storage::resolve`], which refuses `..` and
//! symlinks leading out.
//!
//! It shares the API's port: requests signed the S3 way (`Authorization: AWS ...`,
//! `AWS4-HMAC-SHA256 ...` or presigned query parameters) go to this endpoint, everything else to
//! the ModelArts API (whose own signature is `SDK-HMAC-SHA256`). Temporary keys from
//! `POST /v3.0/OS-CREDENTIAL/securitytokens` (the official SDK's account modes) are accepted
//! here until their token expires.

use crate::identity::Identity;
use crate::storage::{PathError, Storage};
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, Bucket, CommonPrefix,
    CompleteMultipartUploadInput, CompleteMultipartUploadOutput, CreateBucketInput,
    CreateBucketOutput, CreateMultipartUploadInput, CreateMultipartUploadOutput, DeleteBucketInput,
    DeleteBucketOutput, DeleteObjectInput, DeleteObjectOutput, DeleteObjectsInput,
    DeleteObjectsOutput, DeletedObject, ETag, GetBucketLocationInput, GetBucketLocationOutput,
    GetObjectInput, GetObjectOutput, HeadBucketInput, HeadBucketOutput, HeadObjectInput,
    HeadObjectOutput, ListBucketsInput, ListBucketsOutput, ListObjectsInput, ListObjectsOutput,
    ListObjectsV2Input, ListObjectsV2Output, Object, PutObjectInput, PutObjectOutput,
    StreamingBlob, Timestamp, UploadPartInput, UploadPartOutput,
};
use s3s::{s3_error, S3Request, S3Response, S3Result};
use std::convert::Infallible;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Most keys one list answer holds (S3's default and ceiling).
const MAX_KEYS: usize = 1000;

/// Read size of object bodies.
const CHUNK: usize = 64 * 1024;

/// The S3 service over `storage`, authenticated with the projects' access keys.
pub fn service(identity: Arc<Identity>, storage: Storage) -> s3s::service::S3Service {
    let mut builder = s3s::service::S3ServiceBuilder::new(ObsStore {
        identity: identity.clone(),
        storage,
    });
    builder.set_auth(ObsAuth { identity });
    builder.build()
}

/// Whether a request is signed the S3 way (header or presigned URL), so belongs to this
/// endpoint rather than to the ModelArts API.
pub fn is_s3_request<B>(req: &http::Request<B>) -> bool {
    let signed_header = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.starts_with("AWS ") || a.starts_with("AWS4-HMAC-SHA256 "));
    let presigned = req.uri().query().is_some_and(|q| {
        q.split('&').any(|kv| {
            let name = kv.split('=').next().unwrap_or("");
            name.eq_ignore_ascii_case("X-Amz-Signature") || name == "AWSAccessKeyId"
        })
    });
    signed_header || presigned
}

/// The API's service with this endpoint in front: S3-signed requests go to `s3`.
#[derive(Clone)]
pub struct Dispatch<S> {
    s3: s3s::service::S3Service,
    api: S,
}

impl<S> Dispatch<S> {
    /// `api` behind the S3 endpoint `s3`.
    pub fn new(s3: s3s::service::S3Service, api: S) -> Self {
        Self { s3, api }
    }
}

impl<S> tower::Service<Request> for Dispatch<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = futures_util::future::BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.api.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if !is_s3_request(&req) {
            return Box::pin(self.api.call(req));
        }
        let s3 = self.s3.clone();
        Box::pin(async move {
            let req = req.map(s3s::Body::http_body_unsync);
            let resp = match s3.call(req).await {
                Ok(resp) => resp.map(axum::body::Body::new),
                Err(err) => {
                    tracing::warn!(error = ?err, "S3 request failed");
                    let mut resp = Response::new(axum::body::Body::empty());
                    *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                    resp
                }
            };
            Ok(resp)
        })
    }
}

/// Secret keys of the projects' access keys.
struct ObsAuth {
    identity: Arc<Identity>,
}

#[async_trait::async_trait]
impl s3s::auth::S3Auth for ObsAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<s3s::auth::SecretKey> {
        match self.identity.any_access_key(access_key, SystemTime::now()) {
            Some((_, secret)) => Ok(String::from_utf8_lossy(&secret).into_owned().into()),
            None => Err(s3_error!(InvalidAccessKeyId)),
        }
    }
}

/// Buckets and objects of the caller's project, as folders and files.
struct ObsStore {
    identity: Arc<Identity>,
    storage: Storage,
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

/// Names of the endpoint's own files in a bucket folder, never listed as objects.
const HIDDEN_PREFIX: &str = ".trainyard-";

/// Where the parts of a bucket's multipart uploads wait, one folder per upload.
const MULTIPART_DIR: &str = ".trainyard-multipart";

/// An upload id we made (hex), so it is a plain folder name.
fn check_upload_id(id: &str) -> S3Result<()> {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(s3_error!(NoSuchUpload))
    }
}

/// All files below `dir`, keys relative to it with `/`, sorted (S3 lists in byte order).
/// Symlinks are not followed.
fn walk(dir: &Path) -> io::Result<Vec<Entry>> {
    fn visit(dir: &Path, rel: &str, out: &mut Vec<Entry>) -> io::Result<()> {
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for e in rd {
            let e = e?;
            let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if name.starts_with(HIDDEN_PREFIX) {
                // Our own: a put being written, the parts of a multipart upload.
                continue;
            }
            let key = format!("{rel}{name}");
            let meta = e.metadata()?;
            if meta.is_dir() {
                visit(&e.path(), &format!("{key}/"), out)?;
            } else if meta.is_file() {
                out.push(Entry {
                    key,
                    size: meta.len(),
                    modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                });
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

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> S3Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(internal)?
        .map_err(internal)
}

impl ObsStore {
    /// The caller's project (the default access check has already refused unsigned requests).
    fn project<T>(&self, req: &S3Request<T>) -> S3Result<String> {
        req.credentials
            .as_ref()
            .and_then(|c| {
                self.identity
                    .any_access_key(&c.access_key, SystemTime::now())
            })
            .map(|(project, _)| project)
            .ok_or_else(|| s3_error!(AccessDenied, "Signature is required"))
    }

    /// The folder of an existing bucket.
    async fn bucket_dir(&self, project: &str, bucket: &str) -> S3Result<PathBuf> {
        check_bucket(bucket)?;
        let dir = self.storage.resolve(project, bucket).map_err(path_error)?;
        match tokio::fs::metadata(&dir).await {
            Ok(m) if m.is_dir() => Ok(dir),
            Ok(_) => Err(s3_error!(NoSuchBucket)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(s3_error!(NoSuchBucket)),
            Err(e) => Err(internal(e)),
        }
    }

    /// Makes a bucket's folder if it is not there: writing into a bucket creates it, because
    /// scripts assume the buckets of their cloud exist, and here a bucket is only a folder.
    async fn create_bucket_dir(&self, project: &str, bucket: &str) -> S3Result<()> {
        check_bucket(bucket)?;
        let dir = self.storage.resolve(project, bucket).map_err(path_error)?;
        tokio::fs::create_dir_all(&dir).await.map_err(internal)
    }

    /// The folder of the parts of multipart upload `id` in an existing bucket.
    async fn upload_dir(&self, project: &str, bucket: &str, id: &str) -> S3Result<PathBuf> {
        check_upload_id(id)?;
        Ok(self
            .bucket_dir(project, bucket)
            .await?
            .join(MULTIPART_DIR)
            .join(id))
    }

    /// The path of `key` in an existing bucket.
    async fn object_path(&self, project: &str, bucket: &str, key: &str) -> S3Result<PathBuf> {
        self.bucket_dir(project, bucket).await?;
        check_key(key)?;
        self.storage
            .resolve(project, &format!("{bucket}/{key}"))
            .map_err(path_error)
    }

    async fn list(
        &self,
        project: &str,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&str>,
        max: usize,
    ) -> S3Result<Page> {
        let dir = self.bucket_dir(project, bucket).await?;
        let entries = blocking(move || walk(&dir)).await?;
        Ok(page(entries, prefix, delimiter, after, max))
    }
}

#[async_trait::async_trait]
impl s3s::S3 for ObsStore {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let project = self.project(&req)?;
        // With an object store behind paths there are no local buckets to list.
        if self.storage.objects().is_some() {
            return Err(path_error(PathError::NotLocal("/".into())));
        }
        let root = self.storage.project_root(&project).map_err(internal)?;
        let buckets = blocking(move || {
            let mut out = Vec::new();
            for e in std::fs::read_dir(root)? {
                let e = e?;
                let meta = e.metadata()?;
                match e.file_name().to_str() {
                    Some(name) if meta.is_dir() && check_bucket(name).is_ok() => out.push(Bucket {
                        name: Some(name.to_owned()),
                        creation_date: meta.modified().ok().map(Timestamp::from),
                        ..Default::default()
                    }),
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
        let project = self.project(&req)?;
        let bucket = &req.input.bucket;
        check_bucket(bucket)?;
        let dir = self.storage.resolve(&project, bucket).map_err(path_error)?;
        match tokio::fs::create_dir(&dir).await {
            Ok(()) => Ok(S3Response::new(CreateBucketOutput {
                location: Some(format!("/{bucket}")),
            })),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(s3_error!(BucketAlreadyOwnedByYou))
            }
            Err(e) => Err(internal(e)),
        }
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let project = self.project(&req)?;
        let dir = self.bucket_dir(&project, &req.input.bucket).await?;
        match tokio::fs::remove_dir(&dir).await {
            Ok(()) => Ok(S3Response::new(DeleteBucketOutput {})),
            Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => {
                Err(s3_error!(BucketNotEmpty))
            }
            Err(e) => Err(internal(e)),
        }
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let project = self.project(&req)?;
        self.bucket_dir(&project, &req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let project = self.project(&req)?;
        self.bucket_dir(&project, &req.input.bucket).await?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let project = self.project(&req)?;
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = max_keys(input.max_keys);
        let page = self
            .list(
                &project,
                &input.bucket,
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
        let project = self.project(&req)?;
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
                &project,
                &input.bucket,
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
        let project = self.project(&req)?;
        let path = self
            .object_path(&project, &req.input.bucket, &req.input.key)
            .await?;
        let meta = file_meta(&path, &req.input.key).await?;
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(meta.len() as i64),
            e_tag: Some(etag(meta.len(), modified)),
            last_modified: Some(Timestamp::from(modified)),
            content_type: Some(mime_octets()),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let project = self.project(&req)?;
        let path = self
            .object_path(&project, &req.input.bucket, &req.input.key)
            .await?;
        let meta = file_meta(&path, &req.input.key).await?;
        let len = meta.len();
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let range = match &req.input.range {
            Some(r) => Some(r.check(len).map_err(|_| s3_error!(InvalidRange))?),
            None => None,
        };
        let (start, end) = range.as_ref().map_or((0, len), |r| (r.start, r.end));
        let mut file = tokio::fs::File::open(&path).await.map_err(internal)?;
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
        let project = self.project(&req)?;
        let input = req.input;
        crate::service::quota::check_s3(&self.storage, &project, input.content_length)?;
        self.create_bucket_dir(&project, &input.bucket).await?;
        let path = self
            .object_path(&project, &input.bucket, &input.key)
            .await?;
        if input.key.ends_with('/') {
            // A folder marker (what consoles create for "new folder").
            tokio::fs::create_dir_all(&path).await.map_err(internal)?;
            return Ok(S3Response::new(PutObjectOutput::default()));
        }
        let parent = path.parent().ok_or_else(|| s3_error!(InvalidArgument))?;
        tokio::fs::create_dir_all(parent).await.map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists || e.kind() == io::ErrorKind::NotADirectory
            {
                s3_error!(InvalidArgument, "a parent of {:?} is a file", input.key)
            } else {
                internal(e)
            }
        })?;
        // Written beside the target and renamed over it: readers see the old or the new file.
        let tmp = parent.join(format!(
            "{HIDDEN_PREFIX}upload-{:016x}",
            rand::random::<u64>()
        ));
        let written = write_body(&tmp, input.body).await?;
        if let Err(e) = tokio::fs::rename(&tmp, &path).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(if e.kind() == io::ErrorKind::IsADirectory {
                s3_error!(InvalidArgument, "{:?} is a folder", input.key)
            } else {
                internal(e)
            });
        }
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag_of(&path, written).await),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let project = self.project(&req)?;
        let input = req.input;
        self.create_bucket_dir(&project, &input.bucket).await?;
        self.object_path(&project, &input.bucket, &input.key)
            .await?;
        let id = format!("{:032x}", rand::random::<u128>());
        let dir = self.upload_dir(&project, &input.bucket, &id).await?;
        tokio::fs::create_dir_all(&dir).await.map_err(internal)?;
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
        let project = self.project(&req)?;
        let input = req.input;
        crate::service::quota::check_s3(&self.storage, &project, input.content_length)?;
        if !(1..=10_000).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "part number must be in 1..=10000"
            ));
        }
        let dir = self
            .upload_dir(&project, &input.bucket, &input.upload_id)
            .await?;
        if !tokio::fs::try_exists(&dir).await.unwrap_or(false) {
            return Err(s3_error!(NoSuchUpload));
        }
        let part = dir.join(input.part_number.to_string());
        let tmp = dir.join(format!("{HIDDEN_PREFIX}{:016x}", rand::random::<u64>()));
        let written = write_body(&tmp, input.body).await?;
        tokio::fs::rename(&tmp, &part).await.map_err(internal)?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(etag_of(&part, written).await),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let project = self.project(&req)?;
        let input = req.input;
        crate::service::quota::check_s3(&self.storage, &project, None)?;
        let dir = self
            .upload_dir(&project, &input.bucket, &input.upload_id)
            .await?;
        let path = self
            .object_path(&project, &input.bucket, &input.key)
            .await?;
        // The parts the client lists, in its order; none listed: every part, by number.
        let mut numbers: Vec<i32> = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p.part_number)
            .collect();
        if numbers.is_empty() {
            let mut rd = tokio::fs::read_dir(&dir)
                .await
                .map_err(|_| s3_error!(NoSuchUpload))?;
            while let Some(e) = rd.next_entry().await.map_err(internal)? {
                if let Some(n) = e.file_name().to_str().and_then(|n| n.parse().ok()) {
                    numbers.push(n);
                }
            }
            numbers.sort_unstable();
        }
        let parent = path.parent().ok_or_else(|| s3_error!(InvalidArgument))?;
        tokio::fs::create_dir_all(parent).await.map_err(internal)?;
        let tmp = parent.join(format!(
            "{HIDDEN_PREFIX}upload-{:016x}",
            rand::random::<u64>()
        ));
        let joined = async {
            let mut out = tokio::fs::File::create(&tmp).await.map_err(internal)?;
            let mut size = 0u64;
            for n in &numbers {
                let mut part = tokio::fs::File::open(dir.join(n.to_string()))
                    .await
                    .map_err(|_| s3_error!(InvalidPart, "part {n} was not uploaded"))?;
                size += tokio::io::copy(&mut part, &mut out)
                    .await
                    .map_err(internal)?;
            }
            out.flush().await.map_err(internal)?;
            Ok::<u64, s3s::S3Error>(size)
        }
        .await;
        let size = match joined {
            Ok(size) => size,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        if let Err(e) = tokio::fs::rename(&tmp, &path).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(internal(e));
        }
        let _ = tokio::fs::remove_dir_all(&dir).await;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(etag_of(&path, size).await),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let project = self.project(&req)?;
        let input = req.input;
        let dir = self
            .upload_dir(&project, &input.bucket, &input.upload_id)
            .await?;
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(S3Response::new(AbortMultipartUploadOutput::default())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(s3_error!(NoSuchUpload)),
            Err(e) => Err(internal(e)),
        }
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let project = self.project(&req)?;
        let bucket_dir = self.bucket_dir(&project, &req.input.bucket).await?;
        let path = self
            .object_path(&project, &req.input.bucket, &req.input.key)
            .await?;
        blocking(move || remove_object(&bucket_dir, &path)).await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let project = self.project(&req)?;
        let bucket = req.input.bucket;
        let bucket_dir = self.bucket_dir(&project, &bucket).await?;
        let mut deleted = Vec::new();
        for id in req.input.delete.objects {
            let path = self.object_path(&project, &bucket, &id.key).await?;
            let dir = bucket_dir.clone();
            blocking(move || remove_object(&dir, &path)).await?;
            deleted.push(DeletedObject {
                key: Some(id.key),
                ..Default::default()
            });
        }
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

/// Metadata of a file object (a folder or nothing there is `NoSuchKey`).
async fn file_meta(path: &Path, key: &str) -> S3Result<std::fs::Metadata> {
    match tokio::fs::metadata(path).await {
        Ok(m) if m.is_file() => Ok(m),
        Ok(_) => Err(s3_error!(NoSuchKey, "{key}")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(s3_error!(NoSuchKey, "{key}")),
        Err(e) => Err(internal(e)),
    }
}

/// The ETag of a file just written: its size and modification time.
async fn etag_of(path: &Path, size: u64) -> ETag {
    let modified = tokio::fs::metadata(path)
        .await
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    etag(size, modified)
}

/// Writes `body` to a new file at `path`; on failure the partial file is removed.
async fn write_body(path: &Path, body: Option<StreamingBlob>) -> S3Result<u64> {
    let written = write_body_once(path, body).await;
    if written.is_err() {
        let _ = tokio::fs::remove_file(path).await;
    }
    written
}

async fn write_body_once(path: &Path, body: Option<StreamingBlob>) -> S3Result<u64> {
    let mut file = tokio::fs::File::create(path).await.map_err(internal)?;
    let mut written = 0u64;
    if let Some(mut body) = body {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| s3_error!(IncompleteBody, "{e}"))?;
            file.write_all(&chunk).await.map_err(internal)?;
            written += chunk.len() as u64;
        }
    }
    file.flush().await.map_err(internal)?;
    Ok(written)
}

/// Removes a file (nothing there is fine, as in S3), then the folders it leaves empty up to
/// the bucket's.
fn remove_object(bucket_dir: &Path, path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            // A folder marker: only an empty folder goes.
            let _ = std::fs::remove_dir(path);
        }
        Ok(_) => std::fs::remove_file(path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == bucket_dir || !d.starts_with(bucket_dir) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
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
