//! The event log of each version's run: what happened to it and when (created, queued,
//! started, worker exited, stop requested, hang suspected, ended, ...).
//!
//! Events are written through one function, [`record`], which the lifecycle calls beside its
//! status changes. It never waits for the database and never fails: the event goes to a
//! writer task that appends what has gathered within 50 ms in one transaction (so a burst of
//! starts costs one write, not one per start), retries a refused write a few times, and otherwise logs
//! and drops it. A status change is never delayed or refused for its event.

use crate::util::now_ms;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use trainyard_api::events::RunEventInfo;
use trainyard_api::JobStatus;
use trainyard_exec::backend::RunEnd;
use trainyard_exec::RunHandle;
use trainyard_store::{NewRunEvent, RunEventRow, Store, Version};

/// Who asked for a run's stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopBy {
    /// A user (TJ-07, a v2 terminate).
    User,
    /// A delete of the version or its job.
    Delete,
    /// The project went over its storage quota.
    Quota,
    /// Its time limit (`max_runtime_seconds`).
    Timeout,
    /// The hang detection.
    Hang,
}

/// One event of a run. Its JSON form (`kind` and its fields) is what the log keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The version was created.
    Created,
    /// It waits for its start, and why.
    Queued {
        /// Why it waits.
        why: String,
    },
    /// Its workers were started.
    Started {
        /// `local` or `slurm`.
        backend: String,
        /// Where: this host's name, or the Slurm job.
        place: String,
    },
    /// A worker ended.
    WorkerExited {
        /// Its index.
        worker: usize,
        /// Its exit code, when it exited.
        exit_code: Option<i32>,
        /// Its signal, when it was killed.
        signal: Option<i32>,
    },
    /// Another attempt of the run will start after a delay.
    RetryScheduled {
        /// Why the last attempt failed.
        reason: String,
        /// The attempt about to start (2 for the first retry).
        attempt: u32,
        /// How many attempts it may have.
        of: u32,
        /// Seconds until it starts.
        delay_s: f64,
    },
    /// No output and no CPU for a while.
    HangSuspected {
        /// Seconds without output and CPU.
        quiet_s: u64,
    },
    /// The checkpoint folder was uploaded and verified.
    CheckpointUploaded {
        /// The store's folder.
        url: String,
        /// How many files it holds.
        files: u64,
    },
    /// The checkpoint folder could not be uploaded (or not verified).
    CheckpointFailed {
        /// The store's folder.
        url: String,
        /// What went wrong.
        error: String,
    },
    /// A stop was asked for.
    StopRequested {
        /// By whom.
        by: StopBy,
    },
    /// It is stopped to make room for a waiting run of higher priority, and goes back to the
    /// queue as its next attempt.
    Preempted {
        /// The version whose run it makes room for.
        by: i64,
    },
    /// It ran past its time limit.
    TimedOut {
        /// The limit, seconds.
        limit_s: i64,
    },
    /// It ended.
    Ended {
        /// Its final status code.
        status: i64,
        /// That status's name (`COMPLETED`, `FAILED`...).
        outcome: String,
        /// Why it failed, if it did.
        reason: Option<String>,
    },
}

impl Event {
    /// The end of a run in `status`, with its failure reason.
    pub fn ended(status: JobStatus, reason: Option<String>) -> Self {
        Event::Ended {
            status: status.code(),
            outcome: status.name().to_owned(),
            reason,
        }
    }

    /// Its kind, as stored and served.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Created => "created",
            Event::Queued { .. } => "queued",
            Event::Started { .. } => "started",
            Event::WorkerExited { .. } => "worker_exited",
            Event::RetryScheduled { .. } => "retry_scheduled",
            Event::HangSuspected { .. } => "hang_suspected",
            Event::CheckpointUploaded { .. } => "checkpoint_uploaded",
            Event::CheckpointFailed { .. } => "checkpoint_failed",
            Event::StopRequested { .. } => "stop_requested",
            Event::Preempted { .. } => "preempted",
            Event::TimedOut { .. } => "timed_out",
            Event::Ended { .. } => "ended",
        }
    }

    /// `Info`, `Warning` or `Error` (the v2 API's levels).
    pub fn level(&self) -> &'static str {
        match self {
            Event::WorkerExited {
                exit_code: Some(0), ..
            } => "Info",
            Event::WorkerExited { .. }
            | Event::RetryScheduled { .. }
            | Event::HangSuspected { .. }
            | Event::CheckpointFailed { .. }
            | Event::Preempted { .. }
            | Event::TimedOut { .. } => "Warning",
            Event::Ended { status, .. } => {
                let s = JobStatus::from_code(*status);
                if s == JobStatus::COMPLETED || s == JobStatus::KILLED {
                    "Info"
                } else {
                    "Error"
                }
            }
            Event::Created
            | Event::Queued { .. }
            | Event::Started { .. }
            | Event::CheckpointUploaded { .. }
            | Event::StopRequested { .. } => "Info",
        }
    }

    /// `Task` for what one worker did, else `Job`.
    pub fn source(&self) -> &'static str {
        match self {
            Event::WorkerExited { .. } => "Task",
            _ => "Job",
        }
    }

    /// The event in one English sentence.
    pub fn message(&self) -> String {
        match self {
            Event::Created => "Training job created.".to_owned(),
            Event::Queued { why } => format!("Training job is queued: {why}."),
            Event::Started { place, .. } => format!("Training job is running on {place}."),
            Event::WorkerExited {
                worker,
                exit_code,
                signal,
            } => match (exit_code, signal) {
                (Some(c), _) => format!("[worker-{worker}] Training finished. Exit code {c}."),
                (None, Some(s)) => format!("[worker-{worker}] Killed by signal {s}."),
                (None, None) => format!("[worker-{worker}] Ended."),
            },
            Event::RetryScheduled {
                reason,
                attempt,
                of,
                delay_s,
            } => format!(
                "Training job will restart (attempt {attempt} of {of}) in {delay_s} s: {reason}."
            ),
            Event::HangSuspected { quiet_s } => {
                format!("Training job seems hung: no output and no CPU for {quiet_s} s.")
            }
            Event::CheckpointUploaded { url, files } => {
                format!("Checkpoint uploaded to {url} and verified: {files} files.")
            }
            Event::CheckpointFailed { url, error } => {
                format!("Checkpoint upload to {url} failed: {error}.")
            }
            Event::StopRequested { by } => {
                let by = match by {
                    StopBy::User => "by a user",
                    StopBy::Delete => "by a delete",
                    StopBy::Quota => "for the storage quota",
                    StopBy::Timeout => "for its time limit",
                    StopBy::Hang => "as hung",
                };
                format!("Training job is terminating ({by}).")
            }
            Event::Preempted { by } => format!(
                "Training job is preempted by version {by} of higher priority; it goes back to \
                 the queue."
            ),
            Event::TimedOut { limit_s } => {
                format!("Training job exceeded max_runtime_seconds={limit_s}.")
            }
            Event::Ended { status, reason, .. } => {
                let s = JobStatus::from_code(*status);
                let what = if s == JobStatus::COMPLETED {
                    "completed".to_owned()
                } else if s == JobStatus::KILLED {
                    "terminated".to_owned()
                } else if s == JobStatus::LOST {
                    "lost".to_owned()
                } else {
                    "failed".to_owned()
                };
                match reason {
                    Some(r) if !r.is_empty() => format!("Training job {what}: {r}."),
                    _ => format!("Training job {what}."),
                }
            }
        }
    }
}

/// A stored event as served: its recorded fields and how it reads.
pub fn info(row: &RunEventRow) -> RunEventInfo {
    let detail: serde_json::Value =
        serde_json::from_str(&row.detail).unwrap_or(serde_json::Value::Null);
    let event: Option<Event> = serde_json::from_value(detail.clone()).ok();
    let (level, source, message) = match &event {
        Some(e) => (e.level(), e.source(), e.message()),
        // Written by a newer trainyard: shown by its kind.
        None => ("Info", "Job", row.kind.replace('_', " ")),
    };
    RunEventInfo {
        seq: row.seq,
        time: row.time,
        kind: row.kind.clone(),
        level: level.to_owned(),
        source: source.to_owned(),
        message,
        detail,
    }
}

/// Records `event` of version `version_id`'s run, now, in the log of `ctx` (the lifecycle's
/// run context). Never waits for the database and never fails (see the module's docs).
pub fn record(ctx: &(impl AsRef<EventLog> + ?Sized), version_id: i64, event: Event) {
    ctx.as_ref().record(version_id, event);
}

/// Whether the run's workers ended because a stop was asked for.
pub fn stopped(end: &RunEnd) -> bool {
    end.exit
        .as_ref()
        .is_some_and(|e| e.outcome == trainyard_exec::RunOutcome::Stopped)
}

/// The hang the run's event log records, if any: how a run stopped as hung is known after a
/// restart.
pub async fn hung_in_log(store: &dyn Store, id: i64) -> Option<trainyard_sched::hang::Hung> {
    let logged = store.run_events(id).await.ok()?;
    let flagged = logged.iter().rev().find(|e| e.kind == "hang_suspected")?;
    match serde_json::from_str(&flagged.detail).ok()? {
        Event::HangSuspected { quiet_s } => Some(trainyard_sched::hang::Hung { quiet_s }),
        _ => None,
    }
}

/// The version that run `id`'s current attempt is being preempted for, as its event log
/// records it (a `preempted` event after the attempt's `started` one): how the end of a
/// preempted run is known, after a restart too.
pub async fn preemptor_in_log(store: &dyn Store, id: i64) -> Option<i64> {
    let logged = store.run_events(id).await.ok()?;
    let latest = logged
        .iter()
        .rev()
        .find(|e| e.kind == "preempted" || e.kind == "started")?;
    match serde_json::from_str(&latest.detail).ok()? {
        Event::Preempted { by } => Some(by),
        _ => None,
    }
}

/// How many times run `id` was preempted (its `preempted` events): attempts that do not
/// count against its retry policy's `max_retries`.
pub async fn preemptions_in_log(store: &dyn Store, id: i64) -> i64 {
    store.run_events(id).await.map_or(0, |logged| {
        logged.iter().filter(|e| e.kind == "preempted").count() as i64
    })
}

/// The events of a run's end before its status: each worker's exit, a time limit passed.
pub fn record_exits(ctx: &(impl AsRef<EventLog> + ?Sized), v: &Version, end: &RunEnd) {
    for w in end.exit.iter().flat_map(|e| &e.workers) {
        let exited = Event::WorkerExited {
            worker: w.index,
            exit_code: w.exit_code,
            signal: w.signal,
        };
        record(ctx, v.id, exited);
    }
    if end.timed_out {
        let limit_s = v.config.max_runtime_seconds.unwrap_or_default();
        record(ctx, v.id, Event::TimedOut { limit_s });
    }
}

/// The checkpoint uploads of `v`'s current attempt that its shim noted in the run folder
/// (`checkpoint-notes.jsonl`, read without following links), as events at their times.
pub async fn record_checkpoints(ctx: &(impl AsRef<EventLog> + ?Sized), v: &Version) {
    let run_dir = std::path::PathBuf::from(&v.run_dir);
    let notes =
        tokio::task::spawn_blocking(move || trainyard_exec::checkpoint::read_notes(&run_dir))
            .await
            .unwrap_or_default();
    for note in notes {
        use trainyard_exec::checkpoint::CheckpointNote as Note;
        let (at, event) = match note {
            Note::Uploaded {
                attempt,
                at_ms,
                url,
                files,
            } if attempt == v.attempt => {
                let files = files as u64;
                (at_ms, Event::CheckpointUploaded { url, files })
            }
            Note::Failed {
                attempt,
                at_ms,
                url,
                message,
            } if attempt == v.attempt => (
                at_ms,
                Event::CheckpointFailed {
                    url,
                    error: message,
                },
            ),
            _ => continue,
        };
        ctx.as_ref().record_at(v.id, at, event);
    }
}

/// This host's name, read once.
fn host_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "this host".to_owned())
    })
}

/// Where a run's handle says it runs.
pub fn place_of(handle: &RunHandle) -> String {
    match handle {
        RunHandle::Local(_) => format!("host {}", host_name()),
        RunHandle::Slurm { slurm_job_id } => format!("Slurm job {slurm_job_id}"),
    }
}

/// The start of a run, where its handle says (a Slurm job seen running has none at hand).
pub fn started_on(handle: Option<&RunHandle>) -> Event {
    match handle {
        Some(h @ RunHandle::Local(_)) => Event::Started {
            backend: "local".to_owned(),
            place: place_of(h),
        },
        Some(h @ RunHandle::Slurm { .. }) => Event::Started {
            backend: "slurm".to_owned(),
            place: place_of(h),
        },
        None => Event::Started {
            backend: "slurm".to_owned(),
            place: "a Slurm node".to_owned(),
        },
    }
}

/// Most events one write appends.
const BATCH: usize = 256;

/// How long the writer gathers events after the first of a batch.
const GATHER: Duration = Duration::from_millis(50);

/// Tries of one write before its events are dropped.
const TRIES: u32 = 4;

/// What the writer asks before and after it appends a batch: the webhook deliveries of its
/// events (`service::notify`).
#[async_trait::async_trait]
pub trait Outbox: Send + Sync + std::fmt::Debug {
    /// Fills in each event's `deliveries`; never fails (an event it cannot work out sends
    /// nothing, and is logged).
    async fn attach(&self, batch: &mut [NewRunEvent]);

    /// The batch is durable.
    fn appended(&self, batch: &[NewRunEvent]);
}

/// The sending end of the writer task.
#[derive(Clone, Debug)]
pub struct EventLog {
    tx: mpsc::UnboundedSender<NewRunEvent>,
    /// For [`Self::record_durably`].
    store: Arc<dyn Store>,
    outbox: Option<Arc<dyn Outbox>>,
}

impl EventLog {
    /// Starts the writer task on `store` (within a Tokio runtime), with the outbox that adds
    /// deliveries to the events, if any webhook is configured.
    pub fn start(store: Arc<dyn Store>, outbox: Option<Arc<dyn Outbox>>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write(store.clone(), outbox.clone(), rx));
        Self { tx, store, outbox }
    }

    /// Appends `event` of version `version_id` now, with its webhook deliveries, and waits
    /// until it is stored: for what must survive a crash ([`Self::record`] may lose the
    /// events of its last 50 ms to one).
    pub async fn record_durably(
        &self,
        version_id: i64,
        event: &Event,
    ) -> trainyard_store::Result<()> {
        let mut batch = [NewRunEvent {
            version_id,
            time: now_ms(),
            kind: event.kind().to_owned(),
            detail: serde_json::to_string(event).expect("an event always serializes"),
            deliveries: Vec::new(),
        }];
        if let Some(outbox) = &self.outbox {
            outbox.attach(&mut batch).await;
        }
        self.store.append_run_events(&batch).await?;
        if let Some(outbox) = &self.outbox {
            outbox.appended(&batch);
        }
        Ok(())
    }

    /// Hands `event` to the writer.
    pub fn record(&self, version_id: i64, event: Event) {
        self.record_at(version_id, now_ms(), event);
    }

    /// Hands `event`, which happened at `time` (ms), to the writer.
    pub fn record_at(&self, version_id: i64, time: i64, event: Event) {
        let detail = serde_json::to_string(&event).expect("an event always serializes");
        let new = NewRunEvent {
            version_id,
            time,
            kind: event.kind().to_owned(),
            detail,
            deliveries: Vec::new(),
        };
        if self.tx.send(new).is_err() {
            tracing::warn!(
                version.id = version_id,
                "the event log is closed; an event was not recorded"
            );
        }
    }
}

/// The writer: appends what has gathered, in order, one transaction per batch.
async fn write(
    store: Arc<dyn Store>,
    outbox: Option<Arc<dyn Outbox>>,
    mut rx: mpsc::UnboundedReceiver<NewRunEvent>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        // A moment for the rest of a burst (a queue of starts), so it costs one write: the
        // status changes share the database's write lock with this.
        tokio::time::sleep(GATHER).await;
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        if let Some(outbox) = &outbox {
            outbox.attach(&mut batch).await;
        }
        let mut pause = Duration::from_millis(100);
        let mut tries = 0;
        loop {
            match store.append_run_events(&batch).await {
                Ok(()) => {
                    if let Some(outbox) = &outbox {
                        outbox.appended(&batch);
                    }
                    break;
                }
                Err(e) if tries + 1 < TRIES => {
                    tries += 1;
                    tracing::warn!(events = batch.len(), error = %e, "cannot record run events yet; retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Err(e) => {
                    tracing::warn!(events = batch.len(), error = %e, "run events dropped: the database refused them");
                    break;
                }
            }
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kind's JSON carries its kind and fields, and reads back as itself.
    #[test]
    fn events_round_trip_through_their_json() {
        let all = [
            Event::Created,
            Event::Queued {
                why: "behind others".into(),
            },
            Event::Started {
                backend: "local".into(),
                place: "h1".into(),
            },
            Event::WorkerExited {
                worker: 1,
                exit_code: None,
                signal: Some(9),
            },
            Event::RetryScheduled {
                reason: "worker 0 exited with code 3".into(),
                attempt: 2,
                of: 3,
                delay_s: 1.5,
            },
            Event::HangSuspected { quiet_s: 6 },
            Event::CheckpointUploaded {
                url: "s3://b/c/".into(),
                files: 2,
            },
            Event::CheckpointFailed {
                url: "s3://b/c/".into(),
                error: "no bucket".into(),
            },
            Event::StopRequested { by: StopBy::User },
            Event::TimedOut { limit_s: 60 },
            Event::ended(
                JobStatus::FAILED,
                Some("worker 0 exited with code 3".into()),
            ),
        ];
        for (seq, e) in all.iter().enumerate() {
            let detail = serde_json::to_string(e).unwrap();
            let v: serde_json::Value = serde_json::from_str(&detail).unwrap();
            assert_eq!(v["kind"], e.kind());
            let row = RunEventRow {
                seq: seq as i64,
                version_id: 1,
                time: 5,
                kind: e.kind().into(),
                detail,
            };
            let shown = info(&row);
            assert_eq!(shown.message, e.message());
            assert_eq!(serde_json::from_value::<Event>(shown.detail).unwrap(), *e);
        }
        assert_eq!(
            Event::StopRequested { by: StopBy::Delete }.message(),
            "Training job is terminating (by a delete)."
        );
        assert_eq!(
            Event::ended(
                JobStatus::FAILED,
                Some("hung: no output and no CPU for 6 s".into())
            )
            .message(),
            "Training job failed: hung: no output and no CPU for 6 s."
        );
        assert_eq!(Event::ended(JobStatus::COMPLETED, None).level(), "Info");
        assert_eq!(Event::ended(JobStatus::LOST, None).level(), "Error");
    }

    /// An event of a kind this binary does not know is still served, by its kind.
    #[test]
    fn unknown_kinds_are_served_by_name() {
        let row = RunEventRow {
            seq: 1,
            version_id: 1,
            time: 5,
            kind: "node_drained".into(),
            detail: r#"{"kind":"node_drained","node":"n1"}"#.into(),
        };
        let shown = info(&row);
        assert_eq!(shown.message, "node drained");
        assert_eq!(shown.detail["node"], "n1");
    }
}
