//! Code upload (trainyard extension): a tar archive replaces one storage folder of the
//! project. Size-limited while it streams in, every entry checked before anything is
//! written in place, unpacked into a staging folder and swapped in with one rename, so a job
//! created meanwhile copies the old tree or the new one, never a half-written mix.

use crate::error::{ApiError, ApiResult};
use crate::service::Service;
use crate::storage::Location;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::collections::HashSet;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use trainyard_api::extensions::UploadResponse;
use trainyard_exec::objects::ObjectDir;

/// How far past the limit a refused body is still read (and dropped), so the client is
/// still listening when the refusal arrives.
const DRAIN_FACTOR: u64 = 4;

/// Why an archive was refused.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("entry {0} leaves the uploaded folder")]
    Escapes(String),
    #[error(
        "symlink {0} points outside the uploaded folder (targets must be relative, without '..')"
    )]
    SymlinkOut(String),
    #[error("entry {0} lies below a symlink of the archive")]
    UnderSymlink(String),
    #[error("entry {0} appears twice with different types")]
    Duplicate(String),
    #[error("entry {0} has a type other than file, folder or relative symlink")]
    Kind(String),
    #[error("symlink {0} names a folder (or nothing); an object store keeps no links, only files")]
    FolderLink(String),
    #[error("the archive is not a valid tar stream: {0}")]
    Format(io::Error),
    #[error(transparent)]
    Io(io::Error),
}

/// Files and bytes unpacked.
#[derive(Default)]
struct Counts {
    files: u64,
    bytes: u64,
}

impl Service {
    /// The folder `url` names for an upload or its removal: inside the project's folder and
    /// not the project's folder itself (with an object store: below a granted bucket).
    fn upload_folder(&self, project: &str, url: &str) -> ApiResult<Location> {
        let below = || {
            ApiError::InvalidArgument("path: must name a folder below the project's root".into())
        };
        let dest = match self
            .storage
            .locate(project, url)
            .map_err(|e| ApiError::InvalidArgument(format!("path: {e}")))?
        {
            Location::Object(dir) if dir.prefix.is_empty() => return Err(below()),
            Location::Object(dir) => return Ok(Location::Object(dir)),
            Location::Local(dest) => dest,
        };
        let root = self
            .storage
            .project_root(project)
            .map_err(ApiError::internal)?;
        if dest == root.canonicalize().map_err(ApiError::internal)? {
            return Err(below());
        }
        Ok(Location::Local(dest))
    }

    /// Removes an uploaded folder (trainyard extension: what a failed submit leaves behind).
    /// The same path rules as [`Service::upload`]; a folder that is not there is no error.
    pub async fn delete_upload(&self, project: &str, url: &str) -> ApiResult<()> {
        let dest = match self.upload_folder(project, url)? {
            Location::Local(dest) => dest,
            Location::Object(dir) => {
                self.objects()?
                    .client
                    .remove_except(&dir, &HashSet::new())
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                tracing::info!(project, path = url, "uploaded folder removed");
                return Ok(());
            }
        };
        let storage = self.storage.clone();
        let owner = project.to_owned();
        tokio::task::spawn_blocking(move || storage.remove_tree(&owner, &dest))
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidInput => {
                    ApiError::InvalidArgument(format!("path: {url} is not a folder"))
                }
                _ => ApiError::internal(e),
            })?;
        tracing::info!(project, path = url, "uploaded folder removed");
        Ok(())
    }

    /// Replaces the folder `url` of `project` with the tree of the tar archive `body`.
    /// `declared` is the request's content length, if any.
    pub async fn upload<S, E>(
        &self,
        project: &str,
        url: &str,
        declared: Option<u64>,
        body: S,
    ) -> ApiResult<UploadResponse>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let dest = self.upload_folder(project, url)?;
        let limit = self.max_upload_bytes;
        if declared.is_some_and(|n| n > limit) {
            drain(body, limit.saturating_mul(DRAIN_FACTOR)).await;
            return Err(ApiError::UploadTooLarge(limit));
        }
        let quota = |bytes: u64| match self.storage.quotas() {
            Some(q) => q.reserve(project, bytes).map_err(ApiError::StorageQuota),
            None => Ok(()),
        };
        if let Some(n) = declared {
            if let Err(e) = quota(n) {
                drain(body, limit.saturating_mul(DRAIN_FACTOR)).await;
                return Err(e);
            }
        }
        let staging = self.storage.staging_dir().map_err(ApiError::internal)?;
        let outcome = match &dest {
            Location::Local(dest) => {
                self.receive_and_swap(project, &staging, dest, limit, body)
                    .await
            }
            Location::Object(dir) => self.receive_and_put(&staging, dir, limit, body).await,
        };
        let cleanup = staging.clone();
        // The old tree (or the refused one) goes with the staging folder, off the request path.
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(cleanup)).await;
        let counts = outcome?;
        if let (None, Some(q)) = (declared, self.storage.quotas()) {
            // Sized only now (a chunked body): counted for the writes that follow.
            q.add(project, counts.bytes);
        }
        tracing::info!(
            project,
            path = url,
            files = counts.files,
            bytes = counts.bytes,
            "upload replaced a storage folder"
        );
        Ok(UploadResponse {
            is_success: true,
            path: url.to_owned(),
            files: counts.files,
            bytes: counts.bytes,
        })
    }

    pub(super) fn objects(&self) -> ApiResult<&crate::storage::ObjectStorage> {
        self.storage
            .objects()
            .map(|o| o.as_ref())
            .ok_or_else(|| ApiError::internal("a bucket path without an object store"))
    }

    /// The archive's tree put in a bucket's folder: every file uploaded (file symlinks as
    /// the files they name), then the folder's other objects removed. Unlike a local folder
    /// this is not one step: a job created meanwhile may fetch a mix of both trees.
    async fn receive_and_put<S, E>(
        &self,
        staging: &Path,
        dir: &ObjectDir,
        limit: u64,
        body: S,
    ) -> ApiResult<Counts>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let archive = self.receive(staging, limit, body).await?;
        let tree = staging.join("tree");
        let unpacked = tree.clone();
        let counts = tokio::task::spawn_blocking(move || -> ApiResult<Counts> {
            let counts = unpack(&archive, &unpacked).map_err(refused)?;
            resolve_links(&unpacked, &unpacked).map_err(refused)?;
            Ok(counts)
        })
        .await
        .map_err(ApiError::internal)??;
        let client = &self.objects()?.client;
        let failed = |e: trainyard_exec::objects::ObjectError| ApiError::internal(e.to_string());
        client
            .upload(&tree, dir, &[], &mut Default::default())
            .await
            .map_err(failed)?;
        let keep: HashSet<PathBuf> = trainyard_exec::objects::local_files(&tree)
            .map_err(failed)?
            .into_iter()
            .map(|(rel, _, _)| rel)
            .collect();
        client.remove_except(dir, &keep).await.map_err(failed)?;
        Ok(counts)
    }

    /// Streams `body` into `staging/archive.tar`, at most `limit` bytes.
    async fn receive<S, E>(&self, staging: &Path, limit: u64, mut body: S) -> ApiResult<PathBuf>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let archive = staging.join("archive.tar");
        let mut file = tokio::fs::File::create(&archive)
            .await
            .map_err(ApiError::internal)?;
        let mut received = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::InvalidArgument(format!("upload interrupted: {e}")))?;
            received += chunk.len() as u64;
            if received > limit {
                drain(body, limit.saturating_mul(DRAIN_FACTOR)).await;
                return Err(ApiError::UploadTooLarge(limit));
            }
            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                .await
                .map_err(ApiError::internal)?;
        }
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(ApiError::internal)?;
        Ok(archive)
    }

    async fn receive_and_swap<S, E>(
        &self,
        project: &str,
        staging: &Path,
        dest: &Path,
        limit: u64,
        body: S,
    ) -> ApiResult<Counts>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let archive = self.receive(staging, limit, body).await?;
        let storage = self.storage.clone();
        let (tree, dest) = (staging.join("tree"), dest.to_owned());
        let project = project.to_owned();
        tokio::task::spawn_blocking(move || -> ApiResult<Counts> {
            let counts = unpack(&archive, &tree).map_err(refused)?;
            storage
                .replace_tree(&project, &tree, &dest)
                .map_err(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => ApiError::InvalidArgument(format!("path: {e}")),
                    _ => ApiError::internal(e),
                })?;
            Ok(counts)
        })
        .await
        .map_err(ApiError::internal)?
    }
}

fn refused(e: Refused) -> ApiError {
    match e {
        Refused::Io(io) => ApiError::internal(io),
        other => ApiError::InvalidArgument(format!("upload refused: {other}")),
    }
}

/// Replaces each symlink below `dir` (all relative and inside `tree`, as `unpack` checked)
/// by a copy of the file it names: an object store keeps no links. A link to a folder is
/// refused.
fn resolve_links(tree: &Path, dir: &Path) -> Result<(), Refused> {
    for entry in std::fs::read_dir(dir).map_err(Refused::Io)? {
        let entry = entry.map_err(Refused::Io)?;
        let path = entry.path();
        let kind = entry.file_type().map_err(Refused::Io)?;
        let shown = || {
            path.strip_prefix(tree)
                .unwrap_or(&path)
                .display()
                .to_string()
        };
        if kind.is_dir() {
            resolve_links(tree, &path)?;
        } else if kind.is_symlink() {
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => {
                    let copy = path.with_extension("trainyard-link-copy");
                    std::fs::copy(&path, &copy).map_err(Refused::Io)?;
                    std::fs::rename(&copy, &path).map_err(Refused::Io)?;
                }
                _ => return Err(Refused::FolderLink(shown())),
            }
        }
    }
    Ok(())
}

/// Reads and drops the rest of `body`, at most `cap` bytes.
async fn drain<S, E>(mut body: S, cap: u64)
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let mut seen = 0u64;
    while let Some(Ok(chunk)) = body.next().await {
        seen += chunk.len() as u64;
        if seen > cap {
            break;
        }
    }
}

/// The entry's path as a relative path of plain components, or why not.
fn relative(raw: &Path) -> Result<PathBuf, Refused> {
    let mut out = PathBuf::new();
    for comp in raw.components() {
        match comp {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(Refused::Escapes(raw.display().to_string()))
            }
        }
    }
    Ok(out)
}

/// Unpacks `archive` into the new folder `tree`, checking every entry first. Blocking.
fn unpack(archive: &Path, tree: &Path) -> Result<Counts, Refused> {
    std::fs::create_dir(tree).map_err(Refused::Io)?;
    let file = std::fs::File::open(archive).map_err(Refused::Io)?;
    let mut ar = tar::Archive::new(io::BufReader::new(file));
    let mut counts = Counts::default();
    for entry in ar.entries().map_err(Refused::Format)? {
        let mut entry = entry.map_err(Refused::Format)?;
        let raw = entry.path().map_err(Refused::Format)?.into_owned();
        let rel = relative(&raw)?;
        let shown = raw.display().to_string();
        if rel.as_os_str().is_empty() {
            continue; // "./" itself
        }
        let target = tree.join(&rel);
        // Nothing is written through a symlink an earlier entry made (dangling or not).
        if below_symlink(tree, &rel) {
            return Err(Refused::UnderSymlink(shown));
        }
        let kind = entry.header().entry_type();
        // An entry whose name an earlier entry took with another type is refused, not a 500.
        let taken = |e: io::Error| match e.kind() {
            io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory => {
                Refused::Duplicate(shown.clone())
            }
            _ => Refused::Io(e),
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(taken)?;
        }
        if kind.is_dir() {
            if std::fs::symlink_metadata(&target).is_ok_and(|m| !m.is_dir()) {
                return Err(Refused::Duplicate(shown));
            }
            std::fs::create_dir_all(&target).map_err(taken)?;
        } else if kind.is_file() {
            let mode = (entry.header().mode().unwrap_or(0o644) & 0o755) | 0o600;
            let mut out = open_new(&target, mode).map_err(taken)?;
            counts.bytes += io::copy(&mut entry, &mut out).map_err(Refused::Format)?;
            out.flush().map_err(Refused::Io)?;
            counts.files += 1;
        } else if kind.is_symlink() {
            let link = entry
                .link_name()
                .map_err(Refused::Format)?
                .ok_or_else(|| Refused::SymlinkOut(shown.clone()))?;
            let descends = !link.as_os_str().is_empty()
                && link
                    .components()
                    .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
            if !descends {
                return Err(Refused::SymlinkOut(shown));
            }
            std::os::unix::fs::symlink(&link, &target).map_err(taken)?;
        } else if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            continue;
        } else {
            return Err(Refused::Kind(shown));
        }
    }
    Ok(counts)
}

/// Whether a folder on the way from `tree` to `tree/rel` is a symlink.
fn below_symlink(tree: &Path, rel: &Path) -> bool {
    let mut at = tree.to_path_buf();
    let parents = rel.parent().map(|p| p.components().count()).unwrap_or(0);
    for comp in rel.components().take(parents) {
        at.push(comp);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => return true,
            Ok(_) => {}
            Err(_) => return false, // not there yet: created as a folder below
        }
    }
    false
}

/// Creates a new file, never following a symlink left by an earlier entry.
fn open_new(path: &Path, mode: u32) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a folder has this name",
            ))
        }
        Ok(_) => std::fs::remove_file(path)?,
        Err(_) => {}
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> tempfile::NamedTempFile {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        let bytes = b.into_inner().unwrap();
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), bytes).unwrap();
        f
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // `set_path` refuses `..`; write the name bytes directly, as a hostile client would.
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    #[test]
    fn unpacks_files_folders_and_inner_symlinks() {
        let ar = archive(|b| {
            file(b, "a/b.py", b"print(1)\n");
            file(b, "./c.txt", b"x");
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, "link", "a/b.py").unwrap();
        });
        let tmp = tempfile::tempdir().unwrap();
        let counts = unpack(ar.path(), &tmp.path().join("t")).unwrap();
        assert_eq!((counts.files, counts.bytes), (2, 10));
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("t/link")).unwrap(),
            "print(1)\n"
        );
    }

    #[test]
    fn refuses_escapes() {
        let tmp = tempfile::tempdir().unwrap();
        let ar = archive(|b| file(b, "../evil", b"x"));
        assert!(matches!(
            unpack(ar.path(), &tmp.path().join("t1")),
            Err(Refused::Escapes(_))
        ));
        let ar = archive(|b| file(b, "/abs", b"x"));
        assert!(matches!(
            unpack(ar.path(), &tmp.path().join("t2")),
            Err(Refused::Escapes(_))
        ));
        for target in ["/etc", "../x", "a/../../x"] {
            let ar = archive(|b| {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, "l", target).unwrap();
            });
            let dir = tmp.path().join(format!("t-{}", target.replace('/', "_")));
            assert!(
                matches!(unpack(ar.path(), &dir), Err(Refused::SymlinkOut(_))),
                "{target}"
            );
        }
        assert!(!tmp.path().join("evil").exists());
    }
}
