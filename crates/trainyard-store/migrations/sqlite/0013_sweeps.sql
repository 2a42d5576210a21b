-- Sweeps: a named set of runs created by one request, at most `concurrency` of them running at
-- once. Each run is an ordinary job and version; sweep_runs lists them with their parameter
-- values. Deleting a sweep deletes its rows (its jobs are deleted through the API).
CREATE TABLE sweeps (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id   TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    concurrency  INTEGER NOT NULL,
    objective    TEXT,
    create_time  INTEGER NOT NULL
);
CREATE INDEX sweeps_project ON sweeps (project_id, id);

CREATE TABLE sweep_runs (
    sweep_id    INTEGER NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    job_id      INTEGER NOT NULL,
    version_id  INTEGER NOT NULL,
    parameters  TEXT    NOT NULL,
    PRIMARY KEY (sweep_id, idx)
);
