//! The Slurm backend: runs are submitted with `sbatch` and followed by one batched `squeue`
//! per poll interval for all of them; the tasks' exit files give the outcome (Slurm without
//! accounting forgets finished jobs).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{
    batch_script, claimed_by, collect_exit, job_name, sbatch, scancel, sinfo, squeue,
    squeue_by_name, task_dir, PartitionFree, SlurmState, SlurmSubmit,
};
use crate::submit::{
    EventSender, Reattached, RunEnd, RunEvent, RunId, Submission, SubmitError, Submitted,
};
use crate::{run_dir as files, RunExit, RunHandle, RunOutcome, RunSpec, StopRequest};

/// How long a stopped job may outlive its grace before Slurm is told to kill it: the shims end
/// their workers (and remove their containers) when the grace is over, which Slurm's own
/// SIGKILL would cut short.
const HARD_CANCEL_SLACK: Duration = Duration::from_secs(5);

/// The batch script's name in a run directory; its presence means a submission may exist.
pub const BATCH_SCRIPT: &str = "slurm.sbatch";

/// Where a pool's runs go.
#[derive(Clone, Debug)]
pub struct SlurmPool {
    /// Partition.
    pub partition: String,
    /// Account, if any.
    pub account: Option<String>,
    /// One task per node instead of packing tasks.
    pub spread_nodes: bool,
}

enum Cmd {
    Follow(Active),
    Stop(RunId, Duration),
}

/// Handle to the Slurm actor. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SlurmBackend {
    tx: mpsc::UnboundedSender<Cmd>,
    free: Arc<Mutex<HashMap<String, PartitionFree>>>,
    task_program: PathBuf,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("slurm command")
    }
}

struct Active {
    id: RunId,
    job_id: u64,
    run_dir: PathBuf,
    tasks: usize,
    running: bool,
    /// Set once trainyard stopped it: when Slurm is told to kill it.
    kill_at: Option<Instant>,
    hard_cancelled: bool,
}

struct Actor {
    events: EventSender,
    active: Vec<Active>,
    free: Arc<Mutex<HashMap<String, PartitionFree>>>,
    partitions: Vec<String>,
}

impl SlurmBackend {
    /// Starts the actor for `partitions`, polling Slurm every `interval`; `task_program` is the
    /// `trainyard` binary as the nodes see it.
    pub fn start(
        partitions: Vec<String>,
        interval: Duration,
        task_program: PathBuf,
        events: EventSender,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let free = Arc::new(Mutex::new(HashMap::new()));
        let actor = Actor {
            events,
            active: Vec::new(),
            free: free.clone(),
            partitions,
        };
        tokio::spawn(actor.run(rx, interval));
        Self {
            tx,
            free,
            task_program,
        }
    }

    /// Free resources of a partition, as last seen.
    pub fn free(&self, partition: &str) -> Option<PartitionFree> {
        self.free
            .lock()
            .expect("slurm free lock")
            .get(partition)
            .copied()
    }

    /// Free resources of every partition, as last seen.
    pub fn free_all(&self) -> std::collections::BTreeMap<String, PartitionFree> {
        let free = self.free.lock().expect("slurm free lock");
        free.iter().map(|(p, f)| (p.clone(), *f)).collect()
    }

    pub(crate) async fn submit(
        &self,
        pool: &SlurmPool,
        s: Submission,
    ) -> Result<Submitted, SubmitError> {
        let run_dir = s.spec.run_dir.clone();
        let tasks = s.spec.workers.len();
        let name = job_name(&s.name);
        // Submitted before a crash that kept the job id from being recorded: follow that job
        // instead of submitting a second one.
        let job_id = match earlier_submission(&run_dir, &name).await {
            Some(job_id) => {
                tracing::info!(
                    version.id = s.id,
                    slurm.job_id = job_id,
                    "found the slurm job submitted before a restart"
                );
                job_id
            }
            None => {
                let submit = SlurmSubmit {
                    run_dir: run_dir.clone(),
                    job_name: name,
                    partition: pool.partition.clone(),
                    account: pool.account.clone(),
                    qos: s.qos.clone(),
                    tasks: tasks as u32,
                    spread_nodes: pool.spread_nodes,
                    cpus_per_task: s.per_worker.cpus,
                    mem_mb_per_task: s.per_worker.mem_mb,
                    gpus_per_task: s.per_worker.gpus,
                    time_limit_seconds: s.time_limit.map(|t| t.as_secs().max(1)),
                    task_program: self.task_program.clone(),
                    nice: s.nice,
                };
                let spec = s.spec;
                let script = run_dir.join(BATCH_SCRIPT);
                let text = batch_script(&submit);
                let written = tokio::task::spawn_blocking(move || {
                    std::fs::create_dir_all(&spec.run_dir)?;
                    files::write_json_atomic(&files::file(&spec.run_dir, files::SPEC), &spec)?;
                    std::fs::write(spec.run_dir.join(BATCH_SCRIPT), text)
                })
                .await
                .map_err(|e| SubmitError::Script(std::io::Error::other(e)))?;
                written.map_err(SubmitError::Script)?;
                let job_id = sbatch(&script).await?;
                tracing::info!(
                    version.id = s.id,
                    slurm.job_id = job_id,
                    "job submitted to slurm"
                );
                job_id
            }
        };
        self.follow(s.id, job_id, run_dir, tasks, None);
        Ok(Submitted::Queued(RunHandle::Slurm {
            slurm_job_id: job_id,
        }))
    }

    pub(crate) fn stop(&self, id: RunId, grace: Duration) {
        let _ = self.tx.send(Cmd::Stop(id, grace));
    }

    pub(crate) fn reattach(
        &self,
        id: RunId,
        run_dir: &Path,
        handle: Option<RunHandle>,
        stopping: Option<Duration>,
    ) -> Reattached {
        let Some(RunHandle::Slurm { slurm_job_id }) = handle else {
            // No job id was recorded: submitting again finds a job already submitted.
            return Reattached::NotStarted;
        };
        let tasks = files::read_json::<RunSpec>(&files::file(run_dir, files::SPEC))
            .ok()
            .flatten()
            .map_or(1, |s| s.workers.len().max(1));
        tracing::info!(
            version.id = id,
            slurm.job_id = slurm_job_id,
            "following a slurm job again"
        );
        self.follow(id, slurm_job_id, run_dir.to_owned(), tasks, stopping);
        Reattached::Followed
    }

    fn follow(
        &self,
        id: RunId,
        job_id: u64,
        run_dir: PathBuf,
        tasks: usize,
        stopping: Option<Duration>,
    ) {
        let _ = self.tx.send(Cmd::Follow(Active {
            id,
            job_id,
            run_dir,
            tasks,
            running: false,
            kill_at: None,
            hard_cancelled: false,
        }));
        if let Some(grace) = stopping {
            self.stop(id, grace);
        }
    }
}

/// A Slurm job already submitted for the run in `run_dir`: the one that claimed it, else one
/// Slurm lists under its job name (only looked for when a batch script was written, i.e. a
/// submission may have happened).
async fn earlier_submission(run_dir: &Path, name: &str) -> Option<u64> {
    if let Some(job_id) = claimed_by(run_dir) {
        return Some(job_id);
    }
    if !run_dir.join(BATCH_SCRIPT).exists() {
        return None;
    }
    match squeue_by_name(name).await {
        Ok(ids) => ids.into_iter().next(),
        Err(e) => {
            tracing::warn!(run_dir = %run_dir.display(), error = %e, "cannot look for an earlier submission");
            None
        }
    }
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut polls: u64 = 0;
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Follow(a)) => self.active.push(a),
                    Some(Cmd::Stop(id, grace)) => self.stop(id, grace).await,
                    None => return,
                },
                _ = tick.tick() => {
                    if !self.active.is_empty() {
                        self.poll().await;
                    }
                    if polls.is_multiple_of(10) {
                        self.refresh_free().await;
                    }
                    polls += 1;
                }
            }
        }
    }

    fn send(&self, id: RunId, event: RunEvent) {
        let _ = self.events.send((id, event));
    }

    async fn refresh_free(&self) {
        for p in &self.partitions {
            match sinfo(p).await {
                Ok(free) => {
                    self.free
                        .lock()
                        .expect("slurm free lock")
                        .insert(p.clone(), free);
                }
                Err(e) => tracing::warn!(partition = %p, error = %e, "sinfo failed"),
            }
        }
    }

    /// Stops a run: each task's shim is told the grace (its `stop.json`) and Slurm sends
    /// SIGTERM; the shims end their workers when the grace is over. Slurm's own SIGKILL comes
    /// only if the job outlives the grace by [`HARD_CANCEL_SLACK`]; a job not running yet is
    /// cancelled at once.
    async fn stop(&mut self, id: RunId, grace: Duration) {
        let Some(a) = self.active.iter_mut().find(|a| a.id == id) else {
            return;
        };
        let result = if a.running && !grace.is_zero() {
            let (dir, tasks) = (a.run_dir.clone(), a.tasks);
            let grace_seconds = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
            let told = tokio::task::spawn_blocking(move || {
                (0..tasks).try_for_each(|i| {
                    let task = task_dir(&dir, i);
                    let stop = StopRequest { grace_seconds };
                    files::write_json_atomic(&files::file(&task, files::STOP), &stop)
                })
            })
            .await;
            if !matches!(told, Ok(Ok(()))) {
                tracing::warn!(
                    version.id = id,
                    "cannot tell the tasks their grace; they use the default"
                );
            }
            a.kill_at = Some(Instant::now() + grace + HARD_CANCEL_SLACK);
            scancel(a.job_id, Some("TERM")).await
        } else {
            a.kill_at = Some(Instant::now());
            a.hard_cancelled = true;
            scancel(a.job_id, None).await
        };
        if let Err(e) = result {
            tracing::warn!(version.id = id, error = %e, "scancel failed");
        }
    }

    async fn poll(&mut self) {
        let ids: Vec<u64> = self.active.iter().map(|a| a.job_id).collect();
        let states = match squeue(&ids).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "squeue failed");
                return;
            }
        };
        let mut ended = Vec::new();
        for (i, a) in self.active.iter_mut().enumerate() {
            match states.get(&a.job_id).map(|(s, _)| s) {
                Some(SlurmState::Pending) => {}
                Some(SlurmState::Running) => {
                    if !a.running {
                        a.running = true;
                        let _ = self.events.send((a.id, RunEvent::Running));
                    }
                    if a.kill_at.is_some_and(|t| Instant::now() >= t) && !a.hard_cancelled {
                        a.hard_cancelled = true;
                        let _ = scancel(a.job_id, None).await;
                    }
                }
                Some(state) => ended.push((i, Some(state.clone()))),
                None => ended.push((i, None)),
            }
        }
        for (i, state) in ended.into_iter().rev() {
            let a = self.active.remove(i);
            self.finish(a, state).await;
        }
    }

    async fn finish(&mut self, a: Active, state: Option<SlurmState>) {
        // The job we followed was a duplicate that found the run claimed: follow the claimer.
        if let Some(claimer) = claimed_by(&a.run_dir).filter(|c| *c != a.job_id) {
            tracing::info!(
                version.id = a.id,
                slurm.job_id = claimer,
                "following the slurm job that claimed the run"
            );
            self.send(
                a.id,
                RunEvent::Handle(RunHandle::Slurm {
                    slurm_job_id: claimer,
                }),
            );
            let stopping = a.kill_at.is_some();
            let id = a.id;
            self.active.push(Active {
                job_id: claimer,
                hard_cancelled: false,
                ..a
            });
            if stopping {
                self.stop(id, Duration::ZERO).await;
            }
            return;
        }
        let (dir, tasks) = (a.run_dir.clone(), a.tasks);
        let files = tokio::task::spawn_blocking(move || collect_exit(&dir, tasks))
            .await
            .ok()
            .flatten();
        let end = end_of(&a, state, files);
        if !a.running && end.exit.is_some() {
            // Ended between two polls without being seen running.
            self.send(a.id, RunEvent::Running);
        }
        self.send(a.id, RunEvent::Ended(end));
    }
}

/// How a job Slurm no longer runs ended: Slurm's final state (when it still remembers the
/// job) and the tasks' exit files.
fn end_of(a: &Active, state: Option<SlurmState>, files: Option<RunExit>) -> RunEnd {
    let stopped = RunExit {
        outcome: RunOutcome::Stopped,
        workers: vec![],
    };
    let end = |exit, note: Option<String>, timed_out| RunEnd {
        exit,
        note,
        timed_out,
    };
    if a.kill_at.is_some() {
        return end(Some(files.unwrap_or(stopped)), None, false);
    }
    match state {
        Some(SlurmState::Failed(reason)) if reason == "TIMEOUT" => end(
            files,
            Some(format!("[trainyard] slurm job {} ended: TIMEOUT", a.job_id)),
            true,
        ),
        Some(SlurmState::Failed(reason)) => {
            let failed = RunExit {
                outcome: RunOutcome::Failed {
                    worker: 0,
                    exit_code: None,
                    signal: None,
                },
                workers: vec![],
            };
            let exit = files
                .filter(|f| matches!(f.outcome, RunOutcome::Failed { .. }))
                .unwrap_or(failed);
            let note = format!("[trainyard] slurm job {} ended: {reason}", a.job_id);
            end(Some(exit), Some(note), false)
        }
        Some(SlurmState::Cancelled) => {
            let note = format!(
                "[trainyard] slurm job {} was cancelled outside trainyard",
                a.job_id
            );
            end(Some(stopped), Some(note), false)
        }
        Some(SlurmState::Completed) => {
            let done = RunExit {
                outcome: RunOutcome::Succeeded,
                workers: vec![],
            };
            end(Some(files.unwrap_or(done)), None, false)
        }
        _ => end(files, None, false),
    }
}
