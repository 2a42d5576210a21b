//! Visualization jobs (VJ-01..VJ-07).

use crate::{Result, Store};
use sqlx::Row;
use trainyard_api::status::sql_list;
use trainyard_api::JobStatus;

/// A stored visualization job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VizJob {
    /// Job id.
    pub id: i64,
    /// Owning project.
    pub project_id: String,
    /// Job name (unique among the project's live jobs).
    pub name: String,
    /// Description.
    pub description: String,
    /// Storage path of the event files, as given.
    pub train_url: String,
    /// `tensorboard` or `mindinsight`.
    pub job_type: String,
    /// Flavor code, if one was given.
    pub flavor_code: Option<String>,
    /// Resource id.
    pub resource_id: String,
    /// Access secret of the proxied UI.
    pub secret: String,
    /// Status.
    pub status: JobStatus,
    /// Creation time, ms.
    pub create_time: i64,
    /// When the current run entered RUNNING, ms.
    pub start_time: Option<i64>,
    /// When the current run ended, ms.
    pub end_time: Option<i64>,
    /// Auto-stop unit (`HOURS` or `MINUTES`).
    pub schedule_unit: Option<String>,
    /// Auto-stop amount; 0 or `None` = never.
    pub schedule_duration: Option<i64>,
    /// Absolute auto-stop time, ms, fixed when the run entered RUNNING.
    pub deadline: Option<i64>,
    /// Loopback port of the current run's server.
    pub port: Option<i64>,
    /// Shim handle (JSON) of the current run.
    pub handle: Option<String>,
    /// Run directory.
    pub run_dir: String,
    /// Why the last run failed.
    pub failure_reason: Option<String>,
    /// Deleted (hidden) and waiting for its run to end before it is purged.
    pub deleted: bool,
}

/// A visualization job to insert; the store assigns the id.
#[derive(Clone, Debug)]
pub struct NewVizJob {
    /// Owning project.
    pub project_id: String,
    /// Job name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Storage path of the event files.
    pub train_url: String,
    /// `tensorboard` or `mindinsight`.
    pub job_type: String,
    /// Flavor code.
    pub flavor_code: Option<String>,
    /// Resource id.
    pub resource_id: String,
    /// Access secret.
    pub secret: String,
    /// Creation time, ms.
    pub create_time: i64,
    /// Auto-stop unit.
    pub schedule_unit: Option<String>,
    /// Auto-stop amount.
    pub schedule_duration: Option<i64>,
    /// Run directory; `{id}` is replaced by the job id.
    pub run_dir_template: String,
}

/// Sort keys of VJ-02.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VizSort {
    /// `job_id` (default).
    Id,
    /// `job_name`.
    Name,
    /// `job_desc`.
    Desc,
    /// `create_time`.
    CreateTime,
    /// `status`.
    Status,
    /// `duration` (running time).
    Duration,
    /// `log_dir` (= `train_url`).
    TrainUrl,
}

/// VJ-02 filter and page.
#[derive(Clone, Debug)]
pub struct VizFilter {
    /// Status filter; empty = all.
    pub statuses: Vec<i64>,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// Sort key.
    pub sort: VizSort,
    /// Descending order.
    pub descending: bool,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return.
    pub limit: i64,
    /// Current time, for sorting running jobs by live duration.
    pub now: i64,
}

/// Extra columns set by a visualization status transition (`None` keeps the stored value).
#[derive(Clone, Debug, Default)]
pub struct VizSet {
    /// Start of RUNNING.
    pub start_time: Option<i64>,
    /// End of the run.
    pub end_time: Option<i64>,
    /// Auto-stop time.
    pub deadline: Option<i64>,
    /// Loopback port.
    pub port: Option<i64>,
    /// Shim handle (JSON).
    pub handle: Option<String>,
    /// Failure reason.
    pub failure_reason: Option<String>,
}

const COLUMNS: &str = "id, project_id, name, description, train_url, job_type, flavor_code, resource_id, secret, \
    status, create_time, start_time, end_time, schedule_unit, schedule_duration, deadline, port, handle, run_dir, \
    failure_reason, deleted";

fn from_row(row: &sqlx::sqlite::SqliteRow) -> Result<VizJob> {
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
        status: JobStatus(row.try_get("status")?),
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

impl Store {
    /// VJ-01: inserts a job in status 1. A live job of the same name in the project gives
    /// `Error::Conflict`.
    pub async fn create_viz(&self, j: &NewVizJob) -> Result<VizJob> {
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO viz_jobs (project_id, name, description, train_url, job_type, flavor_code, resource_id, secret,
                status, create_time, schedule_unit, schedule_duration)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&j.project_id)
        .bind(&j.name)
        .bind(&j.description)
        .bind(&j.train_url)
        .bind(&j.job_type)
        .bind(&j.flavor_code)
        .bind(&j.resource_id)
        .bind(&j.secret)
        .bind(JobStatus::INIT.0)
        .bind(j.create_time)
        .bind(&j.schedule_unit)
        .bind(j.schedule_duration)
        .fetch_one(&mut *tx)
        .await?;
        let run_dir = j.run_dir_template.replace("{id}", &id.to_string());
        sqlx::query("UPDATE viz_jobs SET run_dir = ? WHERE id = ?")
            .bind(&run_dir)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM viz_jobs WHERE id = ?"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        from_row(&row)
    }

    /// A live (not deleted) job of the project.
    pub async fn get_viz(&self, project_id: &str, id: i64) -> Result<Option<VizJob>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM viz_jobs WHERE id = ? AND project_id = ? AND deleted = 0"
        ))
        .bind(id)
        .bind(project_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// A job by id, deleted ones included.
    pub async fn viz_by_id(&self, id: i64) -> Result<Option<VizJob>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM viz_jobs WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Every job (deleted ones included) in one of `statuses`.
    pub async fn viz_in(&self, statuses: &[JobStatus]) -> Result<Vec<VizJob>> {
        let marks = vec!["?"; statuses.len().max(1)].join(",");
        let sql = format!("SELECT id FROM viz_jobs WHERE status IN ({marks}) ORDER BY id");
        let mut q = sqlx::query_as::<_, (i64,)>(&sql);
        for s in statuses {
            q = q.bind(s.0);
        }
        let ids = q.fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id,) in ids {
            if let Some(j) = self.viz_by_id(id).await? {
                out.push(j);
            }
        }
        Ok(out)
    }

    /// Deleted jobs still waiting to be purged.
    pub async fn deleted_viz(&self) -> Result<Vec<VizJob>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM viz_jobs WHERE deleted = 1"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// VJ-02: a page of the project's live jobs and the total matching.
    pub async fn list_viz(&self, project_id: &str, f: &VizFilter) -> Result<(Vec<VizJob>, i64)> {
        let mut where_sql = String::from("project_id = ? AND deleted = 0");
        if !f.statuses.is_empty() {
            let marks = vec!["?"; f.statuses.len()].join(",");
            where_sql.push_str(&format!(" AND status IN ({marks})"));
        }
        if f.search.is_some() {
            where_sql.push_str(" AND instr(lower(name), lower(?)) > 0");
        }
        let key = match f.sort {
            VizSort::Id => "id",
            VizSort::Name => "name",
            VizSort::Desc => "description",
            VizSort::CreateTime => "create_time",
            VizSort::Status => "status",
            VizSort::Duration => {
                "(CASE WHEN start_time IS NULL THEN 0 ELSE COALESCE(end_time, ?) - start_time END)"
            }
            VizSort::TrainUrl => "train_url",
        };
        let dir = if f.descending { "DESC" } else { "ASC" };
        let page_sql = format!("SELECT {COLUMNS} FROM viz_jobs WHERE {where_sql} ORDER BY {key} {dir}, id {dir} LIMIT ? OFFSET ?");
        let count_sql = format!("SELECT count(*) FROM viz_jobs WHERE {where_sql}");
        let mut page = sqlx::query(&page_sql).bind(project_id);
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql).bind(project_id);
        for s in &f.statuses {
            page = page.bind(*s);
            count = count.bind(*s);
        }
        if let Some(search) = &f.search {
            page = page.bind(search.clone());
            count = count.bind(search.clone());
        }
        if f.sort == VizSort::Duration {
            page = page.bind(f.now);
        }
        let rows = page
            .bind(f.limit)
            .bind(f.offset)
            .fetch_all(&self.pool)
            .await?;
        let total = count.fetch_one(&self.pool).await?;
        Ok((rows.iter().map(from_row).collect::<Result<_>>()?, total))
    }

    /// Live jobs of the project, and how many of them are active (pending, running or stopping).
    pub async fn count_viz(&self, project_id: &str) -> Result<(i64, i64)> {
        let sql = format!(
            "SELECT count(*), COALESCE(sum(CASE WHEN status IN ({}) THEN 1 ELSE 0 END), 0)
             FROM viz_jobs WHERE project_id = ? AND deleted = 0",
            sql_list(JobStatus::ACTIVE)
        );
        let (all, active): (i64, i64) = sqlx::query_as(&sql)
            .bind(project_id)
            .fetch_one(&self.pool)
            .await?;
        Ok((all, active))
    }

    /// VJ-04; false when the job is unknown.
    pub async fn update_viz_description(
        &self,
        project_id: &str,
        id: i64,
        desc: &str,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE viz_jobs SET description = ? WHERE id = ? AND project_id = ? AND deleted = 0",
        )
        .bind(desc)
        .bind(id)
        .bind(project_id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Compare-and-set of the status; false when the job is not in one of `from`.
    pub async fn viz_transition(
        &self,
        id: i64,
        from: &[JobStatus],
        to: JobStatus,
        set: &VizSet,
    ) -> Result<bool> {
        let marks = vec!["?"; from.len().max(1)].join(",");
        let sql = format!(
            "UPDATE viz_jobs SET status = ?,
                start_time = COALESCE(?, start_time),
                end_time = COALESCE(?, end_time),
                deadline = COALESCE(?, deadline),
                port = COALESCE(?, port),
                handle = COALESCE(?, handle),
                failure_reason = COALESCE(?, failure_reason)
             WHERE id = ? AND status IN ({marks})"
        );
        let mut q = sqlx::query(&sql)
            .bind(to.0)
            .bind(set.start_time)
            .bind(set.end_time)
            .bind(set.deadline)
            .bind(set.port)
            .bind(set.handle.as_deref())
            .bind(set.failure_reason.as_deref())
            .bind(id);
        for s in from {
            q = q.bind(s.0);
        }
        Ok(q.execute(&self.pool).await?.rows_affected() == 1)
    }

    /// VJ-07: back to status 1 with a fresh run (times, deadline, port, handle cleared), only
    /// from one of `from`. Returns the status it was in when refused.
    pub async fn restart_viz(
        &self,
        project_id: &str,
        id: i64,
        from: &[JobStatus],
    ) -> Result<Option<Result<(), JobStatus>>> {
        let mut tx = self.write_tx().await?;
        let status: Option<i64> = sqlx::query_scalar(
            "SELECT status FROM viz_jobs WHERE id = ? AND project_id = ? AND deleted = 0",
        )
        .bind(id)
        .bind(project_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(status) = status.map(JobStatus) else {
            return Ok(None);
        };
        if !from.contains(&status) {
            return Ok(Some(Err(status)));
        }
        sqlx::query(
            "UPDATE viz_jobs SET status = ?, start_time = NULL, end_time = NULL, deadline = NULL, port = NULL,
                handle = NULL, failure_reason = NULL WHERE id = ?",
        )
        .bind(JobStatus::INIT.0)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(Ok(())))
    }

    /// VJ-05: hides the job; refused (with its status) when it is in `refused`. `None` when
    /// the job is unknown.
    pub async fn mark_viz_deleted(
        &self,
        project_id: &str,
        id: i64,
        refused: &[JobStatus],
    ) -> Result<Option<Result<JobStatus, JobStatus>>> {
        let mut tx = self.write_tx().await?;
        let status: Option<i64> = sqlx::query_scalar(
            "SELECT status FROM viz_jobs WHERE id = ? AND project_id = ? AND deleted = 0",
        )
        .bind(id)
        .bind(project_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(status) = status.map(JobStatus) else {
            return Ok(None);
        };
        if refused.contains(&status) {
            return Ok(Some(Err(status)));
        }
        sqlx::query("UPDATE viz_jobs SET deleted = 1 WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(Ok(status)))
    }

    /// Removes a job's row for good.
    pub async fn purge_viz(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM viz_jobs WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
