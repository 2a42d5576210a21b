//! Jobs and versions.

use crate::{
    duration_ms, Job, JobFilter, JobSort, NewJob, NewVersion, Result, Store, TransitionSet, Version,
};
use sqlx::{Row, SqliteConnection};
use std::sync::LazyLock;
use trainyard_api::status::sql_list;
use trainyard_api::JobStatus;

const JOB_COLUMNS: &str = "id, project_id, name, description, workspace_id, create_time, \
    latest_version_id, latest_status, latest_start_time, latest_end_time, version_count";
const VERSION_COLUMNS: &str = "id, job_id, project_id, name, description, pre_version_id, status, \
    config, resource_id, run_dir, create_time, start_time, end_time, handle, stop_grace, \
    failure_reason, deleted";

/// `VERSION_COLUMNS` of `versions v` in a join; SQLite names the result columns the same.
const JOINED_VERSION_COLUMNS: &str = "v.id, v.job_id, v.project_id, v.name, v.description, v.pre_version_id, \
    v.status, v.config, v.resource_id, v.run_dir, v.create_time, v.start_time, v.end_time, v.handle, \
    v.stop_grace, v.failure_reason, v.deleted";

/// Moves deleted versions that are stoppable (pending or running) to 9; narrowed
/// with `AND ...` by the caller; binds the stop grace.
static STOP_DELETED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE versions SET status = {}, stop_grace = ? WHERE deleted = 1 AND status IN ({})",
        JobStatus::KILLING.0,
        sql_list(JobStatus::STOPPABLE)
    )
});

/// Recomputes a job's summary of its newest live version (0, unknown, when it has none).
static REFRESH_SUMMARY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE jobs SET
            latest_version_id = (SELECT id FROM versions v WHERE v.job_id = jobs.id AND v.deleted = 0 ORDER BY v.id DESC LIMIT 1),
            latest_status = COALESCE((SELECT status FROM versions v WHERE v.job_id = jobs.id AND v.deleted = 0 ORDER BY v.id DESC LIMIT 1), {}),
            latest_start_time = (SELECT start_time FROM versions v WHERE v.job_id = jobs.id AND v.deleted = 0 ORDER BY v.id DESC LIMIT 1),
            latest_end_time = (SELECT end_time FROM versions v WHERE v.job_id = jobs.id AND v.deleted = 0 ORDER BY v.id DESC LIMIT 1),
            version_count = (SELECT count(*) FROM versions v WHERE v.job_id = jobs.id AND v.deleted = 0)
            WHERE id = ?",
        JobStatus::UNKNOWN.0
    )
});

fn version_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Version> {
    let config: String = row.try_get("config")?;
    Ok(Version {
        id: row.try_get("id")?,
        job_id: row.try_get("job_id")?,
        project_id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        pre_version_id: row.try_get("pre_version_id")?,
        status: JobStatus(row.try_get("status")?),
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
    })
}

async fn insert_version(
    tx: &mut SqliteConnection,
    job_id: i64,
    project_id: &str,
    v: &NewVersion,
) -> Result<Version> {
    let no: i64 = sqlx::query_scalar("UPDATE jobs SET next_version_no = next_version_no + 1 WHERE id = ? RETURNING next_version_no - 1")
        .bind(job_id)
        .fetch_one(&mut *tx)
        .await?;
    let name = format!("V{no:04}");
    let config = serde_json::to_string(&v.config)?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO versions (job_id, project_id, name, description, pre_version_id, status, config, resource_id, run_dir, create_time)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?) RETURNING id",
    )
    .bind(job_id)
    .bind(project_id)
    .bind(&name)
    .bind(&v.description)
    .bind(v.pre_version_id)
    .bind(v.status.0)
    .bind(&config)
    .bind(&v.resource_id)
    .bind(v.create_time)
    .fetch_one(&mut *tx)
    .await?;
    let run_dir = v.run_dir_template.replace("{id}", &id.to_string());
    sqlx::query("UPDATE versions SET run_dir = ? WHERE id = ?")
        .bind(&run_dir)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(&REFRESH_SUMMARY)
        .bind(job_id)
        .execute(&mut *tx)
        .await?;
    Ok(Version {
        id,
        job_id,
        project_id: project_id.to_owned(),
        name,
        description: v.description.clone(),
        pre_version_id: v.pre_version_id,
        status: v.status,
        config: v.config.clone(),
        resource_id: v.resource_id.clone(),
        run_dir,
        create_time: v.create_time,
        start_time: None,
        end_time: None,
        handle: None,
        stop_grace: None,
        failure_reason: None,
        deleted: false,
    })
}

impl Store {
    /// Creates a job and, when given, its first version, in one transaction.
    /// A live job of the same name in the project gives `Error::Conflict`.
    pub async fn create_job(
        &self,
        job: &NewJob,
        first: Option<&NewVersion>,
    ) -> Result<(Job, Option<Version>)> {
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO jobs (project_id, name, description, workspace_id, create_time) VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
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
        let stored =
            sqlx::query_as::<_, Job>(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"))
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok((stored, version))
    }

    /// Adds a version to a live job; `None` when the job is gone.
    pub async fn create_version(
        &self,
        project_id: &str,
        job_id: i64,
        v: &NewVersion,
    ) -> Result<Option<Version>> {
        let mut tx = self.write_tx().await?;
        let live: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM jobs WHERE id = ? AND project_id = ? AND deleted = 0",
        )
        .bind(job_id)
        .bind(project_id)
        .fetch_optional(&mut *tx)
        .await?;
        if live.is_none() {
            return Ok(None);
        }
        let version = insert_version(&mut tx, job_id, project_id, v).await?;
        tx.commit().await?;
        Ok(Some(version))
    }

    /// A live job of the project.
    pub async fn get_job(&self, project_id: &str, job_id: i64) -> Result<Option<Job>> {
        Ok(sqlx::query_as::<_, Job>(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = ? AND project_id = ? AND deleted = 0"
        ))
        .bind(job_id)
        .bind(project_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Number of live jobs of the project (from the trigger-kept counters).
    pub async fn count_jobs(&self, project_id: &str) -> Result<i64> {
        Ok(
            sqlx::query_scalar(
                "SELECT COALESCE(SUM(live), 0) FROM job_counts WHERE project_id = ?",
            )
            .bind(project_id)
            .fetch_one(&self.pool)
            .await?,
        )
    }

    /// TJ-02: a page of live jobs and the total matching the filter.
    pub async fn list_jobs(&self, project_id: &str, f: &JobFilter) -> Result<(Vec<Job>, i64)> {
        let mut where_sql = String::from("project_id = ? AND deleted = 0");
        if !f.statuses.is_empty() {
            let marks = vec!["?"; f.statuses.len()].join(",");
            where_sql.push_str(&format!(" AND latest_status IN ({marks})"));
        }
        if f.search.is_some() {
            where_sql.push_str(" AND instr(lower(name), lower(?)) > 0");
        }
        if f.workspace_id.is_some() {
            where_sql.push_str(" AND workspace_id = ?");
        }
        let key = match f.sort {
            JobSort::Name => "name",
            JobSort::Desc => "description",
            JobSort::Status => "latest_status",
            JobSort::Duration => "(CASE WHEN latest_start_time IS NULL THEN 0 ELSE COALESCE(latest_end_time, ?) - latest_start_time END)",
            JobSort::VersionCount => "version_count",
            JobSort::CreateTime => "create_time",
        };
        let dir = if f.descending { "DESC" } else { "ASC" };
        let page_sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE {where_sql} ORDER BY {key} {dir}, id {dir} LIMIT ? OFFSET ?");
        let count_sql = format!("SELECT count(*) FROM jobs WHERE {where_sql}");

        let mut page = sqlx::query_as::<_, Job>(&page_sql).bind(project_id);
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql).bind(project_id);
        for s in &f.statuses {
            page = page.bind(*s);
            count = count.bind(*s);
        }
        if let Some(search) = &f.search {
            page = page.bind(search.clone());
            count = count.bind(search.clone());
        }
        if let Some(ws) = &f.workspace_id {
            page = page.bind(ws.clone());
            count = count.bind(ws.clone());
        }
        if f.sort == JobSort::Duration {
            page = page.bind(f.now);
        }
        let jobs = page
            .bind(f.limit)
            .bind(f.offset)
            .fetch_all(&self.pool)
            .await?;
        let total = if f.statuses.is_empty() && f.search.is_none() {
            // Unfiltered: the counters, not a count over the whole project.
            sqlx::query_scalar("SELECT COALESCE(SUM(live), 0) FROM job_counts WHERE project_id = ? AND (? IS NULL OR workspace_id = ?)")
                .bind(project_id)
                .bind(f.workspace_id.as_deref())
                .bind(f.workspace_id.as_deref())
                .fetch_one(&self.pool)
                .await?
        } else {
            count.fetch_one(&self.pool).await?
        };
        Ok((jobs, total))
    }

    /// TJ-08: sets the description of a live job; false when it is gone.
    pub async fn update_job_description(
        &self,
        project_id: &str,
        job_id: i64,
        desc: &str,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE jobs SET description = ? WHERE id = ? AND project_id = ? AND deleted = 0",
        )
        .bind(desc)
        .bind(job_id)
        .bind(project_id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// A live version of a live job of the project.
    pub async fn get_version(
        &self,
        project_id: &str,
        job_id: i64,
        version_id: i64,
    ) -> Result<Option<Version>> {
        let row = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM versions WHERE id = ? AND job_id = ? AND project_id = ? AND deleted = 0"
        ))
        .bind(version_id)
        .bind(job_id)
        .bind(project_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    /// A live version and its live job, in one query (the hot path of TJ-03, TJ-10, TJ-12).
    pub async fn get_job_version(
        &self,
        project_id: &str,
        job_id: i64,
        version_id: i64,
    ) -> Result<Option<(Job, Version)>> {
        let sql = format!(
            "SELECT {JOINED_VERSION_COLUMNS}, j.name AS j_name, j.description AS j_description,
                j.workspace_id AS j_workspace_id, j.create_time AS j_create_time,
                j.latest_version_id AS j_latest_version_id, j.latest_status AS j_latest_status,
                j.latest_start_time AS j_latest_start_time, j.latest_end_time AS j_latest_end_time,
                j.version_count AS j_version_count
             FROM versions v JOIN jobs j ON j.id = v.job_id
             WHERE v.id = ? AND v.job_id = ? AND v.project_id = ? AND v.deleted = 0 AND j.project_id = ? AND j.deleted = 0"
        );
        let Some(row) = sqlx::query(&sql)
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

    /// Any stored version by id, deleted ones included (for the executor).
    pub async fn version_by_id(&self, version_id: i64) -> Result<Option<Version>> {
        let row = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM versions WHERE id = ?"
        ))
        .bind(version_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    /// TJ-05: live versions of a job, newest first; `limit` None = all.
    pub async fn list_versions(
        &self,
        job_id: i64,
        offset: i64,
        limit: Option<i64>,
    ) -> Result<Vec<Version>> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM versions WHERE job_id = ? AND deleted = 0 ORDER BY id DESC LIMIT ? OFFSET ?"
        ))
        .bind(job_id)
        .bind(limit.unwrap_or(-1))
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    /// Versions (deleted ones included) whose status is one of `statuses`, oldest first.
    pub async fn versions_in(&self, statuses: &[JobStatus]) -> Result<Vec<Version>> {
        let marks = vec!["?"; statuses.len().max(1)].join(",");
        let sql = format!("SELECT id FROM versions WHERE status IN ({marks}) ORDER BY id");
        let mut q = sqlx::query_scalar::<_, i64>(&sql);
        for s in statuses {
            q = q.bind(s.0);
        }
        let ids = q.fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(v) = self.version_by_id(id).await? {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// Deleted versions still stored (their cleanup is pending).
    pub async fn deleted_versions(&self) -> Result<Vec<Version>> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM versions WHERE deleted = 1 ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    /// Compare-and-set: moves the version to `to` only if its status is one of `from`.
    /// Returns whether it moved. Also refreshes the job summary.
    pub async fn transition(
        &self,
        version_id: i64,
        from: &[JobStatus],
        to: JobStatus,
        set: &TransitionSet,
    ) -> Result<bool> {
        let marks = vec!["?"; from.len().max(1)].join(",");
        let sql = format!(
            "UPDATE versions SET status = ?,
                start_time = COALESCE(?, start_time),
                end_time = COALESCE(?, end_time),
                handle = COALESCE(?, handle),
                stop_grace = COALESCE(?, stop_grace),
                failure_reason = COALESCE(?, failure_reason)
             WHERE id = ? AND status IN ({marks}) RETURNING job_id"
        );
        let mut tx = self.write_tx().await?;
        let mut q = sqlx::query_scalar::<_, i64>(&sql)
            .bind(to.0)
            .bind(set.start_time)
            .bind(set.end_time)
            .bind(set.handle.as_deref())
            .bind(set.stop_grace)
            .bind(set.failure_reason.as_deref())
            .bind(version_id);
        for s in from {
            q = q.bind(s.0);
        }
        let Some(job_id) = q.fetch_optional(&mut *tx).await? else {
            return Ok(false);
        };
        sqlx::query(&REFRESH_SUMMARY)
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Hides a version from the API (TJ-04); the row stays until `purge_version`.
    /// Refuses (returns the status) when the version is in `refused`.
    ///
    /// A pending or running version is moved to 9 (being stopped, with `stop_grace`) in the
    /// same transaction, so a crash can never leave a deleted version running unnoticed.
    pub async fn mark_version_deleted(
        &self,
        version_id: i64,
        refused: &[JobStatus],
        stop_grace: i64,
    ) -> Result<Result<(), JobStatus>> {
        let mut tx = self.write_tx().await?;
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT status, job_id FROM versions WHERE id = ? AND deleted = 0")
                .bind(version_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((status, job_id)) = row else {
            return Ok(Ok(()));
        };
        if refused.contains(&JobStatus(status)) {
            return Ok(Err(JobStatus(status)));
        }
        sqlx::query("UPDATE versions SET deleted = 1 WHERE id = ?")
            .bind(version_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("{} AND id = ?", *STOP_DELETED))
            .bind(stop_grace)
            .bind(version_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&REFRESH_SUMMARY)
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Hides a job and all its versions (TJ-09), unless a version is in one of `refused`
    /// (then returns that status). Returns the versions that were hidden.
    /// Pending or running versions are moved to 9 as in [`Self::mark_version_deleted`].
    pub async fn mark_job_deleted(
        &self,
        project_id: &str,
        job_id: i64,
        refused: &[JobStatus],
        stop_grace: i64,
    ) -> Result<Result<Vec<i64>, JobStatus>> {
        let mut tx = self.write_tx().await?;
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT id, status FROM versions WHERE job_id = ? AND deleted = 0")
                .bind(job_id)
                .fetch_all(&mut *tx)
                .await?;
        if let Some((_, s)) = rows.iter().find(|(_, s)| refused.contains(&JobStatus(*s))) {
            return Ok(Err(JobStatus(*s)));
        }
        let r = sqlx::query(
            "UPDATE jobs SET deleted = 1 WHERE id = ? AND project_id = ? AND deleted = 0",
        )
        .bind(job_id)
        .bind(project_id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(Ok(Vec::new()));
        }
        sqlx::query("UPDATE versions SET deleted = 1 WHERE job_id = ?")
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("{} AND job_id = ?", *STOP_DELETED))
            .bind(stop_grace)
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(rows.into_iter().map(|(id, _)| id).collect()))
    }

    /// Removes a deleted version's row; also removes its job once the job is deleted and
    /// has no rows left.
    pub async fn purge_version(&self, version_id: i64) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let job_id: Option<i64> = sqlx::query_scalar(
            "DELETE FROM versions WHERE id = ? AND deleted = 1 RETURNING job_id",
        )
        .bind(version_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(job_id) = job_id {
            sqlx::query("DELETE FROM jobs WHERE id = ? AND deleted = 1 AND NOT EXISTS (SELECT 1 FROM versions WHERE job_id = ?)")
                .bind(job_id)
                .bind(job_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Moves deleted versions that are still pending or running to 9 (being stopped): for
    /// databases written before deletion did that in its own transaction.
    pub async fn stop_deleted_versions(&self, stop_grace: i64) -> Result<u64> {
        let r = sqlx::query(&STOP_DELETED)
            .bind(stop_grace)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    /// Removes deleted jobs that have no versions left.
    pub async fn purge_empty_jobs(&self) -> Result<()> {
        sqlx::query("DELETE FROM jobs WHERE deleted = 1 AND NOT EXISTS (SELECT 1 FROM versions WHERE versions.job_id = jobs.id)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Live running time of a job's newest version.
pub fn job_duration(job: &Job, now: i64) -> i64 {
    duration_ms(job.latest_start_time, job.latest_end_time, now)
}

impl Store {
    /// Name of a job, deleted or not (for log file names of runs being cleaned up).
    pub async fn job_name(&self, job_id: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT name FROM jobs WHERE id = ?")
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Number of the project's versions that are pending or running.
    pub async fn count_active_versions(&self, project_id: &str) -> Result<i64> {
        let sql = format!(
            "SELECT count(*) FROM versions WHERE project_id = ? AND deleted = 0 AND status IN ({})",
            sql_list(JobStatus::STOPPABLE)
        );
        Ok(sqlx::query_scalar(&sql)
            .bind(project_id)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Live versions counted by project and status, for the `/metrics` gauges: one grouped
    /// scan of the `versions` table per scrape.
    pub async fn version_counts(&self) -> Result<Vec<(String, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT project_id, status, count(*) AS n FROM versions WHERE deleted = 0 \
             GROUP BY project_id, status",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("project_id")?,
                    r.try_get("status")?,
                    r.try_get("n")?,
                ))
            })
            .collect()
    }

    /// Creation time (ms) of the oldest live version waiting for its start (1 or 7), if any:
    /// how long the queue's head has waited.
    pub async fn oldest_queued_create_time(&self) -> Result<Option<i64>> {
        let sql = format!(
            "SELECT min(create_time) FROM versions WHERE deleted = 0 AND status IN ({}, {})",
            JobStatus::INIT.0,
            JobStatus::WAITING.0
        );
        Ok(sqlx::query_scalar(&sql).fetch_one(&self.pool).await?)
    }

    /// Visualization jobs counted by status (live ones).
    pub async fn viz_counts(&self) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "SELECT status, count(*) AS n FROM viz_jobs WHERE deleted = 0 GROUP BY status",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }
}
