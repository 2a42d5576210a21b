//! The Slurm backend: versions of a slurm pool are submitted with `sbatch` and followed by one
//! batched `squeue` per poll interval for all of them; the tasks' exit files give the outcome
//! (Slurm without accounting forgets finished jobs).

use crate::config::{Backend, PoolConfig};
use crate::service::lifecycle::{self, append_log, finalize, RunContext};
use crate::service::run_error::{RunError, RunResult};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use trainyard_api::JobStatus;
use trainyard_exec::slurm::{self, PartitionFree, SlurmState, SlurmSubmit};
use trainyard_exec::{RunExit, RunHandle, RunOutcome};
use trainyard_store::Version;

enum Cmd {
    Submit(i64, PoolConfig),
    Stop(i64, Duration),
    Adopt(i64, u64, PoolConfig),
}

/// Handle to the Slurm actor.
#[derive(Clone)]
pub struct SlurmBackend {
    tx: mpsc::UnboundedSender<Cmd>,
    free: Arc<Mutex<HashMap<String, PartitionFree>>>,
}

struct Active {
    id: i64,
    job_id: u64,
    run_dir: PathBuf,
    tasks: usize,
    running: bool,
    kill_at: Option<Instant>,
    hard_cancelled: bool,
}

struct Actor {
    ctx: Arc<RunContext>,
    task_program: PathBuf,
    active: Vec<Active>,
    free: Arc<Mutex<HashMap<String, PartitionFree>>>,
    partitions: Vec<String>,
}

impl SlurmBackend {
    /// Starts the actor when a slurm pool is configured.
    pub fn start(ctx: Arc<RunContext>, pools: &[PoolConfig]) -> Option<Self> {
        let partitions: Vec<String> = pools
            .iter()
            .filter(|p| p.backend == Backend::Slurm)
            .filter_map(|p| p.partition.clone())
            .collect();
        if partitions.is_empty() {
            return None;
        }
        let interval = pools
            .iter()
            .filter(|p| p.backend == Backend::Slurm)
            .filter_map(|p| p.poll_interval_seconds)
            .fold(0.5_f64, f64::min)
            .max(0.05);
        let (tx, rx) = mpsc::unbounded_channel();
        let free = Arc::new(Mutex::new(HashMap::new()));
        let actor = Actor {
            task_program: ctx.shim_program.clone(),
            ctx,
            active: Vec::new(),
            free: free.clone(),
            partitions,
        };
        tokio::spawn(actor.run(rx, Duration::from_secs_f64(interval)));
        Some(Self { tx, free })
    }

    /// Submits a version in status 1.
    pub fn submit(&self, id: i64, pool: PoolConfig) {
        let _ = self.tx.send(Cmd::Submit(id, pool));
    }

    /// Stops a version already moved to status 9.
    pub fn stop(&self, id: i64, grace: Duration) {
        let _ = self.tx.send(Cmd::Stop(id, grace));
    }

    /// Follows a run submitted before a restart.
    pub fn adopt(&self, id: i64, slurm_job_id: u64, pool: PoolConfig) {
        let _ = self.tx.send(Cmd::Adopt(id, slurm_job_id, pool));
    }

    /// Free resources of a partition, as last seen.
    pub fn free(&self, partition: &str) -> Option<PartitionFree> {
        self.free
            .lock()
            .expect("slurm free lock")
            .get(partition)
            .copied()
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
                    Some(Cmd::Submit(id, pool)) => self.submit(id, &pool).await,
                    Some(Cmd::Stop(id, grace)) => self.stop(id, grace).await,
                    Some(Cmd::Adopt(id, job_id, pool)) => self.adopt(id, job_id, &pool).await,
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

    async fn refresh_free(&self) {
        for p in &self.partitions {
            match slurm::sinfo(p).await {
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

    async fn submit(&mut self, id: i64, pool: &PoolConfig) {
        let store = &self.ctx.store;
        if !matches!(lifecycle::begin_start(&self.ctx, id).await, Ok(true)) {
            return;
        }
        let Ok(Some(v)) = store.version_by_id(id).await else {
            return;
        };
        // Submitted before a crash that kept the job id from being recorded: follow that job
        // instead of submitting a second one.
        let submitted = match self.earlier_submission(&v).await {
            Some(job_id) => {
                tracing::info!(
                    version.id = id,
                    slurm.job_id = job_id,
                    "found the slurm job submitted before a restart"
                );
                Ok((job_id, tasks_of(&v)))
            }
            None => self.sbatch(&v, pool).await,
        };
        match submitted {
            Ok((job_id, tasks)) => {
                tracing::info!(
                    version.id = id,
                    slurm.job_id = job_id,
                    "job submitted to slurm"
                );
                let handle = RunHandle::Slurm {
                    slurm_job_id: job_id,
                };
                let moved = lifecycle::launched(&self.ctx, id, handle, JobStatus::WAITING).await;
                self.active.push(Active {
                    id,
                    job_id,
                    run_dir: PathBuf::from(&v.run_dir),
                    tasks,
                    running: false,
                    kill_at: None,
                    hard_cancelled: false,
                });
                if !moved {
                    // Stopped while submitting: cancel at once.
                    self.stop(id, Duration::ZERO).await;
                }
            }
            Err(e) => {
                let reason = format!("slurm refused the job: {e}");
                lifecycle::start_failed(&self.ctx, &v, &reason).await;
            }
        }
    }

    /// The Slurm job name of a version: unique, so a submission can be found by name.
    async fn slurm_job_name(&self, v: &Version) -> RunResult<String> {
        let job_name = self.ctx.store.job_name(v.job_id).await?.unwrap_or_default();
        Ok(slurm::job_name(&format!("trainyard-{}-{}", job_name, v.id)))
    }

    /// A Slurm job already submitted for `v`: the one that claimed its run directory, else
    /// one Slurm lists under the version's job name (only looked for when a batch script was
    /// written, i.e. a submission may have happened).
    async fn earlier_submission(&self, v: &Version) -> Option<u64> {
        let run_dir = PathBuf::from(&v.run_dir);
        if let Some(job_id) = slurm::claimed_by(&run_dir) {
            return Some(job_id);
        }
        if !run_dir.join(BATCH_SCRIPT).exists() {
            return None;
        }
        let name = self.slurm_job_name(v).await.ok()?;
        match slurm::squeue_by_name(&name).await {
            Ok(ids) => ids.into_iter().next(),
            Err(e) => {
                tracing::warn!(version.id = v.id, error = %e, "cannot look for an earlier submission");
                None
            }
        }
    }

    async fn sbatch(&self, v: &Version, pool: &PoolConfig) -> RunResult<(u64, usize)> {
        let ctx = &self.ctx;
        let spec = ctx.prepare_run(v, &[]).await?;
        trainyard_exec::run_dir::write_json_atomic(
            &spec.run_dir.join(trainyard_exec::run_dir::SPEC),
            &spec,
        )
        .map_err(RunError::RunDir)?;
        let s = v.config.spec_id.and_then(|id| ctx.catalog.spec(id));
        let submit = SlurmSubmit {
            run_dir: spec.run_dir.clone(),
            job_name: self.slurm_job_name(v).await?,
            partition: pool.partition.clone().unwrap_or_default(),
            account: pool.account.clone(),
            qos: pool.qos.clone(),
            tasks: spec.workers.len() as u32,
            spread_nodes: pool.spread == crate::config::Spread::Nodes,
            cpus_per_task: s.map_or(1, |s| s.core),
            mem_mb_per_task: s.map_or(1024, |s| u64::from(s.cpu) * 1024),
            gpus_per_task: s.map_or(0, |s| s.gpu_num),
            time_limit_seconds: v.config.max_runtime_seconds.map(|t| t.max(1) as u64),
            task_program: self.task_program.clone(),
        };
        let script = spec.run_dir.join(BATCH_SCRIPT);
        std::fs::write(&script, slurm::batch_script(&submit)).map_err(RunError::RunDir)?;
        let job_id = slurm::sbatch(&script).await?;
        Ok((job_id, spec.workers.len()))
    }

    async fn adopt(&mut self, id: i64, job_id: u64, _pool: &PoolConfig) {
        let Ok(Some(v)) = self.ctx.store.version_by_id(id).await else {
            return;
        };
        let tasks = tasks_of(&v);
        tracing::info!(
            version.id = id,
            slurm.job_id = job_id,
            "following a slurm job again"
        );
        let running = v.status == JobStatus::RUNNING;
        self.active.push(Active {
            id,
            job_id,
            run_dir: PathBuf::from(&v.run_dir),
            tasks,
            running,
            kill_at: None,
            hard_cancelled: false,
        });
        if v.status == JobStatus::KILLING {
            let grace = Duration::from_secs(v.stop_grace.unwrap_or(0).max(0) as u64);
            self.stop(id, grace).await;
        }
    }

    /// Stops a run: each task's shim is told the grace (its `stop.json`) and Slurm sends
    /// SIGTERM; the shims end their workers (containers included) when the grace is over.
    /// Slurm's own SIGKILL (a hard cancel) comes only if the job outlives the grace by
    /// [`HARD_CANCEL_SLACK`]: it would kill the shims before they remove their containers.
    async fn stop(&mut self, id: i64, grace: Duration) {
        let Some(a) = self.active.iter_mut().find(|a| a.id == id) else {
            return;
        };
        let result = if a.running && !grace.is_zero() {
            let (dir, tasks) = (a.run_dir.clone(), a.tasks);
            let told = tokio::task::spawn_blocking(move || {
                (0..tasks).try_for_each(|i| {
                    let stop = trainyard_exec::StopRequest {
                        grace_seconds: grace.as_secs() + u64::from(grace.subsec_nanos() > 0),
                    };
                    let task = slurm::task_dir(&dir, i);
                    trainyard_exec::run_dir::write_json_atomic(
                        &trainyard_exec::run_dir::file(&task, trainyard_exec::run_dir::STOP),
                        &stop,
                    )
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
            slurm::scancel(a.job_id, Some("TERM")).await
        } else {
            a.kill_at = Some(Instant::now());
            a.hard_cancelled = true;
            slurm::scancel(a.job_id, None).await
        };
        if let Err(e) = result {
            tracing::warn!(version.id = id, error = %e, "scancel failed");
        }
    }

    async fn poll(&mut self) {
        let ids: Vec<u64> = self.active.iter().map(|a| a.job_id).collect();
        let states = match slurm::squeue(&ids).await {
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
                        let from = [JobStatus::WAITING, JobStatus::SUBMIT_TRYING];
                        lifecycle::seen_running(&self.ctx, a.id, &from, None).await;
                    }
                    if a.kill_at.is_some_and(|t| Instant::now() >= t) && !a.hard_cancelled {
                        a.hard_cancelled = true;
                        let _ = slurm::scancel(a.job_id, None).await;
                    }
                }
                Some(state) => ended.push((i, Some(state.clone()))),
                None => ended.push((i, None)),
            }
        }
        for (i, state) in ended.iter().rev() {
            let a = self.active.remove(*i);
            self.finish(a, state.clone()).await;
        }
    }

    async fn finish(&mut self, a: Active, state: Option<SlurmState>) {
        let ctx = self.ctx.clone();
        let Ok(Some(v)) = ctx.store.version_by_id(a.id).await else {
            return;
        };
        let run_dir = PathBuf::from(&v.run_dir);
        // The job we followed was a duplicate that found the run claimed: follow the claimer.
        if let Some(claimer) = slurm::claimed_by(&run_dir).filter(|c| *c != a.job_id) {
            tracing::info!(
                version.id = a.id,
                slurm.job_id = claimer,
                "following the slurm job that claimed the run"
            );
            let handle = RunHandle::Slurm {
                slurm_job_id: claimer,
            };
            lifecycle::new_handle(&ctx, &v, handle).await;
            let stopping = a.kill_at.is_some();
            self.active.push(Active {
                job_id: claimer,
                hard_cancelled: false,
                ..a
            });
            if stopping {
                self.stop(a.id, Duration::ZERO).await;
            }
            return;
        }
        let tasks = a.tasks;
        let files = tokio::task::spawn_blocking(move || slurm::collect_exit(&run_dir, tasks))
            .await
            .ok()
            .flatten();
        let mut timed_out = None;
        let exit = match (&state, files) {
            _ if v.status == JobStatus::KILLING => Some(RunExit {
                outcome: RunOutcome::Stopped,
                workers: vec![],
            }),
            (Some(SlurmState::Failed(reason)), files) if reason == "TIMEOUT" => {
                timed_out = v.config.max_runtime_seconds.or(Some(0));
                append_log(
                    &self.ctx,
                    &v,
                    &format!("[trainyard] slurm job {} ended: TIMEOUT", a.job_id),
                )
                .await;
                files
            }
            (Some(SlurmState::Failed(reason)), files) => {
                append_log(
                    &self.ctx,
                    &v,
                    &format!("[trainyard] slurm job {} ended: {reason}", a.job_id),
                )
                .await;
                let failed = RunOutcome::Failed {
                    worker: 0,
                    exit_code: None,
                    signal: None,
                };
                Some(
                    files
                        .filter(|f| matches!(f.outcome, RunOutcome::Failed { .. }))
                        .unwrap_or(RunExit {
                            outcome: failed,
                            workers: vec![],
                        }),
                )
            }
            (Some(SlurmState::Cancelled), _) => {
                append_log(
                    &self.ctx,
                    &v,
                    &format!(
                        "[trainyard] slurm job {} was cancelled outside trainyard",
                        a.job_id
                    ),
                )
                .await;
                Some(RunExit {
                    outcome: RunOutcome::Stopped,
                    workers: vec![],
                })
            }
            (Some(SlurmState::Completed), files) => Some(files.unwrap_or(RunExit {
                outcome: RunOutcome::Succeeded,
                workers: vec![],
            })),
            (_, files) => files,
        };
        if v.status == JobStatus::WAITING && exit.is_some() {
            // Ended between two polls without being seen running.
            lifecycle::seen_running(&ctx, a.id, &[JobStatus::WAITING], None).await;
        }
        finalize(&ctx, a.id, exit, timed_out).await;
    }
}

/// How long a stopped Slurm job may outlive its grace before Slurm is told to kill it.
const HARD_CANCEL_SLACK: Duration = Duration::from_secs(5);

/// The batch script's name in a run directory; its presence means a submission may exist.
const BATCH_SCRIPT: &str = "slurm.sbatch";

fn tasks_of(v: &Version) -> usize {
    usize::try_from(v.config.worker_server_num.unwrap_or(1).max(1)).unwrap_or(1)
}
