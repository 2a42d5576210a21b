-- New-version (v2) training jobs share the engine with v1: a v2 job is a `jobs` row with
-- exactly one version, marked `api = 2`, addressed by its UUID string `uuid`, its create
-- document kept in `doc` (JSON) to be echoed. v1 rows are `api = 1` with no uuid.
ALTER TABLE jobs ADD COLUMN api BIGINT NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN uuid TEXT;
ALTER TABLE jobs ADD COLUMN doc TEXT;
CREATE UNIQUE INDEX jobs_uuid ON jobs (uuid) WHERE uuid IS NOT NULL;
-- Names are unique per project and API: the two APIs list different resources.
DROP INDEX jobs_live_name;
CREATE UNIQUE INDEX jobs_live_name ON jobs (project_id, api, name) WHERE deleted = 0;
-- The counters of v1 lists and quotas count v1 jobs only.
DROP TRIGGER jobs_count_insert ON jobs;
DROP TRIGGER jobs_count_hide ON jobs;
DROP TRIGGER jobs_count_remove ON jobs;
CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs FOR EACH ROW WHEN (NEW.deleted = 0 AND NEW.api = 1)
    EXECUTE FUNCTION jobs_count_insert();
CREATE TRIGGER jobs_count_hide AFTER UPDATE OF deleted ON jobs FOR EACH ROW
    WHEN (OLD.deleted = 0 AND NEW.deleted <> 0 AND OLD.api = 1) EXECUTE FUNCTION jobs_count_remove();
CREATE TRIGGER jobs_count_remove AFTER DELETE ON jobs FOR EACH ROW WHEN (OLD.deleted = 0 AND OLD.api = 1)
    EXECUTE FUNCTION jobs_count_remove();
