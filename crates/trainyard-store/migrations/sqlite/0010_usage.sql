-- Usage accounting (per project, user and run). `created_by` names who created a version
-- (the caller's identity: a user name, an access key, or "token"; '' before this migration).
-- `attempt_start_time` is when the current attempt started running (the first start, or a
-- retry's), `attempt_queue_time` when a retried attempt became due (NULL for the first, which
-- waited from `create_time`).
ALTER TABLE versions ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE versions ADD COLUMN attempt_start_time INTEGER;
ALTER TABLE versions ADD COLUMN attempt_queue_time INTEGER;

-- One row per ended attempt of a run, written in the transaction that records its end (or its
-- retry), so a run is accounted exactly once. Not tied to `versions`: the record outlives a
-- deleted job. Times are ms since the epoch; `started_at` is NULL for a run that never ran.
CREATE TABLE usage_records (
    version_id INTEGER NOT NULL,
    attempt    INTEGER NOT NULL,
    project_id TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    job_id     INTEGER NOT NULL,
    job_name   TEXT    NOT NULL,
    pool       TEXT    NOT NULL,
    backend    TEXT    NOT NULL,
    workers    INTEGER NOT NULL,
    cores      INTEGER NOT NULL,
    gpus       INTEGER NOT NULL,
    memory_gb  INTEGER NOT NULL,
    queued_at  INTEGER NOT NULL,
    started_at INTEGER,
    ended_at   INTEGER NOT NULL,
    status     INTEGER NOT NULL,
    outcome    TEXT    NOT NULL,
    PRIMARY KEY (version_id, attempt)
);
CREATE INDEX usage_records_project_end ON usage_records (project_id, ended_at);
