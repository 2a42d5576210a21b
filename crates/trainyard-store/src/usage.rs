//! Usage accounting: one record per ended attempt of a run ([`UsageRecord`], written by
//! [`crate::Store::transition`] in the transaction that records the end), and the sums over a
//! time window ([`crate::Store::usage`]), where a run that overlaps the window's edge counts
//! only the part inside it.

use crate::sql::Dialect;

/// What one ended attempt of a run used. Times are ms since the Unix epoch, taken from the
/// server's clock that also sets the version's start and end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRecord {
    pub version_id: i64,
    /// Which attempt of the version (1 for the first run; retries count on).
    pub attempt: i64,
    pub project_id: String,
    /// Who created the version.
    pub created_by: String,
    pub job_id: i64,
    pub job_name: String,
    /// The pool it ran in (`""`: the local executor without pools).
    pub pool: String,
    /// `local` or `slurm`.
    pub backend: String,
    pub workers: i64,
    /// Resources held by all its workers together.
    pub cores: i64,
    pub gpus: i64,
    pub memory_gb: i64,
    /// Since when it waited for this attempt's start.
    pub queued_at: i64,
    /// When it started running; `None` when it never ran (a failed start, stopped in the queue).
    pub started_at: Option<i64>,
    pub ended_at: i64,
    /// The status code it ended in (8 for an attempt that is retried).
    pub status: i64,
    /// `completed`, `failed`, `stopped`, `lost` or `retried`.
    pub outcome: String,
}

/// What an attempt that ran held, and when: the part of its record that fair share reads
/// back after a restart ([`crate::Store::usage_spans`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageSpan {
    pub project_id: String,
    pub cores: i64,
    pub gpus: i64,
    pub memory_gb: i64,
    pub started_at: i64,
    pub ended_at: i64,
}

/// What usage is summed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageBy {
    Project,
    /// The identity that created each run.
    User,
    Job,
}

/// The sums of one group (its key) and outcome over a window: durations clipped to the window,
/// in ms, times the resources held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageGroup {
    /// Project id, user, or job id.
    pub key: String,
    /// The job's name when summed by job; else the key.
    pub label: String,
    pub outcome: String,
    /// Attempts that ended inside the window.
    pub runs: i64,
    /// Running time inside the window.
    pub run_ms: i64,
    pub core_ms: i64,
    pub gpu_ms: i64,
    pub memory_gb_ms: i64,
    /// Waiting time (from queued to started, or to the end of one that never ran) inside the
    /// window.
    pub wait_ms: i64,
}

/// The query of [`crate::Store::usage`]: one project's records overlapping `since..until`,
/// summed per group and outcome, with `?` placeholders for the project only (the window's
/// bounds are integers written in).
pub(crate) fn usage_query(d: Dialect, by: UsageBy, since: i64, until: i64) -> String {
    let (greatest, least) = match d {
        Dialect::Sqlite => ("max", "min"),
        Dialect::Postgres => ("GREATEST", "LEAST"),
    };
    let started = "COALESCE(started_at, ended_at)";
    let inside = |from: &str, to: &str| {
        format!("{greatest}(0, {least}({to}, {until}) - {greatest}({from}, {since}))")
    };
    let run = inside(started, "ended_at");
    let wait = inside("queued_at", started);
    let (key, label) = match by {
        UsageBy::Project => ("project_id", "project_id"),
        UsageBy::User => ("created_by", "created_by"),
        UsageBy::Job => ("CAST(job_id AS TEXT)", "max(job_name)"),
    };
    d.sql(&format!(
        "SELECT {key} AS usage_key, {label} AS usage_label, outcome,
            CAST(SUM(CASE WHEN ended_at >= {since} AND ended_at < {until} THEN 1 ELSE 0 END) AS BIGINT) AS runs,
            CAST(SUM({run}) AS BIGINT) AS run_ms,
            CAST(SUM(cores * {run}) AS BIGINT) AS core_ms,
            CAST(SUM(gpus * {run}) AS BIGINT) AS gpu_ms,
            CAST(SUM(memory_gb * {run}) AS BIGINT) AS memory_gb_ms,
            CAST(SUM({wait}) AS BIGINT) AS wait_ms
         FROM usage_records
         WHERE project_id = ? AND ended_at >= {since} AND queued_at < {until}
         GROUP BY {key}, outcome
         ORDER BY usage_key, outcome"
    ))
    .into_owned()
}

/// The query of [`crate::Store::usage_spans`]: the records of attempts that ran on a backend
/// (`?`) and ended at or after a time (`?`).
pub(crate) fn spans_query(d: Dialect) -> String {
    d.sql(
        "SELECT project_id, cores, gpus, memory_gb, started_at, ended_at FROM usage_records
         WHERE backend = ? AND ended_at >= ? AND started_at IS NOT NULL",
    )
    .into_owned()
}

/// Inserts a [`UsageRecord`]; a second record of the same attempt is left out.
pub(crate) fn insert_usage(d: Dialect) -> String {
    d.sql(
        "INSERT INTO usage_records (version_id, attempt, project_id, created_by, job_id, job_name,
            pool, backend, workers, cores, gpus, memory_gb, queued_at, started_at, ended_at,
            status, outcome)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (version_id, attempt) DO NOTHING",
    )
    .into_owned()
}

/// [`insert_usage`] in a batch after the move it belongs to (SQLite): inserted only when that
/// statement changed its row (`changes()` is the count of the statement before).
pub(crate) fn insert_usage_after_move() -> String {
    insert_usage(Dialect::Sqlite).replace(
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE changes() = 1",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_written_in_and_only_the_project_is_bound() {
        let sql = usage_query(Dialect::Postgres, UsageBy::Job, 100, 200);
        assert!(
            sql.contains("LEAST(ended_at, 200) - GREATEST(COALESCE(started_at, ended_at), 100)"),
            "{sql}"
        );
        assert!(sql.contains("project_id = $1"), "{sql}");
        assert!(!sql.contains("$2"), "{sql}");
        let sql = usage_query(Dialect::Sqlite, UsageBy::User, 1, 2);
        assert!(sql.contains("max(0, min(ended_at, 2)"), "{sql}");
    }
}
