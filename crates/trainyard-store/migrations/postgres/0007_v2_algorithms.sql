-- Algorithms of the new-version (v2) algorithm management (`/v2/{project_id}/algorithms`):
-- one row per algorithm of a project, addressed by its UUID string, its document (metadata,
-- job_config, ...) kept as JSON; names are unique per project.
CREATE TABLE v2_algorithms (
    project_id TEXT NOT NULL,
    uuid TEXT NOT NULL,
    name TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (project_id, uuid)
);
CREATE UNIQUE INDEX v2_algorithms_name ON v2_algorithms (project_id, name);
