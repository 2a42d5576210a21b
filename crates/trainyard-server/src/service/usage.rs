//! Usage accounting: what each ended attempt of a run used (its record, written by the run's
//! lifecycle in the transaction that records the end, see `TransitionSet::usage`), and the
//! sums a project asks for over a time window (`GET /v1/{project_id}/usage`).

use crate::catalog::Catalog;
use crate::config::{Backend, PoolConfig};
use crate::error::{ApiError, ApiResult};
use crate::service::capacity::demand;
use crate::service::query::Params;
use crate::service::Service;
use crate::util::now_ms;
use trainyard_api::usage::{UsageBy, UsageResponse, UsageRow};
use trainyard_api::JobStatus;
use trainyard_sched::fair::PastRun;
use trainyard_store::{UsageGroup, UsageRecord, Version};

/// The outcome of an attempt stopped to make room for a run of higher priority (the version
/// runs again: it stays 8); set by the lifecycle, which knows why the attempt ended.
pub const PREEMPTED: &str = "preempted";

/// The outcome an attempt's end is counted under: `completed`, `stopped`, `lost`, `retried`
/// (the attempt ended and the version runs again: it stays 8), [`PREEMPTED`] or `failed`
/// (every other end).
pub fn outcome_of(status: JobStatus) -> &'static str {
    match status {
        JobStatus::COMPLETED | JobStatus::CHECK_RUNNING_COMPLETED => "completed",
        JobStatus::KILLED | JobStatus::CANCELED => "stopped",
        JobStatus::LOST => "lost",
        JobStatus::RUNNING => "retried",
        _ => "failed",
    }
}

/// The record of the current attempt of `v` (of job `job_name`), ending at `ended_at` in
/// `status`: its resources from its spec and workers, its pool and backend from the
/// configuration, its start as the store has it (none: it never ran).
pub fn record_of(
    catalog: &Catalog,
    pools: &[PoolConfig],
    v: &Version,
    job_name: String,
    status: JobStatus,
    ended_at: i64,
) -> UsageRecord {
    let workers = v.config.worker_server_num.unwrap_or(1).max(1);
    let spec = v.config.spec_id.and_then(|id| catalog.spec(id));
    let held = demand(spec, workers);
    let pool = crate::service::pools::pool_of(pools, &v.config);
    let backend = match pool.map(|p| p.backend).unwrap_or_default() {
        Backend::Local => "local",
        Backend::Slurm => "slurm",
    };
    UsageRecord {
        version_id: v.id,
        attempt: v.attempt,
        project_id: v.project_id.clone(),
        created_by: v.created_by.clone(),
        job_id: v.job_id,
        job_name,
        pool: pool.map(|p| p.id.clone()).unwrap_or_default(),
        backend: backend.to_owned(),
        workers,
        cores: i64::from(held.cores),
        gpus: i64::from(held.gpus),
        memory_gb: i64::from(held.memory_gb),
        queued_at: v.attempt_queue_time.unwrap_or(v.create_time),
        // The attempt's start; a first attempt of a row written before it was kept has its
        // version's `start_time`.
        started_at: v
            .attempt_start_time
            .or(v.start_time.filter(|_| v.attempt == 1)),
        ended_at,
        status: status.code(),
        outcome: outcome_of(status).to_owned(),
    }
}

/// The backend whose runs hold capacity on this host, as usage records name it.
const LOCAL: &str = "local";

/// What fair share starts from when the executor starts (after a restart, or on taking the
/// scheduling duty over): the runs of this host that ended since `horizon` (their usage
/// records) and those running at `now`, counted from their start up to `now` (the core
/// counts them on from then). See `trainyard_sched::fair::past_usage`.
pub async fn past_runs(
    store: &dyn trainyard_store::Store,
    catalog: &Catalog,
    pools: &[PoolConfig],
    horizon: i64,
    now: i64,
) -> trainyard_store::Result<Vec<PastRun>> {
    let clamp = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    let run = |project: String, cores, memory_gb, gpus, start, end| PastRun {
        project,
        demand: trainyard_sched::Resources {
            cores: clamp(cores),
            memory_gb: clamp(memory_gb),
            gpus: clamp(gpus),
        },
        start,
        end,
    };
    let mut runs: Vec<PastRun> = store
        .usage_spans(LOCAL, horizon)
        .await?
        .into_iter()
        .map(|s| {
            run(
                s.project_id,
                s.cores,
                s.memory_gb,
                s.gpus,
                s.started_at,
                s.ended_at,
            )
        })
        .collect();
    let may_run = store.versions_in(trainyard_sched::run::MAY_RUN).await?;
    // Between two attempts (`retry_at`) nothing runs; the ended attempt has its record.
    for v in may_run.iter().filter(|v| v.retry_at.is_none()) {
        let r = record_of(catalog, pools, v, String::new(), v.status, now);
        if let (Some(start), LOCAL) = (r.started_at, r.backend.as_str()) {
            runs.push(run(r.project_id, r.cores, r.memory_gb, r.gpus, start, now));
        }
    }
    Ok(runs)
}

/// The window and grouping of a usage request: `since` (required) and `until` (default: now)
/// in ms since the epoch, `by` `project` (default), `user` or `job`.
pub fn window_of(q: &Params, now: i64) -> ApiResult<(i64, i64, UsageBy)> {
    let since = q.get("since").ok_or_else(|| ApiError::required("since"))?;
    let since = q.int("since", 0, 0, i64::MAX / 2).map_err(|_| {
        ApiError::param(format!(
            "since:{since} must be a time in ms since the epoch"
        ))
    })?;
    let until = q.int("until", now, 0, i64::MAX / 2)?;
    if until <= since {
        return Err(ApiError::param(format!(
            "until:{until} must be later than since:{since}"
        )));
    }
    let by = match q.get("by").map(str::to_ascii_lowercase).as_deref() {
        None | Some("project") => UsageBy::Project,
        Some("user") => UsageBy::User,
        Some("job") => UsageBy::Job,
        Some(other) => {
            return Err(ApiError::param(format!(
                "by:{other} must be project, user or job"
            )))
        }
    };
    Ok((since, until, by))
}

/// The rows of a usage answer from the store's sums per group and outcome (ordered by key),
/// and their total.
pub fn rows_of(groups: &[UsageGroup]) -> (Vec<UsageRow>, UsageRow) {
    let mut rows: Vec<UsageRow> = Vec::new();
    let mut total = UsageRow {
        key: "total".to_owned(),
        name: "total".to_owned(),
        ..Default::default()
    };
    for g in groups {
        if rows.last().is_none_or(|r| r.key != g.key) {
            rows.push(UsageRow {
                key: g.key.clone(),
                name: g.label.clone(),
                ..Default::default()
            });
        }
        let row = rows.last_mut().expect("a row was pushed for this key");
        for r in [row, &mut total] {
            add(r, g);
        }
    }
    (rows, total)
}

fn add(row: &mut UsageRow, g: &UsageGroup) {
    let secs = |ms: i64| ms as f64 / 1000.0;
    row.runs += g.runs;
    if g.runs > 0 {
        *row.runs_by_outcome.entry(g.outcome.clone()).or_default() += g.runs;
    }
    row.run_seconds += secs(g.run_ms);
    row.core_seconds += secs(g.core_ms);
    row.gpu_seconds += secs(g.gpu_ms);
    row.memory_gb_seconds += secs(g.memory_gb_ms);
    row.wait_seconds += secs(g.wait_ms);
}

fn by_store(by: UsageBy) -> trainyard_store::UsageBy {
    match by {
        UsageBy::Project => trainyard_store::UsageBy::Project,
        UsageBy::User => trainyard_store::UsageBy::User,
        UsageBy::Job => trainyard_store::UsageBy::Job,
    }
}

impl Service {
    /// What project `project`'s runs used in the window `q` names, summed as it asks.
    pub async fn usage(&self, project: &str, q: &Params) -> ApiResult<UsageResponse> {
        let (since, until, by) = window_of(q, now_ms())?;
        let groups = self
            .store
            .usage(project, since, until, by_store(by))
            .await?;
        let (mut rows, total) = rows_of(&groups);
        if by == UsageBy::Job {
            // Job ids in their numeric order (the store sorts keys as text).
            rows.sort_by_key(|r| r.key.parse::<i64>().unwrap_or(i64::MAX));
        }
        Ok(UsageResponse {
            is_success: true,
            project_id: project.to_owned(),
            since,
            until,
            by,
            rows,
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(key: &str, outcome: &str, runs: i64, core_ms: i64) -> UsageGroup {
        UsageGroup {
            key: key.into(),
            label: format!("name-{key}"),
            outcome: outcome.into(),
            runs,
            run_ms: core_ms / 2,
            core_ms,
            ..Default::default()
        }
    }

    #[test]
    fn groups_fold_into_one_row_per_key_and_a_total() {
        let (rows, total) = rows_of(&[
            group("1", "completed", 2, 4_000),
            group("1", "failed", 1, 1_000),
            group("2", "stopped", 0, 500),
        ]);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].name.as_str(), rows[0].runs), ("name-1", 3));
        assert_eq!(rows[0].core_seconds, 5.0);
        assert_eq!(rows[0].runs_by_outcome.get("failed"), Some(&1));
        // A run that only overlaps the window without ending in it counts no run.
        assert!(rows[1].runs_by_outcome.is_empty());
        assert_eq!((total.runs, total.core_seconds), (3, 5.5));
    }

    #[test]
    fn outcomes_name_how_a_run_ended() {
        assert_eq!(outcome_of(JobStatus::COMPLETED), "completed");
        assert_eq!(outcome_of(JobStatus::KILLED), "stopped");
        assert_eq!(outcome_of(JobStatus::FAILED), "failed");
        assert_eq!(outcome_of(JobStatus::SUBMIT_FAILED), "failed");
        assert_eq!(outcome_of(JobStatus::RUNNING), "retried");
    }

    #[test]
    fn the_window_is_checked() {
        let q = |pairs: &[(&str, &str)]| {
            Params::from_pairs(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            )
        };
        assert_eq!(
            window_of(&q(&[("since", "5")]), 10).unwrap(),
            (5, 10, UsageBy::Project)
        );
        assert_eq!(
            window_of(&q(&[("since", "5"), ("until", "7"), ("by", "JOB")]), 10).unwrap(),
            (5, 7, UsageBy::Job)
        );
        assert!(window_of(&q(&[]), 10).is_err());
        assert!(window_of(&q(&[("since", "yesterday")]), 10).is_err());
        assert!(window_of(&q(&[("since", "9"), ("until", "9")]), 10).is_err());
        assert!(window_of(&q(&[("since", "1"), ("by", "team")]), 10).is_err());
    }
}
