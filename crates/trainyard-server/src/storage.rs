//! OBS-style paths (`/bucket/dir/`, `obs://bucket/dir/`, `s3://bucket/dir/`) resolved below one
//! folder per project, never outside it.

use std::collections::HashMap;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, RwLock};
use trainyard_exec::objects::{ObjectDir, Objects, S3Config};

pub mod quota;

/// Folder below the storage root holding uploads being unpacked (never a project id: those
/// are letters, digits, `-` and `_`).
const STAGING: &str = ".staging";

/// The storage root; project `p` owns `root/p`. With `[storage] backend = "s3"`, paths name
/// folders of an object store instead ([`Storage::locate`]).
#[derive(Clone, Debug)]
pub struct Storage {
    root: PathBuf,
    /// Snapshots hold it shared, tree replacements exclusively: a snapshot sees the old or
    /// the new tree, never a mix.
    swap: Arc<RwLock<()>>,
    objects: Option<Arc<ObjectStorage>>,
    /// Who each project's jobs run as: its folder and what the server puts there are theirs.
    users: Arc<crate::job_users::JobUsers>,
    /// The projects' storage quotas, when any project has one.
    quotas: Option<Arc<quota::Quotas>>,
}

/// The object store behind paths, and who may reach which bucket.
#[derive(Debug)]
pub struct ObjectStorage {
    /// The client.
    pub client: Objects,
    /// How the client (and each shim) reaches the store.
    pub s3: S3Config,
    /// The buckets each project may name.
    pub buckets: HashMap<String, Vec<String>>,
    /// This host's cache of fetched data folders (one folder per project with job users:
    /// [`Storage::cache_of`]).
    pub cache: PathBuf,
    /// Most bytes the cache (each project's, with job users) may hold.
    pub cache_max_bytes: u64,
    /// How often a running job's outputs are uploaded.
    pub upload_interval: std::time::Duration,
    /// How often a running job's checkpoint folder is uploaded and verified.
    pub checkpoint_interval: std::time::Duration,
}

/// Where a path's files are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A folder (or file) of the local storage.
    Local(PathBuf),
    /// A folder of the object store.
    Object(ObjectDir),
}

/// Why a path was refused.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// `..`, NUL, or a symlink leading out of the project's folder.
    #[error("{0} leaves the storage root")]
    Escapes(String),
    /// A bucket the project's configuration does not grant (`[[projects]] buckets`).
    #[error("{0}: the bucket {1} is not one this project may use (its buckets in the server configuration)")]
    BucketNotGranted(String, String),
    /// A path that only names local folders, with an object store behind paths.
    #[error("{0}: this server keeps paths in an object store ([storage] backend = \"s3\"), not in local folders")]
    NotLocal(String),
    /// A symlink to a folder outside the code folder (snapshots never follow folder links).
    #[error("{0} is a symlink to a folder outside the code folder; a snapshot copies the code folder itself (copy that folder in, or pass it as data_url)")]
    FolderLinkOut(String),
    /// The code folder holds more than the snapshot limit.
    #[error("the code folder holds more than {0} bytes ([storage] max_upload_bytes)")]
    TooLarge(u64),
    /// Not a usable path.
    #[error("{0} is not a valid path")]
    Malformed(String),
    /// I/O while checking.
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl Storage {
    /// Storage rooted at `root` (created if missing).
    pub fn new(root: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&root)?;
        let root = root.canonicalize()?;
        let staging = root.join(STAGING);
        // Half-unpacked uploads of a crash are garbage.
        if staging.exists() {
            std::fs::remove_dir_all(&staging)?;
        }
        Ok(Self {
            root,
            swap: Arc::new(RwLock::new(())),
            objects: None,
            users: Arc::default(),
            quotas: None,
        })
    }

    /// Gives each project's folder, and what the server writes there, to its job user. A
    /// folder that is not its user's yet (made by hand, or by a server whose jobs ran as
    /// itself) is handed over whole, before any job of the project runs as that user.
    pub fn with_users(mut self, users: crate::job_users::JobUsers) -> io::Result<Self> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        for (project, owner) in users.all() {
            let dir = self.root.join(project);
            match std::fs::symlink_metadata(&dir) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    trainyard_exec::sandbox::create_dirs(
                        &self.root,
                        Path::new(project),
                        Some(owner),
                    )?;
                }
                Err(e) => return Err(e),
                Ok(meta) if meta.is_dir() && meta.uid() != owner.uid => {
                    tracing::info!(
                        project,
                        uid = owner.uid,
                        "handing the project's folder to its job user"
                    );
                    trainyard_exec::sandbox::chown_tree(&dir, owner)?;
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
                }
                Ok(_) => {}
            }
        }
        self.users = Arc::new(users);
        Ok(self)
    }

    /// Who each project's jobs run as.
    pub fn users(&self) -> &crate::job_users::JobUsers {
        &self.users
    }

    /// The user `project`'s jobs run as (`None`: the server's own).
    pub fn owner(&self, project: &str) -> Option<trainyard_exec::RunAs> {
        self.users.of(project)
    }

    /// Creates the folder `dir` (a path [`Storage::resolve`] gave for `project`) and what
    /// is missing above it below the project's folder, without following any link a job may
    /// have planted; what it creates belongs to the project's user. Blocking.
    pub fn create_dir(&self, project: &str, dir: &Path) -> io::Result<PathBuf> {
        let root = self.project_root(project)?;
        let rel = dir
            .strip_prefix(&root)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "outside the project"))?;
        trainyard_exec::sandbox::create_dirs(&root, rel, self.owner(project))
    }

    /// Opens the folder `dir` like [`Storage::create_dir`], for [`trainyard_exec::sandbox::replace_file`].
    pub fn open_dir(&self, project: &str, dir: &Path) -> io::Result<trainyard_exec::beneath::Dir> {
        let root = self.project_root(project)?;
        let rel = dir
            .strip_prefix(&root)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "outside the project"))?;
        trainyard_exec::sandbox::open_dirs(&root, rel, self.owner(project)).map(|(_, fd)| fd)
    }

    /// Enforces the storage quotas of `projects` (nothing when none has one).
    pub fn with_quotas<'a>(
        mut self,
        projects: impl IntoIterator<Item = &'a crate::config::ProjectConfig>,
    ) -> Self {
        self.quotas = quota::Quotas::new(&self.root, projects);
        self
    }

    /// The projects' storage quotas, when any project has one.
    pub fn quotas(&self) -> Option<&Arc<quota::Quotas>> {
        self.quotas.as_ref()
    }

    /// Puts paths in the object store `objects` instead of local folders.
    pub fn with_objects(mut self, objects: ObjectStorage) -> io::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        // Root's, and only root writes below it: plain file calls are safe here.
        for (project, owner) in self.users.all() {
            let dir = objects.cache.join(project);
            match std::fs::create_dir(&dir) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
            std::os::unix::fs::chown(&dir, Some(0), Some(owner.gid))?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o710))?;
        }
        self.objects = Some(Arc::new(objects));
        Ok(self)
    }

    /// The data cache of `project`'s runs. With job users, a folder of its own below the
    /// host's cache (root's, passable by the project's group alone): the root shim fills it, the
    /// project's jobs follow their data links into it, no other project's job gets in, and no
    /// entry is shared between projects, even for the same objects.
    pub fn cache_of(&self, project: &str) -> Option<PathBuf> {
        let objects = self.objects.as_ref()?;
        Some(match self.owner(project) {
            Some(_) => objects.cache.join(project),
            None => objects.cache.clone(),
        })
    }

    /// The object store behind paths, if paths are there.
    pub fn objects(&self) -> Option<&Arc<ObjectStorage>> {
        self.objects.as_ref()
    }

    /// Where `url` of `project` is: a local folder ([`Storage::resolve`]), or a folder of a
    /// bucket the project may use (`/bucket/key` is `s3://bucket/key`; `..` is refused).
    pub fn locate(&self, project: &str, url: &str) -> Result<Location, PathError> {
        let Some(objects) = &self.objects else {
            return self.resolve(project, url).map(Location::Local);
        };
        let rel = strip_scheme(url);
        if rel.contains('\0') || rel.contains('\\') || rel.contains("://") {
            return Err(PathError::Malformed(url.to_owned()));
        }
        let mut parts = Vec::new();
        for comp in Path::new(rel).components() {
            match comp {
                Component::Normal(p) => parts.push(
                    p.to_str()
                        .ok_or_else(|| PathError::Malformed(url.to_owned()))?,
                ),
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(PathError::Escapes(url.to_owned()))
                }
            }
        }
        let Some((bucket, key)) = parts.split_first() else {
            return Err(PathError::Malformed(url.to_owned()));
        };
        let granted = objects
            .buckets
            .get(project)
            .is_some_and(|b| b.iter().any(|g| g == bucket));
        if !granted {
            return Err(PathError::BucketNotGranted(
                url.to_owned(),
                (*bucket).to_owned(),
            ));
        }
        Ok(Location::Object(ObjectDir::new(bucket, &key.join("/"))))
    }

    /// A fresh, empty folder for one upload, on the same file system as every project folder
    /// but outside all of them. The caller removes it.
    pub fn staging_dir(&self) -> io::Result<PathBuf> {
        let dir = self
            .root
            .join(STAGING)
            .join(format!("upload-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Puts the tree at `new` (a staging folder) in place of `dest` (a folder of `project`,
    /// or nothing yet) in one step; the tree that was there ends up at `new` for the caller
    /// to remove. The new tree becomes the project user's; `dest` is reached through its
    /// parent folder, opened without following links, so a link a job planted on the way
    /// never moves the tree elsewhere. Blocking.
    pub fn replace_tree(&self, project: &str, new: &Path, dest: &Path) -> io::Result<()> {
        use nix::fcntl::{renameat, renameat2, RenameFlags};
        use std::os::fd::AsRawFd;
        if let Some(owner) = self.owner(project) {
            trainyard_exec::sandbox::chown_tree(new, owner)?;
        }
        let (parent, name) = self.split(project, dest)?;
        let _exclusive = self.swap.write().unwrap_or_else(|e| e.into_inner());
        match entry_kind(&parent, name)? {
            None => {
                renameat(None, new, Some(parent.as_raw_fd()), name).map_err(io::Error::from)?;
                // Leave an empty folder where the caller expects the old tree.
                std::fs::create_dir(new)
            }
            Some(false) => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the destination exists and is not a folder",
            )),
            Some(true) => {
                match renameat2(
                    None,
                    new,
                    Some(parent.as_raw_fd()),
                    name,
                    RenameFlags::RENAME_EXCHANGE,
                ) {
                    Ok(()) => Ok(()),
                    // File systems without RENAME_EXCHANGE: two renames, still under the lock.
                    Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOSYS) => {
                        let aside = new.with_extension("old");
                        renameat(Some(parent.as_raw_fd()), name, None, &aside)
                            .map_err(io::Error::from)?;
                        renameat(None, new, Some(parent.as_raw_fd()), name)
                            .map_err(io::Error::from)?;
                        std::fs::rename(&aside, new)
                    }
                    Err(e) => Err(io::Error::from(e)),
                }
            }
        }
    }

    /// Removes the folder `dest` of `project` (nothing there is fine): moved aside under the
    /// same lock as [`Storage::replace_tree`], so a version being created sees the whole tree
    /// or none, then deleted. Blocking.
    pub fn remove_tree(&self, project: &str, dest: &Path) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let aside = self.staging_dir()?;
        let gone = aside.join("removed");
        {
            let (parent, name) = self.split(project, dest)?;
            let _exclusive = self.swap.write().unwrap_or_else(|e| e.into_inner());
            match entry_kind(&parent, name)? {
                None => {}
                Some(false) => {
                    return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a folder"))
                }
                Some(true) => nix::fcntl::renameat(Some(parent.as_raw_fd()), name, None, &gone)
                    .map_err(io::Error::from)?,
            }
        }
        std::fs::remove_dir_all(&aside)
    }

    /// `dest`'s parent folder (opened below the project's folder, no link followed) and name.
    fn split<'p>(
        &self,
        project: &str,
        dest: &'p Path,
    ) -> io::Result<(trainyard_exec::beneath::Dir, &'p std::ffi::OsStr)> {
        let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a folder"));
        };
        Ok((self.open_dir(project, parent)?, name))
    }

    /// The folder of a project (created if missing, its job user's, private to it).
    pub fn project_root(&self, project: &str) -> io::Result<PathBuf> {
        let dir = self.root.join(project);
        if !dir.is_dir() {
            trainyard_exec::sandbox::create_dirs(
                &self.root,
                Path::new(project),
                self.owner(project),
            )?;
        }
        Ok(dir)
    }

    /// Resolves `url` for `project`. Lexical `..` is refused outright; the deepest existing
    /// ancestor is canonicalized so a symlink pointing out is refused too.
    pub fn resolve(&self, project: &str, url: &str) -> Result<PathBuf, PathError> {
        if self.objects.is_some() {
            return Err(PathError::NotLocal(url.to_owned()));
        }
        let rel = strip_scheme(url);
        if rel.contains('\0') || rel.contains('\\') {
            return Err(PathError::Malformed(url.to_owned()));
        }
        if rel.contains("://") {
            return Err(PathError::Malformed(url.to_owned()));
        }
        let root = self.project_root(project)?;
        let mut path = root.clone();
        for comp in Path::new(rel).components() {
            match comp {
                Component::Normal(part) => path.push(part),
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(PathError::Escapes(url.to_owned()))
                }
            }
        }
        let mut existing = path.as_path();
        while !existing.exists() {
            match existing.parent() {
                Some(p) => existing = p,
                None => break,
            }
        }
        let real = existing.canonicalize()?;
        if !real.starts_with(&root) {
            return Err(PathError::Escapes(url.to_owned()));
        }
        match path.strip_prefix(existing) {
            Ok(rest) if !rest.as_os_str().is_empty() => Ok(real.join(rest)),
            _ => Ok(real),
        }
    }

    /// Copies the tree at `src` (inside `project`'s folder) to `dest`, at most `limit` bytes of
    /// files, refusing symlinks that lead outside the project's folder. Blocking.
    ///
    /// Directory symlinks are never followed (`loop -> .` would recurse without end): one that
    /// points inside the code folder is recreated as a relative symlink to the copy, one that
    /// points elsewhere is refused. Symlinks to files inside the project are copied as files.
    pub fn snapshot(
        &self,
        project: &str,
        src: &Path,
        dest: &Path,
        limit: u64,
    ) -> Result<u64, PathError> {
        let root = self.project_root(project)?.canonicalize()?;
        let _shared = self.swap.read().unwrap_or_else(|e| e.into_inner());
        let mut copy = TreeCopy {
            root: &root,
            top: &src.canonicalize()?,
            limit,
            copied: 0,
        };
        copy.dir(src, dest, Path::new(""))?;
        Ok(copy.copied)
    }
}

/// What `name` in the folder `dir` is, not following a link: `None` when missing,
/// `Some(true)` for a folder, `Some(false)` for anything else (a symlink included).
fn entry_kind(
    dir: &trainyard_exec::beneath::Dir,
    name: &std::ffi::OsStr,
) -> io::Result<Option<bool>> {
    match dir.entry(name) {
        Ok(e) => Ok(Some(e.kind == trainyard_exec::beneath::Kind::Dir)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// `url` without its `obs://` or `s3://` scheme.
fn strip_scheme(url: &str) -> &str {
    let text = url.trim();
    ["obs://", "s3://", "OBS://", "S3://"]
        .iter()
        .find_map(|s| text.strip_prefix(s))
        .unwrap_or(text)
}

/// One snapshot copy in progress.
struct TreeCopy<'a> {
    /// The project's folder (canonical): nothing outside it is read.
    root: &'a Path,
    /// The code folder being copied (canonical).
    top: &'a Path,
    limit: u64,
    copied: u64,
}

impl TreeCopy<'_> {
    /// How a path is shown to users: as the storage path, never the server's own path.
    fn shown(&self, path: &Path) -> String {
        match path.strip_prefix(self.root) {
            Ok(rel) => format!("/{}", rel.display()),
            Err(_) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }

    /// Copies folder `src` to `dest`; `rel` is `src` relative to the code folder.
    fn dir(&mut self, src: &Path, dest: &Path, rel: &Path) -> Result<(), PathError> {
        std::fs::create_dir_all(dest)?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            let from = entry.path();
            let to = dest.join(entry.file_name());
            let rel = rel.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                self.dir(&from, &to, &rel)?;
            } else if kind.is_file() {
                self.file(&from, &to)?;
            } else if kind.is_symlink() {
                let real = from
                    .canonicalize()
                    .map_err(|_| PathError::Malformed(self.shown(&from)))?;
                if !real.starts_with(self.root) {
                    return Err(PathError::Escapes(self.shown(&from)));
                }
                if real.is_file() {
                    self.file(&real, &to)?;
                } else if let Ok(target) = real.strip_prefix(self.top) {
                    // `rel` has one component per level below the code folder, the link's own
                    // name included: its parent is that many levels deep, minus one.
                    let up = rel.components().count().saturating_sub(1);
                    let mut link: PathBuf = std::iter::repeat_n("..", up).collect();
                    link.push(target);
                    if link.as_os_str().is_empty() {
                        link.push(".");
                    }
                    std::os::unix::fs::symlink(&link, &to)?;
                } else {
                    return Err(PathError::FolderLinkOut(self.shown(&from)));
                }
            }
        }
        Ok(())
    }

    fn file(&mut self, from: &Path, to: &Path) -> Result<(), PathError> {
        let size = std::fs::metadata(from)?.len();
        if self.copied.saturating_add(size) > self.limit {
            return Err(PathError::TooLarge(self.limit));
        }
        self.copied += std::fs::copy(from, to)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_inside_and_refuses_escapes() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Storage::new(tmp.path().join("obs")).unwrap();
        let root = s.project_root("p").unwrap();
        assert_eq!(
            s.resolve("p", "/bucket/dir/").unwrap(),
            root.join("bucket/dir")
        );
        assert_eq!(
            s.resolve("p", "obs://bucket/a").unwrap(),
            root.join("bucket/a")
        );
        assert_eq!(s.resolve("p", "s3://b/./c").unwrap(), root.join("b/c"));
        assert!(matches!(
            s.resolve("p", "/bucket/../../etc"),
            Err(PathError::Escapes(_))
        ));
        assert!(matches!(
            s.resolve("p", "obs://../q/x"),
            Err(PathError::Escapes(_))
        ));
        std::fs::create_dir_all(root.join("b")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("b/link")).unwrap();
        assert!(matches!(
            s.resolve("p", "/b/link/passwd"),
            Err(PathError::Escapes(_))
        ));
        // Another project's folder is outside this one's root.
        s.project_root("q").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("obs/q"), root.join("b/q")).unwrap();
        assert!(matches!(
            s.resolve("p", "/b/q/file"),
            Err(PathError::Escapes(_))
        ));
    }
}
