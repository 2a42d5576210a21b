//! The lifecycle of a version's run: the one place that changes a version's status once it
//! is submitted. Backends (the local executor, Slurm) and the API report what happened to a
//! run through these verbs; each is a compare-and-set in the store, and the ones that record
//! a fact about processes (started, ended, failed to start, stopped) are retried until the
//! database takes them, so a busy or full disk never leaves a version in 1, 4 or 8 for good.

use crate::catalog::Catalog;
use crate::config::ContainerRuntime;
use crate::service::capacity::Resources;
use crate::service::events::{self, Event, StopBy};
use crate::service::launch::{logs_dir, run_spec};
use crate::service::run_error::{RunError, RunResult};
use crate::service::usage;
use crate::service::validate::Checker;
use crate::storage::Storage;
use crate::util::now_ms;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use trainyard_api::JobStatus;
use trainyard_exec::backend::{EventReceiver, RunEnd, RunEvent};
use trainyard_exec::RunHandle;
use trainyard_sched::status::{self, Move, Step};
use trainyard_store::{JobDeletion, NamedVersion, Store, TransitionSet, Version, VersionDeletion};

/// What run tasks and the executor share.
pub struct RunContext {
    /// Store.
    pub(in crate::service) store: Arc<dyn Store>,
    /// Catalogs.
    pub(in crate::service) catalog: Arc<Catalog>,
    /// Storage.
    pub(in crate::service) storage: Storage,
    /// The executor's total resources.
    pub(in crate::service) total: Resources,
    /// Default stop grace.
    pub(in crate::service) grace: Duration,
    /// The `trainyard` program: Slurm tasks run as `<shim_program> slurm-task <run_dir>`.
    pub(in crate::service) shim_program: PathBuf,
    /// Program local runs' shims run as, `<local_shim> shim <run_dir>`: `trainyard-shim`
    /// beside `trainyard` when installed ([`trainyard_exec::local::shim_program`]).
    pub(in crate::service) local_shim: PathBuf,
    /// Resource pools.
    pub(in crate::service) pools: Vec<crate::config::PoolConfig>,
    /// Observability hooks: the workers' sampling interval and the Prometheus metrics.
    pub(in crate::service) telemetry: Arc<crate::telemetry::Telemetry>,
    /// The container runtime of custom-image jobs, if any.
    pub(in crate::service) containers: Option<ContainerRuntime>,
    /// Host folders each project may mount as `host_path` volumes.
    pub(in crate::service) host_paths: std::collections::HashMap<String, Vec<PathBuf>>,
    /// NFS exports mounted on the hosts (`[[nfs]]`).
    pub(in crate::service) nfs: Vec<crate::config::NfsConfig>,
    /// The log streams, told here when a run ends.
    pub(in crate::service) followers: Arc<crate::service::follow::Followers>,
    /// The cap on each worker's log (`[logs] max_log_bytes`), if any.
    pub(in crate::service) log_limit: Option<trainyard_exec::LogLimit>,
    /// Each project's default retry policy (`[[projects]] retry`).
    pub(in crate::service) retry_defaults:
        std::collections::HashMap<String, trainyard_api::training::RetryPolicy>,
    /// The runs' event log (`service::events::record`).
    pub(in crate::service) events: crate::service::events::EventLog,
    /// The configured webhooks and topics (`service::notify`).
    pub(in crate::service) hooks: Arc<crate::service::notify::Hooks>,
    /// Each project's `hang_timeout_minutes`, and the runs stopped as hung (`service::hang`).
    pub(in crate::service) hangs: crate::service::hung::Hangs,
    /// Each project's fair-share weight and quota (`[[projects]] share`, `quota`).
    pub(in crate::service) shares: Vec<(String, trainyard_sched::fair::Share)>,
    /// How fast projects' usage decays (`[scheduler] fair_share_half_life_minutes`).
    pub(in crate::service) half_life_ms: i64,
    /// Preemption on this host, when on for any run (`[scheduler] preemption`, or a local
    /// pool's `preemption`).
    pub(in crate::service) preemption: Option<trainyard_sched::preempt::Policy>,
    /// Whether runs without a pool, and of pools that do not say, may be preempted
    /// (`[scheduler] preemption`).
    pub(in crate::service) preemptible_by_default: bool,
}

impl RunContext {
    /// The context of this server's runs, with what `config` sets.
    #[expect(
        clippy::too_many_arguments,
        reason = "the parts build() makes, each once; a struct of them would only rename them"
    )]
    pub fn new(
        config: &crate::config::Config,
        store: Arc<dyn Store>,
        catalog: Arc<Catalog>,
        storage: Storage,
        shim_program: PathBuf,
        telemetry: Arc<crate::telemetry::Telemetry>,
        containers: Option<ContainerRuntime>,
        hooks: Arc<crate::service::notify::Hooks>,
    ) -> Self {
        let local_shim = trainyard_exec::local::shim_program(&shim_program);
        if local_shim == shim_program {
            tracing::warn!(
                program = %shim_program.display(),
                "no {} beside this program: runs start under `trainyard shim`, which takes several times longer to start; install both binaries of the trainyard-cli package",
                trainyard_exec::local::SHIM_PROGRAM
            );
        }
        // Without webhooks the writer asks nothing: events cost what they did.
        let outbox = (!hooks.is_empty()).then(|| {
            Arc::new(crate::service::notify::outbox::Notifier::new(
                store.clone(),
                hooks.clone(),
            )) as Arc<dyn crate::service::events::Outbox>
        });
        Self {
            hooks,
            followers: crate::service::follow::Followers::new(
                store.clone(),
                config.logs.max_streams(),
            ),
            log_limit: config.logs.log_limit(),
            events: crate::service::events::EventLog::start(store.clone(), outbox),
            hangs: crate::service::hung::Hangs::new(&config.projects),
            store,
            catalog,
            storage,
            total: crate::service::capacity::total(&config.executor).0,
            grace: config.executor.stop_grace(),
            shim_program,
            local_shim,
            pools: config.pools.clone(),
            telemetry,
            containers,
            host_paths: config
                .projects
                .iter()
                .map(|p| (p.id.clone(), p.host_paths.clone()))
                .collect(),
            nfs: config.nfs.clone(),
            shares: config
                .projects
                .iter()
                .map(|p| (p.id.clone(), p.fair_share()))
                .collect(),
            half_life_ms: config.scheduler.half_life_ms(),
            preemption: config
                .scheduler
                .preemption(config.executor.stop_grace(), &config.pools),
            preemptible_by_default: config.scheduler.preemption.unwrap_or(false),
            retry_defaults: config
                .projects
                .iter()
                .filter_map(|p| Some((p.id.clone(), p.retry.as_ref()?.policy())))
                .collect(),
        }
    }

    /// The log streams, told here when a run ends.
    pub fn followers(&self) -> &Arc<crate::service::follow::Followers> {
        &self.followers
    }

    /// Program local runs' shims are started as.
    pub fn local_shim(&self) -> &Path {
        &self.local_shim
    }

    /// The run spec of a version of the job `job_name` (command line, environment, logs),
    /// with its logs folder made.
    pub async fn prepare_run(
        &self,
        v: &Version,
        job_name: &str,
        gpus: &[u32],
    ) -> RunResult<trainyard_exec::RunSpec> {
        let checker = Checker {
            catalog: &self.catalog,
            storage: &self.storage,
            project: &v.project_id,
            total: self.total,
            containers: self.containers.as_ref(),
            pools: &self.pools,
            host_paths: self
                .host_paths
                .get(&v.project_id)
                .map_or(&[][..], |p| &p[..]),
            nfs: &self.nfs,
        };
        let mut spec = run_spec(
            &checker,
            &self.catalog,
            v,
            job_name,
            gpus,
            self.grace.as_secs(),
        )?;
        spec.sample_interval_ms = Some(self.telemetry.sample_interval_ms);
        spec.log_limit = self.log_limit;
        std::fs::create_dir_all(logs_dir(&spec.run_dir)).map_err(RunError::RunDir)?;
        Ok(spec)
    }
}

impl AsRef<crate::service::events::EventLog> for RunContext {
    fn as_ref(&self) -> &crate::service::events::EventLog {
        &self.events
    }
}

impl AsRef<crate::service::events::EventLog> for Arc<RunContext> {
    fn as_ref(&self) -> &crate::service::events::EventLog {
        &self.events
    }
}

/// Longest pause between two tries of a run's record that the database refused.
pub(crate) const STORE_RETRY_MAX: Duration = Duration::from_secs(5);

/// Runs `op` (a store call on the run path) until the database takes it: the database may
/// be busy for a moment or its disk full for a while, and a run's start or end must be
/// recorded once it happened, or the version stays 1 or 8 forever.
pub(crate) async fn until_stored<T, F, Fut>(what: &str, version: i64, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = trainyard_store::Result<T>>,
{
    let mut pause = Duration::from_millis(100);
    loop {
        match op().await {
            Ok(value) => return value,
            Err(e) => {
                tracing::warn!(version.id = version, error = %e, "cannot record {what} yet; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(STORE_RETRY_MAX);
            }
        }
    }
}

/// 1 or 7 -> 4: the version is about to be launched or submitted; the version as moved, with
/// its job's name (what its start needs, without reading them again). `Ok(None)` when it is
/// no longer pending (stopped or deleted meanwhile). Not retried: the caller queues it again.
pub async fn begin_start(
    ctx: &RunContext,
    id: i64,
) -> trainyard_store::Result<Option<NamedVersion>> {
    let Move { from, to } = Step::BeginStart.first();
    let set = TransitionSet::default();
    let moved = ctx.store.move_version(id, from, to, &set).await;
    if matches!(moved, Ok(Some(_))) {
        ctx.telemetry.start_began(id); // metrics hook
    }
    moved
}

/// 1 -> 7: queued behind others for resources. Cosmetic: a failure leaves it 1 and queued.
pub async fn mark_waiting(ctx: &RunContext, id: i64) {
    let Move { from, to } = Step::MarkWaiting.first();
    let set = TransitionSet::default();
    let moved = ctx.store.transition(id, from, to, &set).await;
    match moved {
        Ok(true) => events::record(
            ctx,
            id,
            Event::Queued {
                why: "waiting for resources: what it needs is not free, or others wait ahead"
                    .to_owned(),
            },
        ),
        Ok(false) => {}
        Err(e) => tracing::warn!(version.id = id, error = %e, "cannot mark a version waiting"),
    }
}

/// 4 -> 8 or 7 with the run's handle: launched (local, [`Step::Launched`]) or submitted
/// (Slurm, [`Step::Submitted`]). Returns false when the version was stopped meanwhile: the
/// handle is kept on the 9 so the stop reaches the run, and the caller stops it.
pub async fn launched(ctx: &RunContext, id: i64, handle: RunHandle, step: Step) -> bool {
    let Move { from, to } = step.first();
    // A next attempt keeps the first start's time (the version's running time goes on).
    let relaunched = step == Step::Relaunched;
    let now = now_ms();
    let set = TransitionSet {
        start_time: (to == JobStatus::RUNNING && !relaunched).then_some(now),
        attempt_start: (to == JobStatus::RUNNING).then_some(now),
        handle: Some(handle.to_json()),
        ..Default::default()
    };
    let moved = until_stored("the start of a run", id, || {
        ctx.store.transition(id, from, to, &set)
    })
    .await;
    if moved && to == JobStatus::RUNNING {
        if !relaunched {
            ctx.telemetry.started(id); // metrics hook
        }
        events::record(ctx, id, events::started_on(Some(&handle)));
    } else if moved {
        events::record(
            ctx,
            id,
            Event::Queued {
                why: format!(
                    "submitted to its backend's queue ({})",
                    events::place_of(&handle)
                ),
            },
        );
    }
    if let (false, Some(Move { from, to })) = (moved, step.fallback()) {
        until_stored("a run's handle", id, || {
            ctx.store.transition(id, from, to, &set)
        })
        .await;
    }
    moved
}

/// `from` -> 8 once the run is seen running (a Slurm job that left the queue, a local run
/// found alive in 4 after a restart), with the handle when one is known.
pub async fn seen_running(
    ctx: &RunContext,
    id: i64,
    from: &[JobStatus],
    handle: Option<RunHandle>,
) {
    let now = now_ms();
    let set = TransitionSet {
        start_time: Some(now),
        attempt_start: Some(now),
        handle: handle.as_ref().map(RunHandle::to_json),
        ..Default::default()
    };
    if until_stored("the start of a run", id, || {
        ctx.store.transition(id, from, JobStatus::RUNNING, &set)
    })
    .await
    {
        ctx.telemetry.started(id); // metrics hook

        // A Slurm job seen running comes without its handle: the one stored at its submit
        // says which job it is (a read on Slurm's path only, which polls its queue anyway).
        let handle = match handle {
            Some(h) => Some(h),
            None => (ctx.store.version_by_id(id).await)
                .ok()
                .flatten()
                .and_then(|v| RunHandle::parse(v.handle.as_deref())),
        };
        events::record(ctx, id, events::started_on(handle.as_ref()));
    }
}

/// Keeps a new handle for a run whose status does not change (Slurm: the job that claimed
/// the run is another than the one submitted).
pub async fn new_handle(ctx: &RunContext, id: i64, handle: RunHandle) {
    let Some(v) = until_stored("a run", id, || ctx.store.version_by_id(id)).await else {
        return;
    };
    let set = TransitionSet {
        handle: Some(handle.to_json()),
        ..Default::default()
    };
    let same = [v.status];
    until_stored("a run's handle", v.id, || {
        ctx.store.transition(v.id, &same, v.status, &set)
    })
    .await;
}

/// The run could not be started (1 or 4 -> 5, or 9 -> 12 when it was being stopped): the
/// reason goes into worker 0's log and the version's failure reason.
pub async fn start_failed(ctx: &Arc<RunContext>, v: &Version, reason: &str) {
    append_log(
        ctx,
        v,
        &format!("[trainyard] the job could not be started: {reason}"),
    )
    .await;
    let id = v.id;
    let now = now_ms();
    let Move { from, to } = Step::StartFailed.first();
    let set = TransitionSet {
        end_time: Some(now),
        failure_reason: Some(reason.to_owned()),
        usage: Some(unstarted_usage(ctx, v, to, now).await),
        ..Default::default()
    };
    let failed = until_stored("a failed start", id, || {
        ctx.store.transition(id, from, to, &set)
    })
    .await;
    if failed {
        events::record(ctx, id, Event::ended(to, Some(reason.to_owned())));
        ctx.telemetry.usage(set.usage.as_ref()); // metrics hook
    }
    if let (false, Some(Move { from, to })) = (failed, Step::StartFailed.fallback()) {
        let set = TransitionSet {
            usage: Some(unstarted_usage(ctx, v, to, now).await),
            ..set
        };
        if until_stored("a stop", id, || ctx.store.transition(id, from, to, &set)).await {
            events::record(ctx, id, Event::ended(to, None));
            ctx.telemetry.usage(set.usage.as_ref()); // metrics hook
        }
    }
    ctx.followers.run_ended(id);
    cleanup_if_deleted(ctx, id).await;
}

/// After a restart, a run that never started (4, or 8 without a claim) goes back to 1 to be
/// launched again.
pub async fn requeue_unstarted(ctx: &RunContext, id: i64) -> trainyard_store::Result<bool> {
    let Move { from, to } = Step::Requeue.first();
    let set = TransitionSet::default();
    let moved = ctx.store.transition(id, from, to, &set).await;
    if matches!(moved, Ok(true)) {
        let why = "queued again after a restart: it had not started".to_owned();
        events::record(ctx, id, Event::Queued { why });
    }
    moved
}

/// A stop asked for `by` a user (or the storage quota): a stoppable version -> 9 with the
/// grace. Returns false when it was not stoppable (any more).
pub async fn begin_stop(
    ctx: &RunContext,
    v: &Version,
    grace: Duration,
    by: StopBy,
) -> trainyard_store::Result<bool> {
    let set = TransitionSet {
        stop_grace: Some(grace.as_secs() as i64),
        ..Default::default()
    };
    let Move { from, to } = Step::BeginStop.first();
    let moved = ctx.store.transition(v.id, from, to, &set).await;
    if matches!(moved, Ok(true)) {
        ctx.telemetry.stop_began(v.id); // metrics hook
        events::record(ctx, v.id, Event::StopRequested { by });
    }
    moved
}

/// A delete of version `id` (TJ-04): hidden from the API, and a pending or running version
/// -> 9 with `grace` in the same transaction. Refused, with its status, while it is being
/// stopped.
pub async fn delete_version(
    ctx: &RunContext,
    id: i64,
    grace: Duration,
) -> trainyard_store::Result<VersionDeletion> {
    let refused = [JobStatus::KILLING];
    let grace = grace.as_secs() as i64;
    ctx.store.mark_version_deleted(id, &refused, grace).await
}

/// A delete of job `job_id` and all its versions (TJ-09), each as [`delete_version`].
/// Refused, with its status, while one is being stopped.
pub async fn delete_job(
    ctx: &RunContext,
    project: &str,
    job_id: i64,
    grace: Duration,
) -> trainyard_store::Result<JobDeletion> {
    let refused = [JobStatus::KILLING];
    let grace = grace.as_secs() as i64;
    ctx.store
        .mark_job_deleted(project, job_id, &refused, grace)
        .await
}

/// A delete of a v2 job in any phase: as [`delete_job`], but a job being stopped is
/// deleted too (its stop goes on; the cleanup follows its end).
pub async fn delete_any_job(
    ctx: &RunContext,
    project: &str,
    job_id: i64,
    grace: Duration,
) -> trainyard_store::Result<Vec<i64>> {
    let grace = grace.as_secs() as i64;
    let hidden = ctx
        .store
        .mark_job_deleted(project, job_id, &[], grace)
        .await?;
    Ok(match hidden {
        JobDeletion::Hidden(ids) => ids,
        // Nothing is refused here.
        JobDeletion::Refused(_) => Vec::new(),
    })
}

/// At start: deleted versions still pending or running -> 9 with the default grace (for
/// databases written before a delete did that itself). Returns how many.
pub async fn stop_deleted(ctx: &RunContext) -> trainyard_store::Result<u64> {
    let grace = ctx.grace.as_secs() as i64;
    ctx.store.stop_deleted_versions(grace).await
}

/// 9 -> 12 for a version stopped before it ran, retried until the database takes it, in a
/// task of its own so the caller goes on meanwhile.
pub fn stopped_before_start(ctx: &Arc<RunContext>, id: i64) {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let Move { from, to } = Step::StoppedBeforeStart.first();
        let now = now_ms();
        let v = until_stored("a run", id, || ctx.store.version_by_id(id)).await;
        let usage = match &v {
            Some(v) => Some(unstarted_usage(&ctx, v, to, now).await),
            None => None,
        };
        let set = TransitionSet {
            end_time: Some(now),
            usage,
            ..Default::default()
        };
        let stopped = until_stored("a stop", id, || ctx.store.transition(id, from, to, &set)).await;
        if stopped {
            events::record(&ctx, id, Event::ended(to, None));
            ctx.telemetry.usage(set.usage.as_ref()); // metrics hook
            ctx.followers.run_ended(id);
            cleanup_if_deleted(&ctx, id).await;
        }
    });
}

/// A version waiting for a parent run whose end never lets it start (1 or 7 -> 13): the
/// reason, naming the parent, goes into worker 0's log and the version's failure reason.
/// Returns whether it moved (a version stopped meanwhile stays as its stop leaves it).
pub async fn dependency_never_met(ctx: &Arc<RunContext>, id: i64, reason: &str) -> bool {
    let Move { from, to } = Step::DependencyNeverMet.first();
    let now = now_ms();
    let v = until_stored("a run", id, || ctx.store.version_by_id(id)).await;
    let Some(v) = v else { return false };
    let set = TransitionSet {
        end_time: Some(now),
        failure_reason: Some(reason.to_owned()),
        usage: Some(unstarted_usage(ctx, &v, to, now).await),
        ..Default::default()
    };
    let ended = until_stored("a cancelled run", id, || {
        ctx.store.transition(id, from, to, &set)
    })
    .await;
    if ended {
        append_log(
            ctx,
            &v,
            &format!("[trainyard] the job will not run: {reason}"),
        )
        .await;
        events::record(ctx, id, Event::ended(to, Some(reason.to_owned())));
        ctx.telemetry.usage(set.usage.as_ref()); // metrics hook
        ctx.followers.run_ended(id);
        cleanup_if_deleted(ctx, id).await;
    }
    ended
}

/// Reads the backends' events and records each: the only consumer of [`RunEvent`]s. A run's
/// end is recorded in a task of its own (it retries until the database takes it, and must
/// not hold up other runs' events); `on_end` is called once it is, with the pause before
/// its next attempt when it is retried.
pub async fn consume(
    ctx: Arc<RunContext>,
    mut events: EventReceiver,
    on_reaped: impl Fn(i64) + Send + 'static,
    on_end: impl Fn(i64, Option<Duration>) + Send + Sync + 'static,
) {
    let on_end = Arc::new(on_end);
    while let Some((id, event)) = events.recv().await {
        match event {
            RunEvent::Running => {
                let from = Step::SeenRunning.first().from;
                seen_running(&ctx, id, from, None).await;
            }
            RunEvent::Handle(handle) => new_handle(&ctx, id, handle).await,
            RunEvent::Ended(end) => {
                // Its workers are gone: what they held on the host is free for the next run
                // while the end is recorded.
                on_reaped(id);
                let (ctx, on_end) = (ctx.clone(), on_end.clone());
                tokio::spawn(async move {
                    let retry = finalize(&ctx, id, end).await;
                    on_end(id, retry);
                });
            }
        }
    }
}

/// Records the end of a run: a next attempt when its retry policy says so (the pause before
/// it is returned), else 10/11/12/14 from its exit, log copy, cleanup of deleted ones.
/// Retries until the database takes the record.
pub async fn finalize(ctx: &Arc<RunContext>, id: i64, end: RunEnd) -> Option<Duration> {
    // One read: the version with its job's name (its usage record's).
    let named = until_stored("a run", id, || ctx.store.named_version(id)).await?;
    let job_name = named.job_name;
    let mut v = named.version;
    if v.status == JobStatus::RUNNING && v.retry_at.is_some() {
        // A second report of the attempt whose end scheduled the pending retry: recorded.
        return None;
    }
    if let Some(note) = &end.note {
        append_log(ctx, &v, note).await;
    }
    // Stopped for a preemptor (its log says so, also after a restart): its next attempt.
    let stopped_running = v.status == JobStatus::RUNNING && events::stopped(&end);
    if stopped_running && !end.timed_out {
        if let Some(by) = events::preemptor_in_log(ctx.store.as_ref(), id).await {
            events::record_checkpoints(ctx, &v).await;
            events::record_exits(ctx, &v, &end);
            if requeue_preempted(ctx, &v, by).await {
                return Some(Duration::ZERO);
            }
            v = until_stored("a run", id, || ctx.store.version_by_id(id)).await?;
        }
    }
    let hung = match ctx.hangs.take(id) {
        Some(hung) => Some(hung),
        // Stopped while running, by no user: maybe as hung by a server that died since.
        None if v.status == JobStatus::RUNNING && events::stopped(&end) => {
            events::hung_in_log(ctx.store.as_ref(), id).await
        }
        None => None,
    };
    let ended = crate::service::run_end::of(&end, hung);
    if status::ENDS_FROM.contains(&v.status) {
        events::record_checkpoints(ctx, &v).await;
        events::record_exits(ctx, &v, &end);
    }
    match schedule_retry(ctx, &v, &ended).await {
        Retried::Scheduled(delay) => return Some(delay),
        Retried::No => {}
        // Stopped meanwhile: the end is recorded against the status it has now.
        Retried::Refused => {
            v = until_stored("a run", id, || ctx.store.version_by_id(id)).await?;
        }
    }
    let decided = status::end(v.status, &ended, v.config.max_runtime_seconds);
    let Some(status::Ending { to, reason, log }) = decided else {
        // Ended before (a second report): nothing changes but what follows.
        ctx.followers.run_ended(id);
        copy_logs(ctx, &v).await;
        cleanup_if_deleted(ctx, id).await;
        return None;
    };
    if let Some(line) = log {
        append_log(ctx, &v, &line).await;
    }
    let now = now_ms();
    let usage = usage::record_of(&ctx.catalog, &ctx.pools, &v, job_name, to, now);
    let set = TransitionSet {
        end_time: Some(now),
        failure_reason: reason,
        usage: Some(usage),
        ..Default::default()
    };
    // One write: the move returns the version as it left it (deleted or not).
    let moved = until_stored("the end of a run", id, || {
        ctx.store.move_version(id, status::ENDS_FROM, to, &set)
    })
    .await;
    let ended = moved.is_some();
    // The log streams of the run send what is left and end (also when another record won:
    // the version is terminal either way).
    ctx.followers.run_ended(id);
    if ended {
        events::record(ctx, id, Event::ended(to, set.failure_reason.clone()));
        ctx.telemetry.ended(id, to); // metrics hook
        ctx.telemetry.usage(set.usage.as_ref()); // metrics hook
        tracing::info!(
            job.id = v.job_id,
            version.id = id,
            status = to.code(),
            "job finished"
        );
    }
    copy_logs(ctx, &v).await;
    match moved {
        Some(moved) => cleanup_deleted(ctx, &moved.version).await,
        None => cleanup_if_deleted(ctx, id).await,
    }
    None
}

/// What became of a run's end under its retry policy.
enum Retried {
    /// Not retried: the end is the version's.
    No,
    /// The next attempt is recorded and starts after this pause.
    Scheduled(Duration),
    /// It would have been, but the version left its status meanwhile (a stop).
    Refused,
}

/// Records the next attempt of `v` when its retry policy retries how its attempt `ended`
/// ([`trainyard_sched::retry::decide`]): the version stays 8 with the attempt's number and
/// when it starts (durable: a restart during the pause starts it once), and its log says why.
async fn schedule_retry(ctx: &RunContext, v: &Version, ended: &status::End) -> Retried {
    use trainyard_sched::retry;
    let Some(policy) = crate::service::attempts::policy(v, &ctx.retry_defaults) else {
        return Retried::No;
    };
    if policy.max_retries.unwrap_or(0) <= 0 {
        return Retried::No;
    }
    let job_name = ctx
        .store
        .job_name(v.job_id)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let tail = {
        let v = v.clone();
        tokio::task::spawn_blocking(move || crate::service::attempts::tail(&v, &job_name))
            .await
            .unwrap_or_default()
    };
    // Attempts ended by preemption do not count against `max_retries`.
    let preempted = events::preemptions_in_log(ctx.store.as_ref(), v.id).await;
    let used = retry::Used {
        attempt: (v.attempt - preempted).max(1),
        consecutive_any: v.retry_consecutive_any,
    };
    let Some(mut next) = retry::decide(Some(policy), v.status, ended, &tail, used) else {
        return Retried::No;
    };
    append_log(ctx, v, &next.log_line(policy.max_retries.unwrap_or(0))).await;
    next.next_attempt = v.attempt + 1;
    let now = now_ms();
    let at = now + i64::try_from(next.delay.as_millis()).unwrap_or(i64::MAX / 2);
    // The attempt that ended is accounted now; the version stays 8 (`retried`).
    let set = TransitionSet {
        retry: Some((next.next_attempt, at, next.consecutive_any)),
        usage: Some(usage_of(ctx, v, JobStatus::RUNNING, now).await),
        ..Default::default()
    };
    let Move { from, to } = Step::RetryScheduled.first();
    let moved = until_stored("a retry", v.id, || {
        ctx.store.transition(v.id, from, to, &set)
    })
    .await;
    if moved {
        ctx.telemetry.usage(set.usage.as_ref()); // metrics hook
        let retry = Event::RetryScheduled {
            reason: next.reason.clone(),
            attempt: u32::try_from(next.next_attempt).unwrap_or(u32::MAX),
            of: u32::try_from(policy.max_retries.unwrap_or(0) + 1).unwrap_or(u32::MAX),
            delay_s: next.delay.as_secs_f64(),
        };
        events::record(ctx, v.id, retry);
        tracing::info!(
            job.id = v.job_id,
            version.id = v.id,
            attempt = next.next_attempt,
            delay_ms = next.delay.as_millis() as u64,
            reason = %next.reason,
            "run retried"
        );
        Retried::Scheduled(next.delay)
    } else {
        Retried::Refused
    }
}

/// Run `id` is about to be stopped to make room for version `by` (`Decision::Preempt`):
/// its `preempted` event is stored before the stop (retried until the database takes it),
/// so that its end is known as a preemption even after a restart.
pub async fn preempting(ctx: &RunContext, id: i64, by: i64) {
    let event = Event::Preempted { by };
    let log: &events::EventLog = ctx.as_ref();
    until_stored("a preemption", id, || log.record_durably(id, &event)).await;
    tracing::info!(version.id = id, by, "run preempted");
}

/// Records the end of preempted `v`'s attempt as the start of its next one: the version
/// stays 8 with the next attempt's number (its checkpoint folder kept: it resumes), due
/// now and not counted against its retry policy, with the ended attempt's usage (outcome
/// `preempted`). False when the version left 8 meanwhile (a stop).
async fn requeue_preempted(ctx: &RunContext, v: &Version, by: i64) -> bool {
    let now = now_ms();
    let mut usage = usage_of(ctx, v, JobStatus::RUNNING, now).await;
    usage.outcome = usage::PREEMPTED.to_owned();
    let set = TransitionSet {
        retry: Some((v.attempt + 1, now, v.retry_consecutive_any)),
        usage: Some(usage),
        ..Default::default()
    };
    let Move { from, to } = Step::RetryScheduled.first();
    let moved = until_stored("a preemption", v.id, || {
        ctx.store.transition(v.id, from, to, &set)
    })
    .await;
    if moved {
        ctx.telemetry.usage(set.usage.as_ref()); // metrics hook
        let line = format!(
            "[trainyard] attempt {} preempted by version {by}; attempt {} starts when there is room",
            v.attempt,
            v.attempt + 1
        );
        append_log(ctx, v, &line).await;
        tracing::info!(
            job.id = v.job_id,
            version.id = v.id,
            attempt = v.attempt + 1,
            by,
            "preempted run queued again"
        );
    }
    moved
}

/// Claims the start of the next attempt of `v` (8 with a retry pending), once: its earlier
/// attempt's files are moved aside first (idempotent), so the new run's claims are its own.
/// `Ok(false)`: nothing to start (stopped, or claimed already).
pub async fn begin_attempt(ctx: &RunContext, v: &Version) -> crate::error::ApiResult<bool> {
    if v.status != JobStatus::RUNNING || v.retry_at.is_none() {
        return Ok(false);
    }
    let (dir, earlier) = (PathBuf::from(&v.run_dir), v.attempt - 1);
    tokio::task::spawn_blocking(move || crate::service::attempts::archive(&dir, earlier))
        .await
        .map_err(crate::error::ApiError::internal)?
        .map_err(crate::error::ApiError::internal)?;
    Ok(ctx.store.begin_attempt(v.id, v.attempt).await?)
}

/// The usage record of the current attempt of `v`, ending at `ended_at` in `status`
/// (`RUNNING`: retried).
async fn usage_of(
    ctx: &RunContext,
    v: &Version,
    status: JobStatus,
    ended_at: i64,
) -> trainyard_store::UsageRecord {
    let job_name = until_stored("a job's name", v.id, || ctx.store.job_name(v.job_id))
        .await
        .unwrap_or_default();
    usage::record_of(&ctx.catalog, &ctx.pools, v, job_name, status, ended_at)
}

/// [`usage_of`] a run that ended before it started: it held nothing.
async fn unstarted_usage(
    ctx: &RunContext,
    v: &Version,
    status: JobStatus,
    ended_at: i64,
) -> trainyard_store::UsageRecord {
    let mut record = usage_of(ctx, v, status, ended_at).await;
    record.started_at = None;
    record
}

/// Appends a line of ours to worker 0's log of a run (`<job_name>.0`), creating it if the run
/// never got that far.
pub(crate) async fn append_log(ctx: &RunContext, v: &Version, line: &str) {
    use std::io::Write;
    let job_name = ctx
        .store
        .job_name(v.job_id)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| format!("version-{}", v.id));
    let dir = logs_dir(Path::new(&v.run_dir));
    let path = dir.join(crate::service::launch::log_name(&job_name, 0));
    let line = line.to_owned();
    let _ = tokio::task::spawn_blocking(move || {
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    })
    .await;
}

async fn copy_logs(ctx: &Arc<RunContext>, v: &Version) {
    let Some(url) = &v.config.log_url else { return };
    // A bucket's log_url got the logs from the shim (see `launch::run_spec`).
    if ctx.storage.objects().is_some() {
        return;
    }
    let Ok(dest) = ctx.storage.resolve(&v.project_id, url) else {
        return;
    };
    let src = logs_dir(Path::new(&v.run_dir));
    let (storage, project) = (ctx.storage.clone(), v.project_id.clone());
    // The log_url folder is the job's to write: it is reached without following links, and
    // each log lands as a new file of the project's user renamed into place, so a link the
    // job left there is replaced, never written through.
    let result = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let dir = storage.open_dir(&project, &dest)?;
        let owner = storage.owner(&project);
        for entry in std::fs::read_dir(&src)? {
            let path = entry?.path();
            if path.extension().is_some_and(|x| x == "idx") || !path.is_file() {
                continue;
            }
            if let Some(name) = path.file_name() {
                let mut from = std::fs::File::open(&path)?;
                trainyard_exec::sandbox::replace_file(&dir, name, &mut from, owner)?;
            }
        }
        Ok(())
    })
    .await;
    if let Ok(Err(e)) = result {
        tracing::warn!(version.id = v.id, error = %e, "cannot copy logs to log_url");
    }
}

/// Removes a deleted version's files and row once it is terminal.
pub async fn cleanup_if_deleted(ctx: &Arc<RunContext>, id: i64) {
    let Ok(Some(v)) = ctx.store.version_by_id(id).await else {
        return;
    };
    cleanup_deleted(ctx, &v).await;
}

/// [`cleanup_if_deleted`] of `v` as a move just left it (deleted and terminal: a delete after
/// the move found it stoppable no more, so it leaves the cleanup to this end).
async fn cleanup_deleted(ctx: &Arc<RunContext>, v: &Version) {
    if !v.deleted || !v.status.is_terminal() {
        return;
    }
    let dir = PathBuf::from(&v.run_dir);
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
    if let Err(e) = ctx.store.purge_version(v.id).await {
        tracing::error!(version.id = v.id, error = %e, "cannot purge a deleted version");
    }
}
