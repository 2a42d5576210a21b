//! Persistence of training jobs, versions, configurations and visualization jobs.
//!
//! [`Store`] speaks domain verbs (create a job, move a version from one status to another with
//! compare-and-set, list with filters) and keeps each job's summary of its newest version in
//! the same transaction as the change that alters it. Two engines implement it, chosen by the
//! URL's scheme ([`open`]): [`SqliteStore`], the embedded default, and [`PgStore`], which
//! several servers share. Their statements are written once (`ops.rs`, instantiated per
//! engine; `sql.rs` holds what differs), their schemas twice (`migrations/{sqlite,postgres}`,
//! same version numbers), and one test suite runs on both (`tests/`).

mod advisory;
mod commits;
mod error;
mod model;
mod ops;
mod outcome;
mod postgres;
mod snapshots;
pub mod sql;
mod sqlite;
mod sweeps;
#[cfg(feature = "test-support")]
pub mod testing;
mod usage;
mod viz;
mod webhooks;

pub use commits::Committed;
pub use error::{Error, Result};
pub use model::*;
pub use outcome::{JobDeletion, VersionDeletion, VizDeletion, VizRestart};
pub use postgres::{Coordinator, DutyHold, DutySession, Notices, PgStore};
pub use sqlite::SqliteStore;
pub use sweeps::{NewSweep, Sweep, SweepRunRow};
pub use usage::{UsageBy, UsageGroup, UsageRecord, UsageSpan};
pub use viz::{NewVizJob, VizFilter, VizJob, VizSet, VizSort};
pub use webhooks::{
    AttemptOutcome, Delivery, DeliveryAttempt, DeliveryState, JobNotification, NewDelivery,
};

use std::sync::Arc;
use trainyard_api::JobStatus;

/// Which engine a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// An SQLite file (`sqlite://path`, or a plain path).
    Sqlite,
    /// A PostgreSQL database (`postgres://` or `postgresql://`).
    Postgres,
}

impl Engine {
    /// The engine a database URL names; a scheme we do not speak is an error that lists the
    /// ones we do.
    pub fn of_url(url: &str) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Engine::Postgres);
        }
        if url.starts_with("sqlite:") || !url.contains("://") {
            return Ok(Engine::Sqlite);
        }
        let scheme = url.split("://").next().unwrap_or_default();
        Err(Error::UnsupportedEngine(scheme.to_owned()))
    }

    /// `sqlite` or `postgres`.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// How a store is opened, beside its URL.
#[derive(Clone, Copy, Debug, Default)]
pub struct StoreOptions {
    /// Most connections the pool holds (default: 8 for SQLite; for PostgreSQL twice the
    /// host's cores, 4 to 16).
    pub max_connections: Option<u32>,
}

/// Opens the database at `url` with the engine its scheme names, applying the migrations.
/// On PostgreSQL the migrations run under sqlx's advisory lock, so servers starting together
/// apply them once.
pub async fn open(url: &str, opts: &StoreOptions) -> Result<Arc<dyn Store>> {
    Ok(match Engine::of_url(url)? {
        Engine::Sqlite => Arc::new(SqliteStore::open(url, opts).await?),
        Engine::Postgres => Arc::new(PgStore::open(url, opts).await?),
    })
}

/// One page of a list (TJ-02, VJ-02) and the totals its answer carries.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The page's rows.
    pub rows: Vec<T>,
    /// How many rows match the filter, on every page.
    pub total: i64,
    /// How many live rows the project has, filter or not (what its count limit is held to).
    pub live: i64,
}

/// How long [`Store::ping`] waits for the database.
pub const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Live running time of a job's newest version.
pub fn job_duration(job: &Job, now: i64) -> i64 {
    duration_ms(job.latest_start_time, job.latest_end_time, now)
}

/// The store's operations, one implementation per engine. Cheap to share as `Arc<dyn Store>`.
#[async_trait::async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The engine behind this store.
    fn engine(&self) -> Engine;

    /// Whether the database answers (`SELECT 1` within [`PING_TIMEOUT`]), for `/health`.
    async fn ping(&self) -> Result<()>;

    /// Duties and notices among the servers sharing this database; `None` when no other
    /// server can share it (an SQLite file belongs to one server).
    fn coordinator(&self) -> Option<Coordinator>;

    /// A mark of the committed state, taken after this call began: while later calls return
    /// an equal mark, nothing was committed since (by this server or any other sharing the
    /// database), so rows read after the call that returned it are still the stored ones.
    /// SQLite counts its commits (no database access); PostgreSQL takes a snapshot of the
    /// cluster, one round trip shared by the calls waiting together. `None` when the store
    /// cannot tell now (an SQLite commit in flight; the database did not answer).
    async fn committed(&self) -> Option<Committed>;

    // --- training jobs and versions ---

    /// Creates a job and, when given, its first version, in one transaction.
    /// A live job of the same name in the project gives `Error::Conflict`.
    async fn create_job(
        &self,
        job: &NewJob,
        first: Option<&NewVersion>,
    ) -> Result<(Job, Option<Version>)>;

    /// Adds a version to a live job; `None` when the job is gone.
    async fn create_version(
        &self,
        project_id: &str,
        job_id: i64,
        v: &NewVersion,
    ) -> Result<Option<Version>>;

    /// Creates a new-version (v2) job with its one version, in one transaction. A live v2
    /// job of the same name in the project gives `Error::Conflict`.
    async fn create_v2_job(&self, job: &NewJob, v2: &NewV2, first: &NewVersion) -> Result<V2Job>;

    /// A live v2 job of the project, by its UUID.
    async fn get_v2_job(&self, project_id: &str, uuid: &str) -> Result<Option<V2Job>>;

    /// The project's live v2 jobs, newest first.
    async fn list_v2_jobs(&self, project_id: &str) -> Result<Vec<V2Job>>;

    /// The UUID of a job created by the v2 API (deleted or not); `None` for a v1 job.
    async fn v2_uuid(&self, job_id: i64) -> Result<Option<String>>;

    /// Replaces a live v2 job's description and stored document; false when it is gone.
    async fn update_v2_job(
        &self,
        project_id: &str,
        uuid: &str,
        desc: &str,
        doc: &str,
    ) -> Result<bool>;

    /// Searches the project's live v2 jobs (T2-03) in SQL: the page, the count matching
    /// (`total`) and the workspace's v2 jobs (`live`).
    async fn search_v2_jobs(&self, project_id: &str, s: &V2Search) -> Result<Page<V2Job>>;

    /// Stores a new v2 algorithm; an algorithm of the same id or name in the project gives
    /// `Error::Conflict`.
    async fn create_v2_algorithm(&self, a: &V2Algorithm) -> Result<()>;

    /// A v2 algorithm of the project, by its UUID.
    async fn get_v2_algorithm(&self, project_id: &str, uuid: &str) -> Result<Option<V2Algorithm>>;

    /// The project's v2 algorithms, newest first.
    async fn list_v2_algorithms(&self, project_id: &str) -> Result<Vec<V2Algorithm>>;

    /// Replaces a v2 algorithm's name, document and update time; false when it is gone, a
    /// name taken by another gives `Error::Conflict`.
    async fn update_v2_algorithm(&self, a: &V2Algorithm) -> Result<bool>;

    /// Removes a v2 algorithm; false when it was not there.
    async fn delete_v2_algorithm(&self, project_id: &str, uuid: &str) -> Result<bool>;

    /// A live v1 job of the project (v2 jobs are not seen by the v1 operations).
    async fn get_job(&self, project_id: &str, job_id: i64) -> Result<Option<Job>>;

    /// Number of live jobs of the project (from the trigger-kept counters).
    async fn count_jobs(&self, project_id: &str) -> Result<i64>;

    /// Lists training jobs (TJ-02): a page of live jobs, the total matching the filter and the
    /// project's live jobs.
    async fn list_jobs(&self, project_id: &str, f: &JobFilter) -> Result<Page<Job>>;

    /// Replaces a job's description (TJ-08): sets the description of a live job; false when it is
    /// gone.
    async fn update_job_description(
        &self,
        project_id: &str,
        job_id: i64,
        desc: &str,
    ) -> Result<bool>;

    /// A live version of a live job of the project.
    async fn get_version(
        &self,
        project_id: &str,
        job_id: i64,
        version_id: i64,
    ) -> Result<Option<Version>>;

    /// A live version and its live job, in one query (the hot path of TJ-03, TJ-10, TJ-12).
    async fn get_job_version(
        &self,
        project_id: &str,
        job_id: i64,
        version_id: i64,
    ) -> Result<Option<(Job, Version)>>;

    /// Any stored version by id, deleted ones included (for the executor).
    async fn version_by_id(&self, version_id: i64) -> Result<Option<Version>>;

    /// Lists a job's versions (TJ-05): live versions of a job, newest first; `limit` None = all.
    async fn list_versions(
        &self,
        job_id: i64,
        offset: i64,
        limit: Option<i64>,
    ) -> Result<Vec<Version>>;

    /// Versions (deleted ones included) whose status is one of `statuses`, oldest first.
    async fn versions_in(&self, statuses: &[JobStatus]) -> Result<Vec<Version>>;

    /// Deleted versions still stored (their cleanup is pending).
    async fn deleted_versions(&self) -> Result<Vec<Version>>;

    /// Compare-and-set: moves the version to `to` only if its status is one of `from`.
    /// Returns the version as the move left it, with its job's name, or `None` when it did
    /// not move. Also refreshes the job summary and, when it moved, records `set.usage` in
    /// the same transaction (a record of the same version and attempt that is there already
    /// is kept, so an attempt is accounted once). On SQLite all of it is one round trip.
    async fn move_version(
        &self,
        version_id: i64,
        from: &[JobStatus],
        to: JobStatus,
        set: &TransitionSet,
    ) -> Result<Option<NamedVersion>>;

    /// [`Self::move_version`], answering only whether it moved.
    async fn transition(
        &self,
        version_id: i64,
        from: &[JobStatus],
        to: JobStatus,
        set: &TransitionSet,
    ) -> Result<bool> {
        Ok(self
            .move_version(version_id, from, to, set)
            .await?
            .is_some())
    }

    /// Any stored version by id (deleted ones included) with its job's name, in one query.
    async fn named_version(&self, version_id: i64) -> Result<Option<NamedVersion>>;

    /// Claims the start of attempt `attempt` of a running version waiting for it (status 8,
    /// `retry_at` set): clears `retry_at` and the earlier attempt's run handle (a restart
    /// before the new one is recorded finds no run to follow, and starts it). Exactly one
    /// caller gets `true`.
    async fn begin_attempt(&self, version_id: i64, attempt: i64) -> Result<bool>;

    /// Sets the `config.priority` of a live version waiting to start (1 or 7); false when
    /// it is not waiting (any more), is deleted or does not exist.
    async fn set_queued_priority(&self, version_id: i64, priority: i64) -> Result<bool>;

    /// Hides a version from the API (TJ-04); the row stays until `purge_version`.
    /// Refused when the version is in `refused`.
    ///
    /// A pending or running version is moved to 9 (being stopped, with `stop_grace`) in the
    /// same transaction, so a crash can never leave a deleted version running unnoticed.
    async fn mark_version_deleted(
        &self,
        version_id: i64,
        refused: &[JobStatus],
        stop_grace: i64,
    ) -> Result<VersionDeletion>;

    /// Hides a job and all its versions (TJ-09), unless a version is in one of `refused`
    /// (then refused with that status).
    /// Pending or running versions are moved to 9 as in [`Self::mark_version_deleted`].
    async fn mark_job_deleted(
        &self,
        project_id: &str,
        job_id: i64,
        refused: &[JobStatus],
        stop_grace: i64,
    ) -> Result<JobDeletion>;

    /// Removes a deleted version's row; also removes its job once the job is deleted and
    /// has no rows left.
    async fn purge_version(&self, version_id: i64) -> Result<()>;

    /// Moves deleted versions that are still pending or running to 9 (being stopped): for
    /// databases written before deletion did that in its own transaction.
    async fn stop_deleted_versions(&self, stop_grace: i64) -> Result<u64>;

    /// Removes deleted jobs that have no versions left.
    async fn purge_empty_jobs(&self) -> Result<()>;

    /// Name of a job, deleted or not (for log file names of runs being cleaned up).
    async fn job_name(&self, job_id: i64) -> Result<Option<String>>;

    /// Number of the project's versions that are pending or running.
    async fn count_active_versions(&self, project_id: &str) -> Result<i64>;

    /// [`Self::count_jobs`] and [`Self::count_active_versions`] of the project in one query
    /// (a create's quota check).
    async fn quota_counts(&self, project_id: &str) -> Result<(i64, i64)>;

    /// Live versions counted by project and status, for the `/metrics` gauges: one grouped
    /// scan of the `versions` table per scrape.
    async fn version_counts(&self) -> Result<Vec<(String, i64, i64)>>;

    /// Creation time (ms) of the oldest live version waiting for its start (1 or 7), if any:
    /// how long the queue's head has waited.
    async fn oldest_queued_create_time(&self) -> Result<Option<i64>>;

    /// Visualization jobs counted by status (live ones).
    async fn viz_counts(&self) -> Result<Vec<(i64, i64)>>;

    // --- the event log of runs ---

    /// Appends `events` in one transaction, in order (each gets the next `seq`). An event
    /// of a version that no longer exists (purged meanwhile) is left out, not an error.
    async fn append_run_events(&self, events: &[NewRunEvent]) -> Result<()>;

    /// The events of version `version_id`'s run, in the order they were recorded.
    async fn run_events(&self, version_id: i64) -> Result<Vec<RunEventRow>>;

    // --- usage accounting ---

    /// The usage of project `project_id`'s runs inside `since..until` (ms), summed per group
    /// of `by` and outcome: an attempt's running and waiting time count only inside the window;
    /// `runs` counts the attempts that ended inside it. Records are written by
    /// [`Self::transition`] (`TransitionSet::usage`).
    async fn usage(
        &self,
        project_id: &str,
        since: i64,
        until: i64,
        by: UsageBy,
    ) -> Result<Vec<UsageGroup>>;

    /// The records of attempts that ran on backend `backend` (`local`, `slurm`) and ended at
    /// or after `ended_since` (ms), in no particular order: what each project's runs held,
    /// and when (fair share's usage after a restart).
    async fn usage_spans(&self, backend: &str, ended_since: i64) -> Result<Vec<UsageSpan>>;

    // --- sweeps ---

    /// Stores a new sweep without runs; returns its id.
    async fn create_sweep(&self, s: &NewSweep) -> Result<i64>;

    /// Adds run `run` to sweep `sweep_id`.
    async fn add_sweep_run(&self, sweep_id: i64, run: &SweepRunRow) -> Result<()>;

    /// Sweep `sweep_id` of the project, with its runs.
    async fn get_sweep(&self, project_id: &str, sweep_id: i64) -> Result<Option<Sweep>>;

    /// The versions of sweep `sweep_id`'s runs, read by one statement, so at one moment
    /// (a run that ends while another starts is never seen as both running); a version
    /// purged since is absent.
    async fn sweep_versions(&self, sweep_id: i64) -> Result<Vec<Version>>;

    /// The project's sweeps with their runs, newest first.
    async fn list_sweeps(&self, project_id: &str) -> Result<Vec<Sweep>>;

    /// Removes sweep `sweep_id` of the project and its run rows; false when it was not there.
    async fn delete_sweep(&self, project_id: &str, sweep_id: i64) -> Result<bool>;

    // --- notifications: what jobs asked for, the webhook outbox ---

    /// Keeps job `job_id`'s `notification` (replacing one it had).
    async fn set_job_notification(&self, job_id: i64, n: &JobNotification) -> Result<()>;

    /// Job `job_id`'s `notification`, if it has one.
    async fn job_notification(&self, job_id: i64) -> Result<Option<JobNotification>>;

    /// Claims up to `limit` pending deliveries due at `now` that no one holds (or whose
    /// holder's claim ran out), for `lease_ms`, under `token`. Each row goes to one claimer:
    /// a compare-and-set on the row settles races between servers sharing the database.
    async fn claim_deliveries(
        &self,
        now: i64,
        lease_ms: i64,
        token: &str,
        limit: i64,
    ) -> Result<Vec<Delivery>>;

    /// Records an attempt at delivery `id` claimed under `token` and what follows it, and
    /// releases the claim. False (nothing written) when the claim is no longer `token`'s.
    async fn finish_delivery_attempt(
        &self,
        id: i64,
        token: &str,
        attempt: &DeliveryAttempt,
        outcome: AttemptOutcome,
        last_error: Option<&str>,
    ) -> Result<bool>;

    /// Project `project_id`'s deliveries, newest first, at most `limit`, of job `job_id`
    /// when given, each with its attempts in order.
    async fn list_deliveries(
        &self,
        project_id: &str,
        job_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<(Delivery, Vec<DeliveryAttempt>)>>;

    // --- training job configurations ---

    /// Inserts a new configuration (TC-01); a taken name gives `Error::Conflict`.
    async fn create_config(&self, c: &StoredConfig) -> Result<()>;

    /// One configuration by name (TC-05); `None` when unknown.
    async fn get_config(&self, project_id: &str, name: &str) -> Result<Option<StoredConfig>>;

    /// Replaces a configuration (TC-03): full replacement of description and configuration; false
    /// when unknown.
    async fn update_config(&self, c: &StoredConfig) -> Result<bool>;

    /// Deletes a configuration (TC-04); false when unknown.
    async fn delete_config(&self, project_id: &str, name: &str) -> Result<bool>;

    /// Lists configurations (TC-02): a page of the project's configurations and the total matching.
    async fn list_configs(
        &self,
        project_id: &str,
        search: Option<&str>,
        sort: ConfigSort,
        descending: bool,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<StoredConfig>, i64)>;

    // --- visualization jobs ---

    /// Creates a visualization job (VJ-01): inserts a job in status 1. A live job of the same name
    /// in the project gives `Error::Conflict`.
    async fn create_viz(&self, j: &NewVizJob) -> Result<VizJob>;

    /// A live (not deleted) job of the project.
    async fn get_viz(&self, project_id: &str, id: i64) -> Result<Option<VizJob>>;

    /// A job by id, deleted ones included.
    async fn viz_by_id(&self, id: i64) -> Result<Option<VizJob>>;

    /// Every job (deleted ones included) in one of `statuses`.
    async fn viz_in(&self, statuses: &[JobStatus]) -> Result<Vec<VizJob>>;

    /// Deleted jobs still waiting to be purged.
    async fn deleted_viz(&self) -> Result<Vec<VizJob>>;

    /// Lists visualization jobs (VJ-02): a page of the project's live jobs, the total matching and
    /// all its live jobs.
    async fn list_viz(&self, project_id: &str, f: &VizFilter) -> Result<Page<VizJob>>;

    /// Live jobs of the project, and how many of them are active (pending, running or
    /// stopping).
    async fn count_viz(&self, project_id: &str) -> Result<(i64, i64)>;

    /// Sets a visualization job's description (VJ-04); false when the job is unknown.
    async fn update_viz_description(&self, project_id: &str, id: i64, desc: &str) -> Result<bool>;

    /// Compare-and-set of the status; false when the job is not in one of `from`.
    async fn viz_transition(
        &self,
        id: i64,
        from: &[JobStatus],
        to: JobStatus,
        set: &VizSet,
    ) -> Result<bool>;

    /// Restarts a visualization job (VJ-07): back to status 1 with a fresh run (times, deadline,
    /// port, handle cleared), only from one of `from`.
    async fn restart_viz(
        &self,
        project_id: &str,
        id: i64,
        from: &[JobStatus],
    ) -> Result<VizRestart>;

    /// Deletes a visualization job (VJ-05): hides the job; refused (with its status) when it is in
    /// `refused`.
    async fn mark_viz_deleted(
        &self,
        project_id: &str,
        id: i64,
        refused: &[JobStatus],
    ) -> Result<VizDeletion>;

    /// Removes a job's row for good.
    async fn purge_viz(&self, id: i64) -> Result<()>;
}
