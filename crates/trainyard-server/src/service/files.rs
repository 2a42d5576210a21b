//! Reading project storage (trainyard extension): a listing of the files below a folder and
//! one file's bytes, so a client fetches a job's outputs (`train_url`) without S3 keys.
//!
//! Jobs write into the same folders, so every path is opened relative to the project's folder
//! through [`trainyard_exec::beneath`]: no symlink is followed anywhere on the way, listings
//! leave links out, and a file is read from the descriptor that was checked.

use crate::error::{ApiError, ApiResult};
use crate::service::Service;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use trainyard_api::extensions::{FileListResponse, StorageFile};
use trainyard_exec::beneath::{self, Dir, Kind};

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

impl Service {
    /// The project's folder, opened; refused when paths name an object store's folders.
    fn storage_root(&self, project: &str, url: &str) -> ApiResult<Dir> {
        if self.storage.objects().is_some() {
            return Err(ApiError::InvalidArgument(format!(
                "path: {url}: this server keeps paths in an object store ([storage] backend = \"s3\"); read them there"
            )));
        }
        let root = self
            .storage
            .project_root(project)
            .map_err(ApiError::internal)?;
        Dir::open(&root).map_err(ApiError::internal)
    }

    /// The regular files below the folder `url` of `project` at every depth, sorted (or the
    /// file `url` itself); at most [`MAX_LISTED`]. A path that is not there is `NotFound`.
    pub async fn list_files(&self, project: &str, url: &str) -> ApiResult<FileListResponse> {
        let rel = relative(url)?;
        let root = self.storage_root(project, url)?;
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

    /// Opens the regular file `url` of `project` for reading, with its size.
    pub async fn open_file(&self, project: &str, url: &str) -> ApiResult<(std::fs::File, u64)> {
        let rel = relative(url)?;
        let root = self.storage_root(project, url)?;
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
            Ok((file, len))
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
