-- Visualization jobs (VJ-01..VJ-07): one TensorBoard/MindInsight server per running job.
CREATE TABLE viz_jobs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id        TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    description       TEXT    NOT NULL DEFAULT '',
    train_url         TEXT    NOT NULL,
    job_type          TEXT    NOT NULL,
    flavor_code       TEXT,
    resource_id       TEXT    NOT NULL,
    -- access secret carried in service_url and traded for a cookie by the proxy
    secret            TEXT    NOT NULL,
    status            INTEGER NOT NULL,
    create_time       INTEGER NOT NULL,
    start_time        INTEGER,
    end_time          INTEGER,
    -- auto-stop: unit ('HOURS' or 'MINUTES') and amount; 0 or NULL = never
    schedule_unit     TEXT,
    schedule_duration INTEGER,
    -- absolute auto-stop time (ms), fixed when the job enters RUNNING
    deadline          INTEGER,
    -- TensorBoard's loopback port and the shim handle of the current run
    port              INTEGER,
    handle            TEXT,
    run_dir           TEXT    NOT NULL DEFAULT '',
    failure_reason    TEXT,
    deleted           INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX viz_jobs_live_name ON viz_jobs (project_id, name) WHERE deleted = 0;
CREATE INDEX viz_jobs_project ON viz_jobs (project_id, deleted, id);
CREATE INDEX viz_jobs_status ON viz_jobs (status);
