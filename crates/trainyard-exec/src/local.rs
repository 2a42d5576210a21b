//! The local backend: each run's workers under a shim on this host.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::launch::launch_on;
use crate::submit::{
    EventSender, Reattached, RunEnd, RunEvent, RunId, Submission, SubmitError, Submitted,
};
use crate::{reattach, request_stop, run_dir, Attach, RunHandle, RunSpec, Running, Shims};

/// The run supervisor's own program, installed beside `trainyard` (the CLI package's second
/// binary).
pub const SHIM_PROGRAM: &str = "trainyard-shim";

/// The program local runs' shims are started as (`<program> shim <run_dir>`), given the
/// `trainyard` binary: `trainyard-shim` beside it when it is there, else `trainyard` itself,
/// whose hidden `shim` subcommand runs the same supervisor. The small program starts several
/// times faster: `trainyard` links the server, and loading and relocating it dominated a
/// trivial run's shim (bench/results.md, issue #32).
pub fn shim_program(trainyard: &Path) -> PathBuf {
    let beside = trainyard.with_file_name(SHIM_PROGRAM);
    if beside.is_file() {
        beside
    } else {
        trainyard.to_owned()
    }
}

/// How many idle spare shims a backend for training runs keeps (see [`Shims`]): two, so
/// that two runs starting at once (a 2-core host's runs) both find one.
pub const SPARE_SHIMS: usize = 2;

/// Runs on this host. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LocalBackend {
    shims: Arc<Shims>,
    events: EventSender,
}

impl LocalBackend {
    /// A backend that runs each run under a shim of `shim_program` (see [`shim_program`]),
    /// keeping `spares` idle spare shims ready once its first run started, and reports to
    /// `events`.
    pub fn new(shim_program: PathBuf, spares: usize, events: EventSender) -> Self {
        Self {
            shims: Shims::new(shim_program, spares),
            events,
        }
    }

    pub(crate) async fn submit(&self, s: Submission) -> Result<Submitted, SubmitError> {
        let (handle, running) = launch_on(&s.spec, &self.shims).await?;
        self.follow(s.id, running, s.time_limit);
        Ok(Submitted::Started(RunHandle::Local(handle)))
    }

    pub(crate) async fn stop(&self, run_dir: &Path, grace: Duration) {
        let dir = run_dir.to_owned();
        let asked = tokio::task::spawn_blocking(move || request_stop(&dir, grace)).await;
        if !matches!(asked, Ok(Ok(()))) {
            tracing::warn!(run_dir = %run_dir.display(), "stop request failed");
        }
    }

    pub(crate) async fn reattach(
        &self,
        id: RunId,
        run_dir: &Path,
        stopping: Option<Duration>,
        time_limit: Option<Duration>,
    ) -> Reattached {
        let dir = run_dir.to_owned();
        let attach = tokio::task::spawn_blocking(move || reattach(&dir))
            .await
            .unwrap_or(Attach::Lost);
        let ended = |exit| {
            let end = RunEnd {
                exit,
                note: None,
                timed_out: false,
            };
            let _ = self.events.send((id, RunEvent::Ended(end)));
            Reattached::Followed
        };
        match attach {
            Attach::Finished(exit) => {
                make_durable_meanwhile(run_dir);
                ended(Some(exit))
            }
            Attach::Lost => ended(None),
            Attach::Alive(running) => {
                tracing::info!(version.id = id, "reattached to a running job");
                // It may have been launched just before a crash that kept its handle (and
                // status 8) from being recorded: it is running, under this shim.
                let handle = RunHandle::Local(running.handle());
                let _ = self.events.send((id, RunEvent::Handle(handle)));
                let _ = self.events.send((id, RunEvent::Running));
                if let Some(grace) = stopping {
                    self.stop(run_dir, grace).await;
                }
                self.follow(id, running, time_limit);
                Reattached::Followed
            }
            Attach::NotStarted => {
                if let Some(grace) = stopping {
                    // Stopped first, so a shim launched just before the crash starts nothing.
                    self.stop(run_dir, grace).await;
                }
                Reattached::NotStarted
            }
        }
    }

    /// Watches a run until it ends, stopping it at its time limit, and reports its end.
    fn follow(&self, id: RunId, mut running: Running, time_limit: Option<Duration>) {
        let events = self.events.clone();
        let deadline = time_limit.and_then(|t| tokio::time::Instant::now().checked_add(t));
        tokio::spawn(async move {
            let mut timed_out = false;
            let exit = loop {
                tokio::select! {
                    exit = running.wait() => break exit,
                    _ = sleep_until(deadline), if deadline.is_some() && !timed_out => {
                        timed_out = true;
                        tracing::info!(version.id = id, "job exceeded its time limit, stopping it");
                        let dir = running.run_dir().to_owned();
                        let _ = tokio::task::spawn_blocking(move || {
                            // The run's own grace, from its spec.
                            let spec = run_dir::read_json::<RunSpec>(&run_dir::file(&dir, run_dir::SPEC));
                            let grace = spec.ok().flatten().map_or(0, |s| s.grace_seconds);
                            request_stop(&dir, Duration::from_secs(grace))
                        })
                        .await;
                    }
                }
            };
            tracing::debug!(version.id = id, "run's end seen");
            if exit.is_some() {
                make_durable_meanwhile(running.run_dir());
            }
            let end = RunEnd {
                exit,
                note: None,
                timed_out,
            };
            let _ = events.send((id, RunEvent::Ended(end)));
        });
    }
}

/// Fsyncs the run's `exit.json` in the background, while its end is being recorded: the shim
/// we launched left that to us (`run_shim`), so that its exit, which tells us the run ended,
/// does not wait for the disk. Power lost before this is done loses the file, as power
/// lost during the shim's own fsync would; the run is then recorded as lost.
fn make_durable_meanwhile(run_dir: &Path) {
    let path = run_dir::file(run_dir, run_dir::EXIT);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = run_dir::make_durable(&path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot fsync exit.json");
        }
    });
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
