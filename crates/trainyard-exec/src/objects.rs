//! Job folders in an S3-compatible object store (`[storage] backend = "s3"`): a folder of a
//! bucket is fetched into a local folder before a run, and a local folder is uploaded to one
//! while and after it runs. The server uses it for code snapshots and the shim for data,
//! outputs and logs (on a Slurm node too), so every backend moves data the same way.
//!
//! Data folders are fetched into a cache keyed by the listed objects' keys, sizes and ETags:
//! versions reading the same, unchanged objects share one copy, and a changed object makes a
//! new one. Uploads are whole objects (multipart above [`PART_SIZE`]), so a reader never sees
//! a partial file as if complete; each transfer is retried with backoff for a bounded time.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use nix::fcntl::{Flock, FlockArg};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{BackoffConfig, ObjectStore, PutPayload, RetryConfig, WriteMultipart};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::beneath;

/// Files larger than this go up in parts of this size (S3 multipart upload): a large
/// checkpoint is streamed, never held in memory whole, and an interrupted upload is aborted
/// rather than completed short.
pub const PART_SIZE: usize = 8 << 20;

/// Longest pause between two tries of a transfer.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How to reach the object store. `Debug` never shows the secret.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct S3Config {
    /// Endpoint URL of an S3-compatible server; `None` is AWS itself.
    pub endpoint: Option<String>,
    /// Region the requests are signed for.
    pub region: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Path-style addressing (`endpoint/bucket/key`), as MinIO, Ceph and SeaweedFS expect.
    pub path_style: bool,
    /// How long one transfer is retried before it is reported failed.
    pub retry_seconds: u64,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("path_style", &self.path_style)
            .finish_non_exhaustive()
    }
}

/// A folder of a bucket: every object whose key starts with `prefix`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ObjectDir {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix: empty (the whole bucket) or ending with `/`.
    pub prefix: String,
}

impl ObjectDir {
    /// The folder `prefix` of `bucket`; a trailing `/` is added when missing.
    pub fn new(bucket: &str, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/');
        Self {
            bucket: bucket.to_owned(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        }
    }

    /// `s3://bucket/prefix`, as users see it in messages.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    fn prefix_key(&self) -> Option<Key> {
        (!self.prefix.is_empty()).then(|| Key::from(self.prefix.trim_end_matches('/')))
    }

    /// The key of `rel` (a relative local path) in this folder.
    fn key(&self, rel: &Path) -> Key {
        let dir = self.prefix.split('/').filter(|p| !p.is_empty());
        let file = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(p) => p.to_str(),
                _ => None,
            })
            .collect::<Vec<_>>();
        Key::from_iter(dir.chain(file))
    }
}

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The object store refused or could not be reached (after the retries).
    #[error("{url}: {source}")]
    Store {
        /// What was being read or written.
        url: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The local file or folder.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// More bytes than the limit.
    #[error("{url} holds {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// The folder.
        url: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// An upload whose listing afterwards does not show what was sent.
    #[error("{message}")]
    Unverified {
        /// Which object, and what the store holds instead.
        message: String,
    },
    /// An object key that names no plain file below the folder (`..`, empty parts).
    #[error("{url}: the object key {key} cannot be a file name")]
    BadKey {
        /// The folder.
        url: String,
        /// The key.
        key: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ObjectError + '_ {
    move |source| ObjectError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One object below a folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    /// Its key relative to the folder, as a relative local path.
    pub rel: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Its ETag, when the store gives one.
    pub etag: Option<String>,
}

/// One object as a file listing shows it ([`Objects::browse`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectFile {
    /// Its key relative to the folder listed, as a relative local path.
    pub rel: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// When it was last written.
    pub modified: SystemTime,
}

/// An object's bytes as they arrive ([`Objects::open`]).
pub type ObjectBytes =
    futures_util::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>>;

/// What was uploaded from a folder so far: an unchanged file is not sent again.
#[derive(Debug, Default)]
pub struct Uploaded(HashMap<PathBuf, Sent>);

impl Uploaded {
    /// The files of the local folder `src` just fetched from the objects `files` (a restored
    /// checkpoint): each of the same size counts as sent, so it does not go up again.
    pub fn fetched(src: &Path, files: &[Listed]) -> Self {
        let by_rel: HashMap<&Path, &Listed> = files.iter().map(|l| (l.rel.as_path(), l)).collect();
        let mut done = Self::default();
        for (rel, size, modified) in local_files(src).unwrap_or_default() {
            if let Some(l) = by_rel.get(rel.as_path()).filter(|l| l.size == size) {
                let sent = Sent {
                    size,
                    modified,
                    sent: size,
                    etag: l.etag.clone(),
                };
                done.0.insert(rel, sent);
            }
        }
        done
    }
}

/// One file as it went up.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Sent {
    /// Its local size and modification time when it was read.
    size: u64,
    modified: SystemTime,
    /// The bytes sent (the file may have changed between the look and the read).
    sent: u64,
    /// The ETag the store answered with, when it gave one.
    etag: Option<String>,
}

/// What a mirror holds: each object's size and ETag when it was fetched.
#[derive(Debug, Default)]
pub struct Mirrored(HashMap<PathBuf, (u64, Option<String>)>);

/// A client of the object store; one per process, cheap to share.
pub struct Objects {
    config: S3Config,
    /// One client per bucket (object_store binds a client to its bucket).
    stores: Mutex<HashMap<String, Arc<AmazonS3>>>,
}

impl fmt::Debug for Objects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Objects")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Objects {
    /// A client for `config`.
    pub fn new(config: S3Config) -> Self {
        Self {
            config,
            stores: Mutex::new(HashMap::new()),
        }
    }

    fn store(&self, bucket: &str) -> Result<Arc<AmazonS3>, ObjectError> {
        let mut stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = stores.get(bucket) {
            return Ok(s.clone());
        }
        let c = &self.config;
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&c.region)
            .with_access_key_id(&c.access_key)
            .with_secret_access_key(&c.secret_key)
            .with_virtual_hosted_style_request(!c.path_style)
            // One request's own retries stay short; `retrying` below spans an outage.
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: Duration::from_secs(10),
            });
        if let Some(endpoint) = &c.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = Arc::new(builder.build().map_err(|source| ObjectError::Store {
            url: format!("s3://{bucket}/"),
            source,
        })?);
        stores.insert(bucket.to_owned(), store.clone());
        Ok(store)
    }

    /// Runs `op` until it succeeds, fails for good (not found, refused), or the retry time
    /// is over; the pause doubles up to [`MAX_BACKOFF`].
    async fn retrying<T, F, Fut>(&self, url: &str, mut op: F) -> Result<T, ObjectError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ObjectError>>,
    {
        let deadline = Instant::now() + Duration::from_secs(self.config.retry_seconds);
        let mut pause = Duration::from_millis(200);
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if transient(&e) && Instant::now() + pause < deadline => {
                    tracing::warn!(url, error = %e, "object store transfer failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_BACKOFF);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Every object below `dir`, in key order.
    pub async fn list(&self, dir: &ObjectDir) -> Result<Vec<Listed>, ObjectError> {
        Ok(self
            .list_meta(dir)
            .await?
            .into_iter()
            .map(|(rel, meta)| Listed {
                rel,
                size: meta.size,
                etag: meta.e_tag,
            })
            .collect())
    }

    /// Every object below `dir` as a file listing shows it (with its time), in key order; when
    /// no object is below it, the one object `dir` names itself (its `rel` empty), if any.
    pub async fn browse(&self, dir: &ObjectDir) -> Result<Vec<ObjectFile>, ObjectError> {
        let file = |rel: PathBuf, meta: object_store::ObjectMeta| ObjectFile {
            rel,
            size: meta.size,
            modified: meta.last_modified.into(),
        };
        let below = self.list_meta(dir).await?;
        if !below.is_empty() {
            return Ok(below
                .into_iter()
                .map(|(rel, meta)| file(rel, meta))
                .collect());
        }
        let Some(key) = dir.prefix_key() else {
            return Ok(Vec::new());
        };
        let store = self.store(&dir.bucket)?;
        let url = format!("s3://{}/{key}", dir.bucket);
        let (store, key, url_ref) = (&store, &key, &url);
        self.retrying(&url, || async move {
            match store.head(key).await {
                Ok(meta) => Ok(vec![file(PathBuf::new(), meta)]),
                Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
                Err(source) => Err(ObjectError::Store {
                    url: url_ref.to_owned(),
                    source,
                }),
            }
        })
        .await
    }

    /// The bytes of the object that `dir` names (its prefix as a key), chunk by chunk, and its
    /// size; `None` when there is no such object.
    pub async fn open(&self, dir: &ObjectDir) -> Result<Option<(ObjectBytes, u64)>, ObjectError> {
        let Some(key) = dir.prefix_key() else {
            return Ok(None);
        };
        let store = self.store(&dir.bucket)?;
        let url = format!("s3://{}/{key}", dir.bucket);
        let (store, key, url_ref) = (&store, &key, &url);
        self.retrying(&url, || async move {
            match store.get(key).await {
                Ok(got) => {
                    let size = got.meta.size;
                    let stream = got
                        .into_stream()
                        .map(|chunk| chunk.map_err(|e| std::io::Error::other(e.to_string())));
                    Ok(Some((stream.boxed(), size)))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(source) => Err(ObjectError::Store {
                    url: url_ref.to_owned(),
                    source,
                }),
            }
        })
        .await
    }

    /// Every object below `dir` with its metadata, keyed by its path relative to `dir`, in
    /// key order.
    async fn list_meta(
        &self,
        dir: &ObjectDir,
    ) -> Result<Vec<(PathBuf, object_store::ObjectMeta)>, ObjectError> {
        let store = self.store(&dir.bucket)?;
        let prefix = dir.prefix_key();
        let url = dir.url();
        let (store, prefix, url_ref) = (&store, &prefix, &url);
        self.retrying(&url, || async move {
            let url = url_ref;
            let mut stream = store.list(prefix.as_ref());
            let mut out = Vec::new();
            while let Some(meta) = stream.next().await {
                let meta = meta.map_err(|source| ObjectError::Store {
                    url: url.to_owned(),
                    source,
                })?;
                let key = meta.location.as_ref();
                let rel = key.strip_prefix(dir.prefix.as_str()).unwrap_or(key);
                let rel = local_rel(rel).ok_or_else(|| ObjectError::BadKey {
                    url: url.to_owned(),
                    key: key.to_owned(),
                })?;
                out.push((rel, meta));
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        })
        .await
    }

    /// Whether the object `rel` of `dir` exists.
    pub async fn exists(&self, dir: &ObjectDir, rel: &Path) -> Result<bool, ObjectError> {
        let store = self.store(&dir.bucket)?;
        let key = dir.key(rel);
        let url = format!("s3://{}/{key}", dir.bucket);
        let (store, key, url_ref) = (&store, &key, &url);
        self.retrying(&url, || async move {
            match store.head(key).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(source) => Err(ObjectError::Store {
                    url: url_ref.to_owned(),
                    source,
                }),
            }
        })
        .await
    }

    /// Downloads every object below `dir` into `dest` (created), refusing more than `limit`
    /// bytes in all; returns the bytes written.
    pub async fn download(
        &self,
        dir: &ObjectDir,
        dest: &Path,
        limit: u64,
    ) -> Result<u64, ObjectError> {
        let listed = self.list(dir).await?;
        self.download_listed(dir, &listed, dest, limit).await
    }

    async fn download_listed(
        &self,
        dir: &ObjectDir,
        listed: &[Listed],
        dest: &Path,
        limit: u64,
    ) -> Result<u64, ObjectError> {
        let size = within(dir, listed, limit)?;
        std::fs::create_dir_all(dest).map_err(io_error(dest))?;
        for item in listed {
            self.fetch_one(dir, &item.rel, dest).await?;
        }
        Ok(size)
    }

    /// The objects below `dir` as a local folder in the cache at `cache` (at most `limit`
    /// bytes in all): an entry with the same keys, sizes and ETags is reused, else one is
    /// fetched, making room by removing the least recently used entries nobody is using.
    pub async fn fetch_cached(
        &self,
        dir: &ObjectDir,
        cache: &Path,
        limit: u64,
    ) -> Result<CacheEntry, ObjectError> {
        let listed = self.list(dir).await?;
        let size = within(dir, &listed, limit)?;
        std::fs::create_dir_all(cache).map_err(io_error(cache))?;
        let name = cache_key(dir, &listed);
        let entry = cache.join(&name);
        // Held shared while the entry is in use; eviction needs it exclusively.
        let lock = lock_file(&cache.join(format!("{name}.lock")), FlockArg::LockShared)?
            .expect("a blocking lock is always taken");
        if entry.is_dir() {
            touch(&cache.join(format!("{name}.lock")));
            return Ok(CacheEntry {
                dir: entry,
                reused: true,
                _lock: lock,
            });
        }
        evict(cache, &name, limit.saturating_sub(size))?;
        let partial = cache.join(format!(".partial-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        let fetched = self.download_listed(dir, &listed, &partial, limit).await;
        if let Err(e) = fetched {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
        if std::fs::rename(&partial, &entry).is_err() {
            // Another run fetched the same objects meanwhile: theirs is as good.
            let _ = std::fs::remove_dir_all(&partial);
        }
        Ok(CacheEntry {
            dir: entry,
            reused: false,
            _lock: lock,
        })
    }

    /// Brings the local folder `dest` up to date with `dir` (at most `limit` bytes): fetches
    /// the objects that are new or changed since `state` saw them, each file replaced whole;
    /// returns how many were fetched. Used for folders that keep growing while they are read
    /// (a visualization job's event files).
    pub async fn mirror(
        &self,
        dir: &ObjectDir,
        dest: &Path,
        limit: u64,
        state: &mut Mirrored,
    ) -> Result<usize, ObjectError> {
        let listed = self.list(dir).await?;
        within(dir, &listed, limit)?;
        std::fs::create_dir_all(dest).map_err(io_error(dest))?;
        let mut fetched = 0;
        for item in listed {
            let seen = (item.size, item.etag.clone());
            if state.0.get(&item.rel) == Some(&seen) {
                continue;
            }
            self.fetch_one(dir, &item.rel, dest).await?;
            state.0.insert(item.rel, seen);
            fetched += 1;
        }
        Ok(fetched)
    }

    /// Downloads the object `rel` of `dir` to `dest/rel`, whole or not at all, retried.
    async fn fetch_one(&self, dir: &ObjectDir, rel: &Path, dest: &Path) -> Result<(), ObjectError> {
        let store = self.store(&dir.bucket)?;
        let key = dir.key(rel);
        let url = format!("s3://{}/{key}", dir.bucket);
        let path = dest.join(rel);
        self.retrying(&url, || get_file(&store, &key, &url, &path))
            .await
    }

    /// Removes the objects below `dir` but those whose relative key is in `keep`; returns how
    /// many were removed.
    pub async fn remove_except(
        &self,
        dir: &ObjectDir,
        keep: &std::collections::HashSet<PathBuf>,
    ) -> Result<usize, ObjectError> {
        let store = self.store(&dir.bucket)?;
        let mut removed = 0;
        for item in self.list(dir).await? {
            if keep.contains(&item.rel) {
                continue;
            }
            let key = dir.key(&item.rel);
            let url = format!("s3://{}/{key}", dir.bucket);
            let (store, key_ref, url_ref) = (&store, &key, &url);
            self.retrying(&url, || async move {
                store
                    .delete(key_ref)
                    .await
                    .map_err(|source| ObjectError::Store {
                        url: url_ref.to_owned(),
                        source,
                    })
            })
            .await?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Uploads the files below `src` that changed since `done` saw them to `dir`, but those
    /// whose name ends with one of `exclude` (one ending with `/` is a leading folder: a
    /// file below it stays); returns how many went up. A folder that does not exist uploads
    /// nothing.
    pub async fn upload(
        &self,
        src: &Path,
        dir: &ObjectDir,
        exclude: &[String],
        done: &mut Uploaded,
    ) -> Result<usize, ObjectError> {
        let files = local_files(src)?;
        let mut sent = 0;
        for (rel, size, modified) in files {
            let name = rel.to_string_lossy();
            let excluded = exclude.iter().any(|x| match x.strip_suffix('/') {
                Some(folder) => rel.starts_with(folder),
                None => name.ends_with(x.as_str()),
            });
            let seen = done.0.get(&rel);
            if excluded || seen.is_some_and(|s| (s.size, s.modified) == (size, modified)) {
                continue;
            }
            self.upload_one(src, dir, rel, size, modified, done).await?;
            sent += 1;
        }
        Ok(sent)
    }

    async fn upload_one(
        &self,
        src: &Path,
        dir: &ObjectDir,
        rel: PathBuf,
        size: u64,
        modified: SystemTime,
        done: &mut Uploaded,
    ) -> Result<(), ObjectError> {
        let store = self.store(&dir.bucket)?;
        let key = dir.key(&rel);
        let url = format!("s3://{}/{key}", dir.bucket);
        let path = src.join(&rel);
        let (sent, etag) = self
            .retrying(&url, || {
                // Opened beneath `src` for every try, never by its path: a link the job
                // swapped in since the listing fails the open instead of being read.
                let file = open_beneath(src, &rel);
                let (store, path, key, url) = (&store, &path, &key, &url);
                async move { put_file(store, file?, path, key, url, size).await }
            })
            .await?;
        done.0.insert(
            rel,
            Sent {
                size,
                modified,
                sent,
                etag,
            },
        );
        Ok(())
    }

    /// Uploads the folder `src` to `dir` as a checkpoint (what changed since `done` saw it),
    /// then lists `dir` and checks that every file of `src` stands there as it was sent (its
    /// size, and its ETag where the store answered one): the verified checkpoint, every file
    /// of `src` by relative path. A file missing or different in the listing is an
    /// [`ObjectError::Unverified`].
    pub async fn upload_verified(
        &self,
        src: &Path,
        dir: &ObjectDir,
        done: &mut Uploaded,
    ) -> Result<Vec<Listed>, ObjectError> {
        self.upload(src, dir, &[], done).await?;
        // The files of this pass: ones removed since an earlier pass are no longer part of it.
        let now: std::collections::HashSet<PathBuf> =
            local_files(src)?.into_iter().map(|f| f.0).collect();
        done.0.retain(|rel, _| now.contains(rel));
        let listed: HashMap<PathBuf, Listed> = self
            .list(dir)
            .await?
            .into_iter()
            .map(|l| (l.rel.clone(), l))
            .collect();
        let mut verified = Vec::new();
        let mut wrong = None;
        for (rel, sent) in &done.0 {
            let found = match listed.get(rel) {
                Some(l) => Some(self.with_etag(dir, l.clone()).await?),
                None => None,
            };
            match found {
                Some(l) if l.size == sent.sent && same_etag(&l.etag, &sent.etag) => {
                    verified.push(l);
                }
                _ => {
                    let what = match found {
                        None => "is missing".to_owned(),
                        Some(l) => format!(
                            "holds {} bytes (ETag {}), not the {} bytes sent (ETag {})",
                            l.size,
                            l.etag.as_deref().unwrap_or("-"),
                            sent.sent,
                            sent.etag.as_deref().unwrap_or("-")
                        ),
                    };
                    let url = format!("s3://{}/{}", dir.bucket, dir.key(rel));
                    wrong = Some((rel.clone(), format!("{url} {what}")));
                    break;
                }
            }
        }
        if let Some((rel, message)) = wrong {
            // Sent again by the next pass.
            done.0.remove(&rel);
            return Err(ObjectError::Unverified { message });
        }
        verified.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(verified)
    }

    /// `listed` with its ETag: a store whose listing gives none (s3s-fs) is asked for it
    /// (HEAD).
    async fn with_etag(&self, dir: &ObjectDir, mut listed: Listed) -> Result<Listed, ObjectError> {
        if listed.etag.is_some() {
            return Ok(listed);
        }
        let store = self.store(&dir.bucket)?;
        let key = dir.key(&listed.rel);
        let url = format!("s3://{}/{key}", dir.bucket);
        let (store, key, url_ref) = (&store, &key, &url);
        listed.etag = self
            .retrying(&url, || async move {
                store
                    .head(key)
                    .await
                    .map(|meta| meta.e_tag)
                    .map_err(|source| ObjectError::Store {
                        url: url_ref.to_owned(),
                        source,
                    })
            })
            .await?;
        Ok(listed)
    }

    /// Downloads the objects `files` of `dir` into `dest` (created), each checked first
    /// against the listing: an object whose size or ETag changed since it was listed in
    /// `files` is not fetched. Returns the files that were not, with what they hold now.
    pub async fn restore(
        &self,
        dir: &ObjectDir,
        files: &[Listed],
        dest: &Path,
    ) -> Result<Vec<String>, ObjectError> {
        std::fs::create_dir_all(dest).map_err(io_error(dest))?;
        let listed: HashMap<PathBuf, Listed> = self
            .list(dir)
            .await?
            .into_iter()
            .map(|l| (l.rel.clone(), l))
            .collect();
        let mut changed = Vec::new();
        for want in files {
            let found = match listed.get(&want.rel) {
                Some(l) => Some(self.with_etag(dir, l.clone()).await?),
                None => None,
            };
            match found {
                Some(l) if l.size == want.size && same_etag(&l.etag, &want.etag) => {
                    self.fetch_one(dir, &want.rel, dest).await?;
                }
                Some(_) => changed.push(format!("{} changed", want.rel.display())),
                None => changed.push(format!("{} is missing", want.rel.display())),
            }
        }
        Ok(changed)
    }
}

/// A cache entry in use: the folder, held until this is dropped.
#[derive(Debug)]
pub struct CacheEntry {
    /// The fetched folder.
    pub dir: PathBuf,
    /// Whether it was there already.
    pub reused: bool,
    _lock: Flock<File>,
}

/// The bytes `listed` holds, unless more than `limit`.
fn within(dir: &ObjectDir, listed: &[Listed], limit: u64) -> Result<u64, ObjectError> {
    let size: u64 = listed.iter().map(|l| l.size).sum();
    if size > limit {
        return Err(ObjectError::TooLarge {
            url: dir.url(),
            size,
            limit,
        });
    }
    Ok(size)
}

/// Whether two ETags agree: equal, or one of them unknown (a store that gives none).
fn same_etag(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// Whether `e` may pass if tried again (a network or server error, not a refusal).
fn transient(e: &ObjectError) -> bool {
    use object_store::Error as E;
    match e {
        // Network and server errors; a local file error would only fail again.
        ObjectError::Store { source, .. } => matches!(source, E::Generic { .. }),
        _ => false,
    }
}

/// `key` (relative to a folder) as a relative local path: plain parts only.
fn local_rel(key: &str) -> Option<PathBuf> {
    let parts: Vec<&str> = key.split('/').collect();
    let plain = parts
        .iter()
        .all(|p| !p.is_empty() && *p != "." && *p != ".." && !p.contains('\0'));
    plain.then(|| parts.iter().collect())
}

/// The cache entry name of a listing: a digest of the folder and every key, size and ETag.
fn cache_key(dir: &ObjectDir, listed: &[Listed]) -> String {
    let mut h = Sha256::new();
    h.update(dir.url().as_bytes());
    for l in listed {
        h.update(b"\0");
        h.update(l.rel.to_string_lossy().as_bytes());
        h.update(b"\0");
        h.update(l.size.to_le_bytes());
        h.update(l.etag.as_deref().unwrap_or("").as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// Takes a lock on `path` (created). With a non-blocking `arg`, `None` when someone else
/// holds it.
fn lock_file(path: &Path, arg: FlockArg) -> Result<Option<Flock<File>>, ObjectError> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io_error(path))?;
    match Flock::lock(file, arg) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, errno)) => Err(ObjectError::Io {
            path: path.to_owned(),
            source: errno.into(),
        }),
    }
}

/// Marks a cache entry as just used (its lock file's modification time).
fn touch(path: &Path) {
    if let Ok(f) = File::options().write(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Removes the least recently used entries of `cache` (never `keep`, never one in use) until
/// the others hold at most `room` bytes.
fn evict(cache: &Path, keep: &str, room: u64) -> Result<(), ObjectError> {
    let mut entries = Vec::new();
    for e in std::fs::read_dir(cache).map_err(io_error(cache))?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == keep || name.starts_with('.') || name.ends_with(".lock") || !e.path().is_dir() {
            continue;
        }
        let lock = cache.join(format!("{name}.lock"));
        let used = std::fs::metadata(&lock)
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let size = local_files(&e.path())?.iter().map(|f| f.1).sum::<u64>();
        entries.push((used, size, name));
    }
    let mut total: u64 = entries.iter().map(|e| e.1).sum();
    entries.sort();
    for (_, size, name) in entries {
        if total <= room {
            break;
        }
        let lock = cache.join(format!("{name}.lock"));
        // In use by a run (a shared lock): kept.
        let Some(_exclusive) = lock_file(&lock, FlockArg::LockExclusiveNonblock)? else {
            continue;
        };
        std::fs::remove_dir_all(cache.join(&name)).map_err(io_error(cache))?;
        total -= size;
    }
    Ok(())
}

/// Every plain file below `root`: relative path, size, modification time. Nothing is
/// followed: each folder is opened beneath `root` without links (a job that swaps a folder
/// of its output for a link, even between this walk and the upload, cannot upload what the
/// link points to; see [`crate::beneath`]).
pub fn local_files(root: &Path) -> Result<Vec<(PathBuf, u64, SystemTime)>, ObjectError> {
    let Some(top) = open_root(root)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let dir = match top.open_dir(&rel) {
            Ok(d) => d,
            // Gone, or swapped for a link since its parent was listed: nothing to send.
            Err(e) if beneath::is_missing(&e) || beneath::is_link(&e) => continue,
            Err(e) => return Err(io_error(&root.join(&rel))(e)),
        };
        for e in dir.entries().map_err(io_error(&root.join(&rel)))? {
            match e.kind {
                beneath::Kind::Dir => todo.push(rel.join(&e.name)),
                beneath::Kind::File => out.push((rel.join(&e.name), e.len, e.modified)),
                beneath::Kind::Symlink | beneath::Kind::Other => {}
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The plain file `rel` below `root`, opened without following a link on the way.
fn open_beneath(root: &Path, rel: &Path) -> Result<File, ObjectError> {
    let missing = || io_error(root)(std::io::ErrorKind::NotFound.into());
    open_root(root)?
        .ok_or_else(missing)?
        .open_file(rel)
        .map_err(io_error(&root.join(rel)))
}

/// The folder `root` opened as a handle (its last component must not be a link); `None`
/// when it does not exist.
fn open_root(root: &Path) -> Result<Option<beneath::Dir>, ObjectError> {
    match beneath::Dir::open(root) {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(root)(e)),
    }
}

/// Downloads one object to `path` through a temporary file, so `path` is whole or absent.
async fn get_file(store: &AmazonS3, key: &Key, url: &str, path: &Path) -> Result<(), ObjectError> {
    let store_error = |source| ObjectError::Store {
        url: url.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    let partial = path.with_file_name(format!(
        ".{}.partial",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let result = async {
        let mut file = File::create(&partial).map_err(io_error(&partial))?;
        let mut stream = store.get(key).await.map_err(store_error)?.into_stream();
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk.map_err(store_error)?)
                .map_err(io_error(&partial))?;
        }
        file.sync_all().map_err(io_error(&partial))?;
        std::fs::rename(&partial, path).map_err(io_error(path))
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Uploads one file: a single PUT, or a multipart upload that is aborted if any part fails
/// (the object then keeps its earlier content, or stays absent). Returns the bytes sent and
/// the ETag the store answered.
async fn put_file(
    store: &AmazonS3,
    mut file: File,
    path: &Path,
    key: &Key,
    url: &str,
    size: u64,
) -> Result<(u64, Option<String>), ObjectError> {
    let store_error = |source| ObjectError::Store {
        url: url.to_owned(),
        source,
    };
    use std::io::Read;
    if size <= PART_SIZE as u64 {
        let mut bytes = Vec::with_capacity(size as usize);
        file.read_to_end(&mut bytes).map_err(io_error(path))?;
        let sent = bytes.len() as u64;
        let put = store
            .put(key, PutPayload::from(bytes))
            .await
            .map_err(store_error)?;
        return Ok((sent, put.e_tag));
    }
    let upload = store.put_multipart(key).await.map_err(store_error)?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let sent = async {
        let mut buf = vec![0; PART_SIZE];
        let mut total = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(io_error(path))?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
            // Bounds the parts in flight, so memory stays a few parts whatever the size.
            writer.wait_for_capacity(2).await.map_err(store_error)?;
            writer.write(&buf[..n]);
        }
    }
    .await;
    match sent {
        Ok(total) => writer
            .finish()
            .await
            .map(|put| (total, put.e_tag))
            .map_err(store_error),
        Err(e) => {
            let _ = writer.abort().await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_lists_and_opens_nothing_through_a_link() {
        let out = tempfile::tempdir().unwrap();
        let secret = tempfile::tempdir().unwrap();
        std::fs::write(secret.path().join("key"), "root only").unwrap();
        std::fs::create_dir(out.path().join("model")).unwrap();
        std::fs::write(out.path().join("model/w.bin"), "weights").unwrap();
        std::os::unix::fs::symlink(secret.path(), out.path().join("linked_dir")).unwrap();
        std::os::unix::fs::symlink(secret.path().join("key"), out.path().join("link")).unwrap();
        let files: Vec<PathBuf> = local_files(out.path())
            .unwrap()
            .into_iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(files, [PathBuf::from("model/w.bin")]);
        // The job swaps a listed folder for a link between the listing and the upload.
        std::fs::rename(out.path().join("model"), out.path().join("old")).unwrap();
        std::os::unix::fs::symlink(secret.path(), out.path().join("model")).unwrap();
        std::fs::rename(secret.path().join("key"), secret.path().join("w.bin")).unwrap();
        let e = open_beneath(out.path(), Path::new("model/w.bin")).unwrap_err();
        assert!(
            matches!(&e, ObjectError::Io { source, .. } if beneath::is_link(source)),
            "{e}"
        );
        assert!(local_files(out.path())
            .unwrap()
            .iter()
            .all(|f| f.0 == Path::new("old/w.bin")));
    }

    #[test]
    fn keys_become_plain_relative_paths_only() {
        assert_eq!(local_rel("a/b.txt"), Some(PathBuf::from("a/b.txt")));
        assert_eq!(local_rel("a/../b"), None);
        assert_eq!(local_rel("a//b"), None);
        assert_eq!(local_rel(""), None);
        let dir = ObjectDir::new("bkt", "/out/run/");
        assert_eq!(dir.prefix, "out/run/");
        assert_eq!(dir.key(Path::new("m/w.bin")).as_ref(), "out/run/m/w.bin");
        assert_eq!(ObjectDir::new("bkt", "").key(Path::new("x")).as_ref(), "x");
    }

    #[test]
    fn etags_agree_unless_both_are_known_and_differ() {
        let e = |s: &str| Some(s.to_owned());
        assert!(same_etag(&e("a"), &e("a")));
        assert!(!same_etag(&e("a"), &e("b")));
        assert!(same_etag(&None, &e("b")));
        assert!(same_etag(&e("a"), &None));
    }

    #[test]
    fn the_cache_key_changes_with_any_etag() {
        let dir = ObjectDir::new("b", "data");
        let one = |etag: &str| {
            vec![Listed {
                rel: "x".into(),
                size: 1,
                etag: Some(etag.into()),
            }]
        };
        assert_eq!(cache_key(&dir, &one("a")), cache_key(&dir, &one("a")));
        assert_ne!(cache_key(&dir, &one("a")), cache_key(&dir, &one("b")));
    }
}
