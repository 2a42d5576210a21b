//! The executor: which backend runs a version (by its pool), and the recovery of runs after a
//! restart. One actor task drives the scheduler core (`trainyard_sched`), which owns the
//! queues (priorities, fair share and quotas across projects) of this host and of each Slurm
//! pool, the capacity of this host and the Slurm pools' caps, and makes every decision: the actor reads the store, passes the time and each event to
//! the core's handlers, and carries out the decisions they leave (start a run, mark it
//! waiting, stop it, grant a lease). What becomes of a run comes back
//! as backend events, which the lifecycle module records (`lifecycle::consume`): a run's
//! capacity on this host is given back as soon as its end is reported (its workers are gone),
//! and the run leaves its sweep's limit, its project's quota and the running count once its
//! end is recorded.

use crate::config::{Backend as PoolBackend, PoolConfig, SpecConfig, Spread};
use crate::service::capacity::{demand, Resources};
use crate::service::lifecycle::{self, cleanup_if_deleted, RunContext};
use crate::service::pools::pool_of;
use crate::util::now_ms;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use trainyard_api::JobStatus;
use trainyard_exec::backend::{self, Backend, Reattached, Submission, Submitted, WorkerResources};
use trainyard_exec::local::LocalBackend;
use trainyard_exec::slurm::{PartitionFree, SlurmBackend, SlurmPool};
use trainyard_exec::RunHandle;
use trainyard_sched::dep::{Group, Outcome};
use trainyard_sched::run::{self as decide, Admission, Recovery};
use trainyard_sched::status::Step;
use trainyard_sched::wait::Wait;
use trainyard_sched::{reactor, Comm, Core, Decision, LeaseId, Place, PoolId, Ticket};
use trainyard_store::{NamedVersion, Version};

enum Cmd {
    Enqueue(i64),
    /// A version just created (status 1), as the create stored it: queued without reading
    /// it again.
    Queue(Box<Version>),
    /// Looks at the database for work no notice announced (see [`Executor::sweep`]).
    Sweep,
    Stop(i64, Duration),
    /// The run's workers are gone; its end is being recorded (see `reactor::on_reaped`).
    Reaped(i64),
    Ended(i64),
    /// The pause before a version's next attempt is over (see `lifecycle::finalize`).
    Retry(i64),
    Adopt(Box<Version>),
    Acquire {
        id: u64,
        need: Resources,
        force: bool,
        granted: oneshot::Sender<()>,
    },
    Release(u64),
    /// The hang detection found a run hung: stop it (its status stays until it ends).
    StopHung(i64),
    /// A queued version's priority changed (and is stored).
    Priority(i64, u8),
    /// Why these queued versions wait.
    Waits(Vec<i64>, oneshot::Sender<HashMap<i64, Wait>>),
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

/// What the executor can hand out now, as the server holding the scheduling duty reports it
/// to the servers sharing its database (`service::cluster`). Their own executors are idle, so
/// without it their RS-01 `no_resource` and `/metrics` would show everything free.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SharedCapacity {
    /// Free on this host (local pools; the replicas share the host).
    pub free: Resources,
    /// Free in each Slurm partition, as the holder's `sinfo` last saw it.
    pub slurm: BTreeMap<String, PartitionFree>,
}

/// The backends, by pool: this host for local pools (and versions without a pool), one Slurm
/// backend shared by the Slurm pools.
#[derive(Clone)]
struct Backends {
    local: Backend,
    slurm: HashMap<String, Backend>,
    slurm_actor: Option<SlurmBackend>,
}

impl Backends {
    fn start(ctx: &RunContext, events: backend::EventSender) -> Self {
        let local = Backend::Local(LocalBackend::new(
            ctx.local_shim.clone(),
            trainyard_exec::local::SPARE_SHIMS,
            events.clone(),
        ));
        let slurm_pools: Vec<&PoolConfig> = ctx
            .pools
            .iter()
            .filter(|p| p.backend == PoolBackend::Slurm && p.partition.is_some())
            .collect();
        let slurm_actor = (!slurm_pools.is_empty()).then(|| {
            let interval = slurm_pools
                .iter()
                .filter_map(|p| p.poll_interval_seconds)
                .fold(0.5_f64, f64::min)
                .max(0.05);
            let partitions = slurm_pools
                .iter()
                .filter_map(|p| p.partition.clone())
                .collect();
            SlurmBackend::start(
                partitions,
                Duration::from_secs_f64(interval),
                ctx.shim_program.clone(),
                events,
            )
        });
        let slurm = slurm_pools
            .iter()
            .filter_map(|p| {
                let actor = slurm_actor.clone()?;
                let pool = SlurmPool {
                    partition: p.partition.clone()?,
                    account: p.account.clone(),
                    spread_nodes: p.spread == Spread::Nodes,
                };
                Some((p.id.clone(), Backend::Slurm(actor, pool)))
            })
            .collect();
        Self {
            local,
            slurm,
            slurm_actor,
        }
    }

    /// The backend a version runs on: its pool's, else this host's.
    fn of(&self, pools: &[PoolConfig], v: &Version) -> &Backend {
        pool_of(pools, &v.config)
            .and_then(|p| self.slurm.get(&p.id))
            .unwrap_or(&self.local)
    }
}

/// Handle to the executor actor. Cheap to clone.
///
/// Made idle ([`Executor::new`]) and set to work by [`Executor::activate`]: a server that
/// shares its database with others activates it only while it holds the scheduling duty
/// (`service::cluster`), so one server at a time starts runs, follows them and polls Slurm.
#[derive(Clone)]
pub struct Executor {
    tx: mpsc::UnboundedSender<Cmd>,
    view: Arc<Mutex<CapacityView>>,
    /// The Slurm partitions' free resources the duty holder reported, while this is idle.
    shown_slurm: Arc<Mutex<BTreeMap<String, PartitionFree>>>,
    backends: Arc<std::sync::OnceLock<Backends>>,
    next_lease: Arc<AtomicU64>,
    /// What `activate` needs, taken by it once.
    idle: Arc<Mutex<Option<Idle>>>,
}

/// An executor not activated yet: its context, command queue and GPUs.
struct Idle {
    ctx: Arc<RunContext>,
    rx: mpsc::UnboundedReceiver<Cmd>,
    gpus: Vec<u32>,
    shared: bool,
}

/// How the executor reaches a run: the core's route, kept with the run and handed back in
/// its decisions.
#[derive(Clone)]
struct Route {
    backend: Backend,
    run_dir: PathBuf,
}

/// The driver of the scheduler core: it owns the core, and carries out its decisions.
struct Actor {
    ctx: Arc<RunContext>,
    tx: mpsc::UnboundedSender<Cmd>,
    view: Arc<Mutex<CapacityView>>,
    backends: Backends,
    core: Core<Route>,
    comm: Comm<Route>,
    /// Other servers share the database: versions are handed over by notices and sweeps
    /// (see [`decide::HANDOVER_MS`]).
    shared: bool,
    /// The holders of leases, told when theirs is granted.
    grants: HashMap<LeaseId, oneshot::Sender<()>>,
    /// Versions queued for their next attempt, claimed already (`lifecycle::begin_attempt`).
    attempts: std::collections::HashSet<i64>,
    /// The Slurm pools' queues in the core, by pool id.
    lanes: HashMap<String, PoolId>,
    /// New priorities of versions not queued here yet (a version passed to
    /// [`Executor::enqueue_created`] carries the priority it was created with; one changed
    /// before it arrives is taken from here).
    told_priority: HashMap<i64, u8>,
}

impl Executor {
    /// Starts the backends and the actor, and recovers what was running or queued before a
    /// restart.
    pub async fn start(ctx: Arc<RunContext>, gpus: Vec<u32>) -> crate::error::ApiResult<Self> {
        let exec = Self::idle(ctx, gpus, false);
        exec.activate().await?;
        Ok(exec)
    }

    /// An idle executor of a server sharing its database with others: commands wait until
    /// [`Self::activate`].
    pub fn new(ctx: Arc<RunContext>, gpus: Vec<u32>) -> Self {
        Self::idle(ctx, gpus, true)
    }

    fn idle(ctx: Arc<RunContext>, gpus: Vec<u32>, shared: bool) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let view = Arc::new(Mutex::new(CapacityView {
            total: ctx.total,
            free: ctx.total,
        }));
        Self {
            tx,
            view,
            shown_slurm: Arc::default(),
            backends: Arc::new(std::sync::OnceLock::new()),
            next_lease: Arc::new(AtomicU64::new(1)),
            idle: Arc::new(Mutex::new(Some(Idle {
                ctx,
                rx,
                gpus,
                shared,
            }))),
        }
    }

    /// Starts the backends (the Slurm poller among them) and the actor, and recovers what was
    /// running or queued: after a restart, or when this server takes the scheduling duty over
    /// from one that died. A second call does nothing.
    pub async fn activate(&self) -> crate::error::ApiResult<()> {
        let Some(Idle {
            ctx,
            rx,
            gpus,
            shared,
        }) = self.idle.lock().expect("executor idle lock").take()
        else {
            return Ok(());
        };
        let (events, event_rx) = backend::events();
        let backends = Backends::start(&ctx, events);
        let _ = self.backends.set(backends.clone());
        let (reaped, ended) = (self.tx.clone(), self.tx.clone());
        tokio::spawn(lifecycle::consume(
            ctx.clone(),
            event_rx,
            move |id| {
                let _ = reaped.send(Cmd::Reaped(id));
            },
            move |id, retry| {
                let _ = ended.send(Cmd::Ended(id));
                if let Some(pause) = retry {
                    retry_after(&ended, id, pause);
                }
            },
        ));
        let mut core = Core::new(ctx.total, gpus)
            .with_half_life(Some(ctx.half_life_ms))
            .with_past_usage(past_usage(&ctx).await)
            .with_preemption(ctx.preemption);
        for (project, share) in &ctx.shares {
            core.set_share(project, *share);
        }
        // Slurm pools are queued here too: trainyard decides what it submits, and when.
        let lanes = ctx
            .pools
            .iter()
            .filter(|p| backends.slurm.contains_key(&p.id))
            .map(|p| (p.id.clone(), core.add_pool(&p.id, p.cap())))
            .collect();
        let actor = Actor {
            backends,
            ctx: ctx.clone(),
            tx: self.tx.clone(),
            view: self.view.clone(),
            core,
            comm: Comm::new(),
            shared,
            grants: HashMap::new(),
            attempts: Default::default(),
            lanes,
            told_priority: HashMap::new(),
        };
        tokio::spawn(actor.run(rx));
        let hung = self.tx.clone();
        tokio::spawn(crate::service::hang::watch(ctx.clone(), move |id| {
            let _ = hung.send(Cmd::StopHung(id));
        }));
        self.recover(&ctx).await
    }

    /// Looks at the database for versions that wait to start, or were stopped before they
    /// started, without this executor knowing: their notice from another server was lost
    /// (sent while no server held the scheduling duty, or while this one's listening
    /// connection was being re-established). Both steps are idempotent.
    pub fn sweep(&self) {
        let _ = self.tx.send(Cmd::Sweep);
    }

    /// Queues a version in status 1.
    pub fn enqueue(&self, version_id: i64) {
        let _ = self.tx.send(Cmd::Enqueue(version_id));
    }

    /// Queues `v`, a version just created in status 1, as its create stored it: the queue
    /// takes it without reading it again from the database (a round trip per job, in the
    /// actor that grants the slots). What changed since the create is seen as with
    /// [`Self::enqueue`]: a stop makes its start refused (the move out of 1 compares and
    /// sets), and a new priority told before the version was queued is kept for it.
    pub fn enqueue_created(&self, v: Version) {
        let _ = self.tx.send(Cmd::Queue(Box::new(v)));
    }

    /// Stops a version already moved to status 9.
    pub fn stop(&self, version_id: i64, grace: Duration) {
        let _ = self.tx.send(Cmd::Stop(version_id, grace));
    }

    /// The Slurm backend, when a slurm pool is configured (for its partitions' free
    /// resources) and this executor is active.
    pub fn slurm(&self) -> Option<&SlurmBackend> {
        self.backends.get()?.slurm_actor.as_ref()
    }

    /// Free resources of Slurm partition `partition`: as this executor's poller last saw
    /// them, or while it is idle, as the duty holder reported them.
    pub fn slurm_free(&self, partition: &str) -> Option<PartitionFree> {
        match self.slurm() {
            Some(slurm) => slurm.free(partition),
            None => self
                .shown_slurm
                .lock()
                .expect("shown slurm lock")
                .get(partition)
                .copied(),
        }
    }

    /// What this executor can hand out now, for the servers that do not hold the duty.
    pub fn shared_capacity(&self) -> SharedCapacity {
        SharedCapacity {
            free: self.capacity().free,
            slurm: self.slurm().map(SlurmBackend::free_all).unwrap_or_default(),
        }
    }

    /// Shows `shared`, the duty holder's capacity, while this executor is idle; once active
    /// its own ledger is the truth and this does nothing. Checked under the view's lock, so a
    /// report read before activation never overwrites what the actor published after it.
    pub fn show_capacity(&self, shared: SharedCapacity) {
        let mut view = self.view.lock().expect("capacity view lock");
        if self.backends.get().is_some() {
            return;
        }
        view.free = shared.free;
        *self.shown_slurm.lock().expect("shown slurm lock") = shared.slurm;
    }

    fn backends(&self) -> &Backends {
        self.backends
            .get()
            .expect("the backends are set before recovery runs")
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

    /// Moves a queued version to priority `priority` (already stored with its version).
    pub fn set_priority(&self, version_id: i64, priority: u8) {
        let _ = self.tx.send(Cmd::Priority(version_id, priority));
    }

    /// Why each of these versions waits in this host's queue or a Slurm pool's, and how
    /// many runs are ahead of it; versions not queued are left out. Empty while this executor is idle (a
    /// server not holding the scheduling duty does not know the queue).
    pub async fn waits(&self, version_ids: Vec<i64>) -> HashMap<i64, Wait> {
        if version_ids.is_empty() || self.backends.get().is_none() {
            return HashMap::new();
        }
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Waits(version_ids, tx)).is_err() {
            return HashMap::new();
        }
        tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
    }

    /// Current capacity.
    pub fn capacity(&self) -> CapacityView {
        *self.view.lock().expect("capacity view lock")
    }

    async fn recover(&self, ctx: &Arc<RunContext>) -> crate::error::ApiResult<()> {
        let stopping = lifecycle::stop_deleted(ctx).await?;
        if stopping > 0 {
            tracing::warn!(
                versions = stopping,
                "deleted versions were still active; stopping them"
            );
        }
        // Pending versions are queued again below, but for those Slurm queues already; these
        // may own processes (or Slurm jobs).
        let (handed_over, queued): (Vec<Version>, Vec<Version>) = ctx
            .store
            .versions_in(JobStatus::QUEUED)
            .await?
            .into_iter()
            .partition(|v| {
                let slurm_job = matches!(
                    RunHandle::parse(v.handle.as_deref()),
                    Some(RunHandle::Slurm { .. })
                );
                decide::handed_over(v.status, slurm_job)
            });
        let may_run = ctx.store.versions_in(decide::MAY_RUN).await?;
        for v in may_run.into_iter().chain(handed_over) {
            // Between two attempts: the last one ended (and its end is recorded); the next
            // starts once its pause is over, once.
            if let (JobStatus::RUNNING, Some(at)) = (v.status, v.retry_at) {
                let left = u64::try_from(at - now_ms()).unwrap_or(0);
                retry_after(&self.tx, v.id, Duration::from_millis(left));
                continue;
            }
            // Held before the backend looks: what it finds may end at once, and that end
            // gives the slot back.
            let _ = self.tx.send(Cmd::Adopt(Box::new(v.clone())));
            let backend = self.backends().of(&ctx.pools, &v);
            let found = backend
                .reattach(
                    v.id,
                    Path::new(&v.run_dir),
                    RunHandle::parse(v.handle.as_deref()),
                    decide::stopping(v.status, v.stop_grace),
                    time_left(&v),
                )
                .await;
            let recovery = decide::recover(v.status, found == Reattached::Followed);
            if recovery == Recovery::Follow {
                continue;
            }
            let _ = self.tx.send(Cmd::Ended(v.id));
            if recovery == Recovery::StoppedBeforeStart {
                lifecycle::stopped_before_start(ctx, v.id);
            } else {
                // Submitted again; should a start of the first submission still claim the
                // run, the claim makes it the only one (the shims' and Slurm tasks' claims).
                tracing::info!(
                    job.id = v.job_id,
                    version.id = v.id,
                    "a run that never started is queued again"
                );
                lifecycle::requeue_unstarted(ctx, v.id).await?;
                self.enqueue(v.id);
            }
        }
        for v in queued {
            self.enqueue(v.id);
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

/// Each project's fair-share usage from its runs here before now, which a restart would
/// otherwise forget; none (every project from zero) when the store cannot tell.
async fn past_usage(ctx: &RunContext) -> BTreeMap<String, trainyard_sched::fair::Usage> {
    let (now, half_life) = (now_ms(), Some(ctx.half_life_ms));
    let horizon = trainyard_sched::fair::seed_horizon(now, half_life);
    let (store, catalog) = (ctx.store.as_ref(), &ctx.catalog);
    match crate::service::usage::past_runs(store, catalog, &ctx.pools, horizon, now).await {
        Ok(runs) => trainyard_sched::fair::past_usage(&runs, ctx.total, now, half_life),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read past usage; fair share starts from zero");
            BTreeMap::new()
        }
    }
}

/// Sends [`Cmd::Retry`] for `id` after `pause`.
fn retry_after(tx: &mpsc::UnboundedSender<Cmd>, id: i64, pause: Duration) {
    let tx = tx.clone();
    tokio::spawn(async move {
        tokio::time::sleep(pause).await;
        let _ = tx.send(Cmd::Retry(id));
    });
}

/// What is left of a version's `max_runtime_seconds`.
fn time_left(v: &Version) -> Option<Duration> {
    decide::time_left(v.config.max_runtime_seconds, v.start_time, now_ms())
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        while let Some(cmd) = rx.recv().await {
            reactor::on_clock(&mut self.core, now_ms());
            let (core, comm) = (&mut self.core, &mut self.comm);
            match cmd {
                Cmd::Enqueue(id) => self.enqueue(id).await,
                Cmd::Queue(v) => self.queue_created(*v).await,
                Cmd::Sweep => self.sweep().await,
                Cmd::Stop(id, grace) => reactor::on_stop(core, comm, id, grace),
                Cmd::Reaped(id) => {
                    tracing::debug!(version.id = id, "run's host resources given back");
                    reactor::on_reaped(core, comm, id);
                }
                Cmd::Ended(id) => {
                    tracing::debug!(version.id = id, "run's end recorded");
                    reactor::on_ended(core, comm, id);
                    if core.awaited_parents().contains(&id) {
                        self.tell_parent_ends(&[id]).await;
                    }
                }
                Cmd::Retry(id) => self.retry(id).await,
                Cmd::Adopt(v) => self.adopt(*v),
                Cmd::Acquire {
                    id,
                    need,
                    force,
                    granted,
                } => {
                    self.grants.insert(id, granted);
                    reactor::on_acquire(core, comm, id, need, force);
                }
                Cmd::StopHung(id) => reactor::on_hung(core, comm, id, self.ctx.grace),
                Cmd::Priority(id, priority) => {
                    if !reactor::on_priority(core, comm, id, priority) && !core.knows(id) {
                        self.told_priority.insert(id, priority);
                    }
                }
                Cmd::Waits(ids, answer) => {
                    let waits = ids
                        .into_iter()
                        .filter_map(|id| Some((id, core.wait(id)?)))
                        .collect();
                    let _ = answer.send(waits);
                }
                Cmd::Release(id) => {
                    self.grants.remove(&id);
                    reactor::on_release(core, comm, id);
                }
            }
            self.drive().await;
            self.publish();
        }
    }

    /// Carries out the core's decisions, then has it schedule, until it decides nothing more.
    async fn drive(&mut self) {
        loop {
            self.carry_out_all().await;
            reactor::schedule(&mut self.core, &mut self.comm);
            if self.comm.is_empty() {
                return;
            }
        }
    }

    /// Carries out the decisions made so far, in order.
    async fn carry_out_all(&mut self) {
        while let Some(decision) = self.comm.pop() {
            self.carry_out(decision).await;
        }
    }

    async fn carry_out(&mut self, decision: Decision<Route>) {
        match decision {
            Decision::Start { id, gpus, route } => self.start(id, gpus, route.backend).await,
            Decision::MarkWaiting { id } => lifecycle::mark_waiting(&self.ctx, id).await,
            Decision::StopRun { id, route, grace } => {
                tokio::spawn(async move { route.backend.stop(id, &route.run_dir, grace).await });
            }
            Decision::Preempt {
                id,
                by,
                route,
                grace,
            } => {
                // Recorded before the stop: its end, seen after a restart too, is known as a
                // preemption and queues its next attempt.
                lifecycle::preempting(&self.ctx, id, by).await;
                tokio::spawn(async move { route.backend.stop(id, &route.run_dir, grace).await });
            }
            Decision::StoppedBeforeStart { id } => {
                lifecycle::stopped_before_start(&self.ctx, id);
                // It ends stopped (9 -> 12 is the only move from 9): its dependents learn it
                // now rather than at the next sweep.
                reactor::on_parent_end(&mut self.core, &mut self.comm, id, Outcome::Stopped);
            }
            Decision::DependencyNeverMet { id, why } => {
                tracing::info!(version.id = id, parent.id = why.dep.run, "{why}");
                let reason = why.to_string();
                if lifecycle::dependency_never_met(&self.ctx, id, &reason).await {
                    reactor::on_parent_end(&mut self.core, &mut self.comm, id, Outcome::Stopped);
                }
            }
            Decision::Grant { lease } => {
                let told = self
                    .grants
                    .remove(&lease)
                    .is_some_and(|granted| granted.send(()).is_ok());
                if !told {
                    // Nobody waits for it any more.
                    reactor::on_release(&mut self.core, &mut self.comm, lease);
                }
            }
        }
    }

    fn publish(&self) {
        let mut view = self.view.lock().expect("capacity view lock");
        view.free = self.core.free();
    }

    fn spec(&self, v: &Version) -> Option<SpecConfig> {
        v.config
            .spec_id
            .and_then(|id| self.ctx.catalog.spec(id))
            .cloned()
    }

    /// Where a version's capacity comes from: this host, or its Slurm pool's queue here
    /// (its demand counting against its project's quota and the pool's cap).
    fn place_of(&self, v: &Version) -> Place {
        let demand = demand(
            self.spec(v).as_ref(),
            v.config.worker_server_num.unwrap_or(1),
        );
        match pool_of(&self.ctx.pools, &v.config).and_then(|p| self.lanes.get(&p.id)) {
            Some(pool) => Place::Pool(*pool, demand),
            None => Place::Here(demand),
        }
    }

    async fn enqueue(&mut self, id: i64) {
        if self.core.knows(id) {
            return;
        }
        let v = match self.ctx.store.version_by_id(id).await {
            Ok(Some(v)) => v,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(version.id = id, error = %e, "cannot load a queued version yet");
                self.enqueue_later(id);
                return;
            }
        };
        // Read after any priority told so far was stored.
        self.told_priority.remove(&id);
        self.queue(v).await;
    }

    /// Queues `v` as its create stored it (see [`Executor::enqueue_created`]).
    async fn queue_created(&mut self, mut v: Version) {
        if self.core.knows(v.id) {
            return;
        }
        if let Some(priority) = self.told_priority.remove(&v.id) {
            v.config.priority = Some(i64::from(priority));
        }
        self.queue(v).await;
    }

    /// Queues version `v` (as read or created) when it waits to start.
    async fn queue(&mut self, v: Version) {
        let id = v.id;
        let run_dir = PathBuf::from(&v.run_dir);
        let age_ms = now_ms() - v.create_time;
        match decide::admit(v.status, self.shared, age_ms, || run_dir.exists()) {
            Admission::Queue => {}
            // Found by a sweep or a recovery between the commit that created it and the move
            // of its code into place: the server creating it hands it over once it is ready.
            Admission::LeaveToCreator | Admission::Ignore => return,
        }
        let backend = self.backends.of(&self.ctx.pools, &v).clone();
        let place = self.place_of(&v);
        let ticket = ticket(&self.ctx, &v, v.status == JobStatus::WAITING);
        let parents: Vec<i64> = ticket.after.iter().map(|d| d.run).collect();
        let route = Route { backend, run_dir };
        reactor::on_enqueue(&mut self.core, &mut self.comm, id, place, ticket, route);
        self.tell_parent_ends(&parents).await;
    }

    /// Tells the core how those of `parents` that ended did (read from the store; a parent
    /// gone from it counts as stopped). One the store cannot read now is asked again by the
    /// next sweep.
    async fn tell_parent_ends(&mut self, parents: &[i64]) {
        for &parent in parents {
            let outcome = match self.ctx.store.version_by_id(parent).await {
                Ok(Some(p)) => Outcome::of(p.status),
                Ok(None) => Some(Outcome::Stopped),
                Err(e) => {
                    tracing::warn!(version.id = parent, error = %e, "cannot read a parent run's status yet");
                    None
                }
            };
            if let Some(outcome) = outcome {
                reactor::on_parent_end(&mut self.core, &mut self.comm, parent, outcome);
            }
        }
    }

    /// Starts the next attempt of `id` once its pause is over: claims it (once), then queues
    /// it for capacity like a new run; it stays 8 meanwhile.
    async fn retry(&mut self, id: i64) {
        if self.core.knows(id) {
            return;
        }
        let v = match self.ctx.store.version_by_id(id).await {
            Ok(Some(v)) => v,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(version.id = id, error = %e, "cannot load a retried version yet");
                retry_after(&self.tx, id, lifecycle::STORE_RETRY_MAX);
                return;
            }
        };
        match lifecycle::begin_attempt(&self.ctx, &v).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(version.id = id, error = %e, "cannot start a next attempt yet");
                retry_after(&self.tx, id, lifecycle::STORE_RETRY_MAX);
                return;
            }
        }
        let backend = self.backends.of(&self.ctx.pools, &v).clone();
        let place = self.place_of(&v);
        let route = Route {
            backend,
            run_dir: PathBuf::from(&v.run_dir),
        };
        self.attempts.insert(id);
        let ticket = ticket(&self.ctx, &v, false);
        reactor::on_enqueue(&mut self.core, &mut self.comm, id, place, ticket, route);
    }

    /// See [`Executor::sweep`]; it also looks at the parents that held-back runs wait for,
    /// in case an end was not reported here (a parent ended on another server, or deleted).
    async fn sweep(&mut self) {
        let parents = self.core.awaited_parents();
        self.tell_parent_ends(&parents).await;
        let store = self.ctx.store.clone();
        match store.versions_in(JobStatus::QUEUED).await {
            Ok(pending) => {
                for v in pending {
                    self.enqueue(v.id).await;
                }
                // Started before the stopped ones are looked for: one stopped meanwhile is
                // unknown by then, and recorded stopped below.
                self.carry_out_all().await;
            }
            Err(e) => tracing::warn!(error = %e, "cannot look for versions waiting to start"),
        }
        match store.versions_in(&[JobStatus::KILLING]).await {
            Ok(stopping) => {
                let ids: Vec<i64> = stopping.iter().map(|v| v.id).collect();
                reactor::on_sweep(&mut self.core, &mut self.comm, &ids);
            }
            Err(e) => tracing::warn!(error = %e, "cannot look for versions being stopped"),
        }
    }

    /// 1/7 -> 4, then prepares and submits the run in a task of its own. The core holds its
    /// capacity already; a start that does not happen gives it back.
    async fn start(&mut self, id: i64, gpus: Vec<u32>, backend: Backend) {
        tracing::debug!(version.id = id, "slot granted");
        // A next attempt was claimed when it was queued (and stays 8): read it; a first one
        // is moved to 4, which returns it.
        let claimed = self.attempts.remove(&id);
        let started = if claimed {
            match self.ctx.store.named_version(id).await {
                Ok(Some(v)) => Ok(Some(v)),
                _ => {
                    reactor::on_ended(&mut self.core, &mut self.comm, id);
                    return;
                }
            }
        } else {
            lifecycle::begin_start(&self.ctx, id).await
        };
        let v = match started {
            Ok(Some(v)) => v,
            Ok(None) => {
                reactor::on_start_refused(&mut self.core, &mut self.comm, id);
                return;
            }
            Err(e) => {
                tracing::warn!(version.id = id, error = %e, "cannot start a version yet");
                reactor::on_start_refused(&mut self.core, &mut self.comm, id);
                self.enqueue_later(id);
                return;
            }
        };
        let ctx = self.ctx.clone();
        let done = self.tx.clone();
        tokio::spawn(async move {
            if !submit(&ctx, &backend, &v, &gpus).await {
                let _ = done.send(Cmd::Ended(id));
            }
        });
    }

    /// Holds what a run found again after a restart needs, as if it had been started here.
    fn adopt(&mut self, v: Version) {
        let backend = self.backends.of(&self.ctx.pools, &v).clone();
        let place = self.place_of(&v);
        let run_dir = PathBuf::from(&v.run_dir);
        let gpus = read_gpus(&run_dir);
        let route = Route { backend, run_dir };
        let (core, comm) = (&mut self.core, &mut self.comm);
        let ticket = ticket(&self.ctx, &v, false);
        reactor::on_adopt(core, comm, v.id, ticket, place, gpus, route);
        if let Some(group) = group_of(&v) {
            reactor::on_adopt_group(core, comm, v.id, group.id);
        }
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

/// What the queue takes of version `v`: its project and priority (1 when it names none),
/// and whether it may be preempted: where its pool lets it be, unless the job opted out (v2
/// `preemptible: false`).
fn ticket(ctx: &RunContext, v: &Version, waiting: bool) -> Ticket {
    let by_default = ctx.preemptible_by_default;
    Ticket {
        project: v.project_id.clone(),
        priority: priority_of(v),
        waiting,
        after: crate::service::depends::stored(&v.config),
        group: group_of(v),
        preemptible: v.config.preemptible != Some(false)
            && pool_of(&ctx.pools, &v.config).map_or(by_default, |p| p.preemptible(by_default)),
    }
}

/// The group of a sweep's run: its sweep, whose concurrency bounds its runs.
fn group_of(v: &Version) -> Option<Group> {
    v.config.sweep.map(|s| Group {
        id: s.sweep_id,
        limit: u32::try_from(s.concurrency).unwrap_or(1).max(1),
    })
}

/// The priority a version runs at: its `config.priority` (1..=3; validated when stored), 1
/// when it names none.
pub(crate) fn priority_of(v: &Version) -> u8 {
    v.config
        .priority
        .and_then(|p| u8::try_from(p).ok())
        .filter(|p| trainyard_sched::fair::valid_priority(i64::from(*p)))
        .unwrap_or(trainyard_sched::fair::LOWEST)
}

fn read_gpus(run_dir: &Path) -> Vec<u32> {
    std::fs::read(run_dir.join("gpus.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Prepares the run of `v` (in 4) and hands it to `backend`; records what became of it.
/// Returns false when nothing was started (the start failed and is recorded).
async fn submit(
    ctx: &Arc<RunContext>,
    backend: &Backend,
    named: &NamedVersion,
    gpus: &[u32],
) -> bool {
    let (v, job_name) = (&named.version, &named.job_name);
    let prepared = async {
        let spec = ctx.prepare_run(v, job_name, gpus).await?;
        tracing::debug!(version.id = v.id, "run spec ready");
        if !gpus.is_empty() {
            let _ = std::fs::write(
                spec.run_dir.join("gpus.json"),
                serde_json::to_vec(gpus).unwrap_or_default(),
            );
        }
        let s = v.config.spec_id.and_then(|id| ctx.catalog.spec(id));
        let submission = Submission {
            id: v.id,
            spec,
            name: format!("trainyard-{job_name}-{}", v.id),
            per_worker: WorkerResources {
                cpus: s.map_or(1, |s| s.core),
                mem_mb: s.map_or(1024, |s| u64::from(s.cpu) * 1024),
                gpus: s.map_or(0, |s| s.gpu_num),
            },
            time_limit: time_left(v),
            nice: trainyard_sched::fair::slurm_nice(priority_of(v)),
            qos: pool_of(&ctx.pools, &v.config).and_then(|p| p.qos_for(priority_of(v))),
        };
        Ok::<_, crate::service::run_error::RunError>(backend.submit(submission).await?)
    }
    .await;
    // A next attempt stays 8 whether its backend started or queued it.
    let next_attempt = v.status == JobStatus::RUNNING;
    let (handle, step) = match prepared {
        Ok(Submitted::Started(handle) | Submitted::Queued(handle)) if next_attempt => {
            (handle, Step::Relaunched)
        }
        Ok(Submitted::Started(handle)) => (handle, Step::Launched),
        Ok(Submitted::Queued(handle)) => (handle, Step::Submitted),
        Err(e) => {
            lifecycle::start_failed(ctx, v, &e.to_string()).await;
            return false;
        }
    };
    if lifecycle::launched(ctx, v.id, handle, step).await {
        tracing::info!(job.id = v.job_id, version.id = v.id, "job started");
    } else {
        // Stopped while starting: stop what was started.
        let grace = decide::stop_grace(v.stop_grace);
        backend.stop(v.id, Path::new(&v.run_dir), grace).await;
    }
    true
}
