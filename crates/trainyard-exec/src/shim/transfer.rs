//! A run's object-store folders ([`ObjectSync`]): inputs fetched before the workers start
//! (followed ones kept fresh), outputs uploaded by a thread of their own while the workers
//! run (so a stopped or killed run keeps what it wrote up to the last pass) and once more
//! after they have ended.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::objects::{CacheEntry, Mirrored, Objects, Uploaded};
use crate::run_dir::open_log;
use crate::{ObjectInput, ObjectOutput, ObjectSync};

/// The transfers of one run.
pub struct Transfers {
    runtime: Arc<Runtime>,
    objects: Arc<Objects>,
    /// The fetched inputs, held (their cache entries cannot be evicted) until the run ends.
    _inputs: Vec<CacheEntry>,
    /// Inputs kept fresh, with what their folders hold.
    followed: Vec<(ObjectInput, Mirrored)>,
    uploads: Option<Uploads>,
    /// The workers' log files: where a failed transfer is reported.
    logs: Vec<PathBuf>,
}

struct Uploads {
    finish: mpsc::Sender<()>,
    thread: JoinHandle<Vec<String>>,
}

impl Transfers {
    /// Fetches the inputs of `sync` and links each where the workers expect it. An error says
    /// which folder failed and why; it is also written to every worker log.
    pub fn fetch(sync: &ObjectSync, logs: Vec<PathBuf>) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("shim-transfer")
            .enable_all()
            .build()
            .map_err(|e| format!("shim: cannot start the transfer runtime: {e}"))?;
        let objects = Arc::new(Objects::new(sync.s3.clone()));
        let mut inputs = Vec::new();
        let mut followed = Vec::new();
        for input in sync.inputs.iter().filter(|i| i.follow) {
            let mut state = Mirrored::default();
            let fetched =
                runtime.block_on(objects.mirror(&input.from, &input.link, input.limit, &mut state));
            if let Err(e) = fetched {
                let message = format!("cannot fetch {}: {e}", input.from.url());
                report(&logs, &message);
                return Err(message);
            }
            followed.push((input.clone(), state));
        }
        for input in sync.inputs.iter().filter(|i| !i.follow) {
            let fetched = runtime
                .block_on(objects.fetch_cached(&input.from, &input.cache, input.limit))
                .map_err(|e| format!("cannot fetch {}: {e}", input.from.url()))
                .and_then(|entry| {
                    link(&entry.dir, &input.link)
                        .map(|()| entry)
                        .map_err(|e| format!("cannot link {}: {e}", input.link.display()))
                });
            match fetched {
                Ok(entry) => {
                    tracing::info!(url = %input.from.url(), reused = entry.reused, "input fetched");
                    inputs.push(entry);
                }
                Err(message) => {
                    report(&logs, &message);
                    return Err(message);
                }
            }
        }
        Ok(Self {
            runtime: Arc::new(runtime),
            objects,
            _inputs: inputs,
            followed,
            uploads: None,
            logs,
        })
    }

    /// Starts refreshing the followed inputs and uploading `outputs` every `interval` until
    /// [`Self::finish`].
    pub fn start_uploads(&mut self, outputs: Vec<ObjectOutput>, interval: Duration) {
        let mut followed = std::mem::take(&mut self.followed);
        if outputs.is_empty() && followed.is_empty() {
            return;
        }
        let (finish, wait) = mpsc::channel();
        let (runtime, objects, logs) = (
            self.runtime.clone(),
            self.objects.clone(),
            self.logs.clone(),
        );
        let thread = std::thread::spawn(move || {
            let mut done: Vec<Uploaded> = outputs.iter().map(|_| Uploaded::default()).collect();
            // While the workers run, a failed pass is retried by the next one.
            while let Err(RecvTimeoutError::Timeout) = wait.recv_timeout(interval) {
                for (input, state) in &mut followed {
                    let fresh = objects.mirror(&input.from, &input.link, input.limit, state);
                    if let Err(e) = runtime.block_on(fresh) {
                        tracing::warn!(error = %e, "refresh failed; the next pass retries it");
                    }
                }
                for (o, done) in outputs.iter().zip(&mut done) {
                    if let Err(e) =
                        runtime.block_on(objects.upload(&o.from, &o.to, &o.exclude, done))
                    {
                        tracing::warn!(error = %e, "upload failed; the next pass retries it");
                    }
                }
            }
            let mut failures = Vec::new();
            for (o, done) in outputs.iter().zip(&mut done) {
                match runtime.block_on(objects.upload(&o.from, &o.to, &o.exclude, done)) {
                    Ok(sent) => tracing::info!(url = %o.to.url(), files = sent, "output uploaded"),
                    Err(e) => {
                        let message = format!("upload to {} failed: {e}", o.to.url());
                        // Before the later outputs (the logs), so they carry it.
                        report(&logs, &message);
                        failures.push(message);
                    }
                }
            }
            failures
        });
        self.uploads = Some(Uploads { finish, thread });
    }

    /// The last upload of every output; the failures, each already in the worker logs.
    pub fn finish(mut self) -> Vec<String> {
        let Some(u) = self.uploads.take() else {
            return Vec::new();
        };
        let _ = u.finish.send(());
        u.thread
            .join()
            .unwrap_or_else(|_| vec!["the upload thread panicked".to_owned()])
    }
}

/// Points `link` at `target`, replacing what was there in one step.
fn link(target: &Path, link: &Path) -> std::io::Result<()> {
    if let Some(parent) = link.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = link.with_extension(format!("link-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link)
}

/// Appends `[trainyard] message` to every worker log: the version's log shows what went wrong.
fn report(logs: &[PathBuf], message: &str) {
    tracing::error!(message, "object store transfer failed");
    for path in logs {
        if let Ok(mut f) = open_log(path) {
            let _ = writeln!(f, "[trainyard] {message}");
        }
    }
}
