//! One supervising task per active visualization job: it waits for capacity, starts the
//! server (see [`super::start`]), probes it until it answers, and follows it to its end.
//! The servers run on a [`Backend`] of their own (this host's, with its own event stream):
//! it reports each server's end, and [`route`] hands the report to the job's task.

use super::context::VizContext;
use super::start::{launch, upstream, STOP_GRACE};
use crate::error::ApiResult;
use crate::service::executor::Lease;
use crate::service::lifecycle::viz::{self as lifecycle, End};
use crate::util::now_ms;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use trainyard_api::JobStatus;
use trainyard_exec::backend::{self, Backend, EventReceiver, Reattached, RunEvent};
use trainyard_exec::local::LocalBackend;
use trainyard_exec::{RunExit, RunHandle, RunOutcome};
use trainyard_store::VizJob;

/// How often a starting server is probed.
const PROBE_EVERY: Duration = Duration::from_millis(150);
/// How many times a server whose port was taken before it bound it is started again on
/// another port.
const PORT_RETRIES: u32 = 3;

/// What reaches the task of an active job: stop requests and its server's events.
struct Task {
    stop: mpsc::UnboundedSender<()>,
    events: mpsc::UnboundedSender<RunEvent>,
}

/// The task's ends of its channels.
struct Inbox {
    stop: mpsc::UnboundedReceiver<()>,
    events: mpsc::UnboundedReceiver<RunEvent>,
}

/// The tasks by job id.
type Tasks = Arc<Mutex<HashMap<i64, Task>>>;

/// The supervising tasks: one per active job, and the backend their servers run on. Cheap
/// to clone.
///
/// A server sharing its database with others supervises visualization jobs only while it
/// holds the scheduling duty (`service::cluster`): the servers run under the duty holder's
/// capacity, and their auto-stop deadlines fire on one server.
#[derive(Clone)]
pub struct VizManager {
    ctx: Arc<VizContext>,
    backend: Backend,
    tasks: Tasks,
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
        let (events, rx) = backend::events();
        // Visualization servers start rarely: no spare shims kept for them.
        let backend = Backend::Local(LocalBackend::new(ctx.shim_program.clone(), 0, events));
        let tasks = Tasks::default();
        tokio::spawn(route(rx, tasks.clone()));
        Self {
            ctx: Arc::new(ctx),
            backend,
            tasks,
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
            self.spawn(id);
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
                        lifecycle::finish(self.ctx.store.as_ref(), j.id, End::Stopped).await;
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
        for job in ctx.store.viz_in(JobStatus::ACTIVE).await? {
            // Registered first: the backend reports what it finds to the job's task.
            let (mine, mut inbox) = self.register(job.id);
            if self.reattach(&job, &mut inbox).await {
                tracing::info!(
                    viz.id = job.id,
                    "reattached to a running visualization server"
                );
                self.run(job.id, mine, inbox, true);
                continue;
            }
            unregister(&self.tasks, job.id, &mine);
            if job.status == JobStatus::KILLING || job.deleted {
                lifecycle::finish(ctx.store.as_ref(), job.id, End::Stopped).await;
            } else {
                tracing::info!(
                    viz.id = job.id,
                    status = job.status.code(),
                    "starting a visualization server again after a restart"
                );
                self.spawn(job.id);
            }
        }
        for job in ctx.store.deleted_viz().await? {
            if job.status.is_terminal() {
                purge(ctx, &job).await;
            }
        }
        Ok(())
    }

    /// Whether `job`'s server still runs: the backend follows it again then. A server found
    /// running is announced (its handle) before any end; one that ended while this server
    /// was down is reported ended at once.
    async fn reattach(&self, job: &VizJob, inbox: &mut Inbox) -> bool {
        let handle = RunHandle::parse(job.handle.as_deref());
        let found = self
            .backend
            .reattach(job.id, Path::new(&job.run_dir), handle, None, None)
            .await;
        found == Reattached::Followed
            && !matches!(inbox.events.recv().await, Some(RunEvent::Ended(_)) | None)
    }

    /// Registers a task for job `id`, in place of any earlier one; returns what tells this
    /// task apart and its inbox.
    fn register(&self, id: i64) -> (mpsc::UnboundedSender<()>, Inbox) {
        let (stop, stop_rx) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        let mine = stop.clone();
        let task = Task { stop, events };
        self.tasks.lock().expect("viz tasks lock").insert(id, task);
        let inbox = Inbox {
            stop: stop_rx,
            events: events_rx,
        };
        (mine, inbox)
    }

    /// Starts the supervising task of job `id`, whose server is started anew.
    pub(crate) fn spawn(&self, id: i64) {
        let (mine, inbox) = self.register(id);
        self.run(id, mine, inbox, false);
    }

    /// Runs the task registered as `mine` for job `id`.
    fn run(&self, id: i64, mine: mpsc::UnboundedSender<()>, inbox: Inbox, attached: bool) {
        let ctx = self.ctx.clone();
        let backend = self.backend.clone();
        let tasks = self.tasks.clone();
        tokio::spawn(async move {
            supervise(&ctx, &backend, id, attached, inbox).await;
            unregister(&tasks, id, &mine);
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
            .is_some_and(|task| task.stop.send(()).is_ok());
        if !sent {
            lifecycle::finish(self.ctx.store.as_ref(), id, End::Stopped).await;
        }
    }
}

/// Removes the task registered as `mine` for job `id`, unless a restart already registered
/// the next run's.
fn unregister(tasks: &Tasks, id: i64, mine: &mpsc::UnboundedSender<()>) {
    let mut tasks = tasks.lock().expect("viz tasks lock");
    if tasks.get(&id).is_some_and(|t| t.stop.same_channel(mine)) {
        tasks.remove(&id);
    }
}

/// Hands each event of the servers' backend to its job's task; one for a job without a task
/// (whose supervisor gave up on it) is dropped.
async fn route(mut events: EventReceiver, tasks: Tasks) {
    while let Some((id, event)) = events.recv().await {
        let task = tasks
            .lock()
            .expect("viz tasks lock")
            .get(&id)
            .map(|t| t.events.clone());
        match task {
            Some(task) => {
                let _ = task.send(event);
            }
            None => tracing::debug!(viz.id = id, ?event, "an event for no visualization task"),
        }
    }
}

/// Removes a deleted, terminal job's run folder and row.
pub(super) async fn purge(ctx: &VizContext, job: &VizJob) {
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

/// The exit of the server's run once its backend reports its end (the other events say
/// nothing the task needs); `None` when it was lost.
async fn ended(events: &mut mpsc::UnboundedReceiver<RunEvent>) -> Option<RunExit> {
    while let Some(event) = events.recv().await {
        if let RunEvent::Ended(end) = event {
            return end.exit;
        }
    }
    None
}

/// Asks the backend to stop the server of job `id` and waits for its end; returns the exit.
async fn stop_and_wait(
    backend: &Backend,
    id: i64,
    run_dir: &Path,
    events: &mut mpsc::UnboundedReceiver<RunEvent>,
) -> Option<RunExit> {
    backend.stop(id, run_dir, STOP_GRACE).await;
    ended(events).await
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
///
/// `attached`: its server was found running after a restart, and `backend` follows it.
async fn supervise(ctx: &VizContext, backend: &Backend, id: i64, attached: bool, inbox: Inbox) {
    let Inbox {
        stop: mut stop_rx,
        mut events,
    } = inbox;
    let store = ctx.store.as_ref();
    let Ok(Some(job)) = store.viz_by_id(id).await else {
        return;
    };
    if job.status == JobStatus::KILLING && !attached {
        return lifecycle::finish(store, id, End::Stopped).await;
    }
    let run_dir = PathBuf::from(&job.run_dir);
    if job.deadline.is_some_and(|d| d <= now_ms()) {
        // The deadline passed while the server was down.
        if attached {
            stop_and_wait(backend, id, &run_dir, &mut events).await;
        }
        return lifecycle::finish(store, id, End::AutoStopped).await;
    }
    let prefix = VizContext::prefix(&job);
    // Where the latest launch's output begins in the server's log (a restarted job's log holds
    // its earlier runs' output too).
    let mut launched_at = 0;
    let (_lease, port): (Lease, u16) = if attached {
        let lease = ctx.executor.acquire_now(ctx.demand_of(&job)).await;
        let port = job
            .port
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_default();
        (lease, port)
    } else {
        lifecycle::waiting(store, id).await;
        let lease = tokio::select! {
            lease = ctx.executor.acquire(ctx.demand_of(&job)) => lease,
            Some(()) = stop_rx.recv() => return lifecycle::finish(store, id, End::Stopped).await,
        };
        launched_at = trainyard_viz::server::log_len(&run_dir);
        match launch(ctx, backend, &job, &prefix).await {
            Ok(port) => (lease, port),
            Err(e) => {
                let message = e.to_string();
                let _ = std::fs::create_dir_all(&run_dir);
                let _ = std::fs::write(
                    trainyard_viz::server::log_file(&run_dir),
                    format!("[trainyard] {message}\n"),
                );
                return lifecycle::finish(store, id, End::Failed(message)).await;
            }
        }
    };

    // A server started here whose port was taken before it bound it is started again on
    // another port (see the probe loop); a reattached one is not.
    let mut relaunches_left = if attached { 0 } else { PORT_RETRIES };
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
            let _ = stop_and_wait(backend, id, &run_dir, &mut events).await;
            let reason = format!(
                "the visualization server did not answer within {} s (log: {}): {}",
                ctx.start_timeout.as_secs(),
                trainyard_viz::server::log_file(&run_dir).display(),
                trainyard_viz::server::log_tail(&run_dir, 3)
            );
            return lifecycle::finish(store, id, End::Failed(reason)).await;
        }
        tokio::select! {
            exit = ended(&mut events) => {
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
                    match launch(ctx, backend, &job, &prefix).await {
                        Ok(next) => port = next,
                        Err(e) => return lifecycle::finish(store, id, End::Failed(e.to_string())).await,
                    }
                    continue;
                }
                return lifecycle::finish(store, id, End::Failed(died(&run_dir, exit.as_ref()))).await;
            }
            Some(()) = stop_rx.recv() => {
                stop_and_wait(backend, id, &run_dir, &mut events).await;
                return lifecycle::finish(store, id, End::Stopped).await;
            }
            _ = tokio::time::sleep(PROBE_EVERY) => {}
        }
    }
    let Ok(Some(job)) = store.viz_by_id(id).await else {
        return;
    };
    let now = now_ms();
    let deadline = match job.deadline {
        Some(d) => Some(d),
        None => schedule_delay(job.schedule_unit.as_deref(), job.schedule_duration)
            .map(|d| now + d.as_millis() as i64),
    };
    match lifecycle::running(store, &job, now, deadline).await {
        Ok(true) => tracing::info!(
            viz.id = id,
            port,
            "visualization server answers; job running"
        ),
        Ok(false) => {
            // Stopped meanwhile.
            stop_and_wait(backend, id, &run_dir, &mut events).await;
            return lifecycle::finish(store, id, End::Stopped).await;
        }
        Err(e) => {
            tracing::error!(viz.id = id, error = %e, "cannot mark a visualization job running")
        }
    }

    // Running until stopped, auto-stopped or dead.
    let end = tokio::select! {
        exit = ended(&mut events) => End::Failed(died(&run_dir, exit.as_ref())),
        Some(()) = stop_rx.recv() => {
            stop_and_wait(backend, id, &run_dir, &mut events).await;
            End::Stopped
        }
        _ = sleep_until_ms(deadline) => {
            tracing::info!(viz.id = id, "auto-stop deadline reached; stopping the visualization server");
            stop_and_wait(backend, id, &run_dir, &mut events).await;
            End::AutoStopped
        }
    };
    lifecycle::finish(store, id, end).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_delays() {
        assert_eq!(
            schedule_delay(Some("MINUTES"), Some(1)),
            Some(Duration::from_secs(60))
        );
        assert_eq!(schedule_delay(Some("HOURS"), Some(0)), None);
    }
}
