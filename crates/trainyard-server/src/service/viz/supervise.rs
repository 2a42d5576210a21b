//! Visualization jobs (VJ-01..VJ-07): validation, the store, and one supervising task per
//! active job that runs its TensorBoard (or MindInsight) under the shim.
//!
//! Lifecycle: create/restart -> 1; the task moves it to 7 at once and waits for executor
//! capacity (a [`Lease`]); it starts the server on a free loopback port and moves the job to 8
//! only once the server answers HTTP. Stop: 9 -> 12 once the shim reports the process group
//! gone. Auto-stop (`schedule`): the deadline is fixed when the job enters 8 and persisted;
//! reaching it stops the server and ends in 10. A server that dies on its own ends in 11 with
//! its output kept in `<run_dir>/server.log`. After a server restart each active job is
//! reattached (shim alive) or started again, keeping its deadline and its `service_url`.

use crate::config::VizConfig;
use crate::error::{ApiError, ApiResult};
use crate::service::capacity::Resources;
use crate::service::executor::{Executor, Lease};
use crate::service::query::Params;
use crate::service::Service;
use crate::storage::{Location, PathError, Storage};
use crate::util::{now_ms, resource_id, valid_name};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use trainyard_api::training::Flavor;
use trainyard_api::visualization::{
    CreateVisualizationRequest, CreateVisualizationResponse, ScheduleInput, ScheduleOutput,
    VisualizationDetails, VisualizationJob, VisualizationListResponse,
};
use trainyard_api::JobStatus;
use trainyard_exec::{Attach, ObjectInput, ObjectSync, RunExit, RunOutcome, Running};
use trainyard_store::{duration_ms, NewVizJob, Store, VizFilter, VizJob, VizSet, VizSort};
use trainyard_viz::server::{Launcher, Target};

/// Statuses a stop (and a stop-then-delete) is allowed from.
const STOPPABLE: &[JobStatus] = JobStatus::PENDING;
/// Statuses a restart is allowed from (terminal).
const RESTARTABLE: [JobStatus; 8] = [
    JobStatus::IMAGE_FAILED,
    JobStatus::SUBMIT_FAILED,
    JobStatus::COMPLETED,
    JobStatus::FAILED,
    JobStatus::KILLED,
    JobStatus::CANCELED,
    JobStatus::LOST,
    JobStatus::MOUNT_FAILED,
];
/// Statuses with a supervising task (or one to start after a restart).
const ACTIVE: [JobStatus; 6] = [
    JobStatus::INIT,
    JobStatus::IMAGE_CREATING,
    JobStatus::SUBMIT_TRYING,
    JobStatus::WAITING,
    JobStatus::RUNNING,
    JobStatus::KILLING,
];
/// How often a starting server is probed.
const PROBE_EVERY: Duration = Duration::from_millis(150);
/// How many times a server whose port was taken before it bound it is started again on
/// another port.
const PORT_RETRIES: u32 = 3;
/// SIGTERM-to-SIGKILL grace when stopping a server (TensorBoard exits in ~1.5 s).
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What the supervising tasks share.
pub struct VizContext {
    /// Store.
    pub store: Arc<dyn Store>,
    /// Storage, for `train_url`.
    pub storage: Storage,
    /// Executor, for capacity.
    pub executor: Executor,
    /// Program with the hidden `shim` subcommand.
    pub shim_program: PathBuf,
    /// Where run directories live.
    pub runs_dir: PathBuf,
    /// How TensorBoard is started.
    pub tensorboard: Launcher,
    /// How MindInsight is started, if configured.
    pub mindinsight: Option<Launcher>,
    /// What one running job of the default flavor takes from the executor (`[viz]`).
    pub demand: Resources,
    /// What a job that names a flavor takes: that spec's resources, by lowercase code.
    pub flavor_demand: std::collections::HashMap<String, Resources>,
    /// The flavor a job that names none reports.
    pub default_flavor: Option<String>,
    /// How long a server may take to answer HTTP.
    pub start_timeout: Duration,
    /// Scheme, host and port of `service_url`.
    pub public_base: String,
    /// Active jobs per project.
    pub quotas: i64,
    /// Jobs per project.
    pub job_count_limit: i64,
}

impl VizContext {
    /// What `job` takes from the executor: the spec of the flavor it asked for, or `[viz]`'s
    /// cores and memory when it runs on the default flavor.
    fn demand_of(&self, job: &VizJob) -> Resources {
        job.flavor_code
            .as_deref()
            .filter(|code| {
                !self
                    .default_flavor
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case(code))
            })
            .and_then(|code| self.flavor_demand.get(&code.to_ascii_lowercase()))
            .copied()
            .unwrap_or(self.demand)
    }

    /// From `[viz]`; `data_dir` and `listen` give the defaults.
    #[expect(
        clippy::too_many_arguments,
        reason = "plain wiring of the server's parts"
    )]
    pub fn new(
        cfg: &VizConfig,
        data_dir: &Path,
        listen: std::net::SocketAddr,
        store: Arc<dyn Store>,
        storage: Storage,
        executor: Executor,
        shim_program: PathBuf,
        runs_dir: PathBuf,
    ) -> Self {
        let tb = cfg
            .tensorboard
            .clone()
            .unwrap_or_else(|| data_dir.join("tensorboard-venv/bin/tensorboard"));
        Self {
            store,
            storage,
            executor,
            shim_program,
            runs_dir,
            tensorboard: Launcher::TensorBoard(tb),
            mindinsight: cfg.mindinsight.clone().map(Launcher::Template),
            demand: Resources {
                cores: cfg.cores.unwrap_or(1),
                memory_gb: cfg.memory_gb.unwrap_or(1),
                gpus: 0,
            },
            flavor_demand: std::collections::HashMap::new(),
            default_flavor: None,
            start_timeout: Duration::from_secs(cfg.start_timeout_seconds.unwrap_or(60)),
            public_base: cfg
                .public_base
                .clone()
                .unwrap_or_else(|| format!("http://{listen}"))
                .trim_end_matches('/')
                .to_owned(),
            quotas: cfg.quotas.unwrap_or(10),
            job_count_limit: cfg.job_count_limit.unwrap_or(1000),
        }
    }

    /// The public path of a job, without a trailing slash.
    pub fn prefix(job: &VizJob) -> String {
        format!("/modelarts2/{}/{}/{}", job.job_type, job.project_id, job.id)
    }

    /// `service_url`: public path plus the access secret.
    pub fn service_url(&self, job: &VizJob) -> String {
        format!(
            "{}{}/?{}={}",
            self.public_base,
            Self::prefix(job),
            trainyard_viz::access::SECRET_PARAM,
            job.secret
        )
    }

    fn launcher(&self, job_type: &str) -> Option<&Launcher> {
        match job_type {
            "tensorboard" => Some(&self.tensorboard),
            "mindinsight" => self.mindinsight.as_ref(),
            _ => None,
        }
    }
}

/// The supervising tasks: one stop channel per active job. Cheap to clone.
///
/// A server sharing its database with others supervises visualization jobs only while it
/// holds the scheduling duty (`service::cluster`): the servers run under the duty holder's
/// capacity, and their auto-stop deadlines fire on one server.
#[derive(Clone)]
pub struct VizManager {
    ctx: Arc<VizContext>,
    tasks: Arc<Mutex<HashMap<i64, mpsc::UnboundedSender<()>>>>,
}

impl VizManager {
    /// Starts the manager and brings back what was active before a restart.
    pub async fn start(ctx: VizContext) -> ApiResult<Self> {
        let mgr = Self::new(ctx);
        mgr.activate().await?;
        Ok(mgr)
    }

    /// A manager that supervises nothing until [`Self::activate`].
    pub fn new(ctx: VizContext) -> Self {
        Self {
            ctx: Arc::new(ctx),
            tasks: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Brings back what was active: after a restart, or when this server takes the
    /// scheduling duty over.
    pub async fn activate(&self) -> ApiResult<()> {
        self.recover().await
    }

    /// Starts the task of job `id` unless one runs: for notices, which may repeat.
    pub fn start_if_idle(&self, id: i64) {
        let idle = !self.tasks.lock().expect("viz tasks lock").contains_key(&id);
        if idle {
            self.spawn(id, None);
        }
    }

    /// Looks at the database for jobs to start, or stopped before they started, that no
    /// notice announced (see `Executor::sweep`).
    pub async fn sweep(&self) {
        match self.ctx.store.viz_in(&[JobStatus::INIT]).await {
            Ok(jobs) => jobs.iter().for_each(|j| self.start_if_idle(j.id)),
            Err(e) => tracing::warn!(error = %e, "cannot look for visualization jobs to start"),
        }
        match self.ctx.store.viz_in(&[JobStatus::KILLING]).await {
            Ok(jobs) => {
                for j in jobs {
                    let idle = !self
                        .tasks
                        .lock()
                        .expect("viz tasks lock")
                        .contains_key(&j.id);
                    if idle {
                        finish(&self.ctx, j.id, End::Stopped).await;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for visualization jobs being stopped")
            }
        }
    }

    /// The shared context.
    pub fn ctx(&self) -> &VizContext {
        &self.ctx
    }

    async fn recover(&self) -> ApiResult<()> {
        let ctx = &self.ctx;
        for job in ctx.store.viz_in(&ACTIVE).await? {
            let dir = PathBuf::from(&job.run_dir);
            let attach = tokio::task::spawn_blocking(move || trainyard_exec::reattach(&dir))
                .await
                .unwrap_or(Attach::Lost);
            match attach {
                Attach::Alive(running) => {
                    tracing::info!(
                        viz.id = job.id,
                        "reattached to a running visualization server"
                    );
                    self.spawn(job.id, Some(running));
                }
                Attach::Finished(_) | Attach::Lost | Attach::NotStarted
                    if job.status == JobStatus::KILLING =>
                {
                    finish(ctx, job.id, End::Stopped).await;
                }
                Attach::Finished(_) | Attach::Lost | Attach::NotStarted if job.deleted => {
                    finish(ctx, job.id, End::Stopped).await;
                }
                Attach::Finished(_) | Attach::Lost | Attach::NotStarted => {
                    tracing::info!(
                        viz.id = job.id,
                        status = job.status.code(),
                        "starting a visualization server again after a restart"
                    );
                    self.spawn(job.id, None);
                }
            }
        }
        for job in ctx.store.deleted_viz().await? {
            if job.status.is_terminal() {
                purge(ctx, &job).await;
            }
        }
        Ok(())
    }

    /// Starts the supervising task of job `id`.
    pub(crate) fn spawn(&self, id: i64, attached: Option<Running>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mine = tx.clone();
        self.tasks.lock().expect("viz tasks lock").insert(id, tx);
        let ctx = self.ctx.clone();
        let tasks = self.tasks.clone();
        tokio::spawn(async move {
            supervise(&ctx, id, attached, rx).await;
            {
                // A restart may already have registered the next run's task.
                let mut tasks = tasks.lock().expect("viz tasks lock");
                if tasks.get(&id).is_some_and(|t| t.same_channel(&mine)) {
                    tasks.remove(&id);
                }
            }
            if let Ok(Some(job)) = ctx.store.viz_by_id(id).await {
                if job.deleted && job.status.is_terminal() {
                    purge(&ctx, &job).await;
                }
            }
        });
    }

    /// Asks the task of `id` to stop; a job without a task ends at once.
    pub(crate) async fn stop(&self, id: i64) {
        let sent = self
            .tasks
            .lock()
            .expect("viz tasks lock")
            .get(&id)
            .is_some_and(|tx| tx.send(()).is_ok());
        if !sent {
            finish(&self.ctx, id, End::Stopped).await;
        }
    }
}

/// How a run ended, as far as the supervisor knows.
enum End {
    /// Stopped through the API (or the job was stopping anyway).
    Stopped,
    /// The auto-stop deadline passed.
    AutoStopped,
    /// Failed to start or died.
    Failed(String),
}

/// Records the end of a run: 12 if the job was stopping, else 10 or 11.
async fn finish(ctx: &VizContext, id: i64, end: End) {
    let Ok(Some(job)) = ctx.store.viz_by_id(id).await else {
        return;
    };
    let (to, reason) = match end {
        _ if job.status == JobStatus::KILLING => (JobStatus::KILLED, None),
        End::Stopped => (JobStatus::KILLED, None),
        End::AutoStopped => (JobStatus::COMPLETED, None),
        End::Failed(reason) => (JobStatus::FAILED, Some(reason)),
    };
    let set = VizSet {
        end_time: Some(now_ms()),
        failure_reason: reason.clone(),
        ..Default::default()
    };
    let mut from = ACTIVE.to_vec();
    from.push(JobStatus::SUBMIT_FAILED);
    match ctx.store.viz_transition(id, &from, to, &set).await {
        Ok(true) => match reason {
            Some(r) => tracing::warn!(viz.id = id, reason = %r, "visualization job failed"),
            None => tracing::info!(viz.id = id, status = to.code(), "visualization job ended"),
        },
        Ok(false) => {}
        Err(e) => {
            tracing::error!(viz.id = id, error = %e, "cannot record the end of a visualization job")
        }
    }
}

async fn purge(ctx: &VizContext, job: &VizJob) {
    if !job.run_dir.is_empty() {
        let dir = PathBuf::from(&job.run_dir);
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
    }
    if let Err(e) = ctx.store.purge_viz(job.id).await {
        tracing::error!(viz.id = job.id, error = %e, "cannot purge a deleted visualization job");
    }
}

/// The auto-stop delay of a schedule.
fn schedule_delay(unit: Option<&str>, amount: Option<i64>) -> Option<Duration> {
    let n = u64::try_from(amount?).ok().filter(|n| *n > 0)?;
    match unit? {
        "MINUTES" => Some(Duration::from_secs(n * 60)),
        _ => Some(Duration::from_secs(n * 3600)),
    }
}

async fn sleep_until_ms(deadline: Option<i64>) {
    match deadline {
        Some(d) => tokio::time::sleep(Duration::from_millis((d - now_ms()).max(0) as u64)).await,
        None => std::future::pending().await,
    }
}

/// Waits for the server to exit after a stop request; returns the exit.
async fn stop_and_wait(run_dir: &Path, running: &mut Running) -> Option<RunExit> {
    if let Err(e) = trainyard_exec::request_stop(run_dir, STOP_GRACE) {
        tracing::warn!(run_dir = %run_dir.display(), error = %e, "stop request failed");
    }
    running.wait().await
}

fn died(run_dir: &Path, exit: Option<&RunExit>) -> String {
    let how = match exit.map(|e| &e.outcome) {
        Some(RunOutcome::Failed {
            exit_code: Some(c), ..
        }) => format!("exited with code {c}"),
        Some(RunOutcome::Failed {
            signal: Some(s), ..
        }) => format!("was killed by signal {s}"),
        Some(RunOutcome::SpawnFailed { message }) => format!("could not be started: {message}"),
        Some(RunOutcome::UploadFailed { message }) => message.clone(),
        Some(_) => "exited".to_owned(),
        None => "vanished".to_owned(),
    };
    let tail = trainyard_viz::server::log_tail(run_dir, 3);
    format!(
        "the visualization server {how} (log: {}): {tail}",
        trainyard_viz::server::log_file(run_dir).display()
    )
}

/// Runs one job from its current status to its end.
async fn supervise(
    ctx: &VizContext,
    id: i64,
    attached: Option<Running>,
    mut stop_rx: mpsc::UnboundedReceiver<()>,
) {
    let Ok(Some(job)) = ctx.store.viz_by_id(id).await else {
        return;
    };
    if job.status == JobStatus::KILLING && attached.is_none() {
        return finish(ctx, id, End::Stopped).await;
    }
    if job.deadline.is_some_and(|d| d <= now_ms()) {
        // The deadline passed while the server was down.
        if let Some(mut r) = attached {
            stop_and_wait(Path::new(&job.run_dir), &mut r).await;
        }
        return finish(ctx, id, End::AutoStopped).await;
    }
    let run_dir = PathBuf::from(&job.run_dir);
    let prefix = VizContext::prefix(&job);
    let attached_run = attached.is_some();
    // Where the latest launch's output begins in the server's log (a restarted job's log holds
    // its earlier runs' output too).
    let mut launched_at = 0;
    let (_lease, mut running, port): (Lease, Running, u16) = match attached {
        Some(r) => {
            let lease = ctx.executor.acquire_now(ctx.demand_of(&job)).await;
            let port = job
                .port
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or_default();
            (lease, r, port)
        }
        None => {
            // Cosmetic (it waits for capacity either way): a failure leaves it in 1.
            let waiting = ctx
                .store
                .viz_transition(
                    id,
                    &[JobStatus::INIT],
                    JobStatus::WAITING,
                    &VizSet::default(),
                )
                .await;
            if let Err(e) = waiting {
                tracing::warn!(viz.id = id, error = %e, "cannot mark a visualization job waiting");
            }
            let lease = tokio::select! {
                lease = ctx.executor.acquire(ctx.demand_of(&job)) => lease,
                Some(()) = stop_rx.recv() => return finish(ctx, id, End::Stopped).await,
            };
            launched_at = trainyard_viz::server::log_len(&run_dir);
            match launch(ctx, &job, &prefix).await {
                Ok((running, port)) => (lease, running, port),
                Err(e) => {
                    let message = e.to_string();
                    let _ = std::fs::create_dir_all(&run_dir);
                    let _ = std::fs::write(
                        trainyard_viz::server::log_file(&run_dir),
                        format!("[trainyard] {message}\n"),
                    );
                    return finish(ctx, id, End::Failed(message)).await;
                }
            }
        }
    };

    // A server started here whose port was taken before it bound it is started again on
    // another port (see the probe loop); a reattached one is not.
    let mut relaunches_left = if attached_run { 0 } else { PORT_RETRIES };
    let mut port = port;

    // Starting: 8 only once the server answers HTTP.
    let started = tokio::time::Instant::now();
    loop {
        let answered = match upstream(&ctx.storage, &job, port) {
            Some(up) => trainyard_viz::probe::answers(up, &prefix, Duration::from_secs(2)).await,
            None => false,
        };
        if answered {
            break;
        }
        if started.elapsed() > ctx.start_timeout {
            let _ = stop_and_wait(&run_dir, &mut running).await;
            let reason = format!(
                "the visualization server did not answer within {} s (log: {}): {}",
                ctx.start_timeout.as_secs(),
                trainyard_viz::server::log_file(&run_dir).display(),
                trainyard_viz::server::log_tail(&run_dir, 3)
            );
            return finish(ctx, id, End::Failed(reason)).await;
        }
        tokio::select! {
            exit = running.wait() => {
                // `free_port` gave the port back to the kernel before the server bound it, so
                // on a busy machine another process (any bind to port 0, e.g. another server's
                // TensorBoard data server) can take it first and the server exits at once.
                // That is no fault of the job: start it again on another port. The port may be
                // free again already (a short-lived holder), so the server's own word counts too.
                let taken = trainyard_viz::port_in_use(port)
                    || trainyard_viz::server::said_port_in_use(&run_dir, launched_at);
                if relaunches_left > 0 && taken {
                    relaunches_left -= 1;
                    tracing::warn!(viz.id = id, port, "the visualization server's port was taken before it could bind it; starting it on another port");
                    launched_at = trainyard_viz::server::log_len(&run_dir);
                    match launch(ctx, &job, &prefix).await {
                        Ok(next) => (running, port) = next,
                        Err(e) => return finish(ctx, id, End::Failed(e.to_string())).await,
                    }
                    continue;
                }
                return finish(ctx, id, End::Failed(died(&run_dir, exit.as_ref()))).await;
            }
            Some(()) = stop_rx.recv() => {
                stop_and_wait(&run_dir, &mut running).await;
                return finish(ctx, id, End::Stopped).await;
            }
            _ = tokio::time::sleep(PROBE_EVERY) => {}
        }
    }
    let Ok(Some(job)) = ctx.store.viz_by_id(id).await else {
        return;
    };
    let now = now_ms();
    let deadline = match job.deadline {
        Some(d) => Some(d),
        None => schedule_delay(job.schedule_unit.as_deref(), job.schedule_duration)
            .map(|d| now + d.as_millis() as i64),
    };
    let set = VizSet {
        start_time: job.start_time.is_none().then_some(now),
        deadline,
        ..Default::default()
    };
    let from = [
        JobStatus::INIT,
        JobStatus::WAITING,
        JobStatus::SUBMIT_TRYING,
        JobStatus::RUNNING,
    ];
    match ctx
        .store
        .viz_transition(id, &from, JobStatus::RUNNING, &set)
        .await
    {
        Ok(true) => tracing::info!(
            viz.id = id,
            port,
            "visualization server answers; job running"
        ),
        Ok(false) => {
            // Stopped meanwhile.
            stop_and_wait(&run_dir, &mut running).await;
            return finish(ctx, id, End::Stopped).await;
        }
        Err(e) => {
            tracing::error!(viz.id = id, error = %e, "cannot mark a visualization job running")
        }
    }

    // Running until stopped, auto-stopped or dead.
    let end = tokio::select! {
        exit = running.wait() => End::Failed(died(&run_dir, exit.as_ref())),
        Some(()) = stop_rx.recv() => {
            stop_and_wait(&run_dir, &mut running).await;
            End::Stopped
        }
        _ = sleep_until_ms(deadline) => {
            tracing::info!(viz.id = id, "auto-stop deadline reached; stopping the visualization server");
            stop_and_wait(&run_dir, &mut running).await;
            End::AutoStopped
        }
    };
    finish(ctx, id, end).await;
}

/// Why a visualization server could not be started; the text goes into its log and its
/// failure reason.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("job_type {0} is not configured")]
    NotConfigured(String),
    #[error(transparent)]
    Unavailable(#[from] trainyard_viz::server::Unavailable),
    #[error("train_url: {0}")]
    TrainUrl(#[from] crate::storage::PathError),
    #[error("train_url {url}: {source}")]
    TrainDir { url: String, source: std::io::Error },
    #[error(transparent)]
    NoPort(#[from] trainyard_viz::Error),
    #[error(transparent)]
    Exec(#[from] trainyard_exec::Error),
}

/// Starts the server under a shim on a free port and records handle and port.
async fn launch(
    ctx: &VizContext,
    job: &VizJob,
    prefix: &str,
) -> Result<(Running, u16), StartError> {
    let launcher = ctx
        .launcher(&job.job_type)
        .ok_or_else(|| StartError::NotConfigured(job.job_type.clone()))?;
    let env = crate::service::launch::base_environment();
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    launcher.available(&path)?;
    let run_dir = PathBuf::from(&job.run_dir);
    // A bucket's train_url is read through a local mirror the shim keeps fresh.
    let (logdir, mirror) = match ctx.storage.locate(&job.project_id, &job.train_url)? {
        Location::Local(dir) => (dir, None),
        Location::Object(from) => {
            let dir = run_dir.join("logdir");
            let store = ctx
                .storage
                .objects()
                .expect("an object location has a store");
            let sync = ObjectSync {
                s3: store.s3.clone(),
                inputs: vec![ObjectInput {
                    from,
                    link: dir.clone(),
                    cache: ctx.storage.cache_of(&job.project_id).unwrap_or_default(),
                    limit: store.cache_max_bytes,
                    follow: true,
                }],
                outputs: Vec::new(),
                interval_ms: u64::try_from(store.upload_interval.as_millis()).unwrap_or(u64::MAX),
            };
            (dir, Some(sync))
        }
    };
    let owner = ctx.storage.owner(&job.project_id);
    if owner.is_some() {
        use std::os::unix::fs::PermissionsExt;
        // The server runs in this folder as the project's user: it may pass, not list.
        std::fs::create_dir_all(&run_dir)
            .and_then(|()| {
                std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o711))
            })
            .map_err(|source| StartError::TrainDir {
                url: job.train_url.clone(),
                source,
            })?;
    }
    let made = if mirror.is_some() {
        std::fs::create_dir_all(&logdir)
    } else {
        ctx.storage.create_dir(&job.project_id, &logdir).map(|_| ())
    };
    made.map_err(|source| StartError::TrainDir {
        url: job.train_url.clone(),
        source,
    })?;
    // The visualization server reads the project's files as the project's user: a link in
    // its train_url leads nowhere the project's jobs could not read.
    let mut env = env;
    crate::service::launch::give_home(&mut env, &run_dir, owner).map_err(|source| {
        StartError::TrainDir {
            url: job.train_url.clone(),
            source,
        }
    })?;
    let port = trainyard_viz::free_port()?;
    let target = Target {
        logdir: &logdir,
        port,
        prefix,
    };
    let mut spec =
        trainyard_viz::server::run_spec(launcher, &target, &run_dir, env, STOP_GRACE.as_secs());
    spec.objects = mirror;
    spec.run_as = owner;
    spec.network = network(&ctx.storage, &job.project_id);
    // Each start of a visualization server is a new run in the job's folder.
    trainyard_exec::reset_run_dir(&run_dir)?;
    let (handle, running) = trainyard_exec::launch(&spec, &ctx.shim_program).await?;
    let set = VizSet {
        port: Some(i64::from(port)),
        handle: Some(trainyard_exec::RunHandle::Local(handle).to_json()),
        ..Default::default()
    };
    let status = ctx
        .store
        .viz_by_id(job.id)
        .await
        .ok()
        .flatten()
        .map(|j| j.status)
        .unwrap_or(JobStatus::WAITING);
    if let Err(e) = ctx
        .store
        .viz_transition(job.id, &[status], status, &set)
        .await
    {
        tracing::error!(viz.id = job.id, error = %e, "cannot record a visualization server's handle");
    }
    tracing::info!(
        viz.id = job.id,
        proc.pid = handle.shim_pid,
        port,
        "visualization server started"
    );
    Ok((running, port))
}

/// The network of `project`'s visualization servers: where the project's jobs run as its own
/// user (a root server), one of their own, which only the server enters, so no job of any
/// project reaches them on a loopback port; else (a single-tenant server) the host's.
fn network(storage: &crate::storage::Storage, project: &str) -> trainyard_exec::Network {
    match storage.owner(project) {
        Some(_) => trainyard_exec::Network::Isolated,
        None => trainyard_exec::Network::Host,
    }
}

/// Where `job`'s server listens on `port`: `None` while a server with a network of its own has
/// no worker yet (nothing is reached on the host's loopback in its stead).
fn upstream(
    storage: &crate::storage::Storage,
    job: &VizJob,
    port: u16,
) -> Option<trainyard_viz::Upstream> {
    match network(storage, &job.project_id) {
        trainyard_exec::Network::Isolated => Some(trainyard_viz::Upstream {
            port,
            netns: Some(trainyard_exec::netns::NetNs::of_run(Path::new(
                &job.run_dir,
            ))?),
        }),
        _ => Some(trainyard_viz::Upstream::loopback(port)),
    }
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("Job id:{id} is not existed"))
}

fn path_error(e: PathError) -> ApiError {
    ApiError::InvalidArgument(format!("train_url: {e}"))
}

/// Validated `schedule`: (unit, amount) or none. One item (the auto-stop) is all a job
/// has; more are refused rather than some of them dropped.
fn check_schedule(items: &[ScheduleInput]) -> ApiResult<Option<(String, i64)>> {
    if items.len() > 1 {
        return Err(ApiError::param(format!(
            "schedule: {} items given; a visualization job has one (type stop)",
            items.len()
        )));
    }
    let Some(s) = items.first() else {
        return Ok(None);
    };
    match s.kind.as_deref() {
        Some(k) if k.eq_ignore_ascii_case("stop") => {}
        Some(k) => return Err(ApiError::param(format!("schedule.type:{k} must be stop"))),
        None => return Err(ApiError::required("schedule.type")),
    }
    let unit = match s
        .time_unit
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("HOURS") => "HOURS",
        Some("MINUTES") => "MINUTES",
        Some(other) => {
            return Err(ApiError::param(format!(
                "schedule.time_unit:{other} must be HOURS or MINUTES"
            )))
        }
        None => return Err(ApiError::required("schedule.time_unit")),
    };
    let amount = s
        .duration
        .ok_or_else(|| ApiError::required("schedule.duration"))?;
    if !(0..=24).contains(&amount) {
        return Err(ApiError::param(format!(
            "schedule.duration:{amount} must be in [0,24]"
        )));
    }
    Ok(Some((unit.to_owned(), amount)))
}

impl Service {
    fn viz_view(&self, job: &VizJob, now: i64) -> VisualizationJob {
        let ctx = self.viz.ctx();
        let schedule = match (&job.schedule_unit, job.schedule_duration) {
            (Some(unit), Some(n)) => vec![ScheduleOutput {
                kind: "stop".into(),
                time_unit: unit.clone(),
                duration: n,
            }],
            _ => Vec::new(),
        };
        VisualizationJob {
            job_id: job.id,
            job_name: job.name.clone(),
            status: job.status.code(),
            create_time: job.create_time,
            duration: duration_ms(job.start_time, job.end_time, now),
            job_desc: job.description.clone(),
            service_url: ctx.service_url(job),
            train_url: job.train_url.clone(),
            resource_id: job.resource_id.clone(),
            job_type: job.job_type.clone(),
            flavor: Flavor {
                code: job.flavor_code.clone(),
            },
            schedule,
            remaining_duration: match job.deadline {
                Some(d) if job.status.is_running() => Some((d - now).max(0)),
                _ => None,
            },
        }
    }

    async fn check_viz_quota(&self, project: &str, creating: bool) -> ApiResult<()> {
        let ctx = self.viz.ctx();
        let (all, active) = self.store.count_viz(project).await?;
        if creating && all >= ctx.job_count_limit {
            return Err(ApiError::Quota("number of visualization jobs"));
        }
        if active >= ctx.quotas {
            return Err(ApiError::Quota("number of running visualization jobs"));
        }
        Ok(())
    }

    fn check_launcher(&self, job_type: &str) -> ApiResult<()> {
        let ctx = self.viz.ctx();
        let env = crate::service::launch::base_environment();
        let path = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        match ctx.launcher(job_type) {
            None => Err(ApiError::VizUnavailable(
                "MindInsight is not configured on this server: set [viz] mindinsight to its command line".into(),
            )),
            Some(l @ Launcher::TensorBoard(bin)) => l.available(&path).map_err(|_| {
                let venv = bin.parent().and_then(Path::parent).map(|p| p.display().to_string()).unwrap_or_default();
                ApiError::VizUnavailable(format!(
                    "TensorBoard is not installed: {} is missing. Run scripts/install-tensorboard.sh {venv} or set [viz] tensorboard to a tensorboard executable",
                    bin.display()
                ))
            }),
            Some(l) => l
                .available(&path)
                .map_err(|e| ApiError::VizUnavailable(format!("MindInsight cannot be started: {e}; check [viz] mindinsight"))),
        }
    }

    /// Creates a visualization job (VJ-01).
    pub async fn create_viz(
        &self,
        project: &str,
        req: CreateVisualizationRequest,
    ) -> ApiResult<CreateVisualizationResponse> {
        let name = req.job_name.ok_or_else(|| ApiError::required("job_name"))?;
        if !valid_name(&name, 20) {
            return Err(ApiError::ParameterError(format!("Illegal name: {name}")));
        }
        let desc = req.job_desc.unwrap_or_default();
        if desc.chars().count() > 256 {
            return Err(ApiError::param("job_desc must be at most 256 characters"));
        }
        let train_url = req
            .train_url
            .ok_or_else(|| ApiError::required("train_url"))?;
        self.storage
            .locate(project, &train_url)
            .map_err(path_error)?;
        let job_type = req
            .job_type
            .unwrap_or_else(|| "tensorboard".into())
            .to_ascii_lowercase();
        if job_type != "tensorboard" && job_type != "mindinsight" {
            return Err(ApiError::param(format!(
                "job_type:{job_type} must be tensorboard or mindinsight"
            )));
        }
        let flavor_code = req.flavor.and_then(|f| f.code);
        if let Some(code) = &flavor_code {
            if self.catalog.spec_by_code(code).is_none() {
                return Err(ApiError::param(format!(
                    "flavor.code:{code} is not existed"
                )));
            }
        }
        // None given: the job reports the default flavor it gets (the spec types `flavor.code`
        // as a string, never null).
        let flavor_code = flavor_code.or_else(|| {
            self.catalog
                .default_viz_flavor()
                .map(|s| s.spec_code.clone())
        });
        let schedule = check_schedule(&req.schedule)?;
        self.check_launcher(&job_type)?;
        self.check_viz_quota(project, true).await?;
        let new = NewVizJob {
            project_id: project.to_owned(),
            name: name.clone(),
            description: desc,
            train_url,
            job_type,
            flavor_code,
            resource_id: resource_id(),
            secret: trainyard_viz::access::new_secret(),
            create_time: now_ms(),
            schedule_unit: schedule.as_ref().map(|s| s.0.clone()),
            schedule_duration: schedule.map(|s| s.1),
            run_dir_template: self.runs_dir.join("viz-{id}").display().to_string(),
        };
        let job = self.store.create_viz(&new).await.map_err(|e| match e {
            trainyard_store::Error::Conflict => {
                ApiError::NameExists(format!("Job name:{name} is existed"))
            }
            other => other.into(),
        })?;
        self.cluster.viz_start(job.id).await;
        Ok(CreateVisualizationResponse {
            is_success: true,
            job_id: job.id,
            job_name: job.name.clone(),
            status: job.status.code(),
            create_time: job.create_time,
            service_url: self.viz.ctx().service_url(&job),
        })
    }

    /// Lists visualization jobs (VJ-02).
    pub async fn list_viz(
        &self,
        project: &str,
        q: &Params,
    ) -> ApiResult<VisualizationListResponse> {
        let per_page = q.int("per_page", 10, 1, 1000)?;
        let page = q.int("page", 1, 1, 65535)?;
        let sort = match q.sort_by().as_deref() {
            None | Some("job_id") => VizSort::Id,
            Some("job_name") => VizSort::Name,
            Some("job_desc") => VizSort::Desc,
            Some("create_time") => VizSort::CreateTime,
            Some("status") => VizSort::Status,
            Some("duration") => VizSort::Duration,
            Some("log_dir") | Some("train_url") => VizSort::TrainUrl,
            Some(other) => return Err(ApiError::param(format!("sortBy:{other} is not supported"))),
        };
        let now = now_ms();
        let filter = VizFilter {
            statuses: q.statuses()?,
            search: q.search()?,
            sort,
            descending: q.descending(false)?,
            offset: (page - 1) * per_page,
            limit: per_page,
            now,
        };
        let page = self.store.list_viz(project, &filter).await?;
        let ctx = self.viz.ctx();
        Ok(VisualizationListResponse {
            is_success: true,
            job_total_count: page.total,
            job_count_limit: (ctx.job_count_limit - page.live).max(0),
            jobs: page.rows.iter().map(|j| self.viz_view(j, now)).collect(),
            quotas: ctx.quotas,
        })
    }

    /// Shows one visualization job (VJ-03).
    pub async fn get_viz(&self, project: &str, id: i64) -> ApiResult<VisualizationDetails> {
        let job = self
            .store
            .get_viz(project, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        Ok(VisualizationDetails {
            is_success: true,
            job: self.viz_view(&job, now_ms()),
        })
    }

    /// Replaces a visualization job's description (VJ-04).
    pub async fn update_viz_description(
        &self,
        project: &str,
        id: i64,
        desc: Option<String>,
    ) -> ApiResult<()> {
        let desc = desc.ok_or_else(|| ApiError::required("job_desc"))?;
        if desc.chars().count() > 256 {
            return Err(ApiError::param("job_desc must be at most 256 characters"));
        }
        if !self
            .store
            .update_viz_description(project, id, &desc)
            .await?
        {
            return Err(not_found(id));
        }
        Ok(())
    }

    /// Stops a visualization job (VJ-06): 1/2/4/7/8 -> 9, then 12 once the server is gone.
    pub async fn stop_viz(&self, project: &str, id: i64) -> ApiResult<()> {
        let job = self
            .store
            .get_viz(project, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let mut from = STOPPABLE.to_vec();
        from.push(JobStatus::RUNNING);
        if !self
            .store
            .viz_transition(id, &from, JobStatus::KILLING, &VizSet::default())
            .await?
        {
            let status = self
                .store
                .viz_by_id(id)
                .await?
                .map(|j| j.status)
                .unwrap_or(job.status);
            return Err(ApiError::WrongStatus {
                action: "stop",
                status,
            });
        }
        self.cluster.viz_stop(id).await;
        Ok(())
    }

    /// Restarts a visualization job (VJ-07): from a terminal status back to 1 with a fresh server
    /// and deadline.
    pub async fn restart_viz(&self, project: &str, id: i64) -> ApiResult<()> {
        let job = self
            .store
            .get_viz(project, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if !RESTARTABLE.contains(&job.status) {
            return Err(ApiError::WrongStatus {
                action: "resubmit",
                status: job.status,
            });
        }
        self.check_launcher(&job.job_type)?;
        self.check_viz_quota(project, false).await?;
        match self.store.restart_viz(project, id, &RESTARTABLE).await? {
            None => return Err(not_found(id)),
            Some(Err(status)) => {
                return Err(ApiError::WrongStatus {
                    action: "resubmit",
                    status,
                })
            }
            Some(Ok(())) => {}
        }
        self.cluster.viz_start(id).await;
        Ok(())
    }

    /// Deletes a visualization job (VJ-05): refused while stopping (9); an active job is stopped,
    /// then removed.
    pub async fn delete_viz(&self, project: &str, id: i64) -> ApiResult<()> {
        let status = match self
            .store
            .mark_viz_deleted(project, id, &[JobStatus::KILLING])
            .await?
        {
            None => return Err(not_found(id)),
            Some(Err(status)) => {
                return Err(ApiError::WrongStatus {
                    action: "delete",
                    status,
                })
            }
            Some(Ok(status)) => status,
        };
        if status.is_terminal() {
            if let Some(job) = self.store.viz_by_id(id).await? {
                purge(self.viz.ctx(), &job).await;
            }
            return Ok(());
        }
        let mut from = STOPPABLE.to_vec();
        from.push(JobStatus::RUNNING);
        if self
            .store
            .viz_transition(id, &from, JobStatus::KILLING, &VizSet::default())
            .await?
        {
            self.cluster.viz_stop(id).await;
        } else if let Some(job) = self.store.viz_by_id(id).await? {
            if job.status.is_terminal() {
                purge(self.viz.ctx(), &job).await;
            }
        }
        Ok(())
    }

    /// For the console's "open": the live job `id` of `project`, whatever its type.
    pub async fn viz_of_project(&self, project: &str, id: i64) -> ApiResult<Option<VizJob>> {
        Ok(self.store.get_viz(project, id).await?)
    }

    /// For the proxy: where `job`'s server listens on `port` (see [`upstream`]).
    pub fn viz_upstream(&self, job: &VizJob, port: u16) -> Option<trainyard_viz::Upstream> {
        upstream(&self.storage, job, port)
    }

    /// For the proxy: the live job `id` of `project` whose public path uses `job_type`.
    pub async fn viz_for_proxy(
        &self,
        project: &str,
        job_type: &str,
        id: i64,
    ) -> ApiResult<Option<VizJob>> {
        Ok(self
            .store
            .get_viz(project, id)
            .await?
            .filter(|j| j.job_type == job_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: &str, unit: &str, n: i64) -> ScheduleInput {
        ScheduleInput {
            kind: Some(kind.into()),
            time_unit: Some(unit.into()),
            duration: Some(n),
        }
    }

    #[test]
    fn schedules() {
        assert_eq!(check_schedule(&[]).unwrap(), None);
        assert_eq!(
            check_schedule(&[item("STOP", "hours", 2)]).unwrap(),
            Some(("HOURS".into(), 2))
        );
        assert_eq!(
            check_schedule(&[item("stop", "Minutes", 1)]).unwrap(),
            Some(("MINUTES".into(), 1))
        );
        assert!(check_schedule(&[item("start", "HOURS", 1)]).is_err());
        assert!(check_schedule(&[item("stop", "DAYS", 1)]).is_err());
        assert!(check_schedule(&[item("stop", "HOURS", 25)]).is_err());
        assert!(check_schedule(&[item("stop", "HOURS", -1)]).is_err());
        assert_eq!(
            schedule_delay(Some("MINUTES"), Some(1)),
            Some(Duration::from_secs(60))
        );
        assert_eq!(schedule_delay(Some("HOURS"), Some(0)), None);
    }
}
