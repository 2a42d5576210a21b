//! `trainyard backup` and `trainyard restore`: one tar archive holding what a server needs to
//! come back with its jobs and their logs.
//!
//! The archive holds
//! - `trainyard-backup.json`: what it holds ([`Manifest`]);
//! - `database.db`: a consistent copy of the SQLite database, taken while the server runs
//!   (`VACUUM INTO`). A PostgreSQL database is not in it: back it up with `pg_dump`;
//! - `data/...`: the data folder: `credentials.toml` (the generated project's keys),
//!   `job-uids.json` (which user each project's jobs run as: the owner of their files),
//!   `runs/` (each run's record, worker logs, metrics and its supervisor's log), `tls/`, and the
//!   project storage `obs/` (code, outputs, logs of `log_url`) unless left out. Not: the
//!   database files (the copy stands for them), the lock, the S3 data cache (fetched again) and
//!   a TensorBoard virtualenv (installed again);
//! - `storage/...`: the project storage when `[storage] root` lies outside the data folder.
//!
//! Files keep their modes, owners and times. A restore unpacks into an empty data folder, with
//! the same configuration, before the server starts.

use crate::config::Config;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use trainyard_exec::beneath;

/// The manifest's name in the archive.
pub const MANIFEST: &str = "trainyard-backup.json";
/// The database copy's name in the archive.
const DATABASE: &str = "database.db";
/// The data folder's entries below this name.
const DATA: &str = "data";
/// The storage root's entries, when it lies outside the data folder.
const STORAGE: &str = "storage";
/// What is never backed up from the data folder (besides the database files).
const SKIPPED: [&str; 3] = [crate::data_lock::LOCK_FILE, "cache", "tensorboard-venv"];

/// What an archive holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Format of the archive (1).
    pub format: u32,
    /// The trainyard version that wrote it.
    pub trainyard_version: String,
    /// Seconds since the epoch when it was taken.
    pub created_unix: u64,
    /// Whether `database.db` is in it (SQLite); false for PostgreSQL.
    pub database: bool,
    /// Whether the project storage is in it.
    pub storage: bool,
}

/// What a backup or restore did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Whether the database was copied.
    pub database: bool,
    /// Files, folders and links written.
    pub entries: u64,
    /// Bytes of file content written.
    pub bytes: u64,
}

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// Which file or step.
        what: String,
        /// Why.
        source: io::Error,
    },
    /// The database copy failed.
    #[error("copying the database: {0}")]
    Database(#[from] trainyard_store::Error),
    /// The archive or the target cannot be used.
    #[error("{0}")]
    Refused(String),
}

fn io_err(what: impl std::fmt::Display) -> impl FnOnce(io::Error) -> Error {
    let what = what.to_string();
    move |source| Error::Io { what, source }
}

/// Where the configuration keeps the database, the data and the storage.
struct Places {
    data_dir: PathBuf,
    /// The SQLite file, or `None` for PostgreSQL.
    sqlite: Option<PathBuf>,
    storage: PathBuf,
}

impl Places {
    fn of(config: &Config) -> Result<Self, Error> {
        let data_dir = config.data_dir();
        let sqlite = match config.database_url.as_deref() {
            None => Some(data_dir.join("trainyard.db")),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => None,
            Some(url) => {
                let path = url
                    .strip_prefix("sqlite://")
                    .or_else(|| url.strip_prefix("sqlite:"))
                    .unwrap_or(url);
                Some(PathBuf::from(path.split('?').next().unwrap_or(path)))
            }
        };
        let storage = config
            .storage
            .root
            .clone()
            .unwrap_or_else(|| data_dir.join("obs"));
        Ok(Self {
            data_dir,
            sqlite,
            storage,
        })
    }

    /// The storage root, when it lies outside the data folder.
    fn storage_outside(&self) -> Option<&Path> {
        (!self.storage.starts_with(&self.data_dir)).then_some(self.storage.as_path())
    }
}

/// Writes the backup of `config`'s server into the new file `out` (mode 0600: it holds the
/// projects' keys), with the project storage unless `without_storage`. The server may run.
pub async fn backup(config: &Config, out: &Path, without_storage: bool) -> Result<Summary, Error> {
    let places = Places::of(config)?;
    if !places.data_dir.is_dir() {
        return Err(Error::Refused(format!(
            "no data folder at {} (give --config or --data-dir as to `trainyard serve`)",
            places.data_dir.display()
        )));
    }
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(io_err(out.display()))?;
    let written = write_archive(&places, file, without_storage).await;
    if written.is_err() {
        let _ = fs::remove_file(out);
    }
    written
}

async fn write_archive(
    places: &Places,
    file: File,
    without_storage: bool,
) -> Result<Summary, Error> {
    let mut summary = Summary::default();
    // The database first, then the files: a run the copy knows has its folder in the archive.
    let scratch = Scratch::new(&places.data_dir)?;
    let db_copy = scratch.0.join(DATABASE);
    if let Some(db) = &places.sqlite {
        trainyard_store::SqliteStore::snapshot(db, &db_copy).await?;
        summary.database = true;
    }
    let manifest = Manifest {
        format: 1,
        trainyard_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        database: summary.database,
        storage: !without_storage,
    };
    let mut skip: Vec<PathBuf> = SKIPPED.iter().map(|n| places.data_dir.join(n)).collect();
    skip.push(scratch.0.clone());
    if let Some(db) = &places.sqlite {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            skip.push(PathBuf::from(name));
        }
    }
    if without_storage {
        skip.push(places.storage.clone());
    }
    let data_dir = places.data_dir.clone();
    let storage = places
        .storage_outside()
        .filter(|_| !without_storage)
        .map(Path::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut tar = tar::Builder::new(io::BufWriter::new(file));
        tar.follow_symlinks(false);
        let json = serde_json::to_vec_pretty(&manifest).map_err(io::Error::other);
        let json = json.map_err(io_err("the manifest"))?;
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(json.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(manifest.created_unix);
        tar.append_data(&mut header, MANIFEST, json.as_slice())
            .map_err(io_err("the archive"))?;
        if summary.database {
            append_tree(&mut tar, &db_copy, Path::new(DATABASE), &[], &mut summary)?;
        }
        append_tree(&mut tar, &data_dir, Path::new(DATA), &skip, &mut summary)?;
        if let Some(storage) = storage {
            append_tree(&mut tar, &storage, Path::new(STORAGE), &skip, &mut summary)?;
        }
        let out = tar.into_inner().map_err(io_err("the archive"))?;
        out.into_inner()
            .map_err(|e| Error::Io {
                what: "the archive".into(),
                source: e.into_error(),
            })?
            .sync_all()
            .map_err(io_err("the archive"))?;
        Ok(summary)
    })
    .await
    .map_err(|e| Error::Refused(format!("the backup task failed: {e}")))?
}

/// A folder of this process in the data folder (where there is room for the database copy),
/// removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(data_dir: &Path) -> Result<Self, Error> {
        let dir = data_dir.join(format!(".backup-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).map_err(io_err(dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Appends `path` (a file or a folder, recursively) as `name`, leaving out `skip`.
///
/// Below `path` jobs may write (run folders, storage) and plant or swap links at any moment,
/// so the walk never opens a path it looked at first: each folder is read through its own
/// handle and each entry opened beneath it without following any link
/// ([`trainyard_exec::beneath`]). A link is archived as a link; an entry swapped or removed
/// meanwhile is left out.
fn append_tree<W: io::Write>(
    tar: &mut tar::Builder<W>,
    path: &Path,
    name: &Path,
    skip: &[PathBuf],
    summary: &mut Summary,
) -> Result<(), Error> {
    if skip.iter().any(|s| s == path) {
        return Ok(());
    }
    let what = io_err(path.display());
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(what(e)),
        // The roots are the server's own (its data folder, its database copy).
        Ok(meta) if meta.is_dir() => {
            let dir = beneath::Dir::open(path).map_err(what)?;
            append_dir(tar, &dir, path, name, skip, summary)
        }
        Ok(meta) if meta.is_file() => {
            let file = File::open(path).map_err(what)?;
            append_file(tar, file, path, name, summary)
        }
        Ok(_) => Ok(()),
    }
}

/// Appends the folder open as `dir` (at `path`) and what it holds, as `name`.
fn append_dir<W: io::Write>(
    tar: &mut tar::Builder<W>,
    dir: &beneath::Dir,
    path: &Path,
    name: &Path,
    skip: &[PathBuf],
    summary: &mut Summary,
) -> Result<(), Error> {
    let what = || io_err(path.display());
    let st = nix::sys::stat::fstat(dir.as_raw_fd()).map_err(|e| what()(e.into()))?;
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(st.st_mode & 0o7777);
    header.set_uid(u64::from(st.st_uid));
    header.set_gid(u64::from(st.st_gid));
    header.set_mtime(st.st_mtime.max(0) as u64);
    header.set_size(0);
    tar.append_data(&mut header, name, io::empty())
        .map_err(what())?;
    summary.entries += 1;
    let mut entries = dir.entries().map_err(what())?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for e in entries {
        let (child_path, child_name) = (path.join(&e.name), name.join(&e.name));
        if skip.contains(&child_path) {
            continue;
        }
        let rel = Path::new(&e.name);
        // Swapped for something else, or gone, since the listing: left out.
        let gone = |err: &io::Error| {
            beneath::is_missing(err)
                || beneath::is_link(err)
                || beneath::is_dir(err)
                || matches!(err.raw_os_error(), Some(libc::ENXIO | libc::ENOTDIR))
        };
        match e.kind {
            beneath::Kind::Dir => match dir.open_dir(rel) {
                Ok(sub) => append_dir(tar, &sub, &child_path, &child_name, skip, summary)?,
                Err(err) if gone(&err) => {}
                Err(err) => return Err(io_err(child_path.display())(err)),
            },
            beneath::Kind::File => match dir.open_file(rel) {
                Ok(file) => append_file(tar, file, &child_path, &child_name, summary)?,
                Err(err) if gone(&err) => {}
                Err(err) => return Err(io_err(child_path.display())(err)),
            },
            beneath::Kind::Symlink => {
                let Ok(target) = nix::fcntl::readlinkat(Some(dir.as_raw_fd()), rel) else {
                    continue;
                };
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_mtime(
                    e.modified
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs()),
                );
                header.set_size(0);
                tar.append_link(&mut header, &child_name, Path::new(&target))
                    .map_err(io_err(child_path.display()))?;
                summary.entries += 1;
            }
            // Sockets and pipes (a live run's) are not data.
            beneath::Kind::Other => {}
        }
    }
    Ok(())
}

/// Appends the open regular `file` (at `path`) as `name`. One that grows is cut at its size
/// when opened, so a live log is copied up to some line.
fn append_file<W: io::Write>(
    tar: &mut tar::Builder<W>,
    file: File,
    path: &Path,
    name: &Path,
    summary: &mut Summary,
) -> Result<(), Error> {
    let what = || io_err(path.display());
    let meta = file.metadata().map_err(what())?;
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    let size = meta.len();
    header.set_size(size);
    // Exactly `size` bytes: what the file held when opened, zeros if it shrank since.
    let body = file.take(size).chain(io::repeat(0)).take(size);
    tar.append_data(&mut header, name, body).map_err(what())?;
    summary.entries += 1;
    summary.bytes += size;
    Ok(())
}

/// Unpacks the backup `archive` for `config`'s server: into its data folder, which must be
/// empty or absent, the database copy at its SQLite path, the storage at its root. Run it
/// before the server starts. Owners are restored when this runs as root.
pub fn restore(config: &Config, archive: &Path) -> Result<(Manifest, Summary), Error> {
    let places = Places::of(config)?;
    let empty = |dir: &Path| match fs::read_dir(dir) {
        Ok(mut rd) => rd.next().is_none(),
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    };
    if !empty(&places.data_dir) {
        return Err(Error::Refused(format!(
            "the data folder {} is not empty: restore into an empty one (move this one aside first)",
            places.data_dir.display()
        )));
    }
    if let Some(storage) = places.storage_outside() {
        if !empty(storage) {
            return Err(Error::Refused(format!(
                "the storage root {} is not empty: restore into an empty one",
                storage.display()
            )));
        }
    }
    let manifest = read_manifest(archive)?;
    if manifest.database && places.sqlite.is_none() {
        return Err(Error::Refused(
            "this backup holds an SQLite database, but the configuration names a PostgreSQL one"
                .into(),
        ));
    }
    if !manifest.database {
        if let Some(db) = places.sqlite.as_ref().filter(|db| db.exists()) {
            return Err(Error::Refused(format!(
                "this backup holds no database (PostgreSQL: restore it with pg_restore), and {} is there",
                db.display()
            )));
        }
    }
    fs::create_dir_all(&places.data_dir).map_err(io_err(places.data_dir.display()))?;
    let file = File::open(archive).map_err(io_err(archive.display()))?;
    let mut tar = tar::Archive::new(io::BufReader::new(file));
    tar.set_preserve_permissions(true);
    tar.set_preserve_mtime(true);
    tar.set_preserve_ownerships(trainyard_exec::sandbox::privileged());
    tar.set_overwrite(false);
    let mut summary = Summary::default();
    let mut dirs = Vec::new();
    for entry in tar.entries().map_err(io_err(archive.display()))? {
        let mut entry = entry.map_err(io_err(archive.display()))?;
        let name = entry
            .path()
            .map_err(io_err(archive.display()))?
            .into_owned();
        let dest = match target(&places, &name)? {
            Some(dest) => dest,
            None => continue,
        };
        if dest == places.data_dir || places.storage_outside() == Some(dest.as_path()) {
            // The folder itself exists already: its mode and owner, last (below).
            dirs.push((
                dest,
                entry.header().mode().ok(),
                entry.header().uid().ok(),
                entry.header().gid().ok(),
            ));
            continue;
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent.display()))?;
        }
        summary.bytes += entry.header().size().unwrap_or(0);
        entry.unpack(&dest).map_err(io_err(dest.display()))?;
        summary.entries += 1;
        if name == Path::new(DATABASE) {
            summary.database = true;
        }
    }
    for (dir, mode, uid, gid) in dirs {
        use std::os::unix::fs::PermissionsExt;
        if let Some(mode) = mode {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode & 0o7777))
                .map_err(io_err(dir.display()))?;
        }
        if trainyard_exec::sandbox::privileged() {
            let (uid, gid) = (uid.map(|u| u as u32), gid.map(|g| g as u32));
            std::os::unix::fs::chown(&dir, uid, gid).map_err(io_err(dir.display()))?;
        }
    }
    Ok((manifest, summary))
}

/// The manifest at the start of `archive`.
pub fn read_manifest(archive: &Path) -> Result<Manifest, Error> {
    let file = File::open(archive).map_err(io_err(archive.display()))?;
    let mut tar = tar::Archive::new(io::BufReader::new(file));
    let not_a_backup =
        || Error::Refused(format!("{} is not a trainyard backup", archive.display()));
    let mut first = tar
        .entries()
        .map_err(io_err(archive.display()))?
        .next()
        .ok_or_else(not_a_backup)?
        .map_err(|_| not_a_backup())?;
    if first.path().ok().as_deref() != Some(Path::new(MANIFEST)) {
        return Err(not_a_backup());
    }
    let mut text = String::new();
    first
        .read_to_string(&mut text)
        .map_err(io_err(archive.display()))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|_| not_a_backup())?;
    if manifest.format != 1 {
        return Err(Error::Refused(format!(
            "{} has format {}; this trainyard reads format 1",
            archive.display(),
            manifest.format
        )));
    }
    Ok(manifest)
}

/// Where the archive entry `name` goes; `None` for the manifest. Names that climb out
/// (`..`, absolute) are refused.
fn target(places: &Places, name: &Path) -> Result<Option<PathBuf>, Error> {
    if name == Path::new(MANIFEST) {
        return Ok(None);
    }
    if !name.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(Error::Refused(format!(
            "archive entry {} leaves its folder",
            name.display()
        )));
    }
    if name == Path::new(DATABASE) {
        return Ok(places.sqlite.clone());
    }
    let under = |root: &Path, prefix: &str| {
        name.strip_prefix(prefix).ok().map(|rest| {
            if rest.as_os_str().is_empty() {
                root.to_owned()
            } else {
                root.join(rest)
            }
        })
    };
    if let Some(dest) = under(&places.data_dir, DATA) {
        return Ok(Some(dest));
    }
    match (places.storage_outside(), under(&places.storage, STORAGE)) {
        (Some(_), Some(dest)) => Ok(Some(dest)),
        _ => Err(Error::Refused(format!(
            "archive entry {} has no place in this configuration",
            name.display()
        ))),
    }
}
