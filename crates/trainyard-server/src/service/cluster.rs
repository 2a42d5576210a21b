//! Several servers on one PostgreSQL database: who does what.
//!
//! Every server answers every request: the database holds all state, and the run directories
//! and storage are shared (see docs/replicas.md). What must happen once is a
//! *duty*, held by one server at a time:
//!
//! - **scheduler** — the executor (the FIFO queue, capacity, starting runs on this host or
//!   submitting them to Slurm, following them and recording their ends, polling Slurm, the
//!   recovery of runs) and the visualization jobs (their servers run under the executor's
//!   capacity, their auto-stop deadlines fire there). One duty, because all of it shares one
//!   capacity ledger.
//!
//! A duty is a PostgreSQL session advisory lock ([`trainyard_store::DutySession`]): released
//! by the database the moment its holder's session ends, so when the holder dies (its
//! connections close) another server takes the duty within [`TRY_EVERY`] and recovers every
//! run from the database and the run directories, exactly as a restarted server does. A
//! holder that cannot confirm its lock within [`CHECK_EVERY`] (+ the check's timeout) stops
//! serving — its process exits, see [`Cluster::lost`] — since another server may hold the
//! duty by then; its runs keep running under their shims and are adopted by the next holder.
//!
//! The holder also records its capacity ([`CAPACITY`]) every [`CHECK_EVERY`] when it changed,
//! and the others show it (RS-01 `no_resource`, `/metrics`) in place of their idle executors'
//! full capacity, read every [`TRY_EVERY`]: up to about two seconds behind the holder.
//!
//! The API hands work to the duty holder with notices (`LISTEN`/`NOTIFY`): a version to
//! start, a version to stop, a visualization job to start or stop. Notices are an
//! optimisation, not the record: the holder also sweeps the database every [`SWEEP_EVERY`]
//! for work no notice announced (sent while nobody held the duty, or lost with a dropped
//! connection), and every step it takes is a compare-and-set in the database, so a notice
//! that arrives twice changes nothing. On SQLite there is one server, which holds every duty
//! and calls its executor directly.

use crate::service::executor::{Executor, SharedCapacity};
use crate::service::viz::VizManager;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use trainyard_store::{Coordinator, DutyHold, DutySession, Notices, Version};

/// The duty of scheduling runs and visualization jobs.
pub const SCHEDULER: &str = "scheduler";

/// The shared record of the scheduler's capacity.
pub const CAPACITY: &str = "scheduler.capacity";

/// How often a server that does not hold a duty tries to take it: with the time the database
/// needs to notice a dead holder's closed connection (at once on a live host), the bound on a
/// takeover.
pub const TRY_EVERY: Duration = Duration::from_secs(1);

/// How often the holder confirms it still holds its duty.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How often the holder looks at the database for work no notice announced.
pub const SWEEP_EVERY: Duration = Duration::from_secs(2);

/// What one server tells the duty holder.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Notice {
    /// A version in 1 is ready to start (its code is in place).
    Enqueue { version: i64 },
    /// A version was moved to 9: stop it with this grace.
    Stop { version: i64, grace_seconds: u64 },
    /// A queued version's priority was changed (and stored).
    Priority { version: i64, priority: u8 },
    /// A visualization job in 1 is to be started.
    VizStart { viz: i64 },
    /// A visualization job was moved to 9.
    VizStop { viz: i64 },
}

/// Where the API hands work to: this server's executor and visualization manager (SQLite, or
/// while this server holds the duty it would notify itself anyway), or the duty holder through
/// the database. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    executor: Executor,
    viz: VizManager,
    coordinator: Option<Coordinator>,
    held: Arc<Mutex<Vec<&'static str>>>,
    lost: watch::Sender<Option<String>>,
}

impl Cluster {
    /// The single server of an SQLite database: it holds every duty, its executor and
    /// visualization manager are active already.
    pub fn single(executor: Executor, viz: VizManager) -> Self {
        Self {
            executor,
            viz,
            coordinator: None,
            held: Arc::new(Mutex::new(vec![SCHEDULER])),
            lost: watch::Sender::new(None),
        }
    }

    /// One of several servers on a shared database: `executor` and `viz` are idle until this
    /// server takes the scheduling duty, which a task started here competes for.
    pub fn shared(executor: Executor, viz: VizManager, coordinator: Coordinator) -> Self {
        let cluster = Self {
            executor,
            viz,
            coordinator: Some(coordinator),
            held: Arc::new(Mutex::new(Vec::new())),
            lost: watch::Sender::new(None),
        };
        tokio::spawn(cluster.clone().hold_scheduler());
        cluster
    }

    /// The duties this server holds now.
    pub fn duties(&self) -> Vec<&'static str> {
        self.held.lock().expect("duties lock").clone()
    }

    /// Resolves with the reason once this server lost a duty it held (its database session
    /// ended or stopped answering): it must stop serving, since another server may already
    /// hold the duty. Never resolves on SQLite.
    pub fn lost(&self) -> impl std::future::Future<Output = String> + Send + 'static {
        let mut rx = self.lost.subscribe();
        async move {
            loop {
                if let Some(why) = rx.borrow_and_update().clone() {
                    return why;
                }
                if rx.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        }
    }

    /// Version `id` (in 1, its code in place) is ready to start.
    pub async fn enqueue(&self, id: i64) {
        match &self.coordinator {
            None => self.executor.enqueue(id),
            Some(_) => self.notify(&Notice::Enqueue { version: id }).await,
        }
    }

    /// Queues `v`, a version just created in status 1: this server's executor takes it as
    /// stored (see [`Executor::enqueue_created`]); another holding the scheduling duty reads
    /// it.
    pub async fn enqueue_created(&self, v: &Version) {
        match &self.coordinator {
            None => self.executor.enqueue_created(v.clone()),
            Some(_) => self.notify(&Notice::Enqueue { version: v.id }).await,
        }
    }

    /// Version `id` was moved to 9: stop it with `grace`.
    pub async fn stop(&self, id: i64, grace: Duration) {
        match &self.coordinator {
            None => self.executor.stop(id, grace),
            Some(_) => {
                let notice = Notice::Stop {
                    version: id,
                    grace_seconds: grace.as_secs(),
                };
                self.notify(&notice).await;
            }
        }
    }

    /// Queued version `id` has the stored priority `priority` now.
    pub async fn set_priority(&self, id: i64, priority: u8) {
        match &self.coordinator {
            None => self.executor.set_priority(id, priority),
            Some(_) => {
                self.notify(&Notice::Priority {
                    version: id,
                    priority,
                })
                .await
            }
        }
    }

    /// Visualization job `id` is in 1: start its server.
    pub async fn viz_start(&self, id: i64) {
        match &self.coordinator {
            None => self.viz.spawn(id),
            Some(_) => self.notify(&Notice::VizStart { viz: id }).await,
        }
    }

    /// Visualization job `id` was moved to 9: stop its server.
    pub async fn viz_stop(&self, id: i64) {
        match &self.coordinator {
            None => self.viz.stop(id).await,
            Some(_) => self.notify(&Notice::VizStop { viz: id }).await,
        }
    }

    /// Sends a notice to the duty holder. A notice that cannot be sent is left to the
    /// holder's sweep: the change it announces is committed already.
    async fn notify(&self, notice: &Notice) {
        let Some(coordinator) = &self.coordinator else {
            return;
        };
        let payload = serde_json::to_string(notice).expect("notices serialize");
        if let Err(e) = coordinator.notify(&payload).await {
            tracing::warn!(error = %e, notice = %payload, "cannot notify the scheduler; its sweep will find the work");
        }
    }

    /// Competes for the scheduling duty until this server holds it, then serves it until
    /// the process ends (or the duty is lost: see [`Self::lost`]).
    async fn hold_scheduler(self) {
        let Some(coordinator) = self.coordinator.clone() else {
            return;
        };
        let (session, hold) = tokio::select! {
            taken = take(&coordinator, SCHEDULER) => taken,
            never = self.show_holders_capacity(&coordinator) => match never {},
        };
        tracing::info!(duty = SCHEDULER, "took the scheduler duty");
        let why = self.serve_scheduler(&coordinator, session, hold).await;
        tracing::error!(duty = SCHEDULER, reason = %why, "lost the scheduler duty; this server stops (its runs keep running and are adopted by the next holder)");
        self.held.lock().expect("duties lock").clear();
        self.lost.send_replace(Some(why));
    }

    /// Serves the scheduling duty; returns why it ended.
    async fn serve_scheduler(
        &self,
        coordinator: &Coordinator,
        mut session: DutySession,
        hold: DutyHold,
    ) -> String {
        // Listening first, recovering second: whatever is announced during the recovery waits
        // in the listener, and whatever was announced before it is in the database.
        let mut notices = loop {
            match coordinator.listen().await {
                Ok(n) => break n,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for notices yet");
                    tokio::time::sleep(TRY_EVERY).await;
                }
            }
        };
        if let Err(e) = self.executor.activate().await {
            return format!("recovering runs: {e}");
        }
        if let Err(e) = self.viz.activate().await {
            return format!("recovering visualization jobs: {e}");
        }
        self.held.lock().expect("duties lock").push(SCHEDULER);
        let mut check = tokio::time::interval(CHECK_EVERY);
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        let mut shared = None;
        loop {
            tokio::select! {
                notice = recv(&mut notices) => match notice {
                    Some(n) => self.handle(n).await,
                    None => self.sweep().await,
                },
                _ = check.tick() => match session.check(hold).await {
                    Ok(true) => self.share_capacity(coordinator, &mut shared).await,
                    Ok(false) => return "the database no longer lists this server's lock".to_owned(),
                    Err(e) => return format!("the duty's database session failed: {e}"),
                },
                _ = sweep.tick() => self.sweep().await,
            }
        }
    }

    /// Records this holder's capacity for the other servers when it changed since `last`
    /// (what was recorded; `None` before the first record, so a new holder always writes).
    async fn share_capacity(&self, coordinator: &Coordinator, last: &mut Option<SharedCapacity>) {
        let now = self.executor.shared_capacity();
        if last.as_ref() == Some(&now) {
            return;
        }
        let value = serde_json::to_string(&now).expect("capacity serializes");
        match coordinator.share(CAPACITY, &value).await {
            Ok(()) => *last = Some(now),
            Err(e) => {
                tracing::warn!(error = %e, "cannot record the capacity for the other servers")
            }
        }
    }

    /// While another server holds the scheduling duty: shows its recorded capacity, read
    /// every [`TRY_EVERY`]. Runs until this server takes the duty (the caller drops it then).
    async fn show_holders_capacity(&self, coordinator: &Coordinator) -> std::convert::Infallible {
        let mut every = tokio::time::interval(TRY_EVERY);
        loop {
            every.tick().await;
            match coordinator.shared(CAPACITY).await {
                Ok(Some(value)) => match serde_json::from_str(&value) {
                    Ok(capacity) => self.executor.show_capacity(capacity),
                    Err(e) => {
                        tracing::warn!(error = %e, "ignoring a capacity record this server does not understand")
                    }
                },
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, "cannot read the scheduler's capacity"),
            }
        }
    }

    async fn handle(&self, notice: Notice) {
        match notice {
            Notice::Enqueue { version } => self.executor.enqueue(version),
            Notice::Stop {
                version,
                grace_seconds,
            } => self
                .executor
                .stop(version, Duration::from_secs(grace_seconds)),
            Notice::Priority { version, priority } => {
                self.executor.set_priority(version, priority);
            }
            Notice::VizStart { viz } => self.viz.start_if_idle(viz),
            Notice::VizStop { viz } => self.viz.stop(viz).await,
        }
    }

    async fn sweep(&self) {
        self.executor.sweep();
        self.viz.sweep().await;
    }
}

/// Takes `duty`, trying every [`TRY_EVERY`] (with a fresh session after a database error).
async fn take(coordinator: &Coordinator, duty: &str) -> (DutySession, DutyHold) {
    loop {
        let mut session = match coordinator.duty_session().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, duty, "cannot open a session to compete for a duty");
                tokio::time::sleep(TRY_EVERY).await;
                continue;
            }
        };
        loop {
            match session.try_take(duty).await {
                Ok(Some(hold)) => return (session, hold),
                Ok(None) => tokio::time::sleep(TRY_EVERY).await,
                Err(e) => {
                    tracing::warn!(error = %e, duty, "competing for a duty failed; reconnecting");
                    session.close().await;
                    tokio::time::sleep(TRY_EVERY).await;
                    break;
                }
            }
        }
    }
}

/// The next notice; `None` when notices may have been lost (the listening connection was
/// re-established) or one could not be read, so the caller sweeps.
async fn recv(notices: &mut Notices) -> Option<Notice> {
    match notices.recv().await {
        Ok(Some(payload)) => match serde_json::from_str(&payload) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(error = %e, notice = %payload, "ignoring a notice this server does not understand");
                None
            }
        },
        Ok(None) => {
            tracing::warn!("the notice connection was re-established; sweeping");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot receive notices; retrying");
            tokio::time::sleep(CHECK_EVERY).await;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Notice;

    #[test]
    fn notices_round_trip_as_tagged_json() {
        let n = Notice::Stop {
            version: 7,
            grace_seconds: 2,
        };
        let text = serde_json::to_string(&n).unwrap();
        assert_eq!(text, r#"{"kind":"stop","version":7,"grace_seconds":2}"#);
        assert_eq!(serde_json::from_str::<Notice>(&text).unwrap(), n);
    }
}
