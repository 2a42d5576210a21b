-- Usage accounting (per project, user and run). `created_by` names who created a version
-- (the caller's identity: a user name, an access key, or "token"; '' before this migration).
-- `attempt_start_time` is when the current attempt started running (the first start, or a
-- retry's), `attempt_queue_time` when a retried attempt became due (NULL for the first, which
-- waited from `create_time`).
ALTER TABLE versions ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE versions ADD COLUMN attempt_start_time BIGINT;
ALTER TABLE versions ADD COLUMN attempt_queue_time BIGINT;

-- One row per ended attempt of a run, written in the transaction that records its end (or its
-- retry), so a run is accounted exactly once. Not tied to `versions`: the record outlives a
-- deleted job. Times are ms since the epoch; `started_at` is NULL for a run that never ran.
CREATE TABLE usage_records (
    version_id BIGINT  NOT NULL,
    attempt    BIGINT  NOT NULL,
    project_id TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    job_id     BIGINT  NOT NULL,
    job_name   TEXT    NOT NULL,
    pool       TEXT    NOT NULL,
    backend    TEXT    NOT NULL,
    workers    BIGINT  NOT NULL,
    cores      BIGINT  NOT NULL,
    gpus       BIGINT  NOT NULL,
    memory_gb  BIGINT  NOT NULL,
    queued_at  BIGINT  NOT NULL,
    started_at BIGINT,
    ended_at   BIGINT  NOT NULL,
    status     BIGINT  NOT NULL,
    outcome    TEXT    NOT NULL,
    PRIMARY KEY (version_id, attempt)
);
CREATE INDEX usage_records_project_end ON usage_records (project_id, ended_at);
