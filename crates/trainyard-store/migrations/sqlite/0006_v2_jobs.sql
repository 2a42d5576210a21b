-- New-version (v2) training jobs share the engine with v1: a v2 job is a `jobs` row with
-- exactly one version, marked `api = 2`, addressed by its UUID string `uuid`, its create
-- document kept in `doc` (JSON) to be echoed. v1 rows are `api = 1` with no uuid.
ALTER TABLE jobs ADD COLUMN api INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN uuid TEXT;
ALTER TABLE jobs ADD COLUMN doc TEXT;
CREATE UNIQUE INDEX jobs_uuid ON jobs (uuid) WHERE uuid IS NOT NULL;
-- Names are unique per project and API: the two APIs list different resources.
DROP INDEX jobs_live_name;
CREATE UNIQUE INDEX jobs_live_name ON jobs (project_id, api, name) WHERE deleted = 0;
-- The counters of v1 lists and quotas count v1 jobs only.
DROP TRIGGER jobs_count_insert;
DROP TRIGGER jobs_count_hide;
DROP TRIGGER jobs_count_remove;
CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs WHEN NEW.deleted = 0 AND NEW.api = 1 BEGIN
    INSERT INTO job_counts (project_id, workspace_id, live) VALUES (NEW.project_id, NEW.workspace_id, 1)
        ON CONFLICT (project_id, workspace_id) DO UPDATE SET live = live + 1;
END;
CREATE TRIGGER jobs_count_hide AFTER UPDATE OF deleted ON jobs WHEN OLD.deleted = 0 AND NEW.deleted <> 0 AND OLD.api = 1 BEGIN
    UPDATE job_counts SET live = live - 1 WHERE project_id = OLD.project_id AND workspace_id = OLD.workspace_id;
END;
CREATE TRIGGER jobs_count_remove AFTER DELETE ON jobs WHEN OLD.deleted = 0 AND OLD.api = 1 BEGIN
    UPDATE job_counts SET live = live - 1 WHERE project_id = OLD.project_id AND workspace_id = OLD.workspace_id;
END;
