//! Reading project storage (trainyard extension): a listing of the files below a folder and
//! one file's bytes, so a client fetches a job's outputs (`train_url`) without S3 keys.
//!
//! Jobs write into the same folders, so every path is opened relative to the project's folder
//! through [`trainyard_exec::beneath`]: no symlink is followed anywhere on the way, listings
//! leave links out, and a file is read from the descriptor that was checked. With an object
//! store behind paths (`[storage] backend = "s3"`), the same calls list and read the objects
//! of the buckets the project is granted.

use crate::error::{ApiError, ApiResult};
use crate::service::Service;
use crate::storage::Location;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use trainyard_api::extensions::{FileListResponse, StorageFile};
use trainyard_exec::beneath::{self, Dir, Kind};
use trainyard_exec::objects::{ObjectBytes, ObjectDir};

/// Most files one listing holds.
pub const MAX_LISTED: usize = 10_000;

/// A storage path (`/bucket/dir/`, `obs://bucket/dir/file`) as plain names below the
/// project's folder; `..`, NUL and backslashes are refused.
fn relative(url: &str) -> ApiResult<PathBuf> {
    let text = url.trim();
    let text = ["obs://", "s3://", "OBS://", "S3://"]
        .iter()
        .find_map(|s| text.strip_prefix(s))
        .unwrap_or(text);
    let bad = || ApiError::InvalidArgument(format!("path: {url} is not a valid storage path"));
    if text.contains('\0') || text.contains('\\') || text.contains("://") {
        return Err(bad());
    }
    let mut rel = PathBuf::new();
    for c in Path::new(text).components() {
        match c {
            Component::Normal(n) => rel.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return Err(bad()),
        }
    }
    Ok(rel)
}

/// The storage path of `rel` (`/a/b`).
fn storage_path(rel: &Path) -> String {
    format!("/{}", rel.display())
}

fn millis(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A stored file's bytes, ready to send.
pub enum StoredFile {
    /// A local file, opened beneath the project's folder.
    Local(std::fs::File),
    /// An object of the store, as it arrives.
    Object(ObjectBytes),
}

/// The storage path (`/bucket/key`) of the object `rel` below `dir`.
fn object_path(dir: &ObjectDir, rel: &Path) -> String {
    let key = format!("{}{}", dir.prefix, rel.display());
    format!("/{}/{}", dir.bucket, key.trim_end_matches('/'))
}

impl Service {
    /// The folder of the object store that `url` names, when paths are kept there (`None`:
    /// they are local folders); a bucket the project is not granted is refused.
    fn object_dir(&self, project: &str, url: &str) -> ApiResult<Option<ObjectDir>> {
        if self.storage.objects().is_none() {
            return Ok(None);
        }
        match self.storage.locate(project, url) {
            Ok(Location::Object(dir)) => Ok(Some(dir)),
            Ok(Location::Local(_)) => Err(ApiError::internal(format!(
                "{url}: a local folder with an object store behind paths"
            ))),
            Err(e) => Err(ApiError::InvalidArgument(format!("path: {e}"))),
        }
    }

    /// The project's folder, opened.
    fn storage_root(&self, project: &str) -> ApiResult<Dir> {
        let root = self
            .storage
            .project_root(project)
            .map_err(ApiError::internal)?;
        Dir::open(&root).map_err(ApiError::internal)
    }

    /// The regular files below the folder `url` of `project` at every depth, sorted (or the
    /// file `url` itself); at most [`MAX_LISTED`]. A path that is not there is `NotFound`.
    pub async fn list_files(&self, project: &str, url: &str) -> ApiResult<FileListResponse> {
        if let Some(dir) = self.object_dir(project, url)? {
            return self.list_objects(&dir, url).await;
        }
        let rel = relative(url)?;
        let root = self.storage_root(project)?;
        let url = url.to_owned();
        tokio::task::spawn_blocking(move || -> ApiResult<FileListResponse> {
            let refused = |e: std::io::Error| {
                if beneath::is_missing(&e) {
                    ApiError::NotFound(format!("{url} is not in the project's storage"))
                } else if beneath::is_link(&e) {
                    ApiError::InvalidArgument(format!("path: {url} leads through a symlink"))
                } else {
                    ApiError::internal(e)
                }
            };
            let mut files = Vec::new();
            let mut truncated = false;
            match root.open_dir(&rel) {
                Ok(dir) => walk(&dir, &rel, &mut files, &mut truncated).map_err(refused)?,
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                    let (parent, name) = split(&rel).ok_or_else(|| refused(e))?;
                    let entry = root
                        .open_dir(&parent)
                        .and_then(|d| d.entry(&name))
                        .map_err(refused)?;
                    if entry.kind == Kind::File {
                        files.push(StorageFile {
                            path: storage_path(&rel),
                            size: entry.len,
                            modified: millis(entry.modified),
                        });
                    }
                }
                Err(e) => return Err(refused(e)),
            }
            files.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(FileListResponse {
                path: url,
                files,
                truncated,
            })
        })
        .await
        .map_err(ApiError::internal)?
    }

    /// The objects below the folder `dir` (or the one object it names), as
    /// [`Service::list_files`] answers.
    async fn list_objects(&self, dir: &ObjectDir, url: &str) -> ApiResult<FileListResponse> {
        let objects = self.objects()?;
        let mut listed = objects
            .client
            .browse(dir)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        if listed.is_empty() {
            return Err(ApiError::NotFound(format!(
                "{url} is not in the project's storage"
            )));
        }
        let truncated = listed.len() > MAX_LISTED;
        listed.truncate(MAX_LISTED);
        let files = listed
            .into_iter()
            .map(|o| StorageFile {
                path: object_path(dir, &o.rel),
                size: o.size,
                modified: millis(o.modified),
            })
            .collect();
        Ok(FileListResponse {
            path: url.to_owned(),
            files,
            truncated,
        })
    }

    /// Opens the regular file (or object) `url` of `project` for reading, with its size.
    pub async fn open_file(&self, project: &str, url: &str) -> ApiResult<(StoredFile, u64)> {
        if let Some(dir) = self.object_dir(project, url)? {
            let objects = self.objects()?;
            // A key with objects below it is a folder (some stores answer a read of it with
            // an error that is not "not found").
            let listed = objects
                .client
                .browse(&dir)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
            if listed.iter().any(|o| !o.rel.as_os_str().is_empty()) {
                return Err(ApiError::InvalidArgument(format!(
                    "path: {url} is a folder (list it with the files listing)"
                )));
            }
            return match objects.client.open(&dir).await {
                Ok(Some((bytes, len))) => Ok((StoredFile::Object(bytes), len)),
                Ok(None) => Err(ApiError::NotFound(format!(
                    "{url} is not a file in the project's storage"
                ))),
                Err(e) => Err(ApiError::internal(e.to_string())),
            };
        }
        let rel = relative(url)?;
        let root = self.storage_root(project)?;
        let url = url.to_owned();
        tokio::task::spawn_blocking(move || {
            let file = root.open_file(&rel).map_err(|e| {
                if beneath::is_missing(&e) {
                    ApiError::NotFound(format!("{url} is not a file in the project's storage"))
                } else if beneath::is_dir(&e) {
                    ApiError::InvalidArgument(format!(
                        "path: {url} is a folder (list it with the files listing)"
                    ))
                } else if beneath::is_link(&e) || e.raw_os_error() == Some(libc::ENXIO) {
                    ApiError::InvalidArgument(format!("path: {url} is not a regular file"))
                } else {
                    ApiError::internal(e)
                }
            })?;
            let len = file.metadata().map_err(ApiError::internal)?.len();
            Ok((StoredFile::Local(file), len))
        })
        .await
        .map_err(ApiError::internal)?
    }
}

/// `rel` as its parent and last name.
fn split(rel: &Path) -> Option<(PathBuf, OsString)> {
    let name = rel.file_name()?.to_owned();
    Some((rel.parent().unwrap_or(Path::new("")).to_owned(), name))
}

/// Adds the regular files below `dir` (storage path `rel`) to `out`, depth first; stops at
/// [`MAX_LISTED`]. Links and other special files are left out; a folder that vanishes while
/// listed is skipped.
fn walk(
    dir: &Dir,
    rel: &Path,
    out: &mut Vec<StorageFile>,
    truncated: &mut bool,
) -> std::io::Result<()> {
    let mut entries = dir.entries()?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for e in entries {
        if out.len() >= MAX_LISTED {
            *truncated = true;
            return Ok(());
        }
        let path = rel.join(&e.name);
        match e.kind {
            Kind::File => out.push(StorageFile {
                path: storage_path(&path),
                size: e.len,
                modified: millis(e.modified),
            }),
            Kind::Dir => match dir.open_dir(Path::new(&e.name)) {
                Ok(sub) => walk(&sub, &path, out, truncated)?,
                Err(err) if beneath::is_missing(&err) || beneath::is_link(&err) => {}
                Err(err) => return Err(err),
            },
            Kind::Symlink | Kind::Other => {}
        }
    }
    Ok(())
}
