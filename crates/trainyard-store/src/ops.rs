//! The store's operations, written once and instantiated per engine by [`store_ops!`].
//!
//! Each engine module (`sqlite.rs`, `postgres.rs`) defines its store type with a `pool` and a
//! `write_tx()` (a transaction that derefs to the engine's connection and has `commit()`),
//! then invokes the macro with its sqlx database type and [`crate::sql::Dialect`]. The
//! statements use `?` placeholders, which the dialect numbers for PostgreSQL; a `SELECT` that
//! a transaction reads and then changes ends in `for_update()` (row locks on PostgreSQL).
//!
//! Lock order on PostgreSQL, so concurrent writers wait instead of deadlocking: version rows
//! before their job's row (a transition locks its version, then its job to refresh the
//! summary); only version *creation* locks the job first, and it locks no existing version.
//! Before that, a create takes its project's quota lock (a transaction-level advisory lock,
//! which nothing else takes) and counts what the project's limits hold ([`NewJob::quota`],
//! [`crate::VersionQuota`]): concurrent creates of a project, on any server sharing the
//! database, count one after the other. On SQLite the write lock (`BEGIN IMMEDIATE`) does.

/// Columns of a [`crate::Job`].
pub(crate) const JOB_COLUMNS: &str =
    "id, project_id, name, description, workspace_id, create_time, \
    latest_version_id, latest_status, latest_start_time, latest_end_time, version_count";

/// Columns of a [`crate::Version`].
pub(crate) const VERSION_COLUMNS: &str =
    "id, job_id, project_id, name, description, pre_version_id, status, \
    config, resource_id, run_dir, create_time, start_time, end_time, handle, stop_grace, \
    failure_reason, deleted, attempt, retry_at, retry_consecutive_any, created_by, attempt_start_time, \
    attempt_queue_time";

/// `VERSION_COLUMNS` of `versions v` in a join; both engines name the result columns the same.
pub(crate) const JOINED_VERSION_COLUMNS: &str = "v.id, v.job_id, v.project_id, v.name, v.description, v.pre_version_id, \
    v.status, v.config, v.resource_id, v.run_dir, v.create_time, v.start_time, v.end_time, v.handle, \
    v.stop_grace, v.failure_reason, v.deleted, v.attempt, v.retry_at, v.retry_consecutive_any, v.created_by, \
    v.attempt_start_time, v.attempt_queue_time";

/// Columns of a [`crate::VizJob`].
pub(crate) const VIZ_COLUMNS: &str = "id, project_id, name, description, train_url, job_type, flavor_code, resource_id, secret, \
    status, create_time, start_time, end_time, schedule_unit, schedule_duration, deadline, port, handle, run_dir, \
    failure_reason, deleted";

/// The v1 job list (TJ-02) of `project_id` as `f` asks for it, with its totals: how many jobs
/// match, and how many the project has (the quota's count).
pub(crate) fn job_list(
    dialect: crate::sql::Dialect,
    project_id: &str,
    f: &crate::JobFilter,
) -> crate::sql::ListQuery {
    use crate::sql::{Arg, ListQuery};
    use crate::JobSort;
    let (key, key_args) = match f.sort {
        JobSort::Name => ("name", vec![]),
        JobSort::Desc => ("description", vec![]),
        JobSort::Status => ("latest_status", vec![]),
        JobSort::Duration => (
            "(CASE WHEN latest_start_time IS NULL THEN 0 ELSE COALESCE(latest_end_time, ?) - latest_start_time END)",
            vec![Arg::Int(f.now)],
        ),
        JobSort::VersionCount => ("version_count", vec![]),
        JobSort::CreateTime => ("create_time", vec![]),
    };
    let list = ListQuery::new(dialect, "jobs", JOB_COLUMNS, project_id)
        .one_of("api", &[1])
        .one_of("latest_status", &f.statuses)
        .containing("name", f.search.as_deref())
        .equal("workspace_id", f.workspace_id.as_deref())
        .sort(key, key_args, f.descending);
    // Filtered but for the workspace: the counters, not a count over the project.
    let counter =
        "SELECT CAST(COALESCE(SUM(live), 0) AS BIGINT) FROM job_counts WHERE project_id = ?";
    let total = if !f.statuses.is_empty() || f.search.is_some() {
        list.matching()
    } else {
        let mut sql = counter.to_owned();
        let mut args = vec![Arg::Text(project_id.to_owned())];
        if let Some(ws) = &f.workspace_id {
            sql.push_str(" AND workspace_id = ?");
            args.push(Arg::Text(ws.clone()));
        }
        (sql, args)
    };
    let live = (counter.to_owned(), vec![Arg::Text(project_id.to_owned())]);
    list.counting(total, live)
}

/// Implements [`crate::Store`] for `$store` (an engine's store type) on sqlx database `$db`
/// with SQL dialect `$dialect`.
macro_rules! store_ops {
    ($store:ty, $db:ty, $dialect:expr) => {
        use $crate::ops::{JOB_COLUMNS, JOINED_VERSION_COLUMNS, VERSION_COLUMNS, VIZ_COLUMNS};
        use $crate::sql::{Arg, Dialect, ListQuery, LIVE, TOTAL};
        use $crate::{
            ConfigSort, Job, JobDeletion, JobFilter, NewJob, QuotaLimit, VersionQuota, NewRunEvent, NewV2, NewVersion, NewVizJob,
            Page, Result, RunEventRow, StoredConfig, TransitionSet, V2Algorithm, V2Cond, V2Job, V2Search, V2Sort, V2Text, Version, VersionDeletion,
            VizDeletion, VizFilter, VizJob, VizRestart, VizSet, VizSort,
        };
        use sqlx::Row as _;
        use std::borrow::Cow;
        use std::sync::LazyLock;
        use trainyard_api::status::sql_list;
        use trainyard_api::JobStatus;

        type DbRow = <$db as sqlx::Database>::Row;
        type DbConnection = <$db as sqlx::Database>::Connection;

        const D: Dialect = $dialect;

        /// `sql` in this engine's placeholders.
        fn q(sql: &str) -> Cow<'_, str> {
            D.sql(sql)
        }

        /// Columns of a [`crate::Delivery`].
        const DELIVERY_COLUMNS: &str = "id, project_id, job_id, version_id, event_seq, event, webhook, payload, \
            state, attempts, create_time, next_time, last_error";

        fn delivery_from_row(row: &DbRow) -> Result<$crate::Delivery> {
            let state: String = row.try_get("state")?;
            Ok($crate::Delivery {
                id: row.try_get("id")?,
                project_id: row.try_get("project_id")?,
                job_id: row.try_get("job_id")?,
                version_id: row.try_get("version_id")?,
                event_seq: row.try_get("event_seq")?,
                event: row.try_get("event")?,
                webhook: row.try_get("webhook")?,
                payload: row.try_get("payload")?,
                state: $crate::DeliveryState::parse(&state),
                attempts: row.try_get("attempts")?,
                create_time: row.try_get("create_time")?,
                next_time: row.try_get("next_time")?,
                last_error: row.try_get("last_error")?,
            })
        }

        /// `?, ?, ...` for `n` values (at least one, so `IN ()` is never empty).
        fn marks(n: usize) -> String {
            vec!["?"; n.max(1)].join(",")
        }

        /// Moves deleted versions that are stoppable (pending or running) to 9; narrowed
        /// with `AND ...` by the caller; binds the stop grace.
        static STOP_DELETED: LazyLock<String> = LazyLock::new(|| {
            format!(
                "UPDATE versions SET status = {}, stop_grace = ? WHERE deleted = 1 AND status IN ({})",
                JobStatus::KILLING.code(),
                sql_list(JobStatus::STOPPABLE)
            )
        });

        /// Recomputes a job's summary of its newest live version (0, unknown, when it has
        /// none).
        static REFRESH_SUMMARY: LazyLock<String> =
            LazyLock::new(|| q(&format!("{} WHERE id = ?", *REFRESH_SUMMARY_SET)).into_owned());

        /// [`REFRESH_SUMMARY`] without its `WHERE`.
        static REFRESH_SUMMARY_SET: LazyLock<String> = LazyLock::new(|| {
            format!(
                "UPDATE jobs SET
                    latest_version_id = (SELECT id FROM versions v WHERE v.job_id = jobs.id AND v.deleted = 0 ORDER BY v.id DESC LIMIT 1),
                    latest_status = COALESCE((SELECT status FROM versions v WHERE v.job_id = jobs.id AND v.deleted = 0 ORDER BY v.id DESC LIMIT 1), {}),
                    latest_start_time = (SELECT start_time FROM versions v WHERE v.job_id = jobs.id AND v.deleted = 0 ORDER BY v.id DESC LIMIT 1),
                    latest_end_time = (SELECT end_time FROM versions v WHERE v.job_id = jobs.id AND v.deleted = 0 ORDER BY v.id DESC LIMIT 1),
                    version_count = (SELECT count(*) FROM versions v WHERE v.job_id = jobs.id AND v.deleted = 0)",
                JobStatus::UNKNOWN.code()
            )
        });

        /// Refreshes job `job_id`'s summary inside a transaction that changed one of its
        /// versions. On PostgreSQL the job row is locked first in a statement of its own:
        /// the refresh then runs with a snapshot taken after any concurrent change to a
        /// sibling version committed, so the summary never reflects a stale sibling.
        async fn refresh_summary(tx: &mut DbConnection, job_id: i64) -> Result<()> {
            if D == Dialect::Postgres {
                sqlx::query(&q("SELECT id FROM jobs WHERE id = ? FOR UPDATE"))
                    .bind(job_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            }
            sqlx::query(&REFRESH_SUMMARY)
                .bind(job_id)
                .execute(&mut *tx)
                .await?;
            Ok(())
        }

        fn version_from_row(row: &DbRow) -> Result<Version> {
            let config: String = row.try_get("config")?;
            Ok(Version {
                id: row.try_get("id")?,
                job_id: row.try_get("job_id")?,
                project_id: row.try_get("project_id")?,
                name: row.try_get("name")?,
                description: row.try_get("description")?,
                pre_version_id: row.try_get("pre_version_id")?,
                status: JobStatus::from_code(row.try_get("status")?),
                config: serde_json::from_str(&config)?,
                resource_id: row.try_get("resource_id")?,
                run_dir: row.try_get("run_dir")?,
                create_time: row.try_get("create_time")?,
                start_time: row.try_get("start_time")?,
                end_time: row.try_get("end_time")?,
                handle: row.try_get("handle")?,
                stop_grace: row.try_get("stop_grace")?,
                failure_reason: row.try_get("failure_reason")?,
                deleted: row.try_get::<i64, _>("deleted")? != 0,
                attempt: row.try_get("attempt")?,
                retry_at: row.try_get("retry_at")?,
                retry_consecutive_any: row.try_get("retry_consecutive_any")?,
                created_by: row.try_get("created_by")?,
                attempt_start_time: row.try_get("attempt_start_time")?,
                attempt_queue_time: row.try_get("attempt_queue_time")?,
            })
        }

        /// Columns of a [`V2Job`]: its version's, then its job's as `j_*`.
        static V2_SELECT: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {JOINED_VERSION_COLUMNS}, j.name AS j_name, j.description AS j_description,
                    j.workspace_id AS j_workspace_id, j.create_time AS j_create_time,
                    j.latest_version_id AS j_latest_version_id, j.latest_status AS j_latest_status,
                    j.latest_start_time AS j_latest_start_time, j.latest_end_time AS j_latest_end_time,
                    j.version_count AS j_version_count, j.uuid AS j_uuid, j.doc AS j_doc
                 FROM versions v JOIN jobs j ON j.id = v.job_id
                 WHERE j.api = 2 AND j.deleted = 0 AND v.deleted = 0 AND j.project_id = ?"
            )
        });

        fn v2_from_row(row: &DbRow) -> Result<V2Job> {
            let version = version_from_row(row)?;
            let job = Job {
                id: version.job_id,
                project_id: version.project_id.clone(),
                name: row.try_get("j_name")?,
                description: row.try_get("j_description")?,
                workspace_id: row.try_get("j_workspace_id")?,
                create_time: row.try_get("j_create_time")?,
                latest_version_id: row.try_get("j_latest_version_id")?,
                latest_status: row.try_get("j_latest_status")?,
                latest_start_time: row.try_get("j_latest_start_time")?,
                latest_end_time: row.try_get("j_latest_end_time")?,
                version_count: row.try_get("j_version_count")?,
            };
            Ok(V2Job {
                job,
                uuid: row.try_get::<Option<String>, _>("j_uuid")?.unwrap_or_default(),
                doc: row.try_get::<Option<String>, _>("j_doc")?.unwrap_or_default(),
                version,
            })
        }

        fn viz_from_row(row: &DbRow) -> Result<VizJob> {
            Ok(VizJob {
                id: row.try_get("id")?,
                project_id: row.try_get("project_id")?,
                name: row.try_get("name")?,
                description: row.try_get("description")?,
                train_url: row.try_get("train_url")?,
                job_type: row.try_get("job_type")?,
                flavor_code: row.try_get("flavor_code")?,
                resource_id: row.try_get("resource_id")?,
                secret: row.try_get("secret")?,
                status: JobStatus::from_code(row.try_get("status")?),
                create_time: row.try_get("create_time")?,
                start_time: row.try_get("start_time")?,
                end_time: row.try_get("end_time")?,
                schedule_unit: row.try_get("schedule_unit")?,
                schedule_duration: row.try_get("schedule_duration")?,
                deadline: row.try_get("deadline")?,
                port: row.try_get("port")?,
                handle: row.try_get("handle")?,
                run_dir: row.try_get("run_dir")?,
                failure_reason: row.try_get("failure_reason")?,
                deleted: row.try_get::<i64, _>("deleted")? != 0,
            })
        }

        fn config_from_row(row: &DbRow) -> Result<StoredConfig> {
            let config: String = row.try_get("config")?;
            Ok(StoredConfig {
                project_id: row.try_get("project_id")?,
                name: row.try_get("name")?,
                description: row.try_get("description")?,
                config: serde_json::from_str(&config)?,
                create_time: row.try_get("create_time")?,
            })
        }

        /// A list query's page and its two totals ([`crate::sql::TOTAL`], [`crate::sql::LIVE`]), run on the
        /// pool: one statement, and a second only for a page past the end, which has no row
        /// to carry the totals.
        async fn run_list(
            pool: &sqlx::Pool<$db>,
            list: &ListQuery,
            offset: i64,
            limit: i64,
        ) -> Result<(Vec<DbRow>, i64, i64)> {
            fn bind_all<'q>(
                sql: &'q str,
                args: &'q [Arg],
            ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
                let mut query = sqlx::query(sql);
                for a in args {
                    query = match a {
                        Arg::Int(i) => query.bind(*i),
                        Arg::Text(s) => query.bind(s.as_str()),
                    };
                }
                query
            }
            let (page_sql, page_args) = list.page(offset, limit);
            let rows = bind_all(&page_sql, &page_args).fetch_all(pool).await?;
            let (total, live) = match rows.first() {
                Some(row) => (row.try_get(TOTAL)?, row.try_get(LIVE)?),
                None => {
                    let (sql, args) = list.totals();
                    let row = bind_all(&sql, &args).fetch_one(pool).await?;
                    (row.try_get(TOTAL)?, row.try_get(LIVE)?)
                }
            };
            Ok((rows, total, live))
        }

        /// The project's live jobs a new job counts against ([`NewJob::quota`]), each of
        /// project `?`: all its jobs (v1) or its v2 jobs.
        #[derive(Clone, Copy)]
        enum JobsCounted {
            All,
            V2,
        }

        impl JobsCounted {
            fn sql(self) -> &'static str {
                match self {
                    JobsCounted::All => "(SELECT CAST(COALESCE(SUM(live), 0) AS BIGINT) FROM job_counts WHERE project_id = ?)",
                    JobsCounted::V2 => "(SELECT count(*) FROM jobs WHERE project_id = ? AND api = 2 AND deleted = 0)",
                }
            }
        }

        /// The project's (`?`) pending and running versions, then its versions waiting to
        /// start: what [`VersionQuota`] holds.
        static QUOTA_VERSIONS: LazyLock<(String, String)> = LazyLock::new(|| {
            let count = |statuses| {
                format!(
                    "(SELECT count(*) FROM versions WHERE project_id = ? AND deleted = 0 AND status IN ({}))",
                    sql_list(statuses)
                )
            };
            (count(JobStatus::STOPPABLE), count(JobStatus::QUEUED))
        });

        /// Which limit the counts of `row` (`quota_jobs`, `quota_active`, `quota_queued`)
        /// have reached, if any.
        fn over_quota(row: &DbRow, jobs: Option<i64>, v: Option<&VersionQuota>) -> Result<Option<QuotaLimit>> {
            let reached = |column: &str, limit: Option<i64>| -> Result<bool> {
                Ok(match limit {
                    Some(limit) => row.try_get::<i64, _>(column)? >= limit,
                    None => false,
                })
            };
            let v = v.copied().unwrap_or_default();
            Ok(if reached("quota_jobs", jobs)? {
                Some(QuotaLimit::Jobs)
            } else if reached("quota_active", v.active)? {
                Some(QuotaLimit::Active)
            } else if reached("quota_queued", v.queued)? {
                Some(QuotaLimit::Queued)
            } else {
                None
            })
        }

        /// On PostgreSQL, takes `project_id`'s quota lock until `tx` ends, so that the creates
        /// of a project count one after the other on every server sharing the database;
        /// their counts follow as statements of their own, which see what the creates
        /// before committed. SQLite's write transaction has the whole database already.
        async fn lock_quota(tx: &mut DbConnection, project_id: &str) -> Result<()> {
            if D == Dialect::Postgres {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind($crate::advisory::duty_key(&format!("quota:{project_id}")))
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(())
        }

        /// The project's counts its limits hold: `quota_jobs` (as `counted`), `quota_active`,
        /// `quota_queued`.
        async fn count_quota(conn: &mut DbConnection, project_id: &str, counted: JobsCounted) -> Result<DbRow> {
            let (active, queued) = &*QUOTA_VERSIONS;
            let sql = format!(
                "SELECT {} AS quota_jobs, {active} AS quota_active, {queued} AS quota_queued",
                counted.sql()
            );
            Ok(sqlx::query(&q(&sql))
                .bind(project_id)
                .bind(project_id)
                .bind(project_id)
                .fetch_one(&mut *conn)
                .await?)
        }

        /// Refuses, with [`crate::Error::Quota`], a create in `tx` that would take
        /// `project_id` past `jobs` (its live jobs as `counted`) or `v`, counted under
        /// [`lock_quota`].
        async fn hold_to_quota(
            tx: &mut DbConnection,
            project_id: &str,
            counted: JobsCounted,
            jobs: Option<i64>,
            v: Option<&VersionQuota>,
        ) -> Result<()> {
            if jobs.is_none() && v.is_none_or(|v| v.active.is_none() && v.queued.is_none()) {
                return Ok(());
            }
            lock_quota(tx, project_id).await?;
            let row = count_quota(tx, project_id, counted).await?;
            match over_quota(&row, jobs, v)? {
                Some(limit) => Err($crate::Error::Quota(limit)),
                None => Ok(()),
            }
        }

        async fn insert_version(
            tx: &mut DbConnection,
            job_id: i64,
            project_id: &str,
            v: &NewVersion,
        ) -> Result<Version> {
            let no: i64 = sqlx::query_scalar(&q(
                "UPDATE jobs SET next_version_no = next_version_no + 1 WHERE id = ? RETURNING next_version_no - 1",
            ))
            .bind(job_id)
            .fetch_one(&mut *tx)
            .await?;
            let name = format!("V{no:04}");
            let config = serde_json::to_string(&v.config)?;
            let id: i64 = sqlx::query_scalar(&q(
                "INSERT INTO versions (job_id, project_id, name, description, pre_version_id, status, config, resource_id, run_dir, create_time, created_by)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?) RETURNING id",
            ))
            .bind(job_id)
            .bind(project_id)
            .bind(&name)
            .bind(&v.description)
            .bind(v.pre_version_id)
            .bind(v.status.code())
            .bind(&config)
            .bind(&v.resource_id)
            .bind(v.create_time)
            .bind(&v.created_by)
            .fetch_one(&mut *tx)
            .await?;
            let run_dir = v.run_dir_template.replace("{id}", &id.to_string());
            sqlx::query(&q("UPDATE versions SET run_dir = ? WHERE id = ?"))
                .bind(&run_dir)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(&REFRESH_SUMMARY)
                .bind(job_id)
                .execute(&mut *tx)
                .await?;
            Ok(v.stored(id, job_id, project_id, name, run_dir))
        }

        impl $store {
            /// [`crate::Store::create_job`] with its first version, on SQLite: one round trip
            /// (the statements and their transaction in one string). The job is new, so its
            /// first version is `V0001` and the next `V0002`; the version's run folder is
            /// named by its id, set once the id is known (`last_insert_rowid()`, which the
            /// job counters' trigger leaves as it was).
            ///
            /// The project's limits are counted under the write lock by the job's insert (each
            /// count only when it has a limit), which names no project when one is reached:
            /// it fails (NOT NULL) and nothing is written; a read then tells which limit.
            async fn create_job_with_version(&self, job: &NewJob, v: &NewVersion) -> Result<(Job, Option<Version>)> {
                static SQL: LazyLock<String> = LazyLock::new(|| {
                    let jobs = JobsCounted::All.sql();
                    let (active, queued) = &*QUOTA_VERSIONS;
                    format!(
                        "BEGIN IMMEDIATE;
                         INSERT INTO jobs (project_id, name, description, workspace_id, create_time, next_version_no)
                             VALUES (CASE WHEN (? IS NULL OR {jobs} < ?) AND (? IS NULL OR {active} < ?)
                                 AND (? IS NULL OR {queued} < ?) THEN ? END, ?, ?, ?, ?, 2);
                         INSERT INTO versions (job_id, project_id, name, description, pre_version_id, status, config, resource_id, run_dir, create_time, created_by)
                             VALUES (last_insert_rowid(), ?, 'V0001', ?, ?, ?, ?, ?, '', ?, ?);
                         UPDATE versions SET run_dir = replace(?, '{{id}}', id) WHERE id = last_insert_rowid();
                         {} WHERE id = (SELECT job_id FROM versions WHERE id = last_insert_rowid());
                         SELECT {JOB_COLUMNS}, latest_version_id AS new_version_id,
                             (SELECT run_dir FROM versions WHERE versions.id = jobs.latest_version_id) AS new_run_dir
                             FROM jobs WHERE id = (SELECT job_id FROM versions WHERE id = last_insert_rowid());
                         COMMIT",
                        *REFRESH_SUMMARY_SET
                    )
                });
                let config = serde_json::to_string(&v.config)?;
                let p = &job.project_id;
                let (jobs, active, queued) = (job.quota, v.quota.active, v.quota.queued);
                let query = sqlx::query(&SQL)
                    // Each limit, unless none, with its count.
                    .bind(jobs)
                    .bind(p)
                    .bind(jobs)
                    .bind(active)
                    .bind(p)
                    .bind(active)
                    .bind(queued)
                    .bind(p)
                    .bind(queued)
                    // The job.
                    .bind(p)
                    .bind(&job.name)
                    .bind(&job.description)
                    .bind(&job.workspace_id)
                    .bind(job.create_time)
                    .bind(p)
                    .bind(&v.description)
                    .bind(v.pre_version_id)
                    .bind(v.status.code())
                    .bind(&config)
                    .bind(&v.resource_id)
                    .bind(v.create_time)
                    .bind(&v.created_by)
                    .bind(&v.run_dir_template);
                let mut batch = self.batch().await?;
                let rows = query.fetch_all(&mut *batch).await;
                // The job's insert names no project only at a limit.
                let refused = matches!(&rows, Err(sqlx::Error::Database(e))
                    if e.kind() == sqlx::error::ErrorKind::NotNullViolation
                        && e.message().contains("jobs.project_id"));
                let rows = match batch.end(rows).await {
                    Ok(rows) => rows,
                    Err(_) if refused => {
                        // Which limit: counted again (they move only in a narrow race, where
                        // the running quota is named).
                        let mut conn = self.pool.acquire().await?;
                        let counts = count_quota(&mut conn, p, JobsCounted::All).await?;
                        let limit = over_quota(&counts, jobs, Some(&v.quota))?;
                        return Err($crate::Error::Quota(limit.unwrap_or(QuotaLimit::Active)));
                    }
                    Err(e) => return Err(e),
                };
                let row = rows.first().ok_or($crate::Error::Db(sqlx::Error::RowNotFound))?;
                let stored = <Job as sqlx::FromRow<DbRow>>::from_row(row)?;
                let version = v.stored(
                    row.try_get("new_version_id")?,
                    stored.id,
                    &job.project_id,
                    "V0001".to_owned(),
                    row.try_get("new_run_dir")?,
                );
                Ok((stored, Some(version)))
            }

            /// A sweep's row and its runs, by index.
            async fn sweep_with_runs(&self, row: &DbRow) -> Result<$crate::Sweep> {
                let id: i64 = row.try_get("id")?;
                let runs = sqlx::query(&q(
                    "SELECT idx, job_id, version_id, parameters FROM sweep_runs WHERE sweep_id = ? ORDER BY idx",
                ))
                .bind(id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| {
                    Ok($crate::SweepRunRow {
                        index: r.try_get("idx")?,
                        job_id: r.try_get("job_id")?,
                        version_id: r.try_get("version_id")?,
                        parameters: r.try_get("parameters")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
                Ok($crate::Sweep {
                    id,
                    project_id: row.try_get("project_id")?,
                    name: row.try_get("name")?,
                    concurrency: row.try_get("concurrency")?,
                    objective: row.try_get("objective")?,
                    create_time: row.try_get("create_time")?,
                    runs,
                })
            }
        }

        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn engine(&self) -> $crate::Engine {
                Self::ENGINE
            }

            async fn ping(&self) -> Result<()> {
                let ping = sqlx::query("SELECT 1").execute(&self.pool);
                match tokio::time::timeout($crate::PING_TIMEOUT, ping).await {
                    Ok(done) => done.map(drop).map_err(Into::into),
                    Err(_) => Err($crate::Error::Unavailable(sqlx::Error::PoolTimedOut)),
                }
            }

            fn coordinator(&self) -> Option<$crate::Coordinator> {
                self.coordinator()
            }

            async fn committed(&self) -> Option<$crate::Committed> {
                self.committed_mark().await
            }

            async fn create_job(
                &self,
                job: &NewJob,
                first: Option<&NewVersion>,
            ) -> Result<(Job, Option<Version>)> {
                if let (Dialect::Sqlite, Some(v)) = (D, first) {
                    return self.create_job_with_version(job, v).await;
                }
                let mut tx = self.write_tx().await?;
                hold_to_quota(&mut tx, &job.project_id, JobsCounted::All, job.quota, first.map(|v| &v.quota)).await?;
                let id: i64 = sqlx::query_scalar(&q(
                    "INSERT INTO jobs (project_id, name, description, workspace_id, create_time) VALUES (?, ?, ?, ?, ?) RETURNING id",
                ))
                .bind(&job.project_id)
                .bind(&job.name)
                .bind(&job.description)
                .bind(&job.workspace_id)
                .bind(job.create_time)
                .fetch_one(&mut *tx)
                .await?;
                let version = match first {
                    Some(v) => Some(insert_version(&mut tx, id, &job.project_id, v).await?),
                    None => None,
                };
                let stored = sqlx::query_as::<_, Job>(&q(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"
                )))
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok((stored, version))
            }

            async fn create_version(
                &self,
                project_id: &str,
                job_id: i64,
                v: &NewVersion,
            ) -> Result<Option<Version>> {
                // The project's counts with the job's row: no statement more on SQLite.
                static SQL: LazyLock<String> = LazyLock::new(|| {
                    let (active, queued) = &*QUOTA_VERSIONS;
                    q(&format!(
                        "SELECT id, 0 AS quota_jobs, {active} AS quota_active, {queued} AS quota_queued
                         FROM jobs WHERE id = ? AND project_id = ? AND deleted = 0 AND api = 1{}",
                        D.for_update()
                    ))
                    .into_owned()
                });
                let mut tx = self.write_tx().await?;
                lock_quota(&mut tx, project_id).await?;
                let live = sqlx::query(&SQL)
                    .bind(project_id)
                    .bind(project_id)
                    .bind(job_id)
                    .bind(project_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(live) = live else { return Ok(None) };
                if let Some(limit) = over_quota(&live, None, Some(&v.quota))? {
                    return Err($crate::Error::Quota(limit));
                }
                let version = insert_version(&mut tx, job_id, project_id, v).await?;
                tx.commit().await?;
                Ok(Some(version))
            }

            async fn create_v2_job(
                &self,
                job: &NewJob,
                v2: &NewV2,
                first: &NewVersion,
            ) -> Result<V2Job> {
                let mut tx = self.write_tx().await?;
                hold_to_quota(&mut tx, &job.project_id, JobsCounted::V2, job.quota, Some(&first.quota)).await?;
                let id: i64 = sqlx::query_scalar(&q(
                    "INSERT INTO jobs (project_id, name, description, workspace_id, create_time, api, uuid, doc) VALUES (?, ?, ?, ?, ?, 2, ?, ?) RETURNING id",
                ))
                .bind(&job.project_id)
                .bind(&job.name)
                .bind(&job.description)
                .bind(&job.workspace_id)
                .bind(job.create_time)
                .bind(&v2.uuid)
                .bind(&v2.doc)
                .fetch_one(&mut *tx)
                .await?;
                insert_version(&mut tx, id, &job.project_id, first).await?;
                let row = sqlx::query(&q(&format!("{} AND j.id = ?", *V2_SELECT)))
                    .bind(&job.project_id)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                let stored = v2_from_row(&row)?;
                tx.commit().await?;
                Ok(stored)
            }

            async fn get_v2_job(&self, project_id: &str, uuid: &str) -> Result<Option<V2Job>> {
                let row = sqlx::query(&q(&format!("{} AND j.uuid = ?", *V2_SELECT)))
                    .bind(project_id)
                    .bind(uuid)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(v2_from_row).transpose()
            }

            async fn list_v2_jobs(&self, project_id: &str) -> Result<Vec<V2Job>> {
                let rows = sqlx::query(&q(&format!("{} ORDER BY j.create_time DESC, j.id DESC", *V2_SELECT)))
                    .bind(project_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(v2_from_row).collect()
            }

            async fn v2_uuid(&self, job_id: i64) -> Result<Option<String>> {
                Ok(sqlx::query_scalar::<_, Option<String>>(&q("SELECT uuid FROM jobs WHERE id = ? AND api = 2"))
                    .bind(job_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .flatten())
            }

            async fn update_v2_job(
                &self,
                project_id: &str,
                uuid: &str,
                desc: &str,
                doc: &str,
            ) -> Result<bool> {
                let r = sqlx::query(&q(
                    "UPDATE jobs SET description = ?, doc = ? WHERE uuid = ? AND project_id = ? AND api = 2 AND deleted = 0",
                ))
                .bind(desc)
                .bind(doc)
                .bind(uuid)
                .bind(project_id)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn search_v2_jobs(&self, project_id: &str, s: &V2Search) -> Result<Page<V2Job>> {
                let column = |c: &V2Text| match c {
                    V2Text::Uuid => "uuid",
                    V2Text::Name => "name",
                };
                let texts = |v: &[String]| v.iter().cloned().map(Arg::Text).collect::<Vec<_>>();
                let mut list = ListQuery::new(D, "jobs", "id", project_id)
                    .one_of("api", &[2])
                    .equal("workspace_id", Some(&s.workspace_id));
                let live = list.matching();
                for c in &s.conditions {
                    list = match c {
                        V2Cond::Like(col, v) => {
                            let one = D.contains(column(col));
                            list.condition(&vec![one; v.len().max(1)].join(" OR "), texts(v))
                        }
                        V2Cond::In(col, v) => list.condition(
                            &format!("{} IN ({})", column(col), marks(v.len())),
                            texts(v),
                        ),
                        V2Cond::NotIn(col, v) => list.condition(
                            &format!("{} NOT IN ({})", column(col), marks(v.len())),
                            texts(v),
                        ),
                        V2Cond::Status(statuses, holds) => list.condition(
                            &format!(
                                "latest_status {}IN ({})",
                                if *holds { "" } else { "NOT " },
                                marks(statuses.len())
                            ),
                            statuses.iter().copied().map(Arg::Int).collect(),
                        ),
                        V2Cond::CreatedWithin(lo, hi) => list.condition(
                            "create_time BETWEEN ? AND ?",
                            vec![Arg::Int(*lo), Arg::Int(*hi)],
                        ),
                        V2Cond::Nothing => list.condition("1 = 0", vec![]),
                    };
                }
                let (key, key_args) = match s.sort {
                    V2Sort::CreateTime => ("create_time", vec![]),
                    V2Sort::Name => ("name", vec![]),
                    V2Sort::Duration => (
                        "(CASE WHEN latest_start_time IS NULL THEN 0 ELSE COALESCE(latest_end_time, ?) - latest_start_time END)",
                        vec![Arg::Int(s.now)],
                    ),
                };
                let list = list.sort(key, key_args, s.descending);
                let matching = list.matching();
                let list = list.counting(matching, live);
                let (rows, total, live) = run_list(&self.pool, &list, s.offset, s.limit).await?;
                let ids: Vec<i64> = rows
                    .iter()
                    .map(|r| r.try_get::<i64, _>("id"))
                    .collect::<std::result::Result<_, _>>()?;
                if ids.is_empty() {
                    return Ok(Page { rows: Vec::new(), total, live });
                }
                let sql = format!("{} AND j.id IN ({})", *V2_SELECT, marks(ids.len()));
                let sql = q(&sql);
                let mut query = sqlx::query(&sql).bind(project_id);
                for id in &ids {
                    query = query.bind(*id);
                }
                let found = query.fetch_all(&self.pool).await?;
                let mut by_id: std::collections::HashMap<i64, V2Job> = found
                    .iter()
                    .map(|r| v2_from_row(r).map(|j| (j.job.id, j)))
                    .collect::<Result<_>>()?;
                // In the page's order; a job deleted between the two reads is left out.
                let rows = ids.iter().filter_map(|id| by_id.remove(id)).collect();
                Ok(Page { rows, total, live })
            }

            async fn create_v2_algorithm(&self, a: &V2Algorithm) -> Result<()> {
                sqlx::query(&q(
                    "INSERT INTO v2_algorithms (project_id, uuid, name, create_time, update_time, doc) VALUES (?, ?, ?, ?, ?, ?)",
                ))
                .bind(&a.project_id)
                .bind(&a.uuid)
                .bind(&a.name)
                .bind(a.create_time)
                .bind(a.update_time)
                .bind(&a.doc)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn get_v2_algorithm(&self, project_id: &str, uuid: &str) -> Result<Option<V2Algorithm>> {
                Ok(sqlx::query_as::<_, V2Algorithm>(&q(
                    "SELECT project_id, uuid, name, create_time, update_time, doc FROM v2_algorithms WHERE project_id = ? AND uuid = ?",
                ))
                .bind(project_id)
                .bind(uuid)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn list_v2_algorithms(&self, project_id: &str) -> Result<Vec<V2Algorithm>> {
                Ok(sqlx::query_as::<_, V2Algorithm>(&q(
                    "SELECT project_id, uuid, name, create_time, update_time, doc FROM v2_algorithms WHERE project_id = ? ORDER BY create_time DESC, uuid",
                ))
                .bind(project_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn update_v2_algorithm(&self, a: &V2Algorithm) -> Result<bool> {
                let r = sqlx::query(&q(
                    "UPDATE v2_algorithms SET name = ?, doc = ?, update_time = ? WHERE project_id = ? AND uuid = ?",
                ))
                .bind(&a.name)
                .bind(&a.doc)
                .bind(a.update_time)
                .bind(&a.project_id)
                .bind(&a.uuid)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn delete_v2_algorithm(&self, project_id: &str, uuid: &str) -> Result<bool> {
                let r = sqlx::query(&q("DELETE FROM v2_algorithms WHERE project_id = ? AND uuid = ?"))
                    .bind(project_id)
                    .bind(uuid)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn get_job(&self, project_id: &str, job_id: i64) -> Result<Option<Job>> {
                Ok(sqlx::query_as::<_, Job>(&q(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE id = ? AND project_id = ? AND deleted = 0 AND api = 1"
                )))
                .bind(job_id)
                .bind(project_id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn count_jobs(&self, project_id: &str) -> Result<i64> {
                Ok(sqlx::query_scalar(&q(
                    "SELECT CAST(COALESCE(SUM(live), 0) AS BIGINT) FROM job_counts WHERE project_id = ?",
                ))
                .bind(project_id)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn list_jobs(&self, project_id: &str, f: &JobFilter) -> Result<Page<Job>> {
                let list = $crate::ops::job_list(D, project_id, f);
                let (rows, total, live) = run_list(&self.pool, &list, f.offset, f.limit).await?;
                let rows = rows
                    .iter()
                    .map(|r| <Job as sqlx::FromRow<DbRow>>::from_row(r))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Ok(Page { rows, total, live })
            }

            async fn update_job_description(
                &self,
                project_id: &str,
                job_id: i64,
                desc: &str,
            ) -> Result<bool> {
                let r = sqlx::query(&q(
                    "UPDATE jobs SET description = ? WHERE id = ? AND project_id = ? AND deleted = 0 AND api = 1",
                ))
                .bind(desc)
                .bind(job_id)
                .bind(project_id)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn get_version(
                &self,
                project_id: &str,
                job_id: i64,
                version_id: i64,
            ) -> Result<Option<Version>> {
                let row = sqlx::query(&q(&format!(
                    "SELECT {VERSION_COLUMNS} FROM versions WHERE id = ? AND job_id = ? AND project_id = ? AND deleted = 0
                        AND job_id IN (SELECT id FROM jobs WHERE api = 1)"
                )))
                .bind(version_id)
                .bind(job_id)
                .bind(project_id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(version_from_row).transpose()
            }

            async fn get_job_version(
                &self,
                project_id: &str,
                job_id: i64,
                version_id: i64,
            ) -> Result<Option<(Job, Version)>> {
                static SQL: LazyLock<String> = LazyLock::new(|| {
                    q(&format!(
                        "SELECT {JOINED_VERSION_COLUMNS}, j.name AS j_name, j.description AS j_description,
                            j.workspace_id AS j_workspace_id, j.create_time AS j_create_time,
                            j.latest_version_id AS j_latest_version_id, j.latest_status AS j_latest_status,
                            j.latest_start_time AS j_latest_start_time, j.latest_end_time AS j_latest_end_time,
                            j.version_count AS j_version_count
                         FROM versions v JOIN jobs j ON j.id = v.job_id
                         WHERE v.id = ? AND v.job_id = ? AND v.project_id = ? AND v.deleted = 0 AND j.project_id = ? AND j.deleted = 0 AND j.api = 1"
                    ))
                    .into_owned()
                });
                let Some(row) = sqlx::query(&SQL)
                    .bind(version_id)
                    .bind(job_id)
                    .bind(project_id)
                    .bind(project_id)
                    .fetch_optional(&self.pool)
                    .await?
                else {
                    return Ok(None);
                };
                let version = version_from_row(&row)?;
                let job = Job {
                    id: version.job_id,
                    project_id: version.project_id.clone(),
                    name: row.try_get("j_name")?,
                    description: row.try_get("j_description")?,
                    workspace_id: row.try_get("j_workspace_id")?,
                    create_time: row.try_get("j_create_time")?,
                    latest_version_id: row.try_get("j_latest_version_id")?,
                    latest_status: row.try_get("j_latest_status")?,
                    latest_start_time: row.try_get("j_latest_start_time")?,
                    latest_end_time: row.try_get("j_latest_end_time")?,
                    version_count: row.try_get("j_version_count")?,
                };
                Ok(Some((job, version)))
            }

            async fn version_by_id(&self, version_id: i64) -> Result<Option<Version>> {
                let row = sqlx::query(&q(&format!(
                    "SELECT {VERSION_COLUMNS} FROM versions WHERE id = ?"
                )))
                .bind(version_id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(version_from_row).transpose()
            }

            async fn list_versions(
                &self,
                job_id: i64,
                offset: i64,
                limit: Option<i64>,
            ) -> Result<Vec<Version>> {
                let rows = sqlx::query(&q(&format!(
                    "SELECT {VERSION_COLUMNS} FROM versions WHERE job_id = ? AND deleted = 0 ORDER BY id DESC LIMIT ? OFFSET ?"
                )))
                .bind(job_id)
                .bind(limit.unwrap_or(i64::MAX))
                .bind(offset)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(version_from_row).collect()
            }

            async fn versions_in(&self, statuses: &[JobStatus]) -> Result<Vec<Version>> {
                let sql = q(&format!(
                    "SELECT {VERSION_COLUMNS} FROM versions WHERE status IN ({}) ORDER BY id",
                    marks(statuses.len())
                ))
                .into_owned();
                let mut query = sqlx::query(&sql);
                for s in statuses {
                    query = query.bind(s.code());
                }
                let rows = query.fetch_all(&self.pool).await?;
                rows.iter().map(version_from_row).collect()
            }

            async fn deleted_versions(&self) -> Result<Vec<Version>> {
                let rows = sqlx::query(&format!(
                    "SELECT {VERSION_COLUMNS} FROM versions WHERE deleted = 1 ORDER BY id"
                ))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(version_from_row).collect()
            }

            async fn move_version(
                &self,
                version_id: i64,
                from: &[JobStatus],
                to: JobStatus,
                set: &TransitionSet,
            ) -> Result<Option<$crate::NamedVersion>> {
                let update = format!(
                    "UPDATE versions SET status = ?,
                        start_time = COALESCE(?, start_time),
                        end_time = COALESCE(?, end_time),
                        handle = COALESCE(?, handle),
                        stop_grace = COALESCE(?, stop_grace),
                        failure_reason = COALESCE(?, failure_reason),
                        attempt = COALESCE(?, attempt),
                        retry_at = COALESCE(?, retry_at),
                        retry_consecutive_any = COALESCE(?, retry_consecutive_any),
                        attempt_start_time = CASE WHEN ? = 1 THEN NULL ELSE COALESCE(?, attempt_start_time) END
                     WHERE id = ? AND status IN ({}) RETURNING {VERSION_COLUMNS},
                        (SELECT name FROM jobs WHERE jobs.id = versions.job_id) AS moved_job_name",
                    marks(from.len())
                );
                fn bind_move<'q>(
                    query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
                    version_id: i64,
                    from: &[JobStatus],
                    to: JobStatus,
                    set: &'q TransitionSet,
                ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
                    let mut query = query
                        .bind(to.code())
                        .bind(set.start_time)
                        .bind(set.end_time)
                        .bind(set.handle.as_deref())
                        .bind(set.stop_grace)
                        .bind(set.failure_reason.as_deref())
                        .bind(set.retry.map(|r| r.0))
                        .bind(set.retry.map(|r| r.1))
                        .bind(set.retry.map(|r| r.2))
                        // A retry's next attempt has not started: the ended one's start goes.
                        .bind(i64::from(set.retry.is_some()))
                        .bind(set.attempt_start)
                        .bind(version_id);
                    for s in from {
                        query = query.bind(s.code());
                    }
                    query
                }
                fn bind_usage<'q>(
                    query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
                    u: &'q $crate::UsageRecord,
                ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
                    query
                        .bind(u.version_id)
                        .bind(u.attempt)
                        .bind(&u.project_id)
                        .bind(&u.created_by)
                        .bind(u.job_id)
                        .bind(&u.job_name)
                        .bind(&u.pool)
                        .bind(&u.backend)
                        .bind(u.workers)
                        .bind(u.cores)
                        .bind(u.gpus)
                        .bind(u.memory_gb)
                        .bind(u.queued_at)
                        .bind(u.started_at)
                        .bind(u.ended_at)
                        .bind(u.status)
                        .bind(&u.outcome)
                }
                let named = |row: &DbRow| -> Result<$crate::NamedVersion> {
                    Ok($crate::NamedVersion {
                        version: version_from_row(row)?,
                        job_name: row
                            .try_get::<Option<String>, _>("moved_job_name")?
                            .unwrap_or_default(),
                    })
                };
                if D == Dialect::Sqlite {
                    // One round trip: the move, its usage record when it moved, the job's
                    // summary (recomputed from the rows, so refreshing it after a refused
                    // move changes nothing), in their transaction.
                    let usage = if set.usage.is_some() {
                        format!("{};", $crate::usage::insert_usage_after_move())
                    } else {
                        String::new()
                    };
                    let sql = format!(
                        "BEGIN IMMEDIATE; {update}; {usage} {} WHERE id = (SELECT job_id FROM versions WHERE id = ?); COMMIT",
                        *REFRESH_SUMMARY_SET
                    );
                    let mut query = bind_move(sqlx::query(&sql), version_id, from, to, set);
                    if let Some(u) = &set.usage {
                        query = bind_usage(query, u);
                    }
                    let query = query.bind(version_id);
                    let mut batch = self.batch().await?;
                    let rows = query.fetch_all(&mut *batch).await;
                    let rows = batch.end(rows).await?;
                    return rows.first().map(named).transpose();
                }
                let update = q(&update).into_owned();
                let mut tx = self.write_tx().await?;
                let query = bind_move(sqlx::query(&update), version_id, from, to, set);
                let Some(row) = query.fetch_optional(&mut *tx).await? else {
                    return Ok(None);
                };
                let moved = named(&row)?;
                if let Some(u) = &set.usage {
                    static INSERT: LazyLock<String> = LazyLock::new(|| $crate::usage::insert_usage(D));
                    bind_usage(sqlx::query(&INSERT), u).execute(&mut *tx).await?;
                }
                refresh_summary(&mut tx, moved.version.job_id).await?;
                tx.commit().await?;
                Ok(Some(moved))
            }

            async fn named_version(&self, version_id: i64) -> Result<Option<$crate::NamedVersion>> {
                static SQL: LazyLock<String> = LazyLock::new(|| {
                    q(&format!(
                        "SELECT {VERSION_COLUMNS}, (SELECT name FROM jobs WHERE jobs.id = versions.job_id) AS moved_job_name
                         FROM versions WHERE id = ?"
                    ))
                    .into_owned()
                });
                let row = sqlx::query(&SQL)
                    .bind(version_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|row| {
                    Ok($crate::NamedVersion {
                        version: version_from_row(&row)?,
                        job_name: row
                            .try_get::<Option<String>, _>("moved_job_name")?
                            .unwrap_or_default(),
                    })
                })
                .transpose()
            }

            async fn set_queued_priority(&self, version_id: i64, priority: i64) -> Result<bool> {
                // Compare-and-set on the configuration read: a concurrent change of it (or a
                // start) makes this a no-op the caller reports.
                let row: Option<(String, i64)> = sqlx::query_as(&q(
                    "SELECT config, status FROM versions WHERE id = ? AND deleted = 0",
                ))
                .bind(version_id)
                .fetch_optional(&self.pool)
                .await?;
                let Some((old, status)) = row else {
                    return Ok(false);
                };
                if !JobStatus::QUEUED.iter().any(|s| s.code() == status) {
                    return Ok(false);
                }
                let mut config: trainyard_api::training::JobConfig = serde_json::from_str(&old)?;
                config.priority = Some(priority);
                let done = sqlx::query(&q(&format!(
                    "UPDATE versions SET config = ? WHERE id = ? AND config = ? AND status IN ({})",
                    sql_list(JobStatus::QUEUED)
                )))
                .bind(serde_json::to_string(&config)?)
                .bind(version_id)
                .bind(&old)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn begin_attempt(&self, version_id: i64, attempt: i64) -> Result<bool> {
                let done = sqlx::query(&q(
                    "UPDATE versions SET attempt_queue_time = retry_at, retry_at = NULL, handle = NULL
                     WHERE id = ? AND status = ? AND attempt = ? AND retry_at IS NOT NULL",
                ))
                .bind(version_id)
                .bind(JobStatus::RUNNING.code())
                .bind(attempt)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn mark_version_deleted(
                &self,
                version_id: i64,
                refused: &[JobStatus],
                stop_grace: i64,
            ) -> Result<VersionDeletion> {
                let mut tx = self.write_tx().await?;
                let row: Option<(i64, i64)> = sqlx::query_as(&q(&format!(
                    "SELECT status, job_id FROM versions WHERE id = ? AND deleted = 0{}",
                    D.for_update()
                )))
                .bind(version_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((status, job_id)) = row else {
                    return Ok(VersionDeletion::Hidden);
                };
                if refused.contains(&JobStatus::from_code(status)) {
                    return Ok(VersionDeletion::Refused(JobStatus::from_code(status)));
                }
                sqlx::query(&q("UPDATE versions SET deleted = 1 WHERE id = ?"))
                    .bind(version_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(&q(&format!("{} AND id = ?", *STOP_DELETED)))
                    .bind(stop_grace)
                    .bind(version_id)
                    .execute(&mut *tx)
                    .await?;
                refresh_summary(&mut tx, job_id).await?;
                tx.commit().await?;
                Ok(VersionDeletion::Hidden)
            }

            async fn mark_job_deleted(
                &self,
                project_id: &str,
                job_id: i64,
                refused: &[JobStatus],
                stop_grace: i64,
            ) -> Result<JobDeletion> {
                let mut tx = self.write_tx().await?;
                // Versions before the job (the lock order of this module).
                let rows: Vec<(i64, i64)> = sqlx::query_as(&q(&format!(
                    "SELECT id, status FROM versions WHERE job_id = ? AND deleted = 0 ORDER BY id{}",
                    D.for_update()
                )))
                .bind(job_id)
                .fetch_all(&mut *tx)
                .await?;
                if let Some((_, s)) = rows.iter().find(|(_, s)| refused.contains(&JobStatus::from_code(*s))) {
                    return Ok(JobDeletion::Refused(JobStatus::from_code(*s)));
                }
                let r = sqlx::query(&q(
                    "UPDATE jobs SET deleted = 1 WHERE id = ? AND project_id = ? AND deleted = 0",
                ))
                .bind(job_id)
                .bind(project_id)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() == 0 {
                    return Ok(JobDeletion::Hidden(Vec::new()));
                }
                // What this statement hides is what the caller stops: on PostgreSQL a version
                // created meanwhile is among them, though the read above missed it.
                let hidden: Vec<i64> = sqlx::query_scalar(&q(
                    "UPDATE versions SET deleted = 1 WHERE job_id = ? AND deleted = 0 RETURNING id",
                ))
                .bind(job_id)
                .fetch_all(&mut *tx)
                .await?;
                sqlx::query(&q(&format!("{} AND job_id = ?", *STOP_DELETED)))
                    .bind(stop_grace)
                    .bind(job_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                let mut hidden = hidden;
                hidden.sort_unstable();
                Ok(JobDeletion::Hidden(hidden))
            }

            async fn purge_version(&self, version_id: i64) -> Result<()> {
                let mut tx = self.write_tx().await?;
                let job_id: Option<i64> = sqlx::query_scalar(&q(
                    "DELETE FROM versions WHERE id = ? AND deleted = 1 RETURNING job_id",
                ))
                .bind(version_id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(job_id) = job_id {
                    sqlx::query(&q("DELETE FROM jobs WHERE id = ? AND deleted = 1 AND NOT EXISTS (SELECT 1 FROM versions WHERE job_id = ?)"))
                        .bind(job_id)
                        .bind(job_id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn stop_deleted_versions(&self, stop_grace: i64) -> Result<u64> {
                let r = sqlx::query(&q(&STOP_DELETED))
                    .bind(stop_grace)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected())
            }

            async fn purge_empty_jobs(&self) -> Result<()> {
                sqlx::query("DELETE FROM jobs WHERE deleted = 1 AND NOT EXISTS (SELECT 1 FROM versions WHERE versions.job_id = jobs.id)")
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn append_run_events(&self, events: &[NewRunEvent]) -> Result<()> {
                if events.is_empty() {
                    return Ok(());
                }
                if events.len() <= 1000 && events.iter().all(|e| e.deliveries.is_empty()) {
                    // No delivery needs its event's `seq`: the batch is one statement, its rows
                    // numbered so that they are inserted (and their `seq` given) in order.
                    let rows = (0..events.len())
                        .map(|i| format!("({i}, ?, ?, ?, ?)"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let sql = q(&format!(
                        "INSERT INTO run_events (version_id, time, kind, detail) \
                         SELECT column2, column3, column4, column5 FROM (VALUES {rows}) AS e \
                         WHERE EXISTS (SELECT 1 FROM versions WHERE id = e.column2) ORDER BY column1"
                    ))
                    .into_owned();
                    let mut query = sqlx::query(&sql);
                    for e in events {
                        query = query.bind(e.version_id).bind(e.time).bind(&e.kind).bind(&e.detail);
                    }
                    let mut batch = self.batch().await?;
                    let done = query.execute(&mut *batch).await;
                    batch.end(done).await?;
                    return Ok(());
                }
                let mut tx = self.write_tx().await?;
                for e in events {
                    let seq: Option<i64> = sqlx::query_scalar(&q(
                        "INSERT INTO run_events (version_id, time, kind, detail) \
                         SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM versions WHERE id = ?) RETURNING seq",
                    ))
                    .bind(e.version_id)
                    .bind(e.time)
                    .bind(&e.kind)
                    .bind(&e.detail)
                    .bind(e.version_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    // Beside its event, in its transaction: a durable event has its deliveries.
                    let Some(seq) = seq else { continue };
                    for d in &e.deliveries {
                        sqlx::query(&q(
                            "INSERT INTO webhook_deliveries (project_id, job_id, version_id, event_seq, event, webhook, payload, create_time, next_time) \
                             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        ))
                        .bind(&d.project_id)
                        .bind(d.job_id)
                        .bind(e.version_id)
                        .bind(seq)
                        .bind(&d.event)
                        .bind(&d.webhook)
                        .bind(&d.payload)
                        .bind(e.time)
                        .bind(e.time)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn create_sweep(&self, s: &$crate::NewSweep) -> Result<i64> {
                let id: i64 = sqlx::query_scalar(&q(
                    "INSERT INTO sweeps (project_id, name, concurrency, objective, create_time) VALUES (?, ?, ?, ?, ?) RETURNING id",
                ))
                .bind(&s.project_id)
                .bind(&s.name)
                .bind(s.concurrency)
                .bind(&s.objective)
                .bind(s.create_time)
                .fetch_one(&self.pool)
                .await?;
                Ok(id)
            }

            async fn add_sweep_run(&self, sweep_id: i64, run: &$crate::SweepRunRow) -> Result<()> {
                sqlx::query(&q(
                    "INSERT INTO sweep_runs (sweep_id, idx, job_id, version_id, parameters) VALUES (?, ?, ?, ?, ?)",
                ))
                .bind(sweep_id)
                .bind(run.index)
                .bind(run.job_id)
                .bind(run.version_id)
                .bind(&run.parameters)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn get_sweep(&self, project_id: &str, sweep_id: i64) -> Result<Option<$crate::Sweep>> {
                let row = sqlx::query(&q(
                    "SELECT id, project_id, name, concurrency, objective, create_time FROM sweeps WHERE project_id = ? AND id = ?",
                ))
                .bind(project_id)
                .bind(sweep_id)
                .fetch_optional(&self.pool)
                .await?;
                match row {
                    Some(row) => Ok(Some(self.sweep_with_runs(&row).await?)),
                    None => Ok(None),
                }
            }

            async fn sweep_versions(&self, sweep_id: i64) -> Result<Vec<Version>> {
                let rows = sqlx::query(&q(&format!(
                    "SELECT {JOINED_VERSION_COLUMNS} FROM sweep_runs r JOIN versions v ON v.id = r.version_id
                     WHERE r.sweep_id = ? ORDER BY r.idx"
                )))
                .bind(sweep_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(version_from_row).collect()
            }

            async fn list_sweeps(&self, project_id: &str) -> Result<Vec<$crate::Sweep>> {
                let rows = sqlx::query(&q(
                    "SELECT id, project_id, name, concurrency, objective, create_time FROM sweeps WHERE project_id = ? ORDER BY id DESC",
                ))
                .bind(project_id)
                .fetch_all(&self.pool)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    out.push(self.sweep_with_runs(row).await?);
                }
                Ok(out)
            }

            async fn delete_sweep(&self, project_id: &str, sweep_id: i64) -> Result<bool> {
                let mut tx = self.write_tx().await?;
                sqlx::query(&q(
                    "DELETE FROM sweep_runs WHERE sweep_id IN (SELECT id FROM sweeps WHERE project_id = ? AND id = ?)",
                ))
                .bind(project_id)
                .bind(sweep_id)
                .execute(&mut *tx)
                .await?;
                let r = sqlx::query(&q("DELETE FROM sweeps WHERE project_id = ? AND id = ?"))
                    .bind(project_id)
                    .bind(sweep_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(r.rows_affected() > 0)
            }

            async fn set_job_notification(&self, job_id: i64, n: &$crate::JobNotification) -> Result<()> {
                let mut tx = self.write_tx().await?;
                sqlx::query(&q("DELETE FROM job_notifications WHERE job_id = ?"))
                    .bind(job_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(&q("INSERT INTO job_notifications (job_id, topic, events) VALUES (?, ?, ?)"))
                    .bind(job_id)
                    .bind(&n.topic)
                    .bind(serde_json::to_string(&n.events)?)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn job_notification(&self, job_id: i64) -> Result<Option<$crate::JobNotification>> {
                let row = sqlx::query(&q("SELECT topic, events FROM job_notifications WHERE job_id = ?"))
                    .bind(job_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| {
                    let events: String = r.try_get("events")?;
                    Ok($crate::JobNotification {
                        topic: r.try_get("topic")?,
                        events: serde_json::from_str(&events)?,
                    })
                })
                .transpose()
            }

            async fn claim_deliveries(
                &self,
                now: i64,
                lease_ms: i64,
                token: &str,
                limit: i64,
            ) -> Result<Vec<$crate::Delivery>> {
                let due: Vec<i64> = sqlx::query_scalar(&q(
                    "SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_time <= ? \
                     AND (claim_until IS NULL OR claim_until < ?) ORDER BY next_time, id LIMIT ?",
                ))
                .bind(now)
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                let mut claimed = Vec::with_capacity(due.len());
                for id in due {
                    // Compare-and-set: another server may have taken it since the SELECT.
                    let row = sqlx::query(&q(&format!(
                        "UPDATE webhook_deliveries SET claim_until = ?, claim_token = ? \
                         WHERE id = ? AND state = 'pending' AND (claim_until IS NULL OR claim_until < ?) \
                         RETURNING {DELIVERY_COLUMNS}"
                    )))
                    .bind(now + lease_ms)
                    .bind(token)
                    .bind(id)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?;
                    if let Some(row) = row {
                        claimed.push(delivery_from_row(&row)?);
                    }
                }
                Ok(claimed)
            }

            async fn finish_delivery_attempt(
                &self,
                id: i64,
                token: &str,
                attempt: &$crate::DeliveryAttempt,
                outcome: $crate::AttemptOutcome,
                last_error: Option<&str>,
            ) -> Result<bool> {
                use $crate::{AttemptOutcome, DeliveryState};
                let (state, next) = match outcome {
                    AttemptOutcome::Delivered => (DeliveryState::Delivered, None),
                    AttemptOutcome::RetryAt(t) => (DeliveryState::Pending, Some(t)),
                    AttemptOutcome::GiveUp => (DeliveryState::Failed, None),
                };
                let mut tx = self.write_tx().await?;
                let r = sqlx::query(&q(
                    "UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, \
                     next_time = COALESCE(?, next_time), claim_until = NULL, claim_token = NULL, last_error = ? \
                     WHERE id = ? AND claim_token = ? AND state = 'pending'",
                ))
                .bind(state.as_str())
                .bind(next)
                .bind(last_error)
                .bind(id)
                .bind(token)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query(&q(
                    "INSERT INTO webhook_attempts (delivery_id, attempt, time, status_code, error, duration_ms) \
                     SELECT ?, attempts, ?, ?, ?, ? FROM webhook_deliveries WHERE id = ?",
                ))
                .bind(id)
                .bind(attempt.time)
                .bind(attempt.status_code)
                .bind(&attempt.error)
                .bind(attempt.duration_ms)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn list_deliveries(
                &self,
                project_id: &str,
                job_id: Option<i64>,
                limit: i64,
            ) -> Result<Vec<($crate::Delivery, Vec<$crate::DeliveryAttempt>)>> {
                let rows = sqlx::query(&q(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE project_id = ? \
                     AND (? IS NULL OR job_id = ?) ORDER BY id DESC LIMIT ?"
                )))
                .bind(project_id)
                .bind(job_id)
                .bind(job_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    let d = delivery_from_row(row)?;
                    let tried = sqlx::query(&q(
                        "SELECT attempt, time, status_code, error, duration_ms FROM webhook_attempts \
                         WHERE delivery_id = ? ORDER BY attempt",
                    ))
                    .bind(d.id)
                    .fetch_all(&self.pool)
                    .await?;
                    let attempts = tried
                        .iter()
                        .map(|r| {
                            Ok($crate::DeliveryAttempt {
                                attempt: r.try_get("attempt")?,
                                time: r.try_get("time")?,
                                status_code: r.try_get("status_code")?,
                                error: r.try_get("error")?,
                                duration_ms: r.try_get("duration_ms")?,
                            })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    out.push((d, attempts));
                }
                Ok(out)
            }

            async fn run_events(&self, version_id: i64) -> Result<Vec<RunEventRow>> {
                let rows = sqlx::query(&q(
                    "SELECT seq, version_id, time, kind, detail FROM run_events \
                     WHERE version_id = ? ORDER BY seq",
                ))
                .bind(version_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(RunEventRow {
                            seq: row.try_get("seq")?,
                            version_id: row.try_get("version_id")?,
                            time: row.try_get("time")?,
                            kind: row.try_get("kind")?,
                            detail: row.try_get("detail")?,
                        })
                    })
                    .collect()
            }

            async fn usage(
                &self,
                project_id: &str,
                since: i64,
                until: i64,
                by: $crate::UsageBy,
            ) -> Result<Vec<$crate::UsageGroup>> {
                let sql = $crate::usage::usage_query(D, by, since, until);
                let rows = sqlx::query(&sql).bind(project_id).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::UsageGroup {
                            key: r.try_get("usage_key")?,
                            label: r.try_get("usage_label")?,
                            outcome: r.try_get("outcome")?,
                            runs: r.try_get("runs")?,
                            run_ms: r.try_get("run_ms")?,
                            core_ms: r.try_get("core_ms")?,
                            gpu_ms: r.try_get("gpu_ms")?,
                            memory_gb_ms: r.try_get("memory_gb_ms")?,
                            wait_ms: r.try_get("wait_ms")?,
                        })
                    })
                    .collect()
            }

            async fn usage_spans(
                &self,
                backend: &str,
                ended_since: i64,
            ) -> Result<Vec<$crate::UsageSpan>> {
                static SQL: LazyLock<String> = LazyLock::new(|| $crate::usage::spans_query(D));
                let rows = sqlx::query(&SQL)
                    .bind(backend)
                    .bind(ended_since)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::UsageSpan {
                            project_id: r.try_get("project_id")?,
                            cores: r.try_get("cores")?,
                            gpus: r.try_get("gpus")?,
                            memory_gb: r.try_get("memory_gb")?,
                            started_at: r.try_get("started_at")?,
                            ended_at: r.try_get("ended_at")?,
                        })
                    })
                    .collect()
            }

            async fn job_name(&self, job_id: i64) -> Result<Option<String>> {
                Ok(sqlx::query_scalar(&q("SELECT name FROM jobs WHERE id = ?"))
                    .bind(job_id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn count_active_versions(&self, project_id: &str) -> Result<i64> {
                static SQL: LazyLock<String> = LazyLock::new(|| {
                    q(&format!(
                        "SELECT count(*) FROM versions WHERE project_id = ? AND deleted = 0 AND status IN ({})",
                        sql_list(JobStatus::STOPPABLE)
                    ))
                    .into_owned()
                });
                Ok(sqlx::query_scalar(&SQL)
                    .bind(project_id)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn quota_counts(&self, project_id: &str) -> Result<(i64, i64)> {
                static SQL: LazyLock<String> = LazyLock::new(|| {
                    q(&format!(
                        "SELECT (SELECT CAST(COALESCE(SUM(live), 0) AS BIGINT) FROM job_counts WHERE project_id = ?),
                            (SELECT count(*) FROM versions WHERE project_id = ? AND deleted = 0 AND status IN ({}))",
                        sql_list(JobStatus::STOPPABLE)
                    ))
                    .into_owned()
                });
                Ok(sqlx::query_as(&SQL)
                    .bind(project_id)
                    .bind(project_id)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn version_counts(&self) -> Result<Vec<(String, i64, i64)>> {
                let rows = sqlx::query(
                    "SELECT project_id, status, count(*) AS n FROM versions WHERE deleted = 0 \
                     GROUP BY project_id, status",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("project_id")?, r.try_get("status")?, r.try_get("n")?)))
                    .collect()
            }

            async fn oldest_queued_create_time(&self) -> Result<Option<i64>> {
                let sql = format!(
                    "SELECT min(create_time) FROM versions WHERE deleted = 0 AND status IN ({})",
                    sql_list(JobStatus::QUEUED)
                );
                Ok(sqlx::query_scalar(&sql).fetch_one(&self.pool).await?)
            }

            async fn viz_counts(&self) -> Result<Vec<(i64, i64)>> {
                let rows = sqlx::query(
                    "SELECT status, count(*) AS n FROM viz_jobs WHERE deleted = 0 GROUP BY status",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
                    .collect()
            }

            async fn create_config(&self, c: &StoredConfig) -> Result<()> {
                sqlx::query(&q("INSERT INTO configs (project_id, name, description, config, create_time) VALUES (?, ?, ?, ?, ?)"))
                    .bind(&c.project_id)
                    .bind(&c.name)
                    .bind(&c.description)
                    .bind(serde_json::to_string(&c.config)?)
                    .bind(c.create_time)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn get_config(&self, project_id: &str, name: &str) -> Result<Option<StoredConfig>> {
                let row = sqlx::query(&q("SELECT * FROM configs WHERE project_id = ? AND name = ?"))
                    .bind(project_id)
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(config_from_row).transpose()
            }

            async fn update_config(&self, c: &StoredConfig) -> Result<bool> {
                let r = sqlx::query(&q(
                    "UPDATE configs SET description = ?, config = ? WHERE project_id = ? AND name = ?",
                ))
                .bind(&c.description)
                .bind(serde_json::to_string(&c.config)?)
                .bind(&c.project_id)
                .bind(&c.name)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn delete_config(&self, project_id: &str, name: &str) -> Result<bool> {
                let r = sqlx::query(&q("DELETE FROM configs WHERE project_id = ? AND name = ?"))
                    .bind(project_id)
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn list_configs(
                &self,
                project_id: &str,
                search: Option<&str>,
                sort: ConfigSort,
                descending: bool,
                offset: i64,
                limit: i64,
            ) -> Result<(Vec<StoredConfig>, i64)> {
                let key = match sort {
                    ConfigSort::Name => "name",
                    ConfigSort::Desc => "description",
                    ConfigSort::CreateTime => "create_time",
                };
                let dir = if descending { "DESC" } else { "ASC" };
                let filter = format!("project_id = ? AND (? IS NULL OR {})", D.contains("name"));
                let rows = sqlx::query(&q(&format!(
                    "SELECT * FROM configs WHERE {filter} ORDER BY {key} {dir}, name {dir} LIMIT ? OFFSET ?"
                )))
                .bind(project_id)
                .bind(search)
                .bind(search)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?;
                let total: i64 =
                    sqlx::query_scalar(&q(&format!("SELECT count(*) FROM configs WHERE {filter}")))
                        .bind(project_id)
                        .bind(search)
                        .bind(search)
                        .fetch_one(&self.pool)
                        .await?;
                Ok((
                    rows.iter().map(config_from_row).collect::<Result<_>>()?,
                    total,
                ))
            }

            async fn create_viz(&self, j: &NewVizJob) -> Result<VizJob> {
                let mut tx = self.write_tx().await?;
                let id: i64 = sqlx::query_scalar(&q(
                    "INSERT INTO viz_jobs (project_id, name, description, train_url, job_type, flavor_code, resource_id, secret,
                        status, create_time, schedule_unit, schedule_duration)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                ))
                .bind(&j.project_id)
                .bind(&j.name)
                .bind(&j.description)
                .bind(&j.train_url)
                .bind(&j.job_type)
                .bind(&j.flavor_code)
                .bind(&j.resource_id)
                .bind(&j.secret)
                .bind(JobStatus::INIT.code())
                .bind(j.create_time)
                .bind(&j.schedule_unit)
                .bind(j.schedule_duration)
                .fetch_one(&mut *tx)
                .await?;
                let run_dir = j.run_dir_template.replace("{id}", &id.to_string());
                sqlx::query(&q("UPDATE viz_jobs SET run_dir = ? WHERE id = ?"))
                    .bind(&run_dir)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let row = sqlx::query(&q(&format!("SELECT {VIZ_COLUMNS} FROM viz_jobs WHERE id = ?")))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                viz_from_row(&row)
            }

            async fn get_viz(&self, project_id: &str, id: i64) -> Result<Option<VizJob>> {
                let row = sqlx::query(&q(&format!(
                    "SELECT {VIZ_COLUMNS} FROM viz_jobs WHERE id = ? AND project_id = ? AND deleted = 0"
                )))
                .bind(id)
                .bind(project_id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(viz_from_row).transpose()
            }

            async fn viz_by_id(&self, id: i64) -> Result<Option<VizJob>> {
                let row = sqlx::query(&q(&format!("SELECT {VIZ_COLUMNS} FROM viz_jobs WHERE id = ?")))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(viz_from_row).transpose()
            }

            async fn viz_in(&self, statuses: &[JobStatus]) -> Result<Vec<VizJob>> {
                let sql = q(&format!(
                    "SELECT {VIZ_COLUMNS} FROM viz_jobs WHERE status IN ({}) ORDER BY id",
                    marks(statuses.len())
                ))
                .into_owned();
                let mut query = sqlx::query(&sql);
                for s in statuses {
                    query = query.bind(s.code());
                }
                let rows = query.fetch_all(&self.pool).await?;
                rows.iter().map(viz_from_row).collect()
            }

            async fn deleted_viz(&self) -> Result<Vec<VizJob>> {
                let rows = sqlx::query(&format!("SELECT {VIZ_COLUMNS} FROM viz_jobs WHERE deleted = 1"))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(viz_from_row).collect()
            }

            async fn list_viz(&self, project_id: &str, f: &VizFilter) -> Result<Page<VizJob>> {
                let (key, key_args) = match f.sort {
                    VizSort::Id => ("id", vec![]),
                    VizSort::Name => ("name", vec![]),
                    VizSort::Desc => ("description", vec![]),
                    VizSort::CreateTime => ("create_time", vec![]),
                    VizSort::Status => ("status", vec![]),
                    VizSort::Duration => (
                        "(CASE WHEN start_time IS NULL THEN 0 ELSE COALESCE(end_time, ?) - start_time END)",
                        vec![Arg::Int(f.now)],
                    ),
                    VizSort::TrainUrl => ("train_url", vec![]),
                };
                let list = ListQuery::new(D, "viz_jobs", VIZ_COLUMNS, project_id)
                    .one_of("status", &f.statuses)
                    .containing("name", f.search.as_deref())
                    .sort(key, key_args, f.descending);
                let total = list.matching();
                let live = (
                    "SELECT count(*) FROM viz_jobs WHERE project_id = ? AND deleted = 0".to_owned(),
                    vec![Arg::Text(project_id.to_owned())],
                );
                let list = list.counting(total, live);
                let (rows, total, live) = run_list(&self.pool, &list, f.offset, f.limit).await?;
                let rows = rows.iter().map(viz_from_row).collect::<Result<_>>()?;
                Ok(Page { rows, total, live })
            }

            async fn count_viz(&self, project_id: &str) -> Result<(i64, i64)> {
                static SQL: LazyLock<String> = LazyLock::new(|| {
                    q(&format!(
                        "SELECT count(*), CAST(COALESCE(sum(CASE WHEN status IN ({}) THEN 1 ELSE 0 END), 0) AS BIGINT)
                         FROM viz_jobs WHERE project_id = ? AND deleted = 0",
                        sql_list(JobStatus::ACTIVE)
                    ))
                    .into_owned()
                });
                let (all, active): (i64, i64) = sqlx::query_as(&SQL)
                    .bind(project_id)
                    .fetch_one(&self.pool)
                    .await?;
                Ok((all, active))
            }

            async fn update_viz_description(
                &self,
                project_id: &str,
                id: i64,
                desc: &str,
            ) -> Result<bool> {
                let r = sqlx::query(&q(
                    "UPDATE viz_jobs SET description = ? WHERE id = ? AND project_id = ? AND deleted = 0",
                ))
                .bind(desc)
                .bind(id)
                .bind(project_id)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn viz_transition(
                &self,
                id: i64,
                from: &[JobStatus],
                to: JobStatus,
                set: &VizSet,
            ) -> Result<bool> {
                let sql = q(&format!(
                    "UPDATE viz_jobs SET status = ?,
                        start_time = COALESCE(?, start_time),
                        end_time = COALESCE(?, end_time),
                        deadline = COALESCE(?, deadline),
                        port = COALESCE(?, port),
                        handle = COALESCE(?, handle),
                        failure_reason = COALESCE(?, failure_reason)
                     WHERE id = ? AND status IN ({})",
                    marks(from.len())
                ))
                .into_owned();
                let mut query = sqlx::query(&sql)
                    .bind(to.code())
                    .bind(set.start_time)
                    .bind(set.end_time)
                    .bind(set.deadline)
                    .bind(set.port)
                    .bind(set.handle.as_deref())
                    .bind(set.failure_reason.as_deref())
                    .bind(id);
                for s in from {
                    query = query.bind(s.code());
                }
                Ok(query.execute(&self.pool).await?.rows_affected() == 1)
            }

            async fn restart_viz(
                &self,
                project_id: &str,
                id: i64,
                from: &[JobStatus],
            ) -> Result<VizRestart> {
                let mut tx = self.write_tx().await?;
                let status: Option<i64> = sqlx::query_scalar(&q(&format!(
                    "SELECT status FROM viz_jobs WHERE id = ? AND project_id = ? AND deleted = 0{}",
                    D.for_update()
                )))
                .bind(id)
                .bind(project_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(status) = status.map(JobStatus::from_code) else {
                    return Ok(VizRestart::Unknown);
                };
                if !from.contains(&status) {
                    return Ok(VizRestart::Refused(status));
                }
                sqlx::query(&q(
                    "UPDATE viz_jobs SET status = ?, start_time = NULL, end_time = NULL, deadline = NULL, port = NULL,
                        handle = NULL, failure_reason = NULL WHERE id = ?",
                ))
                .bind(JobStatus::INIT.code())
                .bind(id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(VizRestart::Restarted)
            }

            async fn mark_viz_deleted(
                &self,
                project_id: &str,
                id: i64,
                refused: &[JobStatus],
            ) -> Result<VizDeletion> {
                let mut tx = self.write_tx().await?;
                let status: Option<i64> = sqlx::query_scalar(&q(&format!(
                    "SELECT status FROM viz_jobs WHERE id = ? AND project_id = ? AND deleted = 0{}",
                    D.for_update()
                )))
                .bind(id)
                .bind(project_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(status) = status.map(JobStatus::from_code) else {
                    return Ok(VizDeletion::Unknown);
                };
                if refused.contains(&status) {
                    return Ok(VizDeletion::Refused(status));
                }
                sqlx::query(&q("UPDATE viz_jobs SET deleted = 1 WHERE id = ?"))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(VizDeletion::Hidden { was: status })
            }

            async fn purge_viz(&self, id: i64) -> Result<()> {
                sqlx::query(&q("DELETE FROM viz_jobs WHERE id = ?"))
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }

    };
}

pub(crate) use store_ops;
