-- Training jobs, their versions, and training job configurations.
CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id        TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    description       TEXT    NOT NULL DEFAULT '',
    workspace_id      TEXT    NOT NULL DEFAULT '0',
    create_time       INTEGER NOT NULL,
    deleted           INTEGER NOT NULL DEFAULT 0,
    next_version_no   INTEGER NOT NULL DEFAULT 1,
    -- summary of the newest live version, kept by the store in the same transaction
    latest_version_id INTEGER,
    latest_status     INTEGER NOT NULL DEFAULT 0,
    latest_start_time INTEGER,
    latest_end_time   INTEGER,
    version_count     INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX jobs_live_name ON jobs (project_id, name) WHERE deleted = 0;
CREATE INDEX jobs_project_create ON jobs (project_id, deleted, create_time);

CREATE TABLE versions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id          INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    project_id      TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    pre_version_id  INTEGER,
    status          INTEGER NOT NULL,
    config          TEXT    NOT NULL,
    resource_id     TEXT    NOT NULL,
    run_dir         TEXT    NOT NULL,
    create_time     INTEGER NOT NULL,
    start_time      INTEGER,
    end_time        INTEGER,
    handle          TEXT,
    stop_grace      INTEGER,
    failure_reason  TEXT,
    deleted         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX versions_job ON versions (job_id, deleted, id);
CREATE INDEX versions_status ON versions (status);

CREATE TABLE configs (
    project_id  TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    config      TEXT    NOT NULL,
    create_time INTEGER NOT NULL,
    PRIMARY KEY (project_id, name)
);
