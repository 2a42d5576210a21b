//! The local executor: a FIFO queue under a capacity, one supervising task per run, and the
//! recovery of runs after a restart. One actor task owns the queue and the free capacity;
//! run tasks report back over its channel.

use crate::config::SpecConfig;
use crate::service::capacity::{demand, Resources};
use crate::service::lifecycle::{self, cleanup_if_deleted, finalize, RunContext};
use crate::service::pools::slurm_pool_of;
use crate::service::run_error::RunResult;
use crate::service::slurm::SlurmBackend;
use crate::util::now_ms;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use trainyard_api::JobStatus;
use trainyard_exec::{Attach, RunExit, RunHandle, Running};
use trainyard_store::Version;

enum Cmd {
    Enqueue(i64),
    Stop(i64, Duration),
    Ended(i64),
    Adopt(Box<(Version, Running)>),
    Acquire {
        id: u64,
        need: Resources,
        force: bool,
        granted: oneshot::Sender<()>,
    },
    Release(u64),
}

/// Resources held outside the training queue (a running visualization job). Given back to
/// the executor when dropped, also while still waiting for them.
pub struct Lease {
    id: u64,
    tx: mpsc::UnboundedSender<Cmd>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = self.tx.send(Cmd::Release(self.id));
    }
}

/// Free resources, for RS-01's `no_resource`.
#[derive(Clone, Copy, Debug)]
pub struct CapacityView {
    /// Total.
    pub total: Resources,
    /// Free now.
    pub free: Resources,
}

/// Handle to the executor actor. Cheap to clone.
#[derive(Clone)]
pub struct Executor {
    tx: mpsc::UnboundedSender<Cmd>,
    view: Arc<Mutex<CapacityView>>,
    slurm: Option<SlurmBackend>,
    next_lease: Arc<AtomicU64>,
}

struct Slot {
    demand: Resources,
    gpus: Vec<u32>,
    stop: mpsc::UnboundedSender<Duration>,
}

struct Queued {
    id: i64,
    demand: Resources,
    marked_waiting: bool,
}

struct Actor {
    ctx: Arc<RunContext>,
    tx: mpsc::UnboundedSender<Cmd>,
    view: Arc<Mutex<CapacityView>>,
    queue: VecDeque<Queued>,
    running: HashMap<i64, Slot>,
    /// What runs and leases hold now; may exceed the total after a restart that found more
    /// running than fits (or a smaller configuration). Free is derived from it, never kept
    /// apart, so taking and giving back can never drift.
    used: Resources,
    free_gpus: Vec<u32>,
    slurm: Option<SlurmBackend>,
    lease_queue: VecDeque<(u64, Resources, oneshot::Sender<()>)>,
    leases: HashMap<u64, Resources>,
}

impl Executor {
    /// Starts the actor and recovers what was running or queued before a restart.
    pub async fn start(ctx: Arc<RunContext>, gpus: Vec<u32>) -> crate::error::ApiResult<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let view = Arc::new(Mutex::new(CapacityView {
            total: ctx.total,
            free: ctx.total,
        }));
        let slurm = SlurmBackend::start(ctx.clone(), &ctx.pools);
        let actor = Actor {
            slurm: slurm.clone(),
            ctx: ctx.clone(),
            tx: tx.clone(),
            view: view.clone(),
            queue: VecDeque::new(),
            running: HashMap::new(),
            used: Resources::default(),
            free_gpus: gpus,
            lease_queue: VecDeque::new(),
            leases: HashMap::new(),
        };
        tokio::spawn(actor.run(rx));
        let exec = Self {
            tx,
            view,
            slurm,
            next_lease: Arc::new(AtomicU64::new(1)),
        };
        exec.recover(&ctx).await?;
        Ok(exec)
    }

    /// Queues a version in status 1.
    pub fn enqueue(&self, version_id: i64) {
        let _ = self.tx.send(Cmd::Enqueue(version_id));
    }

    /// Stops a version already moved to status 9.
    pub fn stop(&self, version_id: i64, grace: Duration) {
        let _ = self.tx.send(Cmd::Stop(version_id, grace));
    }

    /// The Slurm backend, when a slurm pool is configured.
    pub fn slurm(&self) -> Option<&SlurmBackend> {
        self.slurm.as_ref()
    }

    /// Waits until `need` is free and takes it (leases are served before the training queue,
    /// first come first served among themselves).
    pub async fn acquire(&self, need: Resources) -> Lease {
        self.lease(need, false).await
    }

    /// Takes `need` at once, even beyond the capacity (a run that is already running, found
    /// again after a restart).
    pub async fn acquire_now(&self, need: Resources) -> Lease {
        self.lease(need, true).await
    }

    async fn lease(&self, need: Resources, force: bool) -> Lease {
        let id = self.next_lease.fetch_add(1, Ordering::Relaxed);
        let (granted, rx) = oneshot::channel();
        let lease = Lease {
            id,
            tx: self.tx.clone(),
        };
        let _ = self.tx.send(Cmd::Acquire {
            id,
            need,
            force,
            granted,
        });
        let _ = rx.await;
        lease
    }

    /// Current capacity.
    pub fn capacity(&self) -> CapacityView {
        *self.view.lock().expect("capacity view lock")
    }

    /// Records the end of a run found over after a restart, in a task of its own: it retries
    /// until the database takes it, and the server must not wait for that to start.
    fn finalize_later(&self, ctx: &Arc<RunContext>, id: i64, exit: Option<RunExit>) {
        let ctx = ctx.clone();
        tokio::spawn(async move { finalize(&ctx, id, exit, None).await });
    }

    /// Hands a version submitted to Slurm before a restart back to the Slurm backend.
    fn adopt_slurm(&self, ctx: &RunContext, v: &Version) -> bool {
        let (Some(RunHandle::Slurm { slurm_job_id }), Some(slurm)) =
            (RunHandle::parse(v.handle.as_deref()), &self.slurm)
        else {
            return false;
        };
        match slurm_pool_of(&ctx.pools, &v.config) {
            Some(pool) => {
                slurm.adopt(v.id, slurm_job_id, pool.clone());
                true
            }
            None => false,
        }
    }

    async fn recover(&self, ctx: &Arc<RunContext>) -> crate::error::ApiResult<()> {
        // Pending versions (1, 2, 7) are queued again below; these may own processes.
        let active = [
            JobStatus::SUBMIT_TRYING,
            JobStatus::RUNNING,
            JobStatus::SCALING,
            JobStatus::KILLING,
        ];
        let stopping = ctx
            .store
            .stop_deleted_versions(ctx.grace.as_secs() as i64)
            .await?;
        if stopping > 0 {
            tracing::warn!(
                versions = stopping,
                "deleted versions were still active; stopping them"
            );
        }
        for v in ctx.store.versions_in(&active).await? {
            if self.adopt_slurm(ctx, &v) {
                continue;
            }
            // The run directory, not the stored handle, says what was started: a version is
            // marked 4 (with its run directory) before any process exists, and the shim that
            // claims the run writes shim.json before it starts a worker.
            let run_dir = PathBuf::from(&v.run_dir);
            let dir = run_dir.clone();
            let attach = tokio::task::spawn_blocking(move || trainyard_exec::reattach(&dir))
                .await
                .unwrap_or(Attach::Lost);
            match attach {
                Attach::Finished(exit) => self.finalize_later(ctx, v.id, Some(exit)),
                Attach::Lost => self.finalize_later(ctx, v.id, None),
                Attach::Alive(running) => {
                    tracing::info!(
                        job.id = v.job_id,
                        version.id = v.id,
                        "reattached to a running job"
                    );
                    let _ = self.tx.send(Cmd::Adopt(Box::new((v, running))));
                }
                Attach::NotStarted if v.status == JobStatus::KILLING => {
                    // Stop first, so a shim launched just before the crash starts nothing.
                    let dir = run_dir.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        trainyard_exec::request_stop(&dir, Duration::ZERO)
                    })
                    .await;
                    lifecycle::stopped_before_start(ctx, v.id);
                }
                Attach::NotStarted => {
                    // Launched again; should a shim of the first launch still claim the run,
                    // it wins the claim and the new launch follows it (trainyard_exec::launch).
                    tracing::info!(
                        job.id = v.job_id,
                        version.id = v.id,
                        "a run that never started is queued again"
                    );
                    lifecycle::requeue_unstarted(ctx, v.id).await?;
                    self.enqueue(v.id);
                }
            }
        }
        for v in ctx
            .store
            .versions_in(&[JobStatus::INIT, JobStatus::WAITING])
            .await?
        {
            if !self.adopt_slurm(ctx, &v) {
                self.enqueue(v.id);
            }
        }
        for v in ctx.store.deleted_versions().await? {
            if v.status.is_terminal() {
                cleanup_if_deleted(ctx, v.id).await;
            }
        }
        ctx.store.purge_empty_jobs().await?;
        Ok(())
    }
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        while let Some(cmd) = rx.recv().await {
            match cmd {
                Cmd::Enqueue(id) => self.enqueue(id).await,
                Cmd::Stop(id, grace) => self.stop(id, grace).await,
                Cmd::Ended(id) => {
                    if let Some(slot) = self.running.remove(&id) {
                        self.used = self.used.minus(&slot.demand);
                        self.free_gpus.extend(slot.gpus);
                    }
                }
                Cmd::Adopt(adopted) => {
                    let (v, running) = *adopted;
                    self.adopt(v, running)
                }
                Cmd::Acquire {
                    id,
                    need,
                    force: true,
                    granted,
                } => {
                    self.used = self.used.plus(&need);
                    self.leases.insert(id, need);
                    let _ = granted.send(());
                }
                Cmd::Acquire {
                    id,
                    need,
                    force: false,
                    granted,
                } => self.lease_queue.push_back((id, need, granted)),
                Cmd::Release(id) => {
                    self.lease_queue.retain(|(queued, ..)| *queued != id);
                    if let Some(need) = self.leases.remove(&id) {
                        self.used = self.used.minus(&need);
                    }
                }
            }
            self.schedule().await;
            self.publish();
        }
    }

    /// The total less what is held (nothing when more is held than there is).
    fn free(&self) -> Resources {
        self.ctx.total.minus(&self.used)
    }

    fn publish(&self) {
        let mut view = self.view.lock().expect("capacity view lock");
        view.free = self.free();
    }

    fn spec(&self, v: &Version) -> Option<SpecConfig> {
        v.config
            .spec_id
            .and_then(|id| self.ctx.catalog.spec(id))
            .cloned()
    }

    async fn enqueue(&mut self, id: i64) {
        if self.queue.iter().any(|q| q.id == id) || self.running.contains_key(&id) {
            return;
        }
        let v = match self.ctx.store.version_by_id(id).await {
            Ok(Some(v)) if v.status.is_pending() => v,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(version.id = id, error = %e, "cannot load a queued version yet");
                self.enqueue_later(id);
                return;
            }
        };
        if let (Some(pool), Some(slurm)) = (slurm_pool_of(&self.ctx.pools, &v.config), &self.slurm)
        {
            slurm.submit(id, pool.clone());
            return;
        }
        let need = demand(
            self.spec(&v).as_ref(),
            v.config.worker_server_num.unwrap_or(1),
        );
        self.queue.push_back(Queued {
            id,
            demand: need,
            marked_waiting: v.status == JobStatus::WAITING,
        });
    }

    /// Starts queued versions in FIFO order while the first one fits.
    async fn schedule(&mut self) {
        while self
            .lease_queue
            .front()
            .is_some_and(|(_, need, _)| need.fits_in(&self.free()))
        {
            let (id, need, granted) = self.lease_queue.pop_front().expect("front exists");
            if granted.send(()).is_ok() {
                self.used = self.used.plus(&need);
                self.leases.insert(id, need);
            }
        }
        while let Some(front) = self.queue.front() {
            if !front.demand.fits_in(&self.free())
                || (front.demand.gpus as usize) > self.free_gpus.len()
            {
                break;
            }
            let q = self.queue.pop_front().expect("front exists");
            self.start(q).await;
        }
        for q in self.queue.iter_mut().filter(|q| !q.marked_waiting) {
            q.marked_waiting = true;
            lifecycle::mark_waiting(&self.ctx, q.id).await;
        }
    }

    async fn start(&mut self, q: Queued) {
        match lifecycle::begin_start(&self.ctx, q.id).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(version.id = q.id, error = %e, "cannot start a version yet");
                self.enqueue_later(q.id);
                return;
            }
        }
        let gpus: Vec<u32> = self.free_gpus.drain(..q.demand.gpus as usize).collect();
        self.used = self.used.plus(&q.demand);
        let (stop_tx, stop_rx) = mpsc::unbounded_channel();
        self.running.insert(
            q.id,
            Slot {
                demand: q.demand,
                gpus: gpus.clone(),
                stop: stop_tx,
            },
        );
        let ctx = self.ctx.clone();
        let done = self.tx.clone();
        tokio::spawn(async move {
            supervise(&ctx, q.id, None, gpus, stop_rx).await;
            let _ = done.send(Cmd::Ended(q.id));
        });
    }

    fn adopt(&mut self, v: Version, running: Running) {
        let need = demand(
            self.spec(&v).as_ref(),
            v.config.worker_server_num.unwrap_or(1),
        );
        let gpus = read_gpus(Path::new(&v.run_dir));
        self.free_gpus.retain(|g| !gpus.contains(g));
        self.used = self.used.plus(&need);
        let (stop_tx, stop_rx) = mpsc::unbounded_channel();
        if v.status == JobStatus::KILLING {
            let _ = stop_tx.send(
                Duration::from_secs(v.stop_grace.unwrap_or(0).max(0) as u64).max(Duration::ZERO),
            );
        }
        self.running.insert(
            v.id,
            Slot {
                demand: need,
                gpus,
                stop: stop_tx,
            },
        );
        let ctx = self.ctx.clone();
        let done = self.tx.clone();
        tokio::spawn(async move {
            supervise(&ctx, v.id, Some(running), Vec::new(), stop_rx).await;
            let _ = done.send(Cmd::Ended(v.id));
        });
    }

    async fn stop(&mut self, id: i64, grace: Duration) {
        if let Some(pos) = self.queue.iter().position(|q| q.id == id) {
            self.queue.remove(pos);
            lifecycle::stopped_before_start(&self.ctx, id);
            return;
        }
        if let Some(slot) = self.running.get(&id) {
            let _ = slot.stop.send(grace);
            return;
        }
        if let Ok(Some(v)) = self.ctx.store.version_by_id(id).await {
            if let (Some(_), Some(slurm)) = (slurm_pool_of(&self.ctx.pools, &v.config), &self.slurm)
            {
                if let Some(RunHandle::Slurm { .. }) = RunHandle::parse(v.handle.as_deref()) {
                    slurm.stop(id, grace);
                    return;
                }
            }
        }
        // Neither queued nor running: it never reached the executor.
        lifecycle::stopped_before_start(&self.ctx, id);
    }

    /// Queues `id` again in a moment: the database refused a step of its start (busy, disk
    /// full), and dropping it would leave it in 1 forever.
    fn enqueue_later(&self, id: i64) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(lifecycle::STORE_RETRY_MAX).await;
            let _ = tx.send(Cmd::Enqueue(id));
        });
    }
}

fn read_gpus(run_dir: &Path) -> Vec<u32> {
    std::fs::read(run_dir.join("gpus.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Launches (unless reattached) and watches one run until it ends, then finalizes it.
async fn supervise(
    ctx: &Arc<RunContext>,
    id: i64,
    attached: Option<Running>,
    gpus: Vec<u32>,
    mut stop_rx: mpsc::UnboundedReceiver<Duration>,
) {
    let Some(v) = lifecycle::until_stored("a run", id, || ctx.store.version_by_id(id)).await else {
        return;
    };
    let run_dir = PathBuf::from(&v.run_dir);
    let mut running = match attached {
        // Found running after a restart while still marked 4 (the server died between the
        // launch and recording it): it is running now.
        Some(r) if v.status == JobStatus::SUBMIT_TRYING => {
            let handle = Some(RunHandle::Local(r.handle()));
            lifecycle::seen_running(ctx, id, &[JobStatus::SUBMIT_TRYING], handle).await;
            r
        }
        Some(r) => r,
        None => match launch(ctx, &v, &gpus).await {
            Ok(running) => running,
            Err(e) => return lifecycle::start_failed(ctx, &v, &e.to_string()).await,
        },
    };
    let start = v.start_time.unwrap_or_else(now_ms);
    // Validation bounds max_runtime_seconds; a deadline past what Instant holds is none.
    let deadline = v.config.max_runtime_seconds.and_then(|s| {
        let elapsed = Duration::from_millis((now_ms() - start).max(0) as u64);
        let left = Duration::from_secs(u64::try_from(s).ok()?).saturating_sub(elapsed);
        tokio::time::Instant::now().checked_add(left)
    });
    let mut timed_out = None;
    let exit = loop {
        tokio::select! {
            exit = running.wait() => break exit,
            Some(grace) = stop_rx.recv() => {
                if let Err(e) = trainyard_exec::request_stop(&run_dir, grace) {
                    tracing::warn!(version.id = id, error = %e, "stop request failed");
                }
            }
            _ = sleep_until(deadline), if deadline.is_some() && timed_out.is_none() => {
                let limit = v.config.max_runtime_seconds.unwrap_or_default();
                timed_out = Some(limit);
                tracing::info!(version.id = id, limit_s = limit, "job exceeded max_runtime_seconds, stopping it");
                if let Err(e) = trainyard_exec::request_stop(&run_dir, ctx.grace) {
                    tracing::warn!(version.id = id, error = %e, "stop request failed");
                }
            }
        }
    };
    finalize(ctx, id, exit, timed_out).await;
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn launch(ctx: &Arc<RunContext>, v: &Version, gpus: &[u32]) -> RunResult<Running> {
    let spec = ctx.prepare_run(v, gpus).await?;
    if !gpus.is_empty() {
        let _ = std::fs::write(
            spec.run_dir.join("gpus.json"),
            serde_json::to_vec(gpus).unwrap_or_default(),
        );
    }
    let (handle, running) = trainyard_exec::launch(&spec, &ctx.shim_program).await?;
    if lifecycle::launched(ctx, v.id, RunHandle::Local(handle), JobStatus::RUNNING).await {
        tracing::info!(
            job.id = v.job_id,
            version.id = v.id,
            proc.pid = handle.shim_pid,
            "job started"
        );
    } else {
        // Stopped while starting: stop what was started.
        let grace = Duration::from_secs(v.stop_grace.unwrap_or(0).max(0) as u64);
        let _ = trainyard_exec::request_stop(Path::new(&v.run_dir), grace);
    }
    Ok(running)
}
