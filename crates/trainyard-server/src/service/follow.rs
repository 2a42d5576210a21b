//! Live log following (`.../log/stream`): pushed, not polled.
//!
//! One inotify instance serves the whole server. A followed log's folder is watched once,
//! however many streams follow files in it; each followed file has one change counter (a
//! `watch` channel) that every follower of it waits on, bumped by the one task that reads
//! the inotify events. A version's end comes from the lifecycle (the one place that records
//! it, see [`Followers::run_ended`]) through a second `watch` channel per followed version.
//! An idle follower therefore costs nothing until its file changes or its run ends.
//!
//! Fallback, one task per followed version (not per follower): every
//! [`FALLBACK_TICK`] it compares the followed files' sizes with what it saw last (a log
//! written where this host's inotify cannot see, e.g. a Slurm node's shared folder, or a
//! folder that did not exist yet when the stream opened) and every [`END_POLL`] asks the
//! database whether the version ended: a replica that does not hold the scheduling duty
//! records no ends itself, so its followers learn of one within that time.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;
use trainyard_store::Store;

/// How often the fallback looks at the followed files' sizes.
pub const FALLBACK_TICK: Duration = Duration::from_secs(1);
/// How often the fallback asks the database whether a followed version ended.
pub const END_POLL: Duration = Duration::from_secs(5);

/// The inotify instance as tokio registers it (a descriptor it owns).
struct InotifyFd(Inotify);

impl std::os::fd::AsRawFd for InotifyFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.0.as_fd().as_raw_fd()
    }
}

/// The followers of every log this server streams.
pub struct Followers {
    inotify: Option<Arc<AsyncFd<InotifyFd>>>,
    state: Mutex<State>,
    store: Arc<dyn Store>,
    max_per_project: usize,
}

#[derive(Default)]
struct State {
    /// Watched folders: their watch and how many followed files are in them.
    dirs: HashMap<PathBuf, (WatchDescriptor, usize)>,
    by_wd: HashMap<WatchDescriptor, PathBuf>,
    files: HashMap<PathBuf, FileEntry>,
    versions: HashMap<i64, VersionEntry>,
    /// Open streams by project.
    streams: HashMap<String, usize>,
}

struct FileEntry {
    changed: watch::Sender<u64>,
    users: usize,
    /// Its folder is watched (else only the fallback sees it grow).
    watched: bool,
    /// Size the fallback saw last.
    last_len: u64,
}

struct VersionEntry {
    ended: watch::Sender<bool>,
    users: usize,
    files: HashSet<PathBuf>,
}

/// The project has as many streams open as it may.
#[derive(Debug)]
pub struct TooManyStreams(pub usize);

/// One open stream: its slot in the project's count and what its follower waits on.
/// Dropping it gives all of that back.
pub struct Subscription {
    hub: Arc<Followers>,
    project: String,
    version: i64,
    path: PathBuf,
    /// Bumped whenever the followed file may have changed.
    pub changed: watch::Receiver<u64>,
    /// Turns true once the version is over.
    pub ended: watch::Receiver<bool>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.close(&self.project, self.version, &self.path);
    }
}

impl Followers {
    /// The hub, with its inotify reader task (must run inside the tokio runtime). Without
    /// inotify (none left for this user) every file is followed by the fallback.
    pub fn new(store: Arc<dyn Store>, max_per_project: usize) -> Arc<Self> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .map_err(std::io::Error::from)
            // SAFETY: the descriptor is owned by the `Inotify` moved in, so it stays open
            // for as long as the `AsyncFd` is registered.
            .and_then(|i| unsafe { AsyncFd::register(InotifyFd(i)) }.map_err(Into::into))
            .map_err(|e| {
                tracing::warn!(error = %e, "no inotify; log streams poll their files every second")
            })
            .ok()
            .map(Arc::new);
        let hub = Arc::new(Self {
            inotify: inotify.clone(),
            state: Mutex::new(State::default()),
            store,
            max_per_project,
        });
        if let Some(fd) = inotify {
            tokio::spawn(read_events(fd, Arc::downgrade(&hub)));
        }
        hub
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Opens a stream of `path` (a log of `version`) for `project`, or refuses it when the
    /// project has `max_streams_per_project` open.
    pub fn open(
        self: &Arc<Self>,
        project: &str,
        version: i64,
        path: PathBuf,
    ) -> Result<Subscription, TooManyStreams> {
        let mut st = self.lock();
        let open = st.streams.entry(project.to_owned()).or_default();
        if *open >= self.max_per_project {
            return Err(TooManyStreams(self.max_per_project));
        }
        *open += 1;
        let new_version = !st.versions.contains_key(&version);
        let v = st.versions.entry(version).or_insert_with(|| VersionEntry {
            ended: watch::Sender::new(false),
            users: 0,
            files: HashSet::new(),
        });
        v.users += 1;
        v.files.insert(path.clone());
        let ended = v.ended.subscribe();
        let changed = match st.files.get_mut(&path) {
            Some(f) => {
                f.users += 1;
                f.changed.subscribe()
            }
            None => {
                let watched = self.watch_dir(&mut st, &path);
                let f = FileEntry {
                    changed: watch::Sender::new(0),
                    users: 1,
                    watched,
                    last_len: std::fs::metadata(&path).map_or(0, |m| m.len()),
                };
                let rx = f.changed.subscribe();
                st.files.insert(path.clone(), f);
                rx
            }
        };
        drop(st);
        if new_version {
            tokio::spawn(fallback(Arc::downgrade(self), version));
        }
        Ok(Subscription {
            hub: self.clone(),
            project: project.to_owned(),
            version,
            path,
            changed,
            ended,
        })
    }

    /// Watches the folder of `path` (once per folder); false when it cannot be watched
    /// (yet): the fallback then follows the file and tries again.
    fn watch_dir(&self, st: &mut State, path: &Path) -> bool {
        let (Some(fd), Some(dir)) = (&self.inotify, path.parent()) else {
            return false;
        };
        if let Some((_, n)) = st.dirs.get_mut(dir) {
            *n += 1;
            return true;
        }
        let flags = AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_ONLYDIR;
        match fd.get_ref().0.add_watch(dir, flags) {
            Ok(wd) => {
                st.dirs.insert(dir.to_owned(), (wd, 1));
                st.by_wd.insert(wd, dir.to_owned());
                true
            }
            Err(e) => {
                tracing::debug!(dir = %dir.display(), error = %e, "cannot watch a log folder (yet)");
                false
            }
        }
    }

    fn close(&self, project: &str, version: i64, path: &Path) {
        let mut st = self.lock();
        if let Some(n) = st.streams.get_mut(project) {
            *n -= 1;
            if *n == 0 {
                st.streams.remove(project);
            }
        }
        let last_of_file = st.files.get_mut(path).is_some_and(|f| {
            f.users -= 1;
            f.users == 0
        });
        if last_of_file {
            let f = st.files.remove(path).expect("present");
            if f.watched {
                self.unwatch_dir(&mut st, path);
            }
        }
        if let Some(v) = st.versions.get_mut(&version) {
            v.users -= 1;
            if last_of_file {
                v.files.remove(path);
            }
            if v.users == 0 {
                st.versions.remove(&version);
            }
        }
    }

    fn unwatch_dir(&self, st: &mut State, path: &Path) {
        let Some(dir) = path.parent() else { return };
        let last = st.dirs.get_mut(dir).is_some_and(|(_, n)| {
            *n -= 1;
            *n == 0
        });
        if last {
            let (wd, _) = st.dirs.remove(dir).expect("present");
            st.by_wd.remove(&wd);
            if let Some(fd) = &self.inotify {
                // Fails when the folder is gone (the watch went with it).
                let _ = fd.get_ref().0.rm_watch(wd);
            }
        }
    }

    /// The lifecycle recorded the end of `version`: its followers send what is left and end.
    pub fn run_ended(&self, version: i64) {
        if let Some(v) = self.lock().versions.get(&version) {
            v.ended.send_replace(true);
        }
    }

    /// Open streams of `project` now.
    pub fn open_streams(&self, project: &str) -> usize {
        self.lock().streams.get(project).copied().unwrap_or(0)
    }
}

fn bump(f: &FileEntry) {
    f.changed.send_modify(|n| *n = n.wrapping_add(1));
}

/// Reads the inotify events and wakes the followers of each file they name.
async fn read_events(fd: Arc<AsyncFd<InotifyFd>>, hub: Weak<Followers>) {
    loop {
        let mut guard = match fd.readable().await {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %e, "inotify failed; log streams fall back to polling");
                return;
            }
        };
        let events = match guard.try_io(|inner| {
            inner
                .get_ref()
                .0
                .read_events()
                .map_err(std::io::Error::from)
        }) {
            Ok(Ok(events)) => events,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot read inotify events");
                return;
            }
            Err(_would_block) => continue,
        };
        let Some(hub) = hub.upgrade() else { return };
        let mut st = hub.lock();
        for ev in events {
            if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                st.files.values().for_each(bump);
                continue;
            }
            let Some(dir) = st.by_wd.get(&ev.wd).cloned() else {
                continue;
            };
            if ev.mask.contains(AddWatchFlags::IN_IGNORED) {
                // The folder is gone: its files' followers look again (and see the end).
                st.by_wd.remove(&ev.wd);
                st.dirs.remove(&dir);
                for f in st
                    .files
                    .iter_mut()
                    .filter(|(p, _)| p.parent() == Some(&*dir))
                {
                    f.1.watched = false;
                    bump(f.1);
                }
                continue;
            }
            if let Some(f) = ev.name.and_then(|n| st.files.get(&dir.join(n))) {
                bump(f);
            }
        }
    }
}

/// The fallback of one followed version, until its last follower is gone.
async fn fallback(hub: Weak<Followers>, version: i64) {
    let ticks_per_poll = (END_POLL.as_millis() / FALLBACK_TICK.as_millis()).max(1) as u32;
    let mut tick = 0u32;
    loop {
        tokio::time::sleep(FALLBACK_TICK).await;
        let Some(hub) = hub.upgrade() else { return };
        let files: Vec<PathBuf> = {
            let mut st = hub.lock();
            let Some(v) = st.versions.get(&version) else {
                return;
            };
            let files: Vec<PathBuf> = v.files.iter().cloned().collect();
            // Folders that did not exist when their stream opened.
            for path in &files {
                if st.files.get(path).is_some_and(|f| !f.watched) && hub.watch_dir(&mut st, path) {
                    if let Some(f) = st.files.get_mut(path) {
                        f.watched = true;
                        bump(f);
                    }
                }
            }
            files
        };
        for path in files {
            let len = tokio::fs::metadata(&path).await.map_or(0, |m| m.len());
            let mut st = hub.lock();
            if let Some(f) = st.files.get_mut(&path).filter(|f| f.last_len != len) {
                f.last_len = len;
                bump(f);
            }
        }
        tick += 1;
        if tick >= ticks_per_poll {
            tick = 0;
            let over = match hub.store.version_by_id(version).await {
                Ok(Some(v)) => v.status.is_terminal(),
                Ok(None) => true,
                Err(_) => false,
            };
            if over {
                hub.run_ended(version);
            }
        }
    }
}
