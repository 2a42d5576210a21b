//! Multipart uploads on disk and their housekeeping. An upload is a folder
//! `<bucket>/.trainyard-multipart/<id>/` holding its object key (file `key`, whose modification
//! time is when the upload began) and its parts, one file per part number. A periodic sweep
//! removes uploads older than `[obs] multipart_expiry_seconds` with their parts, as S3's
//! `AbortIncompleteMultipartUpload` lifecycle rule does.

use crate::storage::Storage;
use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};
use trainyard_exec::beneath::{self, Dir, Kind};

/// Where the parts of a bucket's multipart uploads wait, one folder per upload.
pub const MULTIPART_DIR: &str = ".trainyard-multipart";

/// The file of an upload's folder that holds its object key.
pub const KEY_FILE: &str = "key";

/// One open multipart upload.
#[derive(Clone, Debug)]
pub struct Upload {
    /// The object key it will complete into.
    pub key: String,
    /// Its upload id.
    pub id: String,
    /// When it began.
    pub initiated: SystemTime,
}

/// One uploaded part.
#[derive(Clone, Debug)]
pub struct StoredPart {
    /// Its number (1..=10000).
    pub number: i32,
    /// Its size in bytes.
    pub size: u64,
    /// When it was written.
    pub modified: SystemTime,
}

/// The object key an upload's folder was made for (`None` for a folder without one).
pub fn upload_key(upload: &Dir) -> io::Result<Option<String>> {
    match upload.open_file(Path::new(KEY_FILE)) {
        Ok(mut f) => {
            let mut key = String::new();
            io::Read::read_to_string(&mut f, &mut key)?;
            Ok(Some(key))
        }
        Err(e) if beneath::is_missing(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// When the upload in folder `id` of `uploads` began.
fn initiated(uploads: &Dir, id: &OsStr) -> SystemTime {
    let dir = match uploads.open_dir(Path::new(id)) {
        Ok(d) => d,
        Err(_) => return SystemTime::UNIX_EPOCH,
    };
    dir.entry(OsStr::new(KEY_FILE))
        .or_else(|_| dir.metadata())
        .map_or(SystemTime::UNIX_EPOCH, |e| e.modified)
}

/// Every open upload of a bucket, sorted by key then id.
pub fn uploads(bucket: &Dir) -> io::Result<Vec<Upload>> {
    let mp = match bucket.open_dir(Path::new(MULTIPART_DIR)) {
        Ok(d) => d,
        Err(e) if beneath::is_missing(&e) || beneath::is_link(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in mp.entries()? {
        if e.kind != Kind::Dir {
            continue;
        }
        let Some(id) = e.name.to_str().map(str::to_owned) else {
            continue;
        };
        let Ok(dir) = mp.open_dir(Path::new(&id)) else {
            continue;
        };
        let Ok(Some(key)) = upload_key(&dir) else {
            continue;
        };
        out.push(Upload {
            key,
            initiated: initiated(&mp, &e.name),
            id,
        });
    }
    out.sort_by(|a, b| (&a.key, &a.id).cmp(&(&b.key, &b.id)));
    Ok(out)
}

/// The parts of an upload, by number.
pub fn parts(upload: &Dir) -> io::Result<Vec<StoredPart>> {
    let mut out: Vec<StoredPart> = upload
        .entries()?
        .into_iter()
        .filter(|e| e.kind == Kind::File)
        .filter_map(|e| {
            let number: i32 = e.name.to_str()?.parse().ok()?;
            (1..=10_000).contains(&number).then_some(StoredPart {
                number,
                size: e.len,
                modified: e.modified,
            })
        })
        .collect();
    out.sort_by_key(|p| p.number);
    Ok(out)
}

/// The buckets (plain folders) of a project's root.
fn buckets(root: &Dir) -> io::Result<Vec<Dir>> {
    let mut out = Vec::new();
    for e in root.entries()? {
        if e.kind == Kind::Dir && e.name.to_str().is_some_and(|n| !n.starts_with('.')) {
            if let Ok(d) = root.open_dir(Path::new(&e.name)) {
                out.push(d);
            }
        }
    }
    Ok(out)
}

/// How many uploads a project has open, over all its buckets.
pub fn open_count(root: &Dir) -> io::Result<usize> {
    let mut n = 0;
    for bucket in buckets(root)? {
        match bucket.open_dir(Path::new(MULTIPART_DIR)) {
            Ok(mp) => n += mp.entries()?.iter().filter(|e| e.kind == Kind::Dir).count(),
            Err(e) if beneath::is_missing(&e) || beneath::is_link(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Removes a bucket's upload folder once it holds nothing.
pub fn tidy(bucket: &Dir) {
    let _ = bucket.remove_dir(OsStr::new(MULTIPART_DIR));
}

/// Removes the uploads of a project's root that began more than `age` before `now`; returns
/// how many went.
pub fn sweep_project(root: &Dir, age: Duration, now: SystemTime) -> io::Result<usize> {
    let mut removed = 0;
    for bucket in buckets(root)? {
        let mp = match bucket.open_dir(Path::new(MULTIPART_DIR)) {
            Ok(d) => d,
            Err(e) if beneath::is_missing(&e) || beneath::is_link(&e) => continue,
            Err(e) => return Err(e),
        };
        for e in mp.entries()? {
            if e.kind != Kind::Dir {
                continue;
            }
            let began = initiated(&mp, &e.name);
            if now.duration_since(began).is_ok_and(|d| d > age) {
                match mp.remove_dir_all(&e.name) {
                    Ok(()) => removed += 1,
                    Err(err) if beneath::is_missing(&err) => {}
                    Err(err) => return Err(err),
                }
            }
        }
        tidy(&bucket);
    }
    Ok(removed)
}

/// Sweeps the projects' storage every `age / 4` (1 s to 1 h) until `shutdown` turns true.
pub fn spawn_sweep(
    storage: Storage,
    projects: Vec<String>,
    age: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    if storage.objects().is_some() {
        return;
    }
    let every = (age / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            let storage = storage.clone();
            let projects = projects.clone();
            let swept = tokio::task::spawn_blocking(move || {
                let now = SystemTime::now();
                let mut out = Vec::new();
                for p in projects {
                    let done = storage
                        .project_root(&p)
                        .and_then(|root| Dir::open(&root))
                        .and_then(|root| sweep_project(&root, age, now));
                    out.push((p, done));
                }
                out
            })
            .await;
            for (project, done) in swept.unwrap_or_default() {
                match done {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        project.id = %project,
                        uploads = n,
                        "removed abandoned multipart uploads ([obs] multipart_expiry_seconds)"
                    ),
                    Err(e) => tracing::warn!(
                        project.id = %project,
                        error = %e,
                        "sweeping abandoned multipart uploads failed"
                    ),
                }
            }
        }
    });
}
