//! A run's object-store folders ([`ObjectSync`]): inputs fetched before the workers start
//! (followed ones kept fresh), outputs uploaded by a thread of their own while the workers
//! run (so a stopped or killed run keeps what it wrote up to the last pass) and once more
//! after they have ended; the checkpoint folder on its own interval, verified
//! ([`super::checkpoint`]).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use super::checkpoint::{self, Checkpoints};
use super::notes::report;
use crate::checkpoint::CheckpointSync;
use crate::objects::{CacheEntry, Mirrored, Objects, Uploaded};
use crate::{ObjectInput, ObjectOutput, ObjectSync, RunAs};

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
    tick: mpsc::Sender<Tick>,
    thread: JoinHandle<Vec<String>>,
}

/// What the upload thread is asked to do before its interval is over.
enum Tick {
    /// Upload the checkpoint folder now (a stop was requested: before the SIGKILL deadline).
    Checkpoint,
    /// The workers have ended: the last uploads.
    Finish,
}

/// Asks the upload thread for a checkpoint upload now.
#[derive(Clone)]
pub struct Waker(mpsc::Sender<Tick>);

impl Waker {
    /// Starts an upload of the checkpoint folder now.
    pub fn checkpoint_now(&self) {
        let _ = self.0.send(Tick::Checkpoint);
    }
}

impl Transfers {
    /// Fetches the inputs of `sync` and links each where the workers expect it, and restores
    /// the checkpoint an attempt after the first starts from (given to `owner`). An error
    /// says which folder failed and why; it is also written to every worker log.
    pub fn fetch(
        sync: &ObjectSync,
        logs: Vec<PathBuf>,
        owner: Option<RunAs>,
    ) -> Result<Self, String> {
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
        if let Some(c) = &sync.checkpoint {
            checkpoint::restore(&runtime, &objects, c, owner, &logs)?;
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

    /// Starts refreshing the followed inputs and uploading `outputs` every `interval`, and
    /// the checkpoint folder on its own interval, until [`Self::finish`].
    pub fn start_uploads(
        &mut self,
        outputs: Vec<ObjectOutput>,
        interval: Duration,
        checkpoint: Option<CheckpointSync>,
    ) {
        let mut followed = std::mem::take(&mut self.followed);
        if outputs.is_empty() && followed.is_empty() && checkpoint.is_none() {
            return;
        }
        let checkpoint_interval = checkpoint
            .as_ref()
            .map(|c| Duration::from_millis(c.interval_ms.max(100)));
        let mut checkpoints = checkpoint.map(Checkpoints::new);
        let (tick, wait) = mpsc::channel();
        let (runtime, objects, logs) = (
            self.runtime.clone(),
            self.objects.clone(),
            self.logs.clone(),
        );
        let thread = std::thread::spawn(move || {
            let mut done: Vec<Uploaded> = outputs.iter().map(|_| Uploaded::default()).collect();
            let mut next_outputs = Instant::now() + interval;
            let mut next_checkpoint = checkpoint_interval.map(|i| Instant::now() + i);
            // While the workers run, a failed pass is retried by the next one.
            loop {
                let next = next_checkpoint.map_or(next_outputs, |c| c.min(next_outputs));
                match wait.recv_timeout(next.saturating_duration_since(Instant::now())) {
                    Ok(Tick::Finish) | Err(RecvTimeoutError::Disconnected) => break,
                    Ok(Tick::Checkpoint) => {
                        if let Some(c) = &mut checkpoints {
                            c.pass(&runtime, &objects, &logs);
                        }
                        continue;
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                }
                if let (Some(c), Some(at), Some(every)) =
                    (&mut checkpoints, next_checkpoint, checkpoint_interval)
                {
                    if Instant::now() >= at {
                        c.pass(&runtime, &objects, &logs);
                        next_checkpoint = Some(Instant::now() + every);
                    }
                }
                if Instant::now() < next_outputs {
                    continue;
                }
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
                next_outputs = Instant::now() + interval;
            }
            // The workers have ended: what they saved last goes up before the outputs.
            if let Some(c) = &mut checkpoints {
                c.pass(&runtime, &objects, &logs);
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
        self.uploads = Some(Uploads { tick, thread });
    }

    /// A waker of the upload thread, for a checkpoint upload when a stop is requested.
    pub fn waker(&self) -> Option<Waker> {
        self.uploads.as_ref().map(|u| Waker(u.tick.clone()))
    }

    /// The last upload of every output; the failures, each already in the worker logs.
    pub fn finish(mut self) -> Vec<String> {
        let Some(u) = self.uploads.take() else {
            return Vec::new();
        };
        let _ = u.tick.send(Tick::Finish);
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
